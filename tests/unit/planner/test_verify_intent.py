"""A verified `run_intent`: candidates run, compared and chosen, with a scripted model and scripted
tool calls (the real confinement compilation, no podman)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from sandbox.errors import PlannerError
from sandbox.intent import Candidate, Progress, run_intent
from sandbox.planner.design import PRODUCTION
from sandbox.planner.plan import Planner
from sandbox.types import ChangesetStatus
from tests.unit.planner.fakes import ScriptedBackend
from tests.unit.planner.test_intent import _ws


def effect(tool: str, args: Mapping[str, Any]) -> tuple[int, str, str, tuple[str, ...]]:
    """echo X prints X; touch F adds F; false fails."""
    command = str(args.get("command", ""))
    if command.startswith("echo "):
        return 0, command[5:] + "\n", "", ()
    if command.startswith("touch "):
        return 0, "", "", (command[6:].strip(),)
    return 1, "", "sh: 1: nope\n", ()


def block(command: str) -> str:
    return f"```bash\n{command}\n```"


def planner(*answers: str) -> tuple[Planner, ScriptedBackend]:
    backend = ScriptedBackend(list(answers))
    return Planner(backend, design=PRODUCTION), backend


def test_candidates_that_agree_stop_early_and_the_latest_is_kept(tmp_path: Path) -> None:
    ws = _ws(tmp_path, effect)
    # the gate's yes, candidate 1, candidate 2 (next examples: no gate)
    plan, backend = planner("yes", block("touch a.txt"), block("touch  a.txt"))
    events: list[Progress] = []
    result = run_intent(ws, "create a.txt", planner=plan, candidates=3, on_progress=events.append)
    assert result.status == "pending" and result.choice is not None
    assert result.choice.verdict == "chosen" and result.choice.chosen == 1
    assert [c.source for c in result.candidates] == ["greedy", "next examples"]
    assert ws.log == ["run run_shell " + json.dumps({"command": "touch a.txt"}), "discard cs000001",
                      "run run_shell " + json.dumps({"command": "touch  a.txt"})]
    assert [cs.id for cs in result.pending] == ["cs000002"]
    assert len(backend.calls) == 3  # no third candidate, no check
    out = result.to_json()
    json.dumps(out)
    assert out["verification"]["choice"]["verdict"] == "chosen" and out["alternatives"] == []
    assert [c["evidence"]["clean"] for c in out["verification"]["candidates"]] == [True, True]
    assert any(e.kind == "verify" for e in events)
    plans = [e.payload for e in sorted(ws.audit.entries(), key=lambda e: e.seq) if e.kind == "plan"]
    assert [p.get("verification", {}).get("candidate") for p in plans[:2]] == [None, 1]
    assert plans[-1]["verification"]["choice"]["chosen"] == 1


def test_a_failed_candidate_loses_to_a_clean_one_which_is_run_again(tmp_path: Path) -> None:
    ws = _ws(tmp_path, effect)
    plan, _ = planner("yes", block("touch b.txt"), block("false"))
    result = run_intent(ws, "create b.txt", planner=plan, candidates=2, max_repairs=0)
    assert result.status == "pending" and result.choice is not None and result.choice.chosen == 0
    assert result.choice.reason == "only candidate(s) 1 ran to the end"
    # candidate 1 set aside while candidate 2 ran, then run again for review
    assert ws.log[1] == "discard cs000001" and ws.log[-1] == "run run_shell " + json.dumps({"command": "touch b.txt"})
    assert [cs.id for cs in result.pending] == ["cs000003"]
    assert result.candidates[0].changesets[0].status is ChangesetStatus.DISCARDED


def test_disagreement_asks_the_person_and_without_one_is_undecided(tmp_path: Path) -> None:
    ws = _ws(tmp_path, effect)
    # two clean, different outputs; the model's check says yes to both: nothing separates them
    plan, _ = planner("yes", block("echo 25.75"), block("echo 34.33"), "yes", "yes")
    result = run_intent(ws, "average age", planner=plan, candidates=2)
    assert result.status == "undecided" and not result.pending and result.error is None
    assert [c.index for c in result.alternatives] == [0, 1]
    assert [c.stdout() for c in result.alternatives] == ["25.75\n", "34.33\n"]
    out = result.to_json()
    assert [a["stdout"] for a in out["alternatives"]] == ["25.75\n", "34.33\n"]
    assert [a["evidence"]["check"] for a in out["alternatives"]] == [True, True]

    seen: list[tuple[Candidate, ...]] = []

    def person(options: tuple[Candidate, ...]) -> int | None:
        seen.append(options)
        return options[1].index

    plan, _ = planner("yes", block("echo 25.75"), block("echo 34.33"), "yes", "yes")
    chosen = run_intent(ws, "average age", planner=plan, candidates=2, resolve=person)
    assert len(seen) == 1 and chosen.status == "done" and chosen.stdout() == "34.33\n"
    assert chosen.choice is not None and "the person chose candidate 2" in chosen.choice.reason


def test_the_models_check_breaks_a_tie(tmp_path: Path) -> None:
    ws = _ws(tmp_path, effect)
    plan, backend = planner("yes", block("echo 25.75"), block("echo 34.33"), "no", "yes")
    result = run_intent(ws, "average age", planner=plan, candidates=2)
    assert result.status == "done" and result.stdout() == "34.33\n"
    assert backend.calls[-1].max_tokens == 2 and "34.33" in backend.calls[-1].messages[-1]["content"]


def test_each_sampled_candidate_is_its_own_reproducible_draw(tmp_path: Path) -> None:
    ws = _ws(tmp_path, effect)
    # a sampled plan is gated again: the gate's yes comes before candidates 3 and 4
    plan, backend = planner("yes", block("echo 1"), block("echo 2"), "yes", block("echo 3"), "yes", block("echo 4"),
                            "no", "no", "no", "no")
    run_intent(ws, "count", planner=plan, candidates=4)
    sampled = [(c.temperature, c.seed) for c in backend.calls if c.temperature > 0]
    assert sampled == [(0.7, 2), (0.7, 3)]  # candidates 3 and 4, one prompt, two draws


def test_a_first_answer_that_is_no_plan_is_a_candidate_that_did_not_run(tmp_path: Path) -> None:
    ws = _ws(tmp_path, effect)
    # the gate's yes; candidate 1's free and guided passes say nothing; candidate 2 (next examples);
    # candidate 3 (sampled, gated again)
    plan, _ = planner("yes", "", "", block("touch a.txt"), "yes", block("touch a.txt"))
    result = run_intent(ws, "create a.txt", planner=plan, candidates=3)
    assert result.status == "pending" and result.choice is not None and result.choice.verdict == "chosen"
    first = result.candidates[0].evidence
    assert not first.ran and first.error is not None and first.error.startswith("no plan: ")
    assert [c.source for c in result.candidates] == ["greedy", "next examples", "sampled 0.7"]
    assert [s.args["command"] for s in result.plan.steps] == ["touch a.txt"]


def test_when_no_candidate_is_a_plan_the_first_answers_error_stands(tmp_path: Path) -> None:
    ws = _ws(tmp_path, effect)
    plan, _ = planner("yes", "", "", "", "")
    with pytest.raises(PlannerError) as caught:
        run_intent(ws, "create a.txt", planner=plan, candidates=2)
    assert caught.value.code == "planner.invalid_plan"
    assert ws.log == []  # nothing ran


def test_a_dry_run_whose_first_answer_is_no_plan_shows_a_candidate_that_is(tmp_path: Path) -> None:
    ws = _ws(tmp_path, effect)
    plan, _ = planner("yes", "", "", block("false"))
    result = run_intent(ws, "create a.txt", planner=plan, candidates=2, dry_run=True, max_repairs=0)
    assert result.status == "planned" and [s.args["command"] for s in result.plan.steps] == ["false"]
    assert result.choice is not None and result.choice.verdict == "none"


def test_one_candidate_is_the_plain_run(tmp_path: Path) -> None:
    ws = _ws(tmp_path, effect)
    plan, backend = planner("yes", block("echo hi"))
    result = run_intent(ws, "say hi", planner=plan)
    assert result.status == "done" and result.choice is None and "verification" not in result.to_json()
    assert len(backend.calls) == 2


def test_a_dry_run_tries_the_candidates_keeps_nothing_and_shows_the_plan_that_ran(tmp_path: Path) -> None:
    ws = _ws(tmp_path, effect)
    # candidate 1 fails and its repair runs; candidate 2 agrees with the repaired one
    plan, _ = planner("yes", block("false"), block("touch a.txt"), block("touch a.txt"))
    result = run_intent(ws, "create a.txt", planner=plan, candidates=3, dry_run=True)
    assert result.status == "planned" and result.error is None and not result.pending
    assert [step.args["command"] for step in result.plan.steps] == ["touch a.txt"], "the repair is in the plan"
    assert [p.step.args["command"] for p in result.planned] == ["touch a.txt"]
    assert all(cs.status is not ChangesetStatus.PENDING for cs in ws.sets.values()), "nothing stays pending"
    assert not any(line.startswith("apply") for line in ws.log)
    out = result.to_json()
    assert out["plan"]["steps"][0]["args"] == {"command": "touch a.txt"}
    assert out["verification"]["choice"]["verdict"] == "chosen"


def test_a_dry_run_that_no_candidate_runs_shows_the_models_plan(tmp_path: Path) -> None:
    ws = _ws(tmp_path, effect)
    plan, _ = planner("yes", block("false"), block("false"))
    result = run_intent(ws, "do it", planner=plan, candidates=2, dry_run=True, max_repairs=0)
    assert result.status == "planned" and result.error is None
    assert [step.args["command"] for step in result.plan.steps] == ["false"]
    assert result.choice is not None and result.choice.verdict == "none"


def test_a_dry_run_of_disagreeing_candidates_is_undecided_and_shows_the_better(tmp_path: Path) -> None:
    ws = _ws(tmp_path, effect)
    plan, _ = planner("yes", block("echo 25.75"), block("echo 34.33"), "yes", "yes")
    result = run_intent(ws, "average age", planner=plan, candidates=2, dry_run=True)
    assert result.status == "undecided" and [c.index for c in result.alternatives] == [0, 1]
    assert [step.args["command"] for step in result.plan.steps] == ["echo 25.75"]


def test_a_dry_run_with_one_candidate_only_plans(tmp_path: Path) -> None:
    ws = _ws(tmp_path, effect)
    plan, _ = planner("yes", block("touch a.txt"))
    result = run_intent(ws, "create a.txt", planner=plan, dry_run=True)
    assert result.status == "planned" and result.choice is None and ws.log == []


def test_a_dry_run_without_an_engine_shows_the_plan_unverified(tmp_path: Path) -> None:
    from sandbox.errors import EngineUnavailableError

    def no_engine(tool: str, args: Mapping[str, Any]) -> tuple[int, str, str, tuple[str, ...]]:
        raise EngineUnavailableError("podman is not running")

    ws = _ws(tmp_path, no_engine)
    plan, _ = planner("yes", block("touch a.txt"))
    events: list[Progress] = []
    result = run_intent(ws, "create a.txt", planner=plan, candidates=3, dry_run=True, on_progress=events.append)
    assert result.status == "planned" and result.choice is None
    assert any("not verified: podman is not running" in e.message for e in events)
    with pytest.raises(EngineUnavailableError):  # a real run needs the engine
        run_intent(ws, "create a.txt", planner=planner("yes", block("touch a.txt"))[0], candidates=3)
