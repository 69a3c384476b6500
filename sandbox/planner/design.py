"""The production design: how `sbx run` leads the model to a plan (measured as `gated-sheet`).

1. A **gate**: one yes/no question before planning ("can the request be done by shell commands on
   the files of a folder, on a computer without internet?") after six worked answers from the bank;
   an answer starting with "no" is an empty plan with `GATE_EXPLANATION`, and nothing else is asked.
2. The **plan**: the system prompt (a shell expert in the current directory, the image's facts, the
   shell rules, the folder's top level), the 3 examples of the bank and cheat sheet nearest the
   intent (`examples.py`), the intent. The model answers with one fenced ```bash block of raw shell,
   or one sentence starting "Sorry" when shell cannot do it.
3. A **free pass** first (no guidance, stopped once the answer is complete); if it parses cleanly
   into valid calls it is the plan, else a guided pass under a Lark grammar that allows exactly a
   block or a "Sorry" sentence decides.
4. The block becomes a `run_shell` step, **narrowed** to a smaller tool where the command is
   exactly what that tool does (`narrow.py`).

The other designs measured on the way here (JSON, the model's tool-call format, fixed examples,
other layouts) are in `bench/designs.py`, with their figures in docs/planner.md.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from sandbox.errors import PlannerError
from sandbox.planner.examples import Example, Retriever, bank, library, named_like
from sandbox.planner.narrow import SHELL_TOOL, narrow
from sandbox.planner.onnx import Guidance, Message
from sandbox.planner.prompt import IMAGE_FACTS, SHELL_RULES, clip
from sandbox.planner.scope import about_repository, impossible_here, note, refusal_reason, sandbox_topic
from sandbox.planner.types import Parsed, Plan, PlanStep, invalid
from sandbox.tools import Tool

GUIDANCE_MAX_STRING = 1200  # longest command the model may write under guidance
EXPLANATION_MAX = 240

GATE_SYSTEM = ("Can the request be done by shell commands on the files of a folder, on a computer without "
               "internet? Answer yes or no.")
GATE_EXPLANATION = ("this does not look like something commands on the files of this folder can do "
                    "(the model's judgement: rephrase the request if it is)")
# The everyday tasks among the gate's worked answers (from the bank), alternating with its refusals.
GATE_TASKS = ("how many lines does main.c have?", "delete the folder cache and everything in it",
              "show the last 5 commits")

SYSTEM = ("You are a Linux shell expert. Write the bash commands that do the user's task in the current "
          "directory. {facts} Reply with ```bash blocks.")
LISTING = "\nThe current directory contains: {workspace}"

BLOCK = re.compile(r"```bash\n(.*?)\n```", re.DOTALL)
# What a free pass may write for a step: a fenced block tagged bash, sh, shell or nothing.
FREE_BLOCK = re.compile(r"```(?:bash|sh|shell)?[ \t]*\n(.*?)\n[ \t]*```", re.DOTALL)
_SORRY = re.compile(r"(?:I'm sorry|I am sorry|Sorry|I cannot|I can't|I can not|Unfortunately)\b")
_SENTENCE_END = re.compile(r"[.!](?:\s|$)|\n")
FREE_PROSE_LIMIT = 160  # characters of prose without any block before a free pass is given up
FREE_TAIL_LIMIT = 60  # characters of prose after the last block before the free pass is ended


def gate_examples() -> tuple[tuple[str, str], ...]:
    """Worked answers for the gate, alternating no / yes: the bank's refusals and as many tasks."""
    nays = [e.intent for e in bank() if e.refusal]
    tasks = [e.intent for e in bank() if not e.refusal and e.intent in GATE_TASKS]
    out: list[tuple[str, str]] = []
    for nay, task in zip(nays, tasks, strict=False):
        out += [(nay, "no"), (task, "yes")]
    return tuple(out)


def gate_messages(intent: str) -> list[Message]:
    out: list[Message] = [{"role": "system", "content": GATE_SYSTEM}]
    for question, answer in gate_examples():
        out += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
    out.append({"role": "user", "content": intent})
    return out


def gate_refusal(answer: str, intent: str = "") -> str | None:
    """The gate's two tokens: a "no" is a refusal, saying why when the request's words do (the
    network, a device, a person: `scope.refusal_reason`), else `GATE_EXPLANATION`; anything else plans."""
    certain = impossible_here(intent)  # the model's "yes" cannot make mail or the web work offline
    if certain:
        return f"the sandbox cannot do this: {certain}"
    if not answer.strip().lower().startswith("no"):
        return None
    reason = refusal_reason(intent)
    return f"the sandbox cannot do this: {reason}" if reason else GATE_EXPLANATION


def narrowed(step: PlanStep, tools: Sequence[Tool]) -> PlanStep:
    """A run_shell step as the narrowest tool that does exactly its command (see narrow.py)."""
    if step.tool != SHELL_TOOL or not isinstance(step.args.get("command"), str):
        return step
    name, args = narrow(step.args["command"], {tool.name: tool for tool in tools})
    if name == SHELL_TOOL:
        return step
    return PlanStep(name, args, step.why, step.source or step.args["command"], step.usage)


def free_done(text: str, calls: Sequence[re.Match[str]], max_steps: int, markers: tuple[str, ...]) -> bool:
    """Whether a free pass has said all it will usefully say: `max_steps` calls, a finished
    "Sorry" sentence, or prose (before any call, or after the last) with no call `markers` in it."""
    if len(calls) >= max_steps:
        return True
    if not calls:
        stripped = text.lstrip()
        if _SORRY.match(stripped):
            return _SENTENCE_END.search(stripped) is not None
        return not any(m in text for m in markers) and len(stripped) > FREE_PROSE_LIMIT
    tail = text[calls[-1].end():].strip()
    return not any(m in tail for m in markers) and len(tail) > FREE_TAIL_LIMIT


def free_refusal(text: str, marker: str) -> Parsed | None:
    """A free pass without calls as a refusal: its first "Sorry" sentence; None if it is not one."""
    stripped = text.strip()
    if _SORRY.match(stripped) and marker not in stripped:
        end = _SENTENCE_END.search(stripped)
        return Parsed((), stripped[: end.end()].strip() if end else stripped)
    return None


def shell_steps(blocks: Sequence[str], tools: Sequence[Tool]) -> tuple[PlanStep, ...]:
    """Fenced blocks as narrowed steps; leading `#` lines of a block are its `why`."""
    steps = []
    for block in blocks:
        lines = block.strip("\n").split("\n")
        why = []
        while lines and lines[0].lstrip().startswith("#"):
            why.append(lines.pop(0).lstrip("# ").strip())
        command = "\n".join(lines).strip()
        if not command:
            raise invalid(f"the model wrote a ```bash block without a command: {block[:200]!r}")
        steps.append(narrowed(PlanStep(SHELL_TOOL, {"command": command}, " ".join(why), command), tools))
    return tuple(steps)


# Each block is ONE regex terminal: split into "```bash\n" CMD "\n```", a multi-line CMD would
# swallow the newline before the closing fence (llguidance's lexer is greedy).
STEP_TERMINAL = f"/```bash\\n[^`\\s][^`]{{0,{GUIDANCE_MAX_STRING}}}\\n```/"
NOTE_TERMINAL = f"/Sorry[^`\\n]{{0,{EXPLANATION_MAX}}}/"


@functools.cache
def _retriever() -> Retriever:
    return Retriever(library())


@dataclass(frozen=True)
class ShellDesign:
    """The production design (see the module's docstring). `few_shot` (examples every prompt holds,
    after the system prompt) and `retrieve` (how many nearest examples follow) are fields so that
    verification can make a variant with the next-nearest examples (`verify.next_examples`)."""

    name: str = "gated-sheet"
    few_shot: tuple[Example, ...] = ()
    retrieve: int = 3
    free_first: bool = True

    def gate_messages(self, intent: str) -> list[Message] | None:
        # A question about the sandbox itself (its date, tools, disk...) or the folder's git history
        # is answered by commands: the gate, which asks about "the files of a folder", is not asked
        if sandbox_topic(intent) is not None or about_repository(intent):
            return None
        return gate_messages(intent)

    def gate_refusal(self, answer: str, intent: str = "") -> str | None:
        return gate_refusal(answer, intent)

    def note(self, intent: str) -> str:
        """What the answer describes, for questions about the sandbox itself ("" otherwise)."""
        return note(intent)

    def examples(self, intent: str) -> tuple[tuple[Example, ...], tuple[Example, ...]]:
        """The worked examples: those every prompt holds, and those nearest this intent."""
        return self.few_shot, _retriever().nearest(intent, self.retrieve, refusals=0, exclude=self.few_shot)

    def system(self, workspace: str) -> str:
        return (SYSTEM.format(facts=IMAGE_FACTS) + f"\n{SHELL_RULES}"
                + LISTING.format(workspace=workspace or "(empty)"))

    def messages(self, intent: str, tools: Sequence[Tool], workspace: str, max_steps: int) -> list[Message]:
        fixed, nearest = self.examples(intent)
        out: list[Message] = [{"role": "system", "content": self.system(workspace)}]
        # the retrieved examples speak of the request's file, when it names one like theirs
        for example in (*fixed, *(named_like(e, intent) for e in nearest)):
            out += [{"role": "user", "content": example.intent}, {"role": "assistant", "content": example.answer}]
        out.append({"role": "user", "content": intent})
        return out

    def guidance(self, tools: Sequence[Tool], max_steps: int) -> Guidance:
        return Guidance.lark(f"start: steps | NOTE\nsteps: STEP\nSTEP: {STEP_TERMINAL}\nNOTE: {NOTE_TERMINAL}")

    def parse(self, text: str, tools: Sequence[Tool], max_steps: int) -> Parsed:
        text = text.strip()
        blocks = BLOCK.findall(text)
        if not blocks:
            if text.startswith("```"):
                raise invalid(f"the model's answer is not a complete ```bash block: {text[:200]!r}")
            return Parsed((), text)
        return Parsed(shell_steps(blocks, tools))

    def free_done(self, text: str, max_steps: int) -> bool:
        return free_done(text, list(FREE_BLOCK.finditer(text)), 1, ("```",))

    def parse_free(self, text: str, tools: Sequence[Tool], max_steps: int) -> Parsed | None:
        blocks = [m.group(1) for m in FREE_BLOCK.finditer(text)]
        if not blocks:
            return free_refusal(text, "```")
        try:
            return Parsed(shell_steps(blocks[:1], tools))
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
        return Guidance.lark(f"start: STEP | NOTE\nSTEP: {STEP_TERMINAL}\nNOTE: {NOTE_TERMINAL}")


PRODUCTION = ShellDesign()
