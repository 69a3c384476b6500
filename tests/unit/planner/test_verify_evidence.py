"""What a failed command's repair is told about the folder: where it looked, and what is there."""

from __future__ import annotations

from pathlib import Path

from sandbox.intent import feedback
from sandbox.planner.evidence import peek, where_it_looked
from sandbox.types import Limits, Protections, StepResult


def project(root: Path) -> Path:
    (root / "src" / "pkg").mkdir(parents=True)
    (root / "src" / "pkg" / "app.py").write_text("def greet():\n    return 'hi'\n")
    (root / "tests").mkdir()
    (root / "tests" / "test_app.py").write_text("from pkg.app import greet\n")
    (root / "people.csv").write_text("name,age\nann,30\n")
    return root


def test_a_pattern_that_matches_nothing_here_says_where_such_names_are(tmp_path: Path) -> None:
    facts = where_it_looked(project(tmp_path), 'for f in *.py; do sed -i "s/greet/welcome/g" "$f"; done')
    assert facts == "`*.py` matches nothing in ./; names like it further down: tests/test_app.py, src/pkg/app.py"


def test_a_missing_file_names_its_folder_and_where_the_name_is(tmp_path: Path) -> None:
    facts = where_it_looked(project(tmp_path), "sed -i 's/greet/welcome/' src/app.py")
    assert facts == "`src/app.py` does not exist; `src/` holds: pkg/; `app.py` is at: src/pkg/app.py"
    assert "`data/` does not exist either" in where_it_looked(tmp_path, "cat data/people.csv")


def test_existing_paths_and_plain_words(tmp_path: Path) -> None:
    root = project(tmp_path)
    assert where_it_looked(root, "wc -l people.csv") == (
        "`people.csv` exists (a file of 16 bytes; it begins: name,age | ann,30)")
    assert where_it_looked(root, "ls src") == "`src` is a folder holding: pkg/"
    assert where_it_looked(root, "grep -rn TODO") == ""  # words that name nothing are not paths
    assert where_it_looked(root, "cat ../../etc/passwd /etc/shadow") == ""  # never outside the folder
    assert where_it_looked(root, "echo 'unclosed") == ""


def test_the_repair_feedback_carries_it(tmp_path: Path) -> None:
    protections = Protections(None, 7, True, "none", "host", (), True, True, Limits())
    step = StepResult("run_shell", {"command": "x"}, 2, "", "sed: can't read *.py: No such file or directory\n",
                      False, protections, 0.1)
    text = feedback(step, "exit 2", "`*.py` matches nothing in ./")
    assert text.splitlines() == ["exit 2", "stderr: sed: can't read *.py: No such file or directory",
                                 "in the folder: `*.py` matches nothing in ./"]


def test_peek_shows_the_head_of_the_files_the_request_names(tmp_path: Path) -> None:
    root = project(tmp_path)
    assert peek(root, "what is the average age in people.csv?") == ("people.csv begins: name,age | ann,30; "
                                                                         "its first line is a header, not data")
    assert peek(root, "rename greet in all python files") == ""
    assert peek(root, "show ../../etc/passwd") == ""


def test_an_existing_file_shows_how_it_begins_and_a_binary_one_does_not(tmp_path: Path) -> None:
    (tmp_path / "users.json").write_text('[\n  {"name": "ann", "age": 31}\n]\n')
    (tmp_path / "logo.png").write_bytes(b"\x89PNG\r\n\x00\x00")
    facts = where_it_looked(tmp_path, "jq '.users[] | .name' users.json logo.png").splitlines()
    assert facts[0].endswith('it begins: [ | {"name": "ann", "age": 31} | ])')
    assert facts[1] == "`logo.png` exists (a file of 8 bytes)"


def test_peek_leaves_prose_out_and_shows_data(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("buy milk\n")
    (tmp_path / "users").write_text('{"users": [{"name": "a"}]}\n')
    (tmp_path / "rows.txt").write_text("a;b\n1;2\n")
    assert peek(tmp_path, "rename notes.txt to notes.md") == ""  # its words would read as the request's
    assert peek(tmp_path, "list the names in users").startswith("users begins: {")
    assert peek(tmp_path, "sum the second column of rows.txt").startswith("rows.txt begins: a;b")
