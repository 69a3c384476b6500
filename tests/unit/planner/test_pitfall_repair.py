"""A step that ran cleanly into a pitfall (planner.pitfalls) runs its fix instead, and runs as
planned when the fix fails; no model is asked."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sandbox.intent import run_intent
from tests.unit.planner.test_intent import _planner, _ws

WITH_HEADER = "awk -F, '{s += $2} END {print s / NR}' people.csv"
ROWS_ONLY = "tail -n +2 people.csv | awk -F, '{s += $2} END {print s / NR}'"
ASKED = "what is the average age in people.csv"


def _average(*, fix_fails: bool = False) -> Any:
    def effect(tool: str, args: Mapping[str, Any]) -> tuple[int, str, str, tuple[str, ...]]:
        command = str(args.get("command", ""))
        if command.startswith("tail"):
            return (1, "", "tail: broken\n", ()) if fix_fails else (0, "34.3333\n", "", ())
        return 0, "25.75\n", "", ()
    return effect


def _people(tmp_path: Path, *, fix_fails: bool = False) -> Any:
    ws = _ws(tmp_path, _average(fix_fails=fix_fails))
    (ws.path / "people.csv").write_text("name,age\nann,31\nbo,45\ncy,27\n")
    return ws


def test_a_clean_run_that_read_a_header_as_data_is_run_on_the_rows_only(tmp_path: Path) -> None:
    planner, backend = _planner(f"```bash\n{WITH_HEADER}\n```")
    result = run_intent(_people(tmp_path), ASKED, planner=planner)
    assert result.error is None and result.stdout() == "34.3333\n"
    assert [(a.call.args["command"], a.ok) for a in result.attempts] == [(WITH_HEADER, False), (ROWS_ONLY, True)]
    set_aside = result.attempts[0]
    assert set_aside.set_aside and set_aside.to_json()["set_aside"] is True
    assert set_aside.error is not None and set_aside.error.startswith("suspect: awk read the header line of people.csv")
    assert set_aside.changeset is not None and set_aside.changeset.status != "pending"
    assert len(backend.calls) == 1  # the fix is made, not asked for


def test_when_the_fix_fails_the_step_runs_as_planned(tmp_path: Path) -> None:
    planner, _ = _planner(f"```bash\n{WITH_HEADER}\n```")
    result = run_intent(_people(tmp_path, fix_fails=True), ASKED, planner=planner)
    assert result.error is None and result.stdout() == "25.75\n"
    assert [(a.call.args["command"], a.ok) for a in result.attempts] == [
        (WITH_HEADER, False), (ROWS_ONLY, False), (WITH_HEADER, True)]


def test_without_repairs_nothing_is_checked(tmp_path: Path) -> None:
    planner, _ = _planner(f"```bash\n{WITH_HEADER}\n```")
    result = run_intent(_people(tmp_path), ASKED, planner=planner, max_repairs=0)
    assert result.error is None and [a.ok for a in result.attempts] == [True]


def test_a_failed_step_whose_mistake_is_in_its_words_is_fixed_without_the_model(tmp_path: Path) -> None:
    expanded, quoted = "find . -name *.txt -newer a.txt", "find . -name '*.txt' -newer a.txt"

    def effect(tool: str, args: Mapping[str, Any]) -> tuple[int, str, str, tuple[str, ...]]:
        if args.get("command") == quoted:
            return 0, "./b.txt\n", "", ()
        return 1, "", "find: paths must precede expression: `b.txt'\n", ()

    planner, backend = _planner(f"```bash\n{expanded}\n```")
    ws = _ws(tmp_path, effect)
    (ws.path / "a.txt").write_text("")
    (ws.path / "b.txt").write_text("")
    result = run_intent(ws, "text files newer than a.txt", planner=planner)
    assert result.error is None
    assert [(a.call.args["command"], a.ok) for a in result.attempts] == [(expanded, False), (quoted, True)]
    assert len(backend.calls) == 1  # the plan only: the fix is made, not asked for


def test_a_slip_fix_that_fails_goes_to_the_model(tmp_path: Path) -> None:
    expanded, quoted = "find . -name *.txt -newer a.txt", "find . -name '*.txt' -newer a.txt"

    def effect(tool: str, args: Mapping[str, Any]) -> tuple[int, str, str, tuple[str, ...]]:
        if args.get("command") == "true":
            return 0, "", "", ()
        return 1, "", "find: broken\n", ()

    planner, backend = _planner(f"```bash\n{expanded}\n```", "```bash\ntrue\n```")
    ws = _ws(tmp_path, effect)
    (ws.path / "a.txt").write_text("")
    result = run_intent(ws, "text files newer than a.txt", planner=planner)
    assert [(a.call.args["command"], a.ok) for a in result.attempts] == [
        (expanded, False), (quoted, False), ("true", True)]
    assert len(backend.calls) == 2
