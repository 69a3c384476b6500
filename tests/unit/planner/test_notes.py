"""The first plan sees how the files the request names begin (sandbox.planner.verify.WithNotes)."""

from __future__ import annotations

from pathlib import Path

from bench.designs import FencedDesign
from sandbox.intent import run_intent
from sandbox.planner.verify import WithNotes
from tests.unit.planner.test_intent import _planner, _ws, ok

GATED = FencedDesign(name="gated", free_first=True, gate=True, rules=True, max_blocks=1)


def test_the_plan_request_is_followed_by_the_head_of_the_file_it_names(tmp_path: Path) -> None:
    ws = _ws(tmp_path, ok(stdout="34.33\n"))
    (ws.path / "people.csv").write_text("name,age\nann,31\nbob,45\n")
    planner, backend = _planner("yes", "```bash\nawk -F, 'NR > 1 {s += $2} END {print s / (NR - 1)}' people.csv\n```",
                                design=GATED)
    result = run_intent(ws, "what is the average age in people.csv", planner=planner)
    assert result.status == "done" and result.plan.design == "gated"
    gate, plan = backend.calls
    assert gate.messages[-1] == {"role": "user", "content": "what is the average age in people.csv"}
    assert plan.messages[-1]["content"] == ("what is the average age in people.csv\n(people.csv begins: "
                                            "name,age | ann,31 | bob,45; its first line is a header, not data)")


def test_a_request_that_names_no_file_is_asked_as_it_is(tmp_path: Path) -> None:
    ws = _ws(tmp_path, ok(stdout="3\n"))
    planner, backend = _planner("yes", "```bash\nls | wc -l\n```", design=GATED)
    run_intent(ws, "how many entries are there here", planner=planner)
    assert backend.calls[-1].messages[-1] == {"role": "user", "content": "how many entries are there here"}


def test_notes_change_nothing_but_the_request() -> None:
    noted = WithNotes(GATED, "a.csv begins: x,y")
    plain = GATED.messages("sum a.csv", [], "a.csv", 1)
    assert noted.messages("sum a.csv", [], "a.csv", 1)[:-1] == plain[:-1]
    assert noted.name == GATED.name and noted.gate_messages("sum a.csv") == GATED.gate_messages("sum a.csv")
