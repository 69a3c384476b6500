import subprocess
from pathlib import Path

import pytest

from sandbox.planner.evidence import header_row
from sandbox.planner.pitfalls import pitfall

PEOPLE = "name,age\nann,31\nbo,45\ncy,27\n"
ASKED = "what is the average age in people.csv"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "people.csv").write_text(PEOPLE)
    (tmp_path / "raw.csv").write_text("31,ann\n45,bo\n")
    (tmp_path / "notes.txt").write_text("buy milk\ncall bo\n")
    return tmp_path


@pytest.mark.parametrize(("command", "fixed"), [
    ("awk -F, '{s += $2} END {print s / NR}' people.csv",
     "tail -n +2 people.csv | awk -F, '{s += $2} END {print s / NR}'"),
    ("awk -F, '{ s += $2; n++ } END { print s/n }' people.csv",
     "tail -n +2 people.csv | awk -F, '{ s += $2; n++ } END { print s/n }'"),
    ("gawk -F',' '$2 > 30 {print $1}' < people.csv | sort",
     "tail -n +2 people.csv | gawk -F',' '$2 > 30 {print $1}' | sort"),
    ("awk -F, -v OFS=' ' '{print $2, $1}' ./people.csv 2>/dev/null",
     "tail -n +2 ./people.csv | awk -F, -v OFS=' ' '{print $2, $1}' 2>/dev/null"),
])
def test_a_table_read_with_its_header_as_data_is_fed_its_rows_only(root: Path, command: str, fixed: str) -> None:
    found = pitfall(root, command, ASKED)
    assert found is not None and "header line of" in found.reason and "name,age" in found.reason
    assert found.fixed == fixed


def test_the_fix_gives_the_answer_the_rows_hold(root: Path) -> None:
    command = "awk -F, '{s += $2} END {print s / NR}' people.csv"
    found = pitfall(root, command, ASKED)
    assert found is not None

    def run(line: str) -> str:
        return subprocess.run(["sh", "-c", line], cwd=root, capture_output=True, text=True, check=True).stdout

    assert run(command) == "25.75\n" and run(found.fixed).startswith("34.333")


@pytest.mark.parametrize("command", [
    "awk -F, 'NR > 1 {s += $2; n++} END {print s / n}' people.csv",
    "awk -F, 'FNR==1 {next} {s += $2} END {print s}' people.csv",
    "awk -F, '{s += $2} END {print s / (NR - 1)}' people.csv",
    "tail -n +2 people.csv | awk -F, '{s += $2} END {print s}'",
    "cat people.csv | awk -F, '{print $2}'",
    "awk -F, '{print $1}' raw.csv",  # no header
    "awk '{print $1}' notes.txt",
    "awk -F, '{print $1}' missing.csv",
    "awk -f prog.awk people.csv",
    "awk -F, '{print $1}' people.csv raw.csv",  # two files
    "awk -F, '{print $1}' people.csv > names.txt",  # writes a file: the header may belong in it
    "awk -F, '{print $1 > \"names.txt\"}' people.csv",
    "awk -F, '{print $1}' people.csv | tee names.txt",
    "gawk -i inplace -F, '{print $1}' people.csv",
    "awk -F, '{print FILENAME, $1}' people.csv",
    "sort -t, -k2 -n people.csv",
    "awk -F, '{print $1}' people.csv; wc -l people.csv",  # the file named twice
    "awk -F, '{print $1}' /etc/passwd",
    "awk 'unbalanced",
])
def test_what_is_not_certainly_a_pitfall(root: Path, command: str) -> None:
    assert pitfall(root, command, "list the names in people.csv") is None


def test_a_request_about_the_header_or_every_line_has_no_pitfall(root: Path) -> None:
    command = "awk -F, '{print NF}' people.csv"
    assert pitfall(root, command, "how many columns does the header of people.csv have") is None
    assert pitfall(root, command, "how many fields are on each line of people.csv") is None
    assert pitfall(root, command, "how many fields has each person in people.csv") is not None


def test_a_header_row_holds_no_number_where_the_next_line_does() -> None:
    assert header_row(["name,age", "ann,31"])
    assert not header_row(["ann,31", "bo,45"])
    assert not header_row(["name,city", "ann,paris"])  # no number to tell a header from a row
    assert not header_row(["just one line"])


def test_cut_of_a_table_is_fed_its_rows_unless_a_column_is_asked_for(root: Path) -> None:
    found = pitfall(root, "cut -d, -f2 people.csv | sort -n | head -1", "how old is the youngest person in people.csv")
    assert found is not None and found.fixed == "tail -n +2 people.csv | cut -d, -f2 | sort -n | head -1"
    assert pitfall(root, "cut -d, -f2 people.csv", "print the second column of people.csv") is None


def test_a_long_listing_cut_by_head_skips_its_total_line(root: Path) -> None:
    found = pitfall(root, "ls -lt | head -1", "which file changed last", stdout="total 12\n")
    assert found is not None and found.fixed == "ls -lt | tail -n +2 | head -1"
    assert pitfall(root, "ls -lt | head -1", "which file changed last", stdout="-rw-r--r-- 1 a a 3 x.txt\n") is None
    assert pitfall(root, "ls -t | head -1", "which file changed last", stdout="total 12\n") is None
    assert pitfall(root, "ls -lt", "list the files, newest first", stdout="total 12\n") is None
    assert pitfall(root, "ls -lt | head -1 > newest.txt", "save the newest", stdout="total 12\n") is None


@pytest.mark.parametrize(("command", "intent", "fixed"), [
    ("mkdir -p docs && find . -name '*.pdf' -exec cp -t docs {} +", "move the pdfs into docs",
     "mkdir -p docs && find . -name '*.pdf' -exec mv -t docs {} +"),
    ("cp -r src backup/", "move src into the backup folder", "mv src backup/"),
    ("for f in *.txt; do cp -v \"$f\" old/; done", "move the text files to old",
     "for f in *.txt; do mv -v \"$f\" old/; done"),
    ("find . -name '*.log' | xargs cp -t logs", "move the logs into logs", "find . -name '*.log' | xargs mv -t logs"),
    ("mv report.pdf archive/", "copy report.pdf to archive", "cp -r report.pdf archive/"),
])
def test_a_move_done_by_copying_or_a_copy_by_moving_uses_the_other_command(
        root: Path, command: str, intent: str, fixed: str) -> None:
    found = pitfall(root, command, intent)
    assert found is not None and found.fixed == fixed


@pytest.mark.parametrize(("command", "intent"), [
    ("cp a b && rm a", "move a to b"),  # moved, in two steps
    ("cp a b", "copy a to b"),
    ("mv a b", "move a to b"),
    ("cp a b", "move a to b and keep a copy of it"),  # says both
    ("echo 'cp x' && cp a b", "move a to b"),  # a cp this cannot tell from a word
    ("cp a b", "rename a to b"),
])
def test_the_verb_the_request_uses_is_left_alone(root: Path, command: str, intent: str) -> None:
    assert pitfall(root, command, intent) is None


def test_an_edit_of_one_file_that_only_printed_is_written_over_it(root: Path) -> None:
    (root / "words.txt").write_text("cherry\napple\nbanana\n")
    (root / "words.txt").chmod(0o640)
    found = pitfall(root, "sort words.txt", "sort the lines of words.txt alphabetically", "apple\n", changed=False)
    assert found is not None
    assert found.fixed == ("{ sort words.txt; } > .words.txt.sbx && cat .words.txt.sbx > words.txt "
                           "&& rm -f .words.txt.sbx")
    subprocess.run(["sh", "-c", found.fixed], cwd=root, check=True)
    assert (root / "words.txt").read_text() == "apple\nbanana\ncherry\n"
    assert (root / "words.txt").stat().st_mode & 0o777 == 0o640
    assert not (root / ".words.txt.sbx").exists()


@pytest.mark.parametrize(("intent", "changed"), [
    ("sort the lines of notes.txt", True),  # it did change files
    ("show notes.txt sorted", False),  # asks to be shown
    ("sort notes.txt into sorted.txt", False),  # somewhere else
    ("how many lines does notes.txt have", False),  # not an edit
    ("sort notes.txt and raw.csv", False),  # two files
    ("sort missing.txt", False),
])
def test_what_is_not_an_edit_left_undone(root: Path, intent: str, changed: bool) -> None:
    assert pitfall(root, "sort notes.txt", intent, "buy milk\n", changed=changed) is None


def test_a_count_of_folders_leaves_out_the_folder_it_starts_from(root: Path) -> None:
    found = pitfall(root, "find src -type d | wc -l", "how many folders are in src?", "5\n")
    assert found is not None and found.fixed == "find src -mindepth 1 -type d | wc -l"
    assert pitfall(root, "find src -mindepth 1 -type d | wc -l", "how many folders are in src?", "4\n") is None
    assert pitfall(root, "find src -type f | wc -l", "how many files are in src?", "4\n") is None
    assert pitfall(root, "find src -type d", "list the folders in src", "src\n") is None


def test_the_old_any_bits_spelling_of_find_perm_is_today_s(root: Path) -> None:
    found = pitfall(root, "find bin -type f -perm +x", "which files in bin can be run?", "")
    assert found is not None and found.fixed == "find bin -type f -perm /a+x"
    subprocess.run(["chmod", "+x", root / "notes.txt"], check=True)
    ran = subprocess.run(["sh", "-c", found.fixed.replace("bin", ".")], cwd=root, capture_output=True, text=True,
                         check=False)
    assert ran.returncode == 0 and ran.stdout == "./notes.txt\n", ran
    found = pitfall(root, "find . -perm +111 -type f", "which files can be run?", "")
    assert found is not None and found.fixed == "find . -perm /111 -type f"
    assert pitfall(root, "find bin -type f -perm /111", "which files in bin can be run?", "bin/run\n") is None
    assert pitfall(root, "find . -perm -644", "which files have at least 644?", "") is None
