"""The measured designs (bench/designs.py): the grammars and schemas they give the decoder, and how their
output is read back."""

from __future__ import annotations

import json
import re
from dataclasses import is_dataclass, replace

import pytest

from bench.designs import (
    DESIGNS,
    FEW_SHOT,
    GUIDANCE_MAX_STRING,
    MEASURED,
    PRODUCTION_NAME,
    FencedDesign,
    JsonDesign,
    get_design,
    plan_schema,
    tool_lines,
    tool_schemas,
    tool_signature,
)
from sandbox.errors import PlannerError
from sandbox.planner.design import PRODUCTION
from sandbox.tools import Tool

FENCED = FencedDesign()


def test_fenced_grammar_allows_blocks_up_to_max_steps_or_one_sorry_sentence(tools: list[Tool]) -> None:
    guidance = FENCED.guidance(tools, 3)
    assert guidance.kind == "lark_grammar"
    assert guidance.text.splitlines() == [
        "start: steps | NOTE",
        'steps: STEP ("\\n" STEP){0,2}',
        f"STEP: /```bash\\n[^`\\s][^`]{{0,{GUIDANCE_MAX_STRING}}}\\n```/",
        "NOTE: /Sorry[^`\\n]{0,240}/",
    ]
    assert "steps: STEP\n" in FENCED.guidance(tools, 1).text
    line = DESIGNS["fenced-line"].guidance(tools, 1).text
    assert "[^`\\s\\n][^`\\n]{0," in line  # single-line commands only
    repair = FENCED.repair_guidance(tools).text
    assert repair.startswith("start: STEP | NOTE\n")


def test_fenced_messages_hold_the_workspace_facts_and_intent(tools: list[Tool]) -> None:
    messages = FENCED.messages("count lines", tools, "a.txt, src/ (2 files)", 3)
    assert [m["role"] for m in messages] == ["system", "user"]
    assert "The current directory contains: a.txt, src/ (2 files)" in messages[0]["content"]
    assert "python3" in messages[0]["content"] and "```bash" in messages[0]["content"]
    assert messages[1]["content"] == "count lines"
    few = FencedDesign(few_shot=FEW_SHOT).messages("count lines", tools, "", 3)
    assert [m["role"] for m in few] == ["system"] + ["user", "assistant"] * len(FEW_SHOT) + ["user"]
    assert "contains: (empty)" in few[0]["content"]


def test_fenced_parse_maps_blocks_to_steps(tools: list[Tool]) -> None:
    text = "```bash\n# count them\nwc -l data.csv\n```\n```bash\ncat notes.txt\n```"
    parsed = FENCED.parse(text, tools, 3)
    assert parsed.explanation == ""
    first, second = parsed.calls
    assert (first.tool, dict(first.args), first.why) == ("run_shell", {"command": "wc -l data.csv"}, "count them")
    assert (second.tool, dict(second.args), second.source) == ("read_file", {"path": "notes.txt"}, "cat notes.txt")
    unnarrowed = FencedDesign(narrow=False).parse("```bash\ncat notes.txt\n```", tools, 3)
    assert unnarrowed.calls[0].tool == "run_shell"


def test_fenced_parse_reads_a_refusal_and_rejects_broken_blocks(tools: list[Tool]) -> None:
    parsed = FENCED.parse("Sorry, ordering food is not something shell commands can do.", tools, 3)
    assert parsed.calls == () and parsed.explanation.startswith("Sorry, ordering food")
    for broken in ("```bash\nls", "```bash\n# only a comment\n```"):
        with pytest.raises(PlannerError) as caught:
            FENCED.parse(broken, tools, 3)
        assert caught.value.code == "planner.invalid_plan"


def test_free_pass_ends_where_the_answer_does(tools: list[Tool]) -> None:
    done = FENCED.free_done
    assert not done("```bash\nfind . -name", 3)
    assert not done("```bash\nls\n```\n", 3)  # maybe another block comes
    assert done("```bash\nls\n```\nThis command lists the files of the current directory, one per line.", 3)
    assert done("```bash\nls\n```", 1)  # max_steps blocks
    assert done("I'm sorry, but I can't help with that. ", 3)
    assert not done("I'm sorry, but", 3)
    assert done("To book a flight you would need a travel agency and a web browser and a credit card, which " * 2, 3)


def test_free_pass_parses_only_clean_answers(tools: list[Tool]) -> None:
    parse = FENCED.parse_free
    parsed = parse("Here you go:\n```sh\nwc -l a.txt\n```\nThis counts.", tools, 3)
    assert parsed is not None and [dict(c.args) for c in parsed.calls] == [{"command": "wc -l a.txt"}]
    two = parse("```bash\nmkdir out\n```\nThen:\n```\nmv *.csv out/\n```", tools, 1)
    assert two is not None and len(two.calls) == 1  # up to max_steps
    refusal = parse("I'm sorry, but I cannot order pizza. I am a shell assistant.", tools, 3)
    assert refusal is not None and refusal.calls == () and refusal.explanation == "I'm sorry, but I cannot order pizza."
    assert parse("To do this, open a browser.", tools, 3) is None  # prose: the guided pass decides
    assert parse("```bash\n# nothing\n```", tools, 3) is None


def test_plan_schema_steps_are_the_tools_own_schemas(tools: list[Tool]) -> None:
    schema = plan_schema(tools, 4)
    assert schema["required"] == ["steps", "explanation"] and schema["additionalProperties"] is False
    steps = schema["properties"]["steps"]
    assert steps["maxItems"] == 4
    variants = {v["properties"]["tool"]["const"]: v for v in steps["items"]["anyOf"]}
    assert set(variants) == {tool.name for tool in tools}
    for tool in tools:
        assert variants[tool.name]["properties"]["args"] == tool.schema()
    guided = plan_schema(tools, 4, for_guidance=True)
    assert guided["x-guidance"] == {"whitespace_flexible": False}
    for variant in guided["properties"]["steps"]["items"]["anyOf"]:
        for arg in variant["properties"]["args"]["properties"].values():
            if arg.get("type", "string") == "string":
                assert 0 < arg["maxLength"] <= GUIDANCE_MAX_STRING


def test_json_design_parses_and_narrows(tools: list[Tool]) -> None:
    design = JsonDesign()
    assert design.guidance(tools, 2).kind == "json_schema"
    assert json.loads(design.guidance(tools, 2).text)["properties"]["steps"]["maxItems"] == 2
    system = design.messages("x", tools, "a.txt", 2)[0]["content"]
    assert all(f"- {tool.name}: " in system for tool in tools)
    text = json.dumps({"steps": [{"tool": "run_shell", "args": {"command": "ls -la"}}], "explanation": ""})
    parsed = design.parse(text, tools, 2)
    assert [(c.tool, dict(c.args)) for c in parsed.calls] == [("list_dir", {"path": "."})]
    refusal = design.parse('{"steps":[],"explanation":"no tool can fly"}', tools, 2)
    assert refusal.calls == () and refusal.explanation == "no tool can fly"
    for bad in ("not json", '{"steps": 3}', '{"steps": [{"tool": 1}]}'):
        with pytest.raises(PlannerError):
            design.parse(bad, tools, 2)
    assert design.parse_free("anything", tools, 2) is None and not design.free_first


def test_designs_by_name() -> None:
    assert get_design(None) is PRODUCTION
    assert get_design("json").name == "json"
    custom = FencedDesign(name="mine")
    assert get_design(custom) is custom
    with pytest.raises(PlannerError) as caught:
        get_design("nope")
    assert caught.value.code == "planner.invalid_request"
    assert PRODUCTION_NAME in DESIGNS
    assert not re.search(r"\s", PRODUCTION_NAME)


def test_each_measured_design_has_a_name_and_a_configuration_of_its_own() -> None:
    """Two designs of one name: the later silently replaces the earlier in DESIGNS (and in the
    benchmark's figures); two of one configuration: the figures compare a design with itself."""
    names = [design.name for design in MEASURED]
    assert sorted(set(names)) == sorted(names)
    assert len(DESIGNS) == len(MEASURED)
    configurations = [replace(design, name="") for design in MEASURED if is_dataclass(design)]  # type: ignore[type-var]
    assert len(configurations) == len(MEASURED)
    for i, first in enumerate(configurations):
        assert all(first != other for other in configurations[i + 1 :]), MEASURED[i].name


def _shared_messages(a: list[dict[str, str]], b: list[dict[str, str]]) -> int:
    shared = 0
    while shared < min(len(a), len(b)) and a[shared] == b[shared]:
        shared += 1
    return shared


@pytest.mark.parametrize("name", sorted(DESIGNS))
def test_every_design_starts_with_what_does_not_vary(name: str, tools: list[Tool]) -> None:
    """What the prefix cache reuses: two intents in two folders share the design's system prompt
    (when the folder is not in it) and its fixed examples; only the end differs."""
    design = DESIGNS[name]
    a = [dict(m) for m in design.messages("count the lines in data.csv", tools, "data.csv", 3)]
    b = [dict(m) for m in design.messages("delete all .log files", tools, "logs/ (3 files)", 3)]
    assert a[-1]["role"] == "user" and a[-1] != b[-1]
    if isinstance(design, FencedDesign):
        assert a[0]["content"].split("contains:")[0] == b[0]["content"].split("contains:")[0]
        if design.listing == "user" and not design.retrieve:
            assert _shared_messages(a, b) == len(a) - 1  # everything but the intent is the same
        if design.listing == "turn" and not design.retrieve:
            # everything but the folder's line and the intent is the same
            assert _shared_messages(a, b) == len(a) - 2
            assert a[-2] == {"role": "system", "content": "The current directory contains: data.csv"}
        gate = design.gate_messages("order a pizza")
        if design.gate:
            assert gate is not None and gate[:-1] == design.gate_messages("count lines")[:-1]  # type: ignore[index]
        else:
            assert gate is None


def test_the_models_own_tool_call_format_parses_and_narrows(tools: list[Tool]) -> None:
    from bench.designs import ToolCallDesign

    design = ToolCallDesign()
    system = design.messages("x", tools, "a.txt", 3)[0]["content"]
    assert "<tools>" in system and '"name": "run_shell"' in system and "a.txt" in system
    text = ('<tool_call>\n{"name": "run_shell", "arguments": {"command": "cat notes.txt"}}\n</tool_call>\n'
            '<tool_call>\n{"name": "list_dir", "arguments": {"path": "src"}}\n</tool_call>')
    parsed = design.parse(text, tools, 3)
    assert [(c.tool, dict(c.args)) for c in parsed.calls] == [("read_file", {"path": "notes.txt"}),
                                                             ("list_dir", {"path": "src"})]
    assert design.free_done(text, 2) and not design.free_done(text[:60], 2)
    assert design.parse_free(text, tools, 1) is not None
    assert design.parse("Sorry, no tool orders pizza.", tools, 3).explanation.startswith("Sorry")
    with pytest.raises(PlannerError):
        design.parse('<tool_call>\n{"name": "run_shell"\n</tool_call>', tools, 3)
    grammar = design.guidance(tools, 2)
    assert grammar.kind == "lark_grammar" and "%json" in grammar.text and "<tool_call>" in grammar.text


def test_tool_signatures_come_from_the_profiles(by_name: dict[str, Tool]) -> None:
    assert tool_signature(by_name["search_text"]) == 'search_text(pattern, path=".")'
    assert tool_signature(by_name["write_file"]) == "write_file(path, content)"
    lines = tool_lines([by_name["read_file"], by_name["list_dir"]]).splitlines()
    assert lines == [f"- read_file(path): {by_name['read_file'].description}",
                     f'- list_dir(path="."): {by_name["list_dir"].description}']
    schemas = tool_schemas([by_name["read_file"]])
    assert schemas.startswith("- read_file: Print the contents")
    assert '"path":{"type":"string","description":"path of the file, relative to the workspace"}' in schemas
    assert "maxLength" not in schemas  # limits cost prompt tokens and guidance enforces them anyway
