"""A question about the sandbox answered cleanly in two wordings is answered, not asked
(sandbox.planner.verify.either_answers); any other disagreement still asks."""

from __future__ import annotations

from pathlib import Path

from sandbox.intent import run_intent
from sandbox.planner.verify import NO_CHANGES, Choice, Evidence, Verdict, either_answers
from tests.unit.planner.test_intent import _ws
from tests.unit.planner.test_verify_intent import block, effect, planner

ASK = Choice(Verdict.ASK, None, (0, 1), "candidates 1 and 2 ran equally well and did different things")


def _evidence(index: int, *, changes: str = NO_CHANGES, check: bool | None = True, ran: bool = True) -> Evidence:
    return Evidence(index, "greedy" if index == 0 else "next examples", ("df -h",), ran,
                    stdout_digest=f"out{index}", changes_digest=changes, check=check, family=str(index))


def test_two_clean_read_only_answers_settle_on_the_first_and_keep_the_other() -> None:
    choice = either_answers(ASK, [_evidence(0), _evidence(1)])
    assert choice.verdict is Verdict.CHOSEN and choice.chosen == 0 and choice.alternatives == (0, 1)
    assert "both answer a question about the sandbox" in choice.reason


def test_a_change_a_rejection_or_a_failure_still_asks() -> None:
    assert either_answers(ASK, [_evidence(0), _evidence(1, changes="x")]) == ASK
    assert either_answers(ASK, [_evidence(0), _evidence(1, check=False)]) == ASK
    assert either_answers(ASK, [_evidence(0), _evidence(1, ran=False)]) == ASK


def test_a_sandbox_question_is_answered_where_a_task_asks(tmp_path: Path) -> None:
    # the gate is not asked for a question about the sandbox: candidate 1, candidate 2, a check each
    plan, _ = planner(block("echo 2026-12-05"), block("echo Sat Dec 5"), "yes", "yes")
    result = run_intent(_ws(tmp_path, effect), "what is the date today", planner=plan, candidates=2)
    assert result.status == "done" and result.stdout() == "2026-12-05\n"
    assert result.plan.note.startswith("the answer describes the sandbox")
    assert [c.index for c in result.alternatives] == [0, 1]

    plan, _ = planner("yes", block("echo 25.75"), block("echo 34.33"), "yes", "yes")
    (tmp_path / "other").mkdir()
    asked = run_intent(_ws(tmp_path / "other", effect), "what is the average of the numbers", planner=plan,
                       candidates=2)
    assert asked.status == "undecided"
