"""`sbx run` when its candidate plans disagree: on a terminal the person chooses between the two
best; with --json they are returned as `alternatives` (no podman, no model)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sandbox import cli
from sandbox.cli import actions
from tests.unit.planner.test_verify_intent import _ws, block, effect, planner


def _setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, terminal: bool) -> list[str]:
    ws = _ws(tmp_path, effect)
    plan, _ = planner("yes", block("echo 25.75"), block("echo 34.33"), "yes", "yes")
    monkeypatch.setattr(actions, "open_workspace", lambda path, **_: ws)
    monkeypatch.setattr("sandbox.planner.commands.make_planner", lambda *a, **k: plan)
    monkeypatch.setattr(actions, "interactive", lambda as_json: terminal)
    asked: list[str] = []
    replies = iter(["", "2"])

    def answer(question: str) -> str:
        asked.append(question)
        return next(replies, "")

    monkeypatch.setattr("builtins.input", answer)
    return asked


def test_on_a_terminal_the_person_chooses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    asked = _setup(tmp_path, monkeypatch, terminal=True)
    code = cli.main(["run", "what is the average age in people.csv", "-w", str(tmp_path), "--candidates", "2"])
    captured = capsys.readouterr()
    assert code == 0 and asked[-1] == "Which one is right? [1/2/N(either)]: "
    assert "sbx is not sure" in captured.out and "$ echo 25.75" in captured.out and "$ echo 34.33" in captured.out
    assert captured.out.endswith("34.33\n")


def test_with_json_the_alternatives_are_returned_and_nothing_is_kept(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    asked = _setup(tmp_path, monkeypatch, terminal=False)
    code = cli.main(["run", "what is the average age in people.csv", "-w", str(tmp_path), "--candidates", "2",
                     "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 1 and asked == []
    result = out["result"]
    assert out["ok"] is True and result["status"] == "undecided" and result["changeset"]["status"] == "empty"
    assert [a["stdout"] for a in result["alternatives"]] == ["25.75\n", "34.33\n"]
    assert result["verification"]["choice"]["verdict"] == "ask"


def test_candidates_out_of_range_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["run", "x", "--candidates", "0", "--json"]) == 2
    assert json.loads(capsys.readouterr().out)["error"]["code"] == "usage.invalid_arg"


def test_a_candidate_chosen_over_another_that_did_otherwise_says_so(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    ws = _ws(tmp_path, effect)
    # the model's plan; the next examples' plan; the model's plan sampled again (gated again); the checks
    plan, _ = planner("yes", block("echo 25.75"), block("echo 34.33"), "yes", block("echo 25.75"), "yes", "yes")
    monkeypatch.setattr(actions, "open_workspace", lambda path, **_: ws)
    monkeypatch.setattr("sandbox.planner.commands.make_planner", lambda *a, **k: plan)
    monkeypatch.setattr(actions, "interactive", lambda as_json: False)
    code = cli.main(["run", "what is the average age in people.csv", "-w", str(tmp_path), "--candidates", "3"])
    captured = capsys.readouterr()
    assert code == 0 and captured.out == "25.75\n"
    assert "candidate 3 was chosen, another did otherwise" in captured.err  # 3 did what 1 did, and is pending
    assert "$ echo 34.33" in captured.err and "34.33" in captured.err.split("another did otherwise")[1]
