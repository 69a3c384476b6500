"""The pitfall rules of separators, sizes, patterns and files emptied by their own
redirection: each fix checked by running it (bash and GNU coreutils of this host, as run_shell runs them)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandbox.planner.pitfalls import pitfall, slip


def _sh(root: Path, line: str) -> str:
    return subprocess.run(["bash", "-c", line], cwd=root, capture_output=True, text=True, check=True).stdout


@pytest.fixture
def tables(tmp_path: Path) -> Path:
    (tmp_path / "sales.csv").write_text("region,amount\nnorth,10\nsouth,300\neast,25\n")
    (tmp_path / "scores.txt").write_text("ann 3\nbo 12\n")
    return tmp_path


@pytest.mark.parametrize(("command", "fixed", "printed"), [
    ("awk '{print $2}' sales.csv", "tail -n +2 sales.csv | awk -F, '{print $2}'", "10\n300\n25\n"),
    ("cat sales.csv | awk '{print $1}' | sort", "cat sales.csv | awk -F, '{print $1}' | sort",
     "east\nnorth\nregion\nsouth\n"),
    ("grep -v east sales.csv | cut -f1", "grep -v east sales.csv | cut -d, -f1", "region\nnorth\nsouth\n"),
    ("sort -k2 -n sales.csv", "sort -t, -k2 -n sales.csv", "region,amount\nnorth,10\neast,25\nsouth,300\n"),
])
def test_a_table_split_at_the_wrong_separator_is_told_its_own(tables: Path, command: str, fixed: str,
                                                              printed: str) -> None:
    found = pitfall(tables, command, "look at the regions and amounts of sales.csv")
    assert found is not None and "separates its fields with ','" in found.reason
    assert found.fixed == fixed and _sh(tables, found.fixed) == printed


@pytest.mark.parametrize("command", [
    "awk -F, '{print $2}' sales.csv | sort -n",
    "awk -F, '{print $2, $1}' sales.csv | sort -k1 -n",  # sort reads awk's blanks, not the table
    "awk 'BEGIN {FS=\",\"} {print $2}' sales.csv",
    "awk '{print $1}' scores.txt",
    "awk '{print}' sales.csv",
    "cut -c1-3 sales.csv",
    "sort sales.csv",
])
def test_a_table_read_with_its_separator_or_as_lines_is_left_alone(tables: Path, command: str) -> None:
    found = pitfall(tables, command, "what is in the header of sales.csv")
    assert found is None


def test_sizes_with_units_are_sorted_by_their_units(tmp_path: Path) -> None:
    for name, size in (("small", 900 * 1024), ("big", 2 * 1024 * 1024), ("tiny", 10)):
        (tmp_path / name).write_bytes(os.urandom(size))
    command = "du -sh * | sort -rn | head -n 2"
    assert [line.split()[1] for line in _sh(tmp_path, command).splitlines()] == ["small", "tiny"]
    found = pitfall(tmp_path, command, "the two biggest files here")
    assert found is not None and found.fixed == "du -sh * | sort -rh | head -n 2"
    assert [line.split()[1] for line in _sh(tmp_path, found.fixed).splitlines()] == ["big", "small"]


@pytest.mark.parametrize(("command", "fixed"), [
    ("ls -lh | sort -k5 -n", "ls -lh | sort -k5 -h"),
    ("du -h --max-depth=1 | grep -v cache | sort --numeric-sort", "du -h --max-depth=1 | grep -v cache | "
                                                                   "sort --human-numeric-sort"),
    ("du -ah . | sort -k1,1nr", "du -ah . | sort -k1,1hr"),
])
def test_other_spellings_of_a_numeric_sort_of_sizes(tmp_path: Path, command: str, fixed: str) -> None:
    found = pitfall(tmp_path, command, "sizes")
    assert found is not None and found.fixed == fixed


@pytest.mark.parametrize("command", ["du -s * | sort -rn", "du -sh * | sort -rh", "ls -lS | sort -n",
                                     "du -sh * | awk '{print $1}' | sort -n"])
def test_sizes_without_units_or_sorted_by_units_are_left_alone(tmp_path: Path, command: str) -> None:
    assert pitfall(tmp_path, command, "sizes") is None


def test_a_find_pattern_the_shell_expanded_is_quoted(tmp_path: Path) -> None:
    (tmp_path / "top.txt").write_text("")
    (tmp_path / "deep").mkdir()
    (tmp_path / "deep" / "low.txt").write_text("")
    command = "find . -type f -name *.txt"
    assert _sh(tmp_path, command) == "./top.txt\n"
    found = pitfall(tmp_path, command, "find every text file")
    assert found is not None and found.fixed == "find . -type f -name '*.txt'"
    assert sorted(_sh(tmp_path, found.fixed).split()) == ["./deep/low.txt", "./top.txt"]


@pytest.mark.parametrize("command", ["find . -name *.py", "find . -name '*.txt'", "find . -name \"*.txt\"",
                                     "find . -name *.cfg"])
def test_a_find_pattern_the_shell_leaves_as_it_is_is_no_pitfall(tmp_path: Path, command: str) -> None:
    (tmp_path / "top.txt").write_text("")
    (tmp_path / ".hidden.cfg").write_text("")  # sh's * passes over it
    assert pitfall(tmp_path, command, "find files") is None


def test_a_file_emptied_by_its_own_redirection_is_written_once_read(tmp_path: Path) -> None:
    (tmp_path / "names.txt").write_text("cy\nann\nbo\nann\n")
    (tmp_path / "names.txt").chmod(0o640)
    found = pitfall(tmp_path, "sort -u names.txt > names.txt", "sort names.txt and drop the repeats")
    assert found is not None and "empties it" in found.reason
    _sh(tmp_path, found.fixed)
    assert (tmp_path / "names.txt").read_text() == "ann\nbo\ncy\n"
    assert (tmp_path / "names.txt").stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["names.txt"]


@pytest.mark.parametrize("command", ["sort -u names.txt >> names.txt", "sort -u names.txt > sorted.txt",
                                     "sort -u names.txt -o names.txt", "cat other.txt > names.txt"])
def test_a_redirection_to_another_file_is_left_alone(tmp_path: Path, command: str) -> None:
    (tmp_path / "names.txt").write_text("b\na\n")
    assert pitfall(tmp_path, command, "list names.txt") is None


def test_a_pattern_the_shell_made_two_names_of_is_a_slip_of_a_failed_find(tmp_path: Path) -> None:
    for name in ("a.log", "b.log"):
        (tmp_path / name).write_text("")
    failed = subprocess.run(["bash", "-c", "find . -name *.log"], cwd=tmp_path, capture_output=True, text=True,
                            check=False)
    assert failed.returncode != 0 and "paths must precede expression" in failed.stderr
    found = slip(tmp_path, "find . -name *.log", "find the logs")
    assert found is not None and sorted(_sh(tmp_path, found.fixed).split()) == ["./a.log", "./b.log"]


@pytest.fixture
def package(tmp_path: Path) -> Path:
    (tmp_path / "src" / "pkg").mkdir(parents=True)
    (tmp_path / "src" / "pkg" / "app.py").write_text("def greet():\n    return greet_all(greet)\n")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_app.py").write_text("from pkg.app import greet\n")
    (tmp_path / "src" / "pkg" / "__init__.py").write_text("")
    (tmp_path / "tests" / "__init__.py").write_text("")
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv" / "site.py").write_text("greet\n")
    return tmp_path


@pytest.mark.parametrize("command", ["sed -i 's/greet/welcome/g' *.py",
                                     "for f in *.py; do sed -i 's/greet/welcome/g' \"$f\"; done"])
def test_a_top_folder_glob_for_all_the_files_reaches_the_deeper_ones(package: Path, command: str) -> None:
    intent = "rename the function greet to welcome in all python files"
    assert slip(package, command, intent) is not None  # its glob matched nothing at the top: it fails
    found = pitfall(package, command, intent)
    assert found is not None and found.fixed.startswith("shopt -s globstar; ") and "**/*.py" in found.fixed
    _sh(package, found.fixed)
    assert (package / "src/pkg/app.py").read_text() == "def welcome():\n    return welcome_all(welcome)\n"
    assert (package / "tests/test_app.py").read_text() == "from pkg.app import welcome\n"
    assert (package / ".venv/site.py").read_text() == "greet\n"  # bash's ** passes over hidden folders


@pytest.mark.parametrize(("command", "intent"), [
    ("sed -i 's/greet/welcome/g' *.py", "rename greet to welcome in the top-level python files"),
    ("sed -i 's/greet/welcome/g' *.py", "rename greet to welcome in main.py"),
    ("grep -l greet '*.py'", "which python files say greet"),
    ("mkdir -p backup && cp *.py backup/", "copy all python files to backup"),  # two __init__.py: they collide
    ("find . -name '*.py' -exec sed -i 's/greet/welcome/g' {} +", "rename greet to welcome in all python files"),
    ("sed -i 's/greet/welcome/g' *.txt", "rename greet to welcome in all text files"),
])
def test_globs_that_reach_what_is_asked_are_left_alone(package: Path, command: str, intent: str) -> None:
    assert pitfall(package, command, intent) is None


def test_every_file_of_a_kind_is_copied_into_a_folder_when_no_two_share_a_name(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "a.conf").write_text("a\n")
    (tmp_path / "etc" / "b.conf").write_text("b\n")
    command = "mkdir -p conf-backup && cp *.conf conf-backup/ && tar -czf conf-backup.tar.gz conf-backup"
    found = pitfall(tmp_path, command, "copy every .conf file into a new folder conf-backup and pack it")
    assert found is not None and "cp **/*.conf conf-backup/" in found.fixed
    _sh(tmp_path, found.fixed)
    assert sorted(p.name for p in (tmp_path / "conf-backup").iterdir()) == ["a.conf", "b.conf"]


def test_a_substitution_of_the_first_match_of_each_line_gets_the_g_flag(package: Path) -> None:
    command = "sed -i 's/greet/welcome/' src/pkg/app.py"
    intent = "replace greet with welcome in src/pkg/app.py"
    found = pitfall(package, command, intent)
    assert found is not None and found.fixed == "sed -i 's/greet/welcome/g' src/pkg/app.py"
    _sh(package, found.fixed)
    assert (package / "src/pkg/app.py").read_text() == "def welcome():\n    return welcome_all(welcome)\n"


@pytest.mark.parametrize(("command", "intent"), [
    ("sed -i 's/greet/welcome/' src/pkg/app.py", "replace the first greet of each line with welcome in src/pkg/app.py"),
    ("sed -i 's/import/use/' tests/test_app.py", "replace import with use in tests/test_app.py"),  # once a line
    ("sed -i 's/greet/welcome/2' src/pkg/app.py", "replace greet with welcome in src/pkg/app.py"),
    ("sed -n 's/greet/welcome/p' src/pkg/app.py", "show the lines with greet in src/pkg/app.py"),
])
def test_substitutions_that_do_what_is_asked_are_left_alone(package: Path, command: str, intent: str) -> None:
    assert pitfall(package, command, intent) is None


@pytest.mark.parametrize(("command", "fixed"), [
    ("find . -type f -size -1M", "find . -type f -size -1048576c"),
    ("find . -size -2k -name '*.log'", "find . -size -2048c -name '*.log'"),
])
def test_a_size_under_whole_units_is_compared_in_bytes(tmp_path: Path, command: str, fixed: str) -> None:
    (tmp_path / "small.log").write_bytes(b"x" * 1500)
    (tmp_path / "empty.log").write_bytes(b"")
    found = pitfall(tmp_path, command, "files under the size")
    assert found is not None and found.fixed == fixed
    assert sorted(_sh(tmp_path, found.fixed).split()) == ["./empty.log", "./small.log"]


@pytest.mark.parametrize("command", ["find . -size +1M", "find . -size -1048576c", "ls -size -1M"])
def test_sizes_find_compares_as_asked_are_left_alone(tmp_path: Path, command: str) -> None:
    assert pitfall(tmp_path, command, "files by size") is None


@pytest.fixture
def ages(tmp_path: Path) -> Path:
    (tmp_path / "people.csv").write_text("name,age\nann,9\nbo,45\ncy,100\n")
    (tmp_path / "scores.txt").write_text("ann 9\nbo 45\ncy 100\n")
    (tmp_path / "codes.txt").write_text("ann 10\nbo 20\ncy 30\n")
    return tmp_path


@pytest.mark.parametrize(("command", "fixed", "first"), [
    ("sort -t, -k2 people.csv", "sort -t, -k2n people.csv", "name,age"),
    ("tail -n +2 people.csv | sort -t ',' -k 2,2 -r", "tail -n +2 people.csv | sort -t ',' -k 2,2nr -r", "cy,100"),
    ("sort -k2 scores.txt", "sort -k2n scores.txt", "ann 9"),
])
def test_a_column_of_numbers_is_sorted_as_numbers(ages: Path, command: str, fixed: str, first: str) -> None:
    found = pitfall(ages, command, "sort by age")
    assert found is not None and found.fixed == fixed and "compares them as text" in found.reason
    assert _sh(ages, found.fixed).splitlines()[0] == first


@pytest.mark.parametrize(("command", "intent"), [
    ("sort -t, -k2n people.csv", "sort by age"),
    ("sort -t, -k1 people.csv", "sort by name"),
    ("sort -k2 codes.txt", "sort by code"),  # as text or as numbers, one order
    ("sort -k2 scores.txt", "sort scores.txt by the second column alphabetically"),
    ("sort -t, -k2 -g people.csv", "sort by age"),
])
def test_sorts_that_order_as_asked_are_left_alone(ages: Path, command: str, intent: str) -> None:
    assert pitfall(ages, command, intent) is None


@pytest.mark.parametrize(("command", "intent"), [
    ("awk '!seen[$0]++' emails.txt > emails.tmp && mv emails.tmp emails.txt", "drop the duplicate lines of emails.txt"),
    ("sort -u list.txt > list.new && mv -f list.new list.txt", "copy list.txt's lines, sorted, back into list.txt"),
])
def test_a_file_written_then_moved_into_place_is_no_move_for_a_copy(tmp_path: Path, command: str, intent: str) -> None:
    (tmp_path / "emails.txt").write_text("a\nb\na\n")
    (tmp_path / "list.txt").write_text("b\na\n")
    assert pitfall(tmp_path, command, intent) is None


def test_duplicating_a_file_is_a_copy(tmp_path: Path) -> None:
    found = pitfall(tmp_path, "mv notes.txt notes-copy.txt", "duplicate the file notes.txt as notes-copy.txt")
    assert found is not None and found.fixed == "cp -r notes.txt notes-copy.txt"


@pytest.mark.parametrize("intent", ["put all the pdf files into a docs folder", "place the logs inside archive/"])
def test_putting_files_into_a_folder_is_a_move(tmp_path: Path, intent: str) -> None:
    found = pitfall(tmp_path, "mkdir -p docs && find . -name '*.pdf' -exec cp -t docs {} +", intent)
    assert found is not None and found.fixed == "mkdir -p docs && find . -name '*.pdf' -exec mv -t docs {} +"


def test_putting_a_copy_into_a_folder_is_left_alone(tmp_path: Path) -> None:
    assert pitfall(tmp_path, "cp *.pdf docs/", "put a copy of the pdf files into docs") is None


@pytest.mark.parametrize(("command", "fixed"), [
    ('grep -o "fox" tale.txt | wc -l', 'grep -w -o "fox" tale.txt | wc -l'),
    ("grep -oi fox tale.txt | wc -l", "grep -w -oi fox tale.txt | wc -l"),
])
def test_a_word_asked_for_is_matched_whole(tmp_path: Path, command: str, fixed: str) -> None:
    (tmp_path / "tale.txt").write_text("fox and fox\nno foxes here\nthe fox\n")
    found = pitfall(tmp_path, command, "how many times does the word fox appear in tale.txt?")
    assert found is not None and found.fixed == fixed
    assert _sh(tmp_path, found.fixed) == "3\n"


@pytest.mark.parametrize(("command", "intent"), [
    ('grep -ow "fox" tale.txt | wc -l', "how many times does the word fox appear in tale.txt?"),
    ('grep -o "fox" tale.txt | wc -l', "how many times does fox appear in tale.txt?"),
    ('grep -o "fox" plain.txt | wc -l', "how many times does the word fox appear in plain.txt?"),
    ("grep -c hen tale.txt", "how many lines hold the word fox"),
])
def test_words_matched_as_asked_are_left_alone(tmp_path: Path, command: str, intent: str) -> None:
    (tmp_path / "tale.txt").write_text("fox and fox\nno foxes here\nthe fox\n")
    (tmp_path / "plain.txt").write_text("fox and fox\n")
    assert pitfall(tmp_path, command, intent) is None


_PIECES = ["sort", "-k0", "-k2,2", "-t,", "-rn", "awk", "'{print $2}'", "cut", "-f2", "du", "-sh", "*", "|", "&&", ";",
           ">", "sales.csv", "*.py", "find", ".", "-name", "-size", "-1M", "sed", "-i", "'s/a/b/'", "grep", "-o",
           "word", "mv", "cp", "ls", "-l", "head", "''", "{", "}", "(", ")", "'", "\"", "\\", "$(", "**", "-perm",
           "+x", "<"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(words=st.lists(st.sampled_from(_PIECES), max_size=12),
       intent=st.sampled_from(["replace a with b in all python files", "sort sales.csv by amount", "the word word",
                               "put them into docs", "remove duplicate lines from sales.csv", ""]))
def test_no_command_makes_the_rules_fail(tables: Path, words: list[str], intent: str) -> None:
    command = " ".join(words)
    found = pitfall(tables, command, intent, "total 0\nx\n", changed=False)
    assert found is None or (found.fixed != command and found.reason)
    slip(tables, command, intent)
