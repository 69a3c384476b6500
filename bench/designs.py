"""The designs measured on the way to the production one, kept to reproduce their figures.

How the model is led to a plan (prompt, guidance, parsing back) decides what it writes, so several
designs were compared on the accuracy set (`bench/planner.py --design NAME`, figures in
docs/planner.md). `DESIGNS` holds every measured one by name. `sbx run` uses only the production
design, `sandbox/planner/design.py`, which is `gated-sheet` here itself (not a copy: a copy
drifted from the product once, and the figures measured the copy). The others are of three kinds:

* `FencedDesign` (`fenced` and its variants): the model answers as it naturally does, with fenced
  ```bash blocks (one per step) whose text is raw, unescaped shell; or with one sentence when shell
  cannot do it. A Lark grammar allows exactly that. Each block becomes a `run_shell` step, narrowed
  to a smaller tool where the command is exactly what that tool does (`narrow.py`). The variants
  differ in their worked examples (none, fixed, retrieved nearest the intent, or the whole bank),
  where the folder's listing goes, a free (unguided) first pass, a gate that first asks whether
  commands can do it at all, the shell rules and the cheat sheet; the fields of `FencedDesign`.
* `JsonDesign` (`json`): the plan schema itself (each step one of the tools' own argument schemas)
  as a JSON Schema for guidance, the tools listed with their schemas in the prompt.
* `ToolCallDesign` (`toolcall`): the model's own trained tool-call format, each call's JSON
  constrained to the tools' schemas.

Every design's output is mapped onto `PlanStep`s; the planner validates them again.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sandbox.errors import PlannerError
from sandbox.planner.design import PRODUCTION, gate_messages, gate_refusal
from sandbox.planner.design import free_done as _free_done
from sandbox.planner.design import free_refusal as _free_refusal
from sandbox.planner.design import narrowed as _narrowed
from sandbox.planner.examples import Example, Retriever, bank, library
from sandbox.planner.narrow import SHELL_TOOL
from sandbox.planner.onnx import Guidance, Message
from sandbox.planner.prompt import IMAGE_FACTS, SHELL_RULES, clip
from sandbox.planner.scope import note as scope_note
from sandbox.planner.scope import sandbox_topic
from sandbox.planner.types import Design, Parsed, Plan, PlanStep, invalid
from sandbox.tools import Tool

BANK = bank()
LIBRARY = library()

# The tools in the prompt, for the designs that list them (measured: it did not help the model choose).


def tool_signature(tool: Tool) -> str:
    """`search_text(pattern, path=".")`: the call's shape in a few tokens."""
    params = []
    for name, spec in tool.args.items():
        params.append(f"{name}={json.dumps(spec['default'])}" if "default" in spec else name)
    return f"{tool.name}({', '.join(params)})"


def tool_lines(tools: Sequence[Tool]) -> str:
    """One line per tool: its signature and its description from profiles/."""
    return "\n".join(f"- {tool_signature(tool)}: {tool.description}" for tool in tools)


def _compact_schema(spec: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in spec.items() if key in {"type", "description", "default", "enum"}}


def tool_schemas(tools: Sequence[Tool]) -> str:
    """One line per tool: name, description, and its arguments' JSON Schema (without limits)."""
    lines = []
    for tool in tools:
        props = {name: _compact_schema(dict(spec)) for name, spec in tool.schema()["properties"].items()}
        lines.append(f"- {tool.name}: {tool.description} args: {json.dumps(props, separators=(',', ':'))}")
    return "\n".join(lines)


GUIDANCE_MAX_STRING = 1200  # longest string argument the model may write under guidance
EXPLANATION_MAX = 240


# --------------------------------------------------------------------------------------------------
# fenced bash blocks


@functools.cache
def _retriever(cheatsheet: bool) -> Retriever:
    """Retrieval over the bank, or over the bank and the cheat sheet (built once, on first use)."""
    return Retriever(LIBRARY if cheatsheet else BANK)


_BLOCK = re.compile(r"```bash\n(.*?)\n```", re.DOTALL)
# What a free pass may write for a step: a fenced block tagged bash, sh, shell or nothing.
_FREE_BLOCK = re.compile(r"```(?:bash|sh|shell)?[ \t]*\n(.*?)\n[ \t]*```", re.DOTALL)


def _tool_variants(tools: Sequence[Tool], name_key: str, args_key: str, *, for_guidance: bool) -> list[dict[str, Any]]:
    """One JSON Schema per tool: `{name_key: NAME, args_key: <the tool's argument schema>}`;
    `for_guidance` bounds every string (small models need it to terminate)."""
    variants = []
    for tool in tools:
        args = tool.schema()
        if for_guidance:
            args = {**args, "properties": {k: _guided_arg_schema(v) for k, v in args["properties"].items()}}
        variants.append({"type": "object", "properties": {name_key: {"const": tool.name}, args_key: args},
                         "required": [name_key, args_key], "additionalProperties": False})
    return variants


FEW_SHOT: tuple[Example, ...] = (
    Example("show the size of each file in logs", "```bash\ndu -ah logs\n```"),
    Example("make a folder out and move the csv files into it", "```bash\nmkdir -p out && mv *.csv out/\n```"),
    Example("call my mother", "Sorry, calling someone is not something commands in this folder can do."),
)
# Everyday shapes the small model gets wrong without an example: editing in place (instead of
# deleting the file), JSON with jq, several commands in one block, and saying no.
FEW_SHOT_EDIT: tuple[Example, ...] = (
    Example("change every http: to https: in links.md", "```bash\nsed -i 's/http:/https:/g' links.md\n```"),
    Example("show the port setting in server.json", "```bash\njq .port server.json\n```"),
    Example("make a folder out and move the csv files into it", "```bash\nmkdir -p out && mv *.csv out/\n```"),
    Example("call my mother", "Sorry, calling someone is not something commands in this folder can do."),
)

# A fixed cheat sheet from the bank, one example of each everyday kind, for designs whose prompt is
# the same for every intent until its last turn (computed once by a long-lived planner).
_SHEET_INTENTS = (
    "find the shell scripts changed in the last 3 days", "find files bigger than 500 KB",
    "show the 3 biggest files here", "remove all .tmp files", "move the csv files into a new folder data",
    "pack the src folder into src.tar.gz", "save the lines of log.txt that mention timeout to timeouts.txt",
    "what is the total of the second column in costs.csv?", "show the name field of app.json",
    "how many lines does main.c have?", "show the last 5 commits", "create a python script add.py that prints 2+3",
    "change every http: to https: in links.md",
)
FIXED_SHOTS: tuple[Example, ...] = tuple(next(e for e in BANK if e.intent == i) for i in _SHEET_INTENTS)
# The same with the bank's refusals among them, for a design that says no without a gate.
_NAYS = [e for e in BANK if e.refusal]
FIXED_SHOTS_NAYS: tuple[Example, ...] = (*FIXED_SHOTS[:4], _NAYS[0], *FIXED_SHOTS[4:9], _NAYS[1], *FIXED_SHOTS[9:-1],
                                         _NAYS[2], FIXED_SHOTS[-1])


@dataclass(frozen=True)
class FencedDesign:
    name: str = "fenced"
    few_shot: tuple[Example, ...] = ()
    multi_line: bool = True
    facts: bool = True
    narrow: bool = True
    free_first: bool = False
    system_template: str = (
        "You are a Linux shell expert. Write the bash commands that do the user's task in the current "
        "directory.{facts} Reply with ```bash blocks."
    )
    system_listing_template: str = "\nThe current directory contains: {workspace}"
    user_template: str = "{intent}"
    # Where the workspace line goes. "system": at the end of the system prompt. "user": in the last
    # user message ("{intent}\n(Folder: ...)"). "turn": a system message of its own just before the
    # last user message. Only "user" and "turn" leave the system prompt and examples the same in
    # every folder, so that a long-lived planner computes them once (onnx.PrefixCache).
    listing: str = "system"
    user_listing_template: str = "{intent}\n(Folder: {workspace})"
    max_blocks: int | None = None  # at most this many blocks (steps) whatever max_steps says
    retrieve: int = 0  # > 0: the examples are this many nearest the intent from the bank (examples.py)
    refusals: int = 1  # and this many nearest refusals
    # The whole bank before everything else: the same tokens for every intent, so a process that
    # plans more than once computes them once (onnx.PrefixCache). "turns": as worked examples
    # (a user and an assistant message each); "sheet": as a cheat sheet in the system prompt.
    bank: str = ""
    gate: bool = False  # ask first whether commands can do it at all (see gate_messages)
    cheatsheet: bool = False  # retrieve from the bank and the cheat sheet (examples.LIBRARY)
    rules: bool = False  # prompt.SHELL_RULES in the system prompt

    def gate_messages(self, intent: str) -> list[Message] | None:
        return gate_messages(intent) if self.gate and sandbox_topic(intent) is None else None

    def gate_refusal(self, answer: str, intent: str = "") -> str | None:
        return gate_refusal(answer, intent)

    def note(self, intent: str) -> str:
        return scope_note(intent) if self.gate else ""

    def examples(self, intent: str) -> tuple[tuple[Example, ...], tuple[Example, ...]]:
        """The worked examples: those of every intent (the bank, the few shots), and those nearest
        this one (retrieved from the bank)."""
        fixed = (*(BANK if self.bank == "turns" else ()), *self.few_shot)
        if self.retrieve > 0:
            found = _retriever(self.cheatsheet).nearest(intent, self.retrieve, refusals=self.refusals, exclude=fixed)
            return fixed, found
        return fixed, ()

    def blocks(self, max_steps: int) -> int:
        return min(max_steps, self.max_blocks) if self.max_blocks else max_steps

    def system(self, workspace: str) -> str:
        facts = f" {IMAGE_FACTS}" if self.facts else ""
        text = self.system_template.format(facts=facts)
        if self.rules:
            text += f"\n{SHELL_RULES}"
        if self.listing == "system":
            text += self.system_listing_template.format(workspace=workspace or "(empty)")
        if self.bank == "sheet":
            text += "\nExamples:\n" + "\n".join(
                f"- {e.intent}: {e.answer.strip('`').removeprefix('bash').strip() if not e.refusal else e.answer}"
                for e in BANK
            )
        return text

    def messages(self, intent: str, tools: Sequence[Tool], workspace: str, max_steps: int) -> list[Message]:
        fixed, nearest = self.examples(intent)
        out: list[Message] = [{"role": "system", "content": self.system(workspace)}, *self._turns(fixed)]
        if self.listing == "turn":  # after what every intent shares, before what is this intent's
            listing = self.system_listing_template.format(workspace=workspace or "(empty)").strip()
            out.append({"role": "system", "content": listing})
        out += self._turns(nearest)
        user = self.user_template.format(intent=intent)
        if self.listing == "user":
            user = self.user_listing_template.format(intent=user, workspace=workspace or "(empty)")
        out.append({"role": "user", "content": user})
        return out

    def _turns(self, examples: Sequence[Example]) -> list[Message]:
        out: list[Message] = []
        for example in examples:
            out += [{"role": "user", "content": self.user_template.format(intent=example.intent)},
                    {"role": "assistant", "content": example.answer}]
        return out

    def _step_terminal(self) -> str:
        body = r"[^`\s][^`]{0,%d}" if self.multi_line else r"[^`\s\n][^`\n]{0,%d}"
        return "/```bash\\n" + body % GUIDANCE_MAX_STRING + "\\n```/"

    def guidance(self, tools: Sequence[Tool], max_steps: int) -> Guidance:
        # Each block is ONE regex terminal: split into "```bash\n" CMD "\n```", a multi-line CMD
        # would swallow the newline before the closing fence (llguidance's lexer is greedy).
        max_steps = self.blocks(max_steps)
        more = f' ("\\n" STEP){{0,{max_steps - 1}}}' if max_steps > 1 else ""
        return Guidance.lark(
            f"start: steps | NOTE\nsteps: STEP{more}\nSTEP: {self._step_terminal()}\n"
            f"NOTE: /Sorry[^`\\n]{{0,{EXPLANATION_MAX}}}/"
        )

    def _steps(self, blocks: Sequence[str], tools: Sequence[Tool]) -> tuple[PlanStep, ...]:
        steps = []
        for block in blocks:
            lines = block.strip("\n").split("\n")
            why = []
            while lines and lines[0].lstrip().startswith("#"):
                why.append(lines.pop(0).lstrip("# ").strip())
            command = "\n".join(lines).strip()
            if not command:
                raise invalid(f"the model wrote a ```bash block without a command: {block[:200]!r}")
            step = PlanStep(SHELL_TOOL, {"command": command}, " ".join(why), command)
            steps.append(_narrowed(step, tools) if self.narrow else step)
        return tuple(steps)

    def parse(self, text: str, tools: Sequence[Tool], max_steps: int) -> Parsed:
        text = text.strip()
        blocks = _BLOCK.findall(text)
        if not blocks:
            if text.startswith("```"):
                raise invalid(f"the model's answer is not a complete ```bash block: {text[:200]!r}")
            return Parsed((), text)
        return Parsed(self._steps(blocks, tools))

    def free_done(self, text: str, max_steps: int) -> bool:
        return _free_done(text, list(_FREE_BLOCK.finditer(text)), self.blocks(max_steps), ("```",))

    def parse_free(self, text: str, tools: Sequence[Tool], max_steps: int) -> Parsed | None:
        blocks = [m.group(1) for m in _FREE_BLOCK.finditer(text)]
        if not blocks:
            return _free_refusal(text, "```")
        try:
            return Parsed(self._steps(blocks[: self.blocks(max_steps)], tools))
        except PlannerError:
            return None

    def repair_messages(self, intent: str, plan: Plan, failed: PlanStep, feedback: str) -> list[Message]:
        """The planning conversation (same system prompt and examples), the failed command as the
        model's answer, and what happened when it ran."""
        shown = failed.source or failed.args.get("command") or json.dumps(dict(failed.args))
        return [
            *self.messages(intent, plan.tools, plan.workspace, 1),
            {"role": "assistant", "content": f"```bash\n{shown}\n```"},
            {"role": "user", "content": f"That failed: {clip(feedback, 600)}\nReply with a corrected ```bash block."},
        ]

    def repair_guidance(self, tools: Sequence[Tool]) -> Guidance:
        return Guidance.lark(
            f"start: STEP | NOTE\nSTEP: {self._step_terminal()}\nNOTE: /Sorry[^`\\n]{{0,{EXPLANATION_MAX}}}/"
        )


# --------------------------------------------------------------------------------------------------
# JSON schema of the plan


def _guided_arg_schema(spec: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in spec.items() if k in {"type", "enum", "pattern", "minLength", "maxLength",
                                                    "minimum", "maximum"}}
    if out.get("type", "string") == "string":
        out["maxLength"] = min(int(out.get("maxLength", GUIDANCE_MAX_STRING)), GUIDANCE_MAX_STRING)
    return out


def plan_schema(tools: Sequence[Tool], max_steps: int, *, for_guidance: bool = False) -> dict[str, Any]:
    """The plan as a JSON Schema: `{"steps": [{"tool": NAME, "args": {...}}], "explanation": "..."}`,
    each step one of the tools, its `args` that tool's own argument schema. `for_guidance` bounds
    every string (small models need it to terminate) and turns off flexible whitespace."""
    variants = _tool_variants(tools, "tool", "args", for_guidance=for_guidance)
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {
            "steps": {"type": "array", "maxItems": max_steps, "items": {"anyOf": variants}},
            "explanation": {"type": "string", "maxLength": EXPLANATION_MAX},
        },
        "required": ["steps", "explanation"],
        "additionalProperties": False,
    }
    if for_guidance:
        schema["x-guidance"] = {"whitespace_flexible": False}
    return schema


@dataclass(frozen=True)
class JsonDesign:
    name: str = "json"
    facts: bool = True
    narrow: bool = True
    free_first: bool = False

    def free_done(self, text: str, max_steps: int) -> bool:
        return False

    def parse_free(self, text: str, tools: Sequence[Tool], max_steps: int) -> Parsed | None:
        return None

    def system(self, tools: Sequence[Tool], workspace: str) -> str:
        facts = f" {IMAGE_FACTS}" if self.facts else ""
        return (
            f"Plan tool calls for the request, in the folder below. Tools:\n{tool_schemas(tools)}\n"
            f"Commands run_shell runs:{facts}\n"
            'Reply with JSON {"steps":[{"tool":...,"args":{...}}],"explanation":""}; if the tools cannot do it, '
            "no steps and the reason as explanation.\n"
            f"Folder: {workspace or '(empty)'}"
        )

    def messages(self, intent: str, tools: Sequence[Tool], workspace: str, max_steps: int) -> list[Message]:
        return [{"role": "system", "content": self.system(tools, workspace)}, {"role": "user", "content": intent}]

    def guidance(self, tools: Sequence[Tool], max_steps: int) -> Guidance:
        return Guidance.json_schema(plan_schema(tools, max_steps, for_guidance=True))

    def parse(self, text: str, tools: Sequence[Tool], max_steps: int) -> Parsed:
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise invalid(f"the model's plan is not JSON ({exc}): {text[:200]!r}") from None
        if not isinstance(value, dict) or not isinstance(value.get("steps"), list):
            raise invalid(f"the model's plan has no list of steps: {text[:200]!r}")
        steps = []
        for item in value["steps"]:
            if not isinstance(item, dict) or not isinstance(item.get("tool"), str) or not isinstance(
                item.get("args"), dict
            ):
                raise invalid(f"a step of the model's plan is not {{tool, args}}: {str(item)[:200]!r}")
            step = PlanStep(item["tool"], item["args"], "", "")
            steps.append(_narrowed(step, tools) if self.narrow else step)
        explanation = value.get("explanation")
        return Parsed(tuple(steps), explanation if isinstance(explanation, str) else "")

    def repair_messages(self, intent: str, plan: Plan, failed: PlanStep, feedback: str) -> list[Message]:
        call = json.dumps({"steps": [{"tool": failed.tool, "args": dict(failed.args)}], "explanation": ""})
        return [
            {"role": "system", "content": self.system(plan.tools, "")},
            {"role": "user", "content": intent},
            {"role": "assistant", "content": call},
            {"role": "user", "content": f"That failed: {clip(feedback, 600)}\nReply with a corrected plan."},
        ]

    def repair_guidance(self, tools: Sequence[Tool]) -> Guidance:
        return Guidance.json_schema(plan_schema(tools, 1, for_guidance=True))

    def gate_messages(self, intent: str) -> list[Message] | None:
        return None

    def gate_refusal(self, answer: str, intent: str = "") -> str | None:
        return None

    def note(self, intent: str) -> str:
        return ""


# --------------------------------------------------------------------------------------------------
# the model's own tool-call format (Qwen2.5: <tool_call>{"name": ..., "arguments": {...}}</tool_call>)

_TOOL_CALL = re.compile(r"<tool_call>\s*(\{.*?\})\s*</tool_call>", re.DOTALL)
# What the free pass may write instead: the same JSON in a ```json block (the 0.5B mostly does)
_FREE_TOOL_CALL = re.compile(r"(?:<tool_call>|```(?:json)?)\s*(\{.*?\})\s*(?:</tool_call>|```)", re.DOTALL)


def qwen_tools_system(system: str, tools: Sequence[Tool]) -> str:
    """The system prompt Qwen2.5's chat template writes when it is given tools (its exact text),
    the tools as OpenAI-style function definitions with their argument schemas."""
    lines = [json.dumps(tool.openai_definition(schema_keys=("type", "properties", "required"))) for tool in tools]
    return (
        f"{system}\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
        "You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n"
        + "\n".join(lines)
        + "\n</tools>\n\nFor each function call, return a json object with function name and arguments within "
        "<tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": "
        "<args-json-object>}\n</tool_call>"
    )


@dataclass(frozen=True)
class ToolCallDesign:
    """The model answers in its own tool-call format, trained for it: one <tool_call> per step
    whose JSON names a tool of profiles/ and its arguments. A free pass first; the guided pass is
    that format under a Lark grammar with each call's JSON constrained to the tools' schemas."""

    name: str = "toolcall"
    free_first: bool = True
    narrow: bool = True

    def system(self, tools: Sequence[Tool], workspace: str) -> str:
        base = (f"You plan tool calls that do the user's task in the current directory. {IMAGE_FACTS}\n"
                f"The current directory contains: {workspace or '(empty)'}")
        return qwen_tools_system(base, tools)

    def messages(self, intent: str, tools: Sequence[Tool], workspace: str, max_steps: int) -> list[Message]:
        return [{"role": "system", "content": self.system(tools, workspace)}, {"role": "user", "content": intent}]

    def guidance(self, tools: Sequence[Tool], max_steps: int) -> Guidance:
        schema = {"anyOf": _tool_variants(tools, "name", "arguments", for_guidance=True),
                  "x-guidance": {"whitespace_flexible": False}}
        more = f' ("\\n" call){{0,{max_steps - 1}}}' if max_steps > 1 else ""
        return Guidance.lark(
            f"start: calls | NOTE\ncalls: call{more}\ncall: \"<tool_call>\\n\" body \"\\n</tool_call>\"\n"
            f"body: %json {json.dumps(schema)}\nNOTE: /Sorry[^<\\n]{{0,{EXPLANATION_MAX}}}/"
        )

    def _steps(self, found: Sequence[str], tools: Sequence[Tool]) -> tuple[PlanStep, ...]:
        steps = []
        for text in found:
            try:
                value = json.loads(text)
            except ValueError as exc:
                raise invalid(f"a tool call is not JSON ({exc}): {text[:200]!r}") from None
            if not isinstance(value, dict) or not isinstance(value.get("name"), str) or not isinstance(
                    value.get("arguments"), dict):
                raise invalid(f"a tool call is not {{name, arguments}}: {text[:200]!r}")
            step = PlanStep(value["name"], value["arguments"], "", "")
            steps.append(_narrowed(step, tools) if self.narrow else step)
        return tuple(steps)

    def parse(self, text: str, tools: Sequence[Tool], max_steps: int) -> Parsed:
        found = _TOOL_CALL.findall(text)
        if not found:
            if "<tool_call>" in text:
                raise invalid(f"the model's tool call is not complete: {text[:200]!r}")
            return Parsed((), text.strip())
        return Parsed(self._steps(found, tools))

    def free_done(self, text: str, max_steps: int) -> bool:
        return _free_done(text, list(_FREE_TOOL_CALL.finditer(text)), max_steps, ("<tool_call>", "```"))

    def parse_free(self, text: str, tools: Sequence[Tool], max_steps: int) -> Parsed | None:
        found = _FREE_TOOL_CALL.findall(text)
        if not found:
            return _free_refusal(text, "<tool_call>")
        try:
            return Parsed(self._steps(found[:max_steps], tools))
        except PlannerError:
            return None

    def repair_messages(self, intent: str, plan: Plan, failed: PlanStep, feedback: str) -> list[Message]:
        call = json.dumps({"name": failed.tool, "arguments": dict(failed.args)})
        return [
            *self.messages(intent, plan.tools, plan.workspace, 1),
            {"role": "assistant", "content": f"<tool_call>\n{call}\n</tool_call>"},
            {"role": "user", "content": f"That failed: {clip(feedback, 600)}\nReply with a corrected tool call."},
        ]

    def repair_guidance(self, tools: Sequence[Tool]) -> Guidance:
        return self.guidance(tools, 1)

    def gate_messages(self, intent: str) -> list[Message] | None:
        return None

    def gate_refusal(self, answer: str, intent: str = "") -> str | None:
        return None

    def note(self, intent: str) -> str:
        return ""


# --------------------------------------------------------------------------------------------------

# The measured designs (docs/planner.md). The gated family: `gated` and one change each.
_GATED = FencedDesign(name="gated", retrieve=3, refusals=0, max_blocks=1, free_first=True, gate=True, rules=True)
# its examples fixed, so the prefix cache holds them; the folder's line after them
_CACHED = replace(_GATED, name="cached", few_shot=FIXED_SHOTS, retrieve=0, refusals=1, listing="turn")

MEASURED: tuple[Design, ...] = (
    FencedDesign(),
    FencedDesign(name="fenced-line", multi_line=False),
    FencedDesign(name="fenced-fewshot", few_shot=FEW_SHOT_EDIT, max_blocks=1),
    FencedDesign(name="retrieval", retrieve=3, max_blocks=1),
    FencedDesign(name="free-retrieval", retrieve=3, max_blocks=1, free_first=True),
    FencedDesign(name="free-retrieval-nofacts", retrieve=3, max_blocks=1, free_first=True, facts=False),
    FencedDesign(name="bank", bank="turns", max_blocks=1, free_first=True, listing="user"),
    FencedDesign(name="sheet-retrieval", bank="sheet", retrieve=3, max_blocks=1, free_first=True, listing="user"),
    FencedDesign(name="free-retrieval-user", retrieve=3, max_blocks=1, free_first=True, listing="user"),
    replace(_GATED, name="gated-retrieval", rules=False, listing="user"),
    replace(_GATED, name="gated-sys", rules=False),
    _GATED,
    replace(_GATED, name="gated-2", retrieve=2),
    _CACHED,
    replace(_CACHED, name="cached-sys", listing="system"),
    replace(_CACHED, name="cached-nogate", few_shot=FIXED_SHOTS_NAYS, gate=False),
    replace(_CACHED, name="cached-1", retrieve=1, refusals=0),
    replace(_CACHED, name="cached-bank", bank="turns", few_shot=()),
    PRODUCTION,  # gated-sheet: what sbx run uses, measured as it ships
    replace(_CACHED, name="cached-sheet", retrieve=1, refusals=0, cheatsheet=True),
    JsonDesign(),
    ToolCallDesign(),
)
DESIGNS: dict[str, Design] = {design.name: design for design in MEASURED}
PRODUCTION_NAME = PRODUCTION.name  # the measured design sbx run uses, as sandbox/planner/design.py


def get_design(design: str | Design | None) -> Design:
    """A design by name; None is the production design itself (sandbox/planner/design.py)."""
    if design is None:
        return PRODUCTION
    if not isinstance(design, str):
        return design
    try:
        return DESIGNS[design]
    except KeyError:
        raise PlannerError(f"unknown planning design {design!r} (known: {', '.join(DESIGNS)})",
                           code="planner.invalid_request") from None
