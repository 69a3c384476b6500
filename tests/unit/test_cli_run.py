"""`sbx run` on a terminal, through the command line, without podman or a model: the plan is
confirmed, progress is said on stderr, and the run's changesets pass the one approval dialogue."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from sandbox import cli
from sandbox.cli import actions
from tests.unit.planner.test_intent import ScriptedWorkspace, _planner, _ws


def _run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
         answers: list[str], added: tuple[str, ...]) -> tuple[int, ScriptedWorkspace, list[str], Any]:
    ws = _ws(tmp_path, lambda tool, args: (0, "made\n", "", added))
    planner, _ = _planner("```bash\necho hi > note.txt\n```")
    monkeypatch.setattr(actions, "open_workspace", lambda path, **_: ws)
    monkeypatch.setattr("sandbox.planner.commands.make_planner", lambda *a, **k: planner)
    monkeypatch.setattr(actions, "interactive", lambda as_json: True)
    asked: list[str] = []
    replies: Iterator[str] = iter(answers)

    def answer(question: str) -> str:
        asked.append(question)
        return next(replies, "")

    monkeypatch.setattr("builtins.input", answer)
    code = cli.main(["run", "write a note", "-w", str(ws.path), "--candidates", "1"])
    return code, ws, asked, capsys.readouterr()


def test_a_run_is_confirmed_then_approved_in_the_one_dialogue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, ws, asked, captured = _run(tmp_path, monkeypatch, capsys, ["", "a"], ("note.txt",))
    assert code == 0
    assert asked == ["Run this plan? [Y/n] ", "Apply these changes? [a]ll / [N]one: "]
    assert ws.log[-1] == "apply cs000001"
    assert "sbx: model fake-model" in captured.err and "sbx: step 1: ok" in captured.err
    assert "sbx: applied 1 change(s) from changeset cs000001" in captured.err
    assert captured.out.startswith("changeset cs000001") and captured.out.endswith("made\n")


def test_a_flagged_run_without_a_typed_yes_stays_pending(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from sandbox.types import Change, ChangeKind

    original = ScriptedWorkspace.call_tool

    def flagged(self: ScriptedWorkspace, *args: Any, **kwargs: Any) -> Any:
        result = original(self, *args, **kwargs)
        hook = Change(".git/hooks/pre-commit", ChangeKind.ADDED, risks=("risk.git_hook",))
        hooked = replace(result.changeset, changes=(hook,))
        self.sets[hooked.id] = hooked
        return replace(result, changeset=hooked)

    monkeypatch.setattr(ScriptedWorkspace, "call_tool", flagged)
    code, ws, asked, captured = _run(tmp_path, monkeypatch, capsys, ["y", "a", "y"], (".git/hooks/pre-commit",))
    assert code == 0
    assert asked == ["Run this plan? [Y/n] ", "Apply these changes (1 flagged)? [a]ll / [N]one: ",
                     "Type 'yes' to apply the flagged changes too: "]
    assert not any(line.startswith("apply") for line in ws.log)
    # the summary was the last thing before the question; the tool's own output follows the run
    lines = captured.out.rstrip("\n").split("\n")
    assert lines[-3].startswith("RISK: 1 flagged change(s)")
    assert lines[-2:] == ["  .git/hooks/pre-commit: risk.git_hook", "made"]
    assert "1 changeset(s) pending: cs000001" in captured.err
