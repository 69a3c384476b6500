"""The parts of the planning prompt: the workspace in a line, tool signatures. No file contents."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sandbox.planner.prompt import IMAGE_FACTS, clip, summarize_workspace


def test_workspace_summary_lists_the_top_level_with_counts(tmp_path: Path) -> None:
    (tmp_path / "src" / "pkg").mkdir(parents=True)
    for name in ("a.py", "b.py", "pkg/c.py"):
        (tmp_path / "src" / name).write_text("SECRET CONTENT\n")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "index.md").write_text("x")
    (tmp_path / "empty").mkdir()
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD").write_text("ref")
    (tmp_path / "README.md").write_text("SECRET CONTENT\n")
    os.symlink("README.md", tmp_path / "link")
    summary = summarize_workspace(tmp_path)
    assert summary == ".git/, docs/ (1 file), empty/ (0 files), src/ (3 files), README.md, link@"
    assert "SECRET" not in summary


def test_workspace_summary_is_bounded(tmp_path: Path) -> None:
    assert summarize_workspace(tmp_path) == "(empty)"
    for i in range(20):
        (tmp_path / f"f{i:02d}").write_text("")
    assert summarize_workspace(tmp_path, max_entries=3) == "f00, f01, f02, and 17 more"
    (tmp_path / "big").mkdir()
    for i in range(30):
        (tmp_path / "big" / str(i)).write_text("")
    assert summarize_workspace(tmp_path, max_entries=1, walk_budget=10) == "big/ (10+ files), and 20 more"
    assert summarize_workspace(tmp_path / "missing") == "(unreadable)"


def test_image_facts_name_what_the_image_has_and_lacks() -> None:
    for name in ("coreutils", "findutils", "grep", "sed", "gawk", "git", "python3", "jq", "tar"):
        assert name in IMAGE_FACTS
    assert "no zip, curl, wget" in IMAGE_FACTS and "without network" in IMAGE_FACTS


def test_clip_keeps_the_end() -> None:
    assert clip("  short  ", 10) == "short"
    assert clip("aaaaaEND", 4) == "...aEND"


def test_a_missing_command_gets_the_nearest_one_there_is_or_none() -> None:
    from sandbox.planner.prompt import missing_command_hint

    hint = missing_command_hint("/bin/sh: 1: python: not found\n")
    assert hint == "python is not installed here; use python3 instead."
    assert missing_command_hint("bash: ffmpeg: command not found") == (
        "ffmpeg is not installed here and cannot be installed; use the commands there are.")
    assert "use tail" not in missing_command_hint("sh: 1: mail: not found")  # not near enough to guess
    assert missing_command_hint("cat: x: No such file or directory") == ""
    # a known substitute rather than the spelling neighbour (gzip makes no zip file)
    assert missing_command_hint("sh: 1: zip: not found") == (
        "zip is not installed here; use python3 -m zipfile -c OUT.zip FILE_OR_FOLDER... instead.")


def test_a_script_the_sandbox_would_not_execute_is_run_through_its_interpreter() -> None:
    from sandbox.planner.prompt import repair_hint

    assert repair_hint(126, "/bin/sh: 1: ./build.sh: Permission denied\n") == (
        "Files in the folder cannot be executed directly here; run it with its interpreter: sh build.sh.")
    assert repair_hint(126, "sh: 1: tools/gen.py: Permission denied").endswith("python3 tools/gen.py.")
    assert repair_hint(127, "sh: 1: python: not found") == "python is not installed here; use python3 instead."
    assert repair_hint(1, "sh: 1: ./build.sh: Permission denied") == ""  # only the shell's exec failure


def test_a_jq_error_says_how_to_reach_into_the_json_it_describes() -> None:
    from sandbox.planner.prompt import repair_hint

    assert ".[]" in repair_hint(5, 'jq: error (at items.json:1): Cannot index array with string "items"')
    assert "by key" in repair_hint(5, "jq: error (at o.json:1): Cannot index object with number")
    assert "jq keys" in repair_hint(5, "jq: error (at o.json:1): Cannot iterate over null (null)")
    assert "one array per row" in repair_hint(5, 'jq: error (at o.json:1): object ({"a":1}) is not valid in a csv row')
    assert "one array per row" in repair_hint(5, "jq: error (at o.json:1): object ({}) cannot be csv-formatted, "
                                                 "only array")


def test_a_folder_error_names_the_option_that_does_the_job() -> None:
    from sandbox.planner.prompt import repair_hint

    deleted = repair_hint(1, "find: cannot delete './src/__pycache__': Directory not empty\n")
    assert "-exec rm -rf {} +" in deleted
    assert "rm -r" in repair_hint(1, "rm: cannot remove 'build': Is a directory")
    assert "cp -r" in repair_hint(1, "cp: -r not specified; omitting directory 'src'")
    assert "mkdir -p" in repair_hint(1, "mkdir: cannot create directory 'out': File exists")
    assert repair_hint(0, "find: cannot delete 'x': Directory not empty") == ""  # it did not fail
    assert repair_hint(2, "grep: nothing: No such file or directory") == ""


@pytest.mark.parametrize("intent", [
    "is data.json valid JSON?",
    "does app.log mention ERROR",
    "check whether the two configs are the same",
    "tell me if notes.txt ends with a newline",
])
def test_a_failed_check_of_a_yes_or_no_question_may_be_its_answer(intent: str) -> None:
    from sandbox.planner.prompt import repair_hint

    assert "CHECK && echo yes || echo no" in repair_hint(1, "", intent)  # grep -q, test, cmp: silent
    assert "CHECK && echo yes || echo no" in repair_hint(5, "jq: error (at data.json:3): Cannot parse", intent)
    assert repair_hint(2, "sh: 1: Syntax error: \"(\" unexpected", intent) == ""  # a broken command is no answer
    assert repair_hint(0, "", intent) == ""


@pytest.mark.parametrize("intent", ["count the lines of data.json", "show the errors in app.log",
                                    "delete the empty folders"])
def test_a_task_that_asks_no_yes_or_no_gets_no_such_hint(intent: str) -> None:
    from sandbox.planner.prompt import repair_hint

    assert repair_hint(1, "", intent) == ""


def test_no_substitute_is_offered_for_a_command_the_default_image_has() -> None:
    from sandbox.engine.image import parse_containerfile
    from sandbox.planner.prompt import IMAGE_COMMANDS, SUBSTITUTES
    from sandbox.resources import containerfile_text

    installed = set(parse_containerfile(containerfile_text()).packages)  # less, file, git, ... are commands too
    assert set(SUBSTITUTES) & (installed | set(IMAGE_COMMANDS)) == set()
