"""The planner with a scripted backend: plans, refusals, invalid output, free-then-guided, repair."""

from __future__ import annotations

import json

import pytest

from bench.designs import FencedDesign, JsonDesign
from sandbox.errors import PlannerError
from sandbox.planner.plan import Plan, Planner, PlanStep
from sandbox.tools import Tool
from tests.unit.planner.fakes import ScriptedBackend

FREE = FencedDesign(name="free", free_first=True)


def _planner(answers: list[str], design: object = None) -> tuple[Planner, ScriptedBackend]:
    backend = ScriptedBackend(list(answers))
    return Planner(backend, design=design or FencedDesign()), backend  # type: ignore[arg-type]


def test_a_plan_is_validated_steps_with_model_and_usage(tools: list[Tool]) -> None:
    planner, backend = _planner(["```bash\nfind . -name '*.py' -mtime -7\n```\n```bash\ncat notes.txt\n```"])
    plan = planner.plan("  find recent python files  ", tools, "src/ (2 files)", 3)
    assert plan.intent == "find recent python files"
    assert [(s.tool, dict(s.args)) for s in plan.steps] == [
        ("run_shell", {"command": "find . -name '*.py' -mtime -7"}),
        ("read_file", {"path": "notes.txt"}),
    ]
    assert not plan.empty and plan.explanation == ""
    assert plan.model.name == "fake-model" and plan.model.digest == "sha256:feed"
    assert plan.design == "fenced" and plan.raw.startswith("```bash")
    assert plan.usage.passes == 1 and plan.usage.prompt_tokens > 0 and plan.usage.seconds >= 0
    assert plan.tools == tuple(tools)
    (call,) = backend.calls
    assert call.guidance is not None and call.guidance.kind == "lark_grammar"
    assert call.messages[-1] == {"role": "user", "content": "find recent python files"}
    out = plan.to_json()
    assert out["steps"][1] == {"tool": "read_file", "args": {"path": "notes.txt"}, "why": "", "source": "cat notes.txt"}
    assert out["model"] == {"name": "fake-model", "digest": "sha256:feed", "execution_provider": "cpu"}
    json.dumps(out)


def test_an_empty_plan_carries_the_explanation(tools: list[Tool]) -> None:
    planner, _ = _planner(["Sorry, booking flights needs the internet and a travel site."])
    plan = planner.plan("book a flight", tools, "", 3)
    assert plan.empty and plan.steps == ()
    assert plan.explanation == "Sorry, booking flights needs the internet and a travel site."


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ('{"steps":[{"tool":"launch_rocket","args":{}}],"explanation":""}', "unknown tool 'launch_rocket'"),
        ('{"steps":[{"tool":"read_file","args":{}}],"explanation":""}', "missing argument 'path'"),
        ('{"steps":[{"tool":"read_file","args":{"path":"a","mode":"x"}}],"explanation":""}', "unknown argument"),
        ('{"steps":[{"tool":"install_package","args":{"name":"Bad Name!"}}],"explanation":""}', "does not match"),
        ('{"steps":[],"explanation":""}', "neither steps nor an explanation"),
        ('{"steps":[' + ",".join(['{"tool":"list_dir","args":{}}'] * 4) + '],"explanation":""}', "more than max_steps"),
    ],
)
def test_invalid_output_is_a_planner_error_never_a_plan(tools: list[Tool], answer: str, message: str) -> None:
    planner, _ = _planner([answer], JsonDesign())
    with pytest.raises(PlannerError) as caught:
        planner.plan("do it", tools, "", 3)
    assert caught.value.code == "planner.invalid_plan"
    assert message in caught.value.message


def test_an_unfinished_answer_is_invalid(tools: list[Tool]) -> None:
    # the default design asks the gate, then a free pass, then a guided one
    backend = ScriptedBackend(["yes", "```bash\nfind . -name", "```bash\nfind . -name"], finish_reason="length")
    with pytest.raises(PlannerError) as caught:
        Planner(backend).plan("find", tools, "", 3)
    assert caught.value.code == "planner.invalid_plan" and "did not finish" in caught.value.message


def test_bad_requests(tools: list[Tool]) -> None:
    planner, _ = _planner([])
    for intent, steps, code in (("  ", 3, "planner.empty_intent"), ("x", 0, "planner.invalid_request"),
                                ("x", 11, "planner.invalid_request")):
        with pytest.raises(PlannerError) as caught:
            planner.plan(intent, tools, "", steps)
        assert caught.value.code == code
    with pytest.raises(PlannerError):
        planner.plan("x", [], "", 3)


def test_a_clean_free_pass_is_the_plan(tools: list[Tool]) -> None:
    planner, backend = _planner(["```bash\nwc -l data.csv\n```\nThis prints the number of lines in data.csv."], FREE)
    plan = planner.plan("count the lines", tools, "data.csv", 3)
    assert [dict(s.args) for s in plan.steps] == [{"command": "wc -l data.csv"}]
    assert plan.usage.passes == 1
    (call,) = backend.calls
    assert call.guidance is None  # free: no guidance start-up cost
    assert plan.raw.startswith("```bash\nwc -l data.csv\n```\nThis")  # stopped a little into the prose
    assert len(plan.raw) < 110


def test_a_free_pass_that_does_not_parse_falls_back_to_guidance(tools: list[Tool]) -> None:
    planner, backend = _planner(["To count lines you can use a tool such as wc, which counts lines, words and "
                                 "bytes; run it on the file and read the first number it prints. " * 2,
                                 "```bash\nwc -l data.csv\n```"], FREE)
    plan = planner.plan("count the lines", tools, "data.csv", 3)
    assert [dict(s.args) for s in plan.steps] == [{"command": "wc -l data.csv"}]
    assert plan.usage.passes == 2
    assert [c.guidance is None for c in backend.calls] == [True, False]
    assert plan.raw == "```bash\nwc -l data.csv\n```"


def test_a_free_refusal_is_an_empty_plan(tools: list[Tool]) -> None:
    planner, _ = _planner(["I'm sorry, but I can't order pizza. Shell commands cannot call a shop."], FREE)
    plan = planner.plan("order pizza", tools, "", 3)
    assert plan.empty and plan.explanation == "I'm sorry, but I can't order pizza."


def _plan(planner: Planner, tools: list[Tool]) -> Plan:
    return planner.plan("make a zip of reports", tools, "reports/ (2 files)", 3)


def test_repair_proposes_a_corrected_step(tools: list[Tool]) -> None:
    planner, backend = _planner(["```bash\nzip -r reports.zip reports\n```",
                                 "```bash\npython3 -m zipfile -c reports.zip reports\n```"])
    plan = _plan(planner, tools)
    fixed = planner.repair(plan.intent, plan, plan.steps[0], "exit 127\nstderr: sh: 1: zip: not found")
    assert fixed is not None
    assert dict(fixed.args) == {"command": "python3 -m zipfile -c reports.zip reports"}
    assert fixed.usage is not None and fixed.usage.passes == 1
    repair_call = backend.calls[-1]
    assert repair_call.guidance is not None and repair_call.guidance.text.startswith("start: STEP | NOTE")
    contents = [m["content"] for m in repair_call.messages]
    assert contents[1] == "make a zip of reports"
    assert contents[2] == "```bash\nzip -r reports.zip reports\n```"
    assert "zip: not found" in contents[3]


def test_repair_can_give_up_and_must_be_valid(tools: list[Tool]) -> None:
    planner, _ = _planner(["```bash\nzip -r r.zip reports\n```", "Sorry, there is no zip here."])
    plan = _plan(planner, tools)
    assert planner.repair(plan.intent, plan, plan.steps[0], "exit 127") is None
    json_planner, _ = _planner(['{"steps":[{"tool":"run_shell","args":{"command":"zip"}}],"explanation":""}',
                                '{"steps":[{"tool":"read_file","args":{"path":""}}],"explanation":""}'],
                               JsonDesign())
    plan = _plan(json_planner, tools)
    with pytest.raises(PlannerError) as caught:
        json_planner.repair(plan.intent, plan, plan.steps[0], "exit 127")
    assert caught.value.code == "planner.invalid_plan"
    bare = Plan(plan.intent, plan.steps, "", plan.model, plan.design, plan.usage, plan.raw)
    with pytest.raises(PlannerError):
        json_planner.repair(plan.intent, bare, PlanStep("run_shell", {"command": "x"}), "exit 1")


def test_load_is_delegated(tools: list[Tool]) -> None:
    planner, backend = _planner([])
    assert planner.load() == 0.25 and planner.load() == 0.0 and backend.loads == 2
    assert planner.model.name == "fake-model"


def test_a_repeated_failed_call_gets_one_sampled_retry(tools: list[Tool]) -> None:
    planner, backend = _planner(["```bash\nzip -r r.zip reports\n```", "```bash\nzip -r r.zip reports\n```",
                                 "```bash\npython3 -m zipfile -c r.zip reports\n```"])
    plan = _plan(planner, tools)
    fixed = planner.repair(plan.intent, plan, plan.steps[0], "exit 127")
    assert fixed is not None and dict(fixed.args) == {"command": "python3 -m zipfile -c r.zip reports"}
    assert [c.temperature for c in backend.calls] == [0.0, 0.0, planner.repair_temperature]
    assert fixed.usage is not None and fixed.usage.passes == 2
    stubborn, _ = _planner(["```bash\nzip -r r.zip reports\n```"] * 3)
    plan = _plan(stubborn, tools)
    assert stubborn.repair(plan.intent, plan, plan.steps[0], "exit 127") is None  # nothing new to try


def test_repair_keeps_the_planning_conversation(tools: list[Tool]) -> None:
    planner, backend = _planner(["```bash\ncat note.txt\n```", "```bash\ncat notes.txt\n```"],
                                FencedDesign(retrieve=1))
    plan = planner.plan("show notes.txt", tools, "notes.txt", 1)
    planner.repair(plan.intent, plan, plan.steps[0], "exit 1\nstderr: cat: note.txt: No such file")
    planning, repairing = backend.calls
    assert repairing.messages[: len(planning.messages)] == planning.messages
    assert repairing.messages[-2] == {"role": "assistant", "content": "```bash\ncat note.txt\n```"}
    assert "No such file" in repairing.messages[-1]["content"]


GATED = FencedDesign(name="gated", free_first=True, gate=True, rules=True, listing="user", max_blocks=1)


def test_a_gate_that_says_no_is_an_empty_plan_and_nothing_else_is_asked(tools: list[Tool]) -> None:
    planner, backend = _planner(["no"], GATED)
    plan = planner.plan("order a pizza", tools, "notes.txt", 3)
    assert plan.empty and plan.explanation.startswith("the sandbox cannot do this: it needs a person, a shop")
    assert plan.usage.gated and plan.usage.passes == 0
    (call,) = backend.calls
    assert call.guidance is None and call.max_tokens == 2
    assert call.messages[0]["content"].startswith("Can the request be done by shell commands")
    assert call.messages[-1] == {"role": "user", "content": "order a pizza"}
    # the worked answers alternate no / yes, from the example bank
    answers = [m["content"] for m in call.messages if m["role"] == "assistant"]
    assert answers == ["no", "yes"] * (len(answers) // 2) and len(answers) >= 4


def test_a_gate_that_says_yes_lets_the_plan_through_and_is_counted(tools: list[Tool]) -> None:
    planner, backend = _planner(["Yes", "```bash\nwc -l data.csv\n```"], GATED)
    plan = planner.plan("count the lines in data.csv", tools, "data.csv", 3)
    assert [s.tool for s in plan.steps] == ["run_shell"] and plan.steps[0].args == {"command": "wc -l data.csv"}
    assert plan.usage.gated and plan.usage.passes == 1
    gate, planning = backend.calls
    assert gate.max_tokens == 2 and planning.max_tokens > 2
    system = planning.messages[0]["content"]
    assert "never redirect a file into itself" in system  # the rules
    assert "data.csv" not in system and "(Folder: data.csv)" in planning.messages[-1]["content"]


def test_a_refusal_without_a_known_reason_keeps_the_general_explanation(tools: list[Tool]) -> None:
    planner, _ = _planner(["no"], GATED)
    plan = planner.plan("make my life easier", tools, "notes.txt", 3)
    assert plan.empty and "commands on the files of this folder" in plan.explanation


def test_a_question_about_the_sandbox_is_planned_without_the_gate_and_says_what_it_describes(
        tools: list[Tool]) -> None:
    planner, backend = _planner(["```bash\ndf -h .\n```"], GATED)
    plan = planner.plan("how much space is left on the disk?", tools, "notes.txt", 3)
    assert [s.args.get("command") for s in plan.steps] == ["df -h ."]
    assert not plan.usage.gated and len(backend.calls) == 1  # no gate was asked
    assert plan.note.startswith("the answer describes the sandbox") and "filesystems" in plan.note
    assert plan.to_json()["note"] == plan.note


def test_a_task_on_files_has_no_note(tools: list[Tool]) -> None:
    planner, _ = _planner(["yes", "```bash\nwc -l notes.txt\n```"], GATED)
    plan = planner.plan("count the lines of notes.txt", tools, "notes.txt", 3)
    assert plan.usage.gated and plan.note == ""
