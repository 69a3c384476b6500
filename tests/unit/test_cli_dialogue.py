"""The terminal approval dialogue: the risk summary comes last, right before the question, and a
flagged change is approved only by a typed `yes`, whichever way (all or per file) was chosen."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox.app import Approval
from sandbox.cli import dialogue as cli_dialogue
from sandbox.types import Change, ChangeKind, Changeset, ChangesetStatus, EntryType

HOOKS = Change(".git/hooks", ChangeKind.ADDED, new_type=EntryType.DIR, new_mode=0o755)
HOOK = Change(".git/hooks/pre-commit\x1b[2K", ChangeKind.ADDED, new_type=EntryType.FILE, new_mode=0o755,
              risks=("risk.git_hook", "risk.exec_bit"))
README = Change("README.md", ChangeKind.MODIFIED, EntryType.FILE, EntryType.FILE, 0o644, 0o644,
                diff="--- a/README.md\n+++ b/README.md\n@@ -1 +1 @@\n-a\n+\x1b[2J\x1b[Hfake review\n")
CS = Changeset("c1", "/w", ChangesetStatus.PENDING, "0" * 64, 0.0, (HOOKS, HOOK, README), "run_shell x")


def dialogue(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], answers: list[str]
) -> tuple[Approval, str, list[str]]:
    asked: list[str] = []
    replies: Iterator[str] = iter(answers)

    def answer(question: str) -> str:
        asked.append(question)
        return next(replies, "")

    monkeypatch.setattr("builtins.input", answer)
    approval = cli_dialogue.review([CS])
    return approval, capsys.readouterr().out, asked


def test_the_risk_summary_is_last_and_nothing_raw_reaches_the_terminal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, asked = dialogue(monkeypatch, capsys, ["n"])
    assert "\x1b" not in out  # not a terminal here: no colour, and nothing from the files
    lines = out.rstrip("\n").split("\n")
    assert lines[-2].startswith("RISK: 1 flagged change(s)")
    assert lines[-1] == "  .git/hooks/pre-commit\\x1b[2K: risk.git_hook, risk.exec_bit"
    assert "+\\x1b[2J\\x1b[Hfake review" in out
    assert asked == ["Apply these changes (1 flagged)? [a]ll / [p]er file / [N]one: "]


@pytest.mark.parametrize(
    ("answers", "paths"),
    [
        (["a", "yes"], None),  # all, flagged ones confirmed
        (["a", "y"], ["README.md"]),  # a plain y does not approve a flagged change
        # approving a folder approves what is below it: it takes the flags of its contents
        (["p", "y", "y", "y"], ["README.md"]),
        (["p", "y", "yes", "y"], [HOOK.path, "README.md"]),
        (["p", "yes", "yes", "y"], [".git/hooks", HOOK.path, "README.md"]),
        (["n"], "nothing"),
    ],
)
def test_flagged_changes_need_a_typed_yes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], answers: list[str],
    paths: list[str] | str | None,
) -> None:
    approval, _, asked = dialogue(monkeypatch, capsys, answers)
    if paths == "nothing":
        assert not approval.approve
    else:
        assert approval.approve and approval.paths == paths
    if answers[0] == "p":
        assert asked[1] == "  apply added .git/hooks (RISK: risk.git_hook, risk.exec_bit)? type 'yes': "
        assert asked[2] == (
            "  apply added .git/hooks/pre-commit\\x1b[2K (RISK: risk.git_hook, risk.exec_bit)? type 'yes': "
        )


OTHER = Changeset("c2", "/w", ChangesetStatus.PENDING, "1" * 64, 0.0, (README,), "run_shell y")


def run_dialogue(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], answers: list[str], changesets: list[Changeset]
) -> tuple[Approval, str, list[str]]:
    asked: list[str] = []
    replies: Iterator[str] = iter(answers)

    def answer(question: str) -> str:
        asked.append(question)
        return next(replies, "")

    monkeypatch.setattr("builtins.input", answer)
    approval = cli_dialogue.review(changesets, per_file=False)
    return approval, capsys.readouterr().out, asked


@pytest.mark.parametrize(
    ("answers", "approved"),
    [(["a", "yes"], True), (["y", "yes"], True), (["a", "y"], False), (["a", ""], False), (["n"], False),
     ([""], False)],
)
def test_sbx_run_reviews_its_changesets_by_the_same_rules(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], answers: list[str], approved: bool
) -> None:
    """A run commits its changesets whole: no per-file choice, and nothing at all unless the flagged
    changes get their typed `yes`; the risk summary of every changeset is last."""
    approval, out, asked = run_dialogue(monkeypatch, capsys, answers, [OTHER, CS])
    assert approval.approve is approved and approval.paths in (None, [])
    assert out.index("changeset c2") < out.index("changeset c1") < out.index("RISK: 1 flagged change(s)")
    assert out.rstrip("\n").split("\n")[-1] == "  .git/hooks/pre-commit\\x1b[2K: risk.git_hook, risk.exec_bit"
    assert asked[0] == "Apply these changes (1 flagged)? [a]ll / [N]one: "
    if answers[0] in ("a", "y"):
        assert asked[1] == "Type 'yes' to apply the flagged changes too: "


def test_without_flags_a_plain_yes_applies_a_run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    approval, out, asked = run_dialogue(monkeypatch, capsys, ["y"], [OTHER])
    assert approval.approve and approval.paths is None
    assert asked == ["Apply these changes? [a]ll / [N]one: "] and "RISK" not in out


def test_one_dialogue_asks_for_every_command() -> None:
    """Only sandbox/cli/dialogue.py reads the person's answers: exec, apply and run go through it."""
    import ast
    from pathlib import Path

    cli_dir = Path(cli_dialogue.__file__).parent
    askers = set()
    for path in cli_dir.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "input":
                askers.add(path.name)
    assert askers == {"dialogue.py"}
    for name in ("actions.py", "changes.py"):
        assert "review(" in (cli_dir / name).read_text()
