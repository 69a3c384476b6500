"""From an intent to a validated plan: the `Planner`, its result types and the backend protocol.

    planner = Planner(OnnxBackend("qwen2.5-coder-0.5b"))          # or any PlannerBackend
    plan = planner.plan("count the lines of data.csv", tools, summarize_workspace(path), max_steps=4)
    for step in plan.steps: ...                                    # tool calls, each valid for its tool
    fixed = planner.repair(intent, plan, failed_step, "exit 127: sh: 1: zip: not found")

How the model is led to the plan (prompt, guidance, parsing, the gate) is a `Design` (`types.py`;
the production one is `design.py`, the measured variants are in `bench/designs.py`); the planner
interprets none of a design's text, and owns what holds whatever the design: every step names a
known tool and its arguments pass that tool's own `Tool.validate` (the schema published in
`profiles/`), there are at most `max_steps` of them, and output that does not map onto that is a `PlannerError`
(`planner.invalid_plan`), never a half-plan. Confinement (can this call be compiled for this
workspace?) is checked by the caller before anything runs (`sandbox.intent`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from sandbox.errors import PlannerError, SbxError
from sandbox.planner.design import PRODUCTION
from sandbox.planner.onnx import GenerationResult, Guidance, Message
from sandbox.planner.types import (
    MAX_STEPS_LIMIT,
    Design,
    ModelRef,
    Parsed,
    Plan,
    PlannerBackend,
    PlanStep,
    Usage,
    invalid,
)
from sandbox.tools import Tool

# The result types live in types.py; they are importable from here too, as before.
__all__ = ["MAX_STEPS_LIMIT", "Design", "ModelRef", "Parsed", "Plan", "PlanStep", "Planner", "PlannerBackend", "Usage",
           "invalid", "validate_step"]


def validate_step(step: PlanStep, tools: Mapping[str, Tool]) -> PlanStep:
    """The step with its arguments checked by its tool's schema (defaults filled in)."""
    tool = tools.get(step.tool)
    if tool is None:
        raise invalid(f"the plan calls an unknown tool {step.tool!r} (known: {', '.join(sorted(tools))})")
    try:
        args = tool.validate(step.args)
    except SbxError as exc:
        raise invalid(f"the plan's call of {step.tool} is invalid: {exc.message}") from None
    return PlanStep(step.tool, args, step.why, step.source, step.usage)


class Planner:
    """Plans with a backend under a design; stateless between calls."""

    def __init__(self, backend: PlannerBackend, *, design: Design | None = None, max_tokens: int = 360,
                 free_max_tokens: int = 240, repair_temperature: float = 0.7) -> None:
        self.backend = backend
        self.design: Design = design if design is not None else PRODUCTION
        self.max_tokens = max_tokens
        self.free_max_tokens = free_max_tokens
        self.repair_temperature = repair_temperature

    def with_design(self, design: Design) -> Planner:
        """The same model and settings under another design (a verification candidate's)."""
        return Planner(self.backend, design=design, max_tokens=self.max_tokens,
                       free_max_tokens=self.free_max_tokens, repair_temperature=self.repair_temperature)

    @property
    def model(self) -> ModelRef:
        return self.backend.model

    def load(self) -> float:
        return self.backend.load()

    def _ask(self, messages: list[Message], guidance: Guidance, tools: Sequence[Tool], max_steps: int,
             *, temperature: float = 0.0,
             seed: int = 0) -> tuple[str, tuple[PlanStep, ...], str, list[GenerationResult]]:
        """Generate and parse: a free pass first when the design has one (it skips guidance's
        per-process start-up, ~2.7 s), kept only if it parses cleanly into valid calls; else (or
        for designs without one) a guided pass, whose output always has the design's structure."""
        by_name = {tool.name: tool for tool in tools}
        results: list[GenerationResult] = []
        if self.design.free_first:
            free = self.backend.generate(messages, guidance=None, max_tokens=self.free_max_tokens,
                                         stop=lambda text: self.design.free_done(text, max_steps),
                                         temperature=temperature, seed=seed)
            results.append(free)
            parsed = self.design.parse_free(free.text, tools, max_steps)
            if parsed is not None and len(parsed.calls) <= max_steps:
                try:
                    steps = tuple(validate_step(c, by_name) for c in parsed.calls)
                    return free.text, steps, parsed.explanation, results
                except PlannerError:
                    pass  # not valid calls: the guided pass decides
        result = self.backend.generate(messages, guidance=guidance, max_tokens=self.max_tokens,
                                       temperature=temperature, seed=seed)
        results.append(result)
        if result.finish_reason == "length":
            raise invalid(f"the model's answer did not finish within {self.max_tokens} tokens: {result.text[:200]!r}",
                          hint="rephrase the intent more narrowly")
        parsed = self.design.parse(result.text, tools, max_steps)
        if len(parsed.calls) > max_steps:
            raise invalid(f"the plan has {len(parsed.calls)} steps, more than max_steps {max_steps}")
        return result.text, tuple(validate_step(c, by_name) for c in parsed.calls), parsed.explanation, results

    def _gate(self, intent: str) -> GenerationResult | None:
        messages = self.design.gate_messages(intent)
        if messages is None:
            return None
        return self.backend.generate(messages, guidance=None, max_tokens=2)

    def plan(self, intent: str, tools: Sequence[Tool], workspace_summary: str = "", max_steps: int = 5, *,
             temperature: float = 0.0, sample: int = 0) -> Plan:
        """A plan for `intent`; `temperature` above 0 samples (a further candidate for verification),
        the `sample`-th reproducible draw of its prompt."""
        intent = intent.strip()
        if not intent:
            raise PlannerError("the intent is empty: say what should be done", code="planner.empty_intent")
        if not 1 <= max_steps <= MAX_STEPS_LIMIT:
            raise PlannerError(f"max_steps must be between 1 and {MAX_STEPS_LIMIT}", code="planner.invalid_request")
        if not tools:
            raise PlannerError("no tools to plan with", code="planner.invalid_request")
        started = time.monotonic()
        gate = self._gate(intent)
        refusal = self.design.gate_refusal(gate.text, intent) if gate is not None else None
        if gate is not None and refusal is not None:
            return Plan(intent=intent, steps=(), explanation=refusal, model=self.model,
                        design=self.design.name, usage=Usage.of([gate], time.monotonic() - started, gate=True),
                        raw=gate.text, tools=tuple(tools), workspace=workspace_summary)
        messages = self.design.messages(intent, tools, workspace_summary, max_steps)
        raw, steps, explanation, results = self._ask(messages, self.design.guidance(tools, max_steps), tools,
                                                     max_steps, temperature=temperature, seed=sample)
        if gate is not None:
            results = [gate, *results]
        explanation = explanation.strip()
        if not steps and not explanation:
            raise invalid(f"the model produced neither steps nor an explanation: {raw[:200]!r}")
        return Plan(
            intent=intent,
            steps=steps,
            explanation=explanation,
            model=self.model,
            design=self.design.name,
            usage=Usage.of(results, time.monotonic() - started, gate=gate is not None),
            raw=raw,
            tools=tuple(tools),
            workspace=workspace_summary,
            note=self.design.note(intent) if steps else "",
        )

    def repair(self, intent: str, plan: Plan, failed_step: PlanStep, feedback: str,
               tried: Sequence[PlanStep] = ()) -> PlanStep | None:
        """A corrected step for `failed_step`, given what happened when it ran (`feedback`); None when
        the model gives up (answers with prose instead of a call) or can only repeat a call that
        failed (`failed_step` or one of the earlier attempts `tried`).
        Raises `planner.invalid_plan` when its answer does not map onto a valid call.

        Greedy decoding first; a small model often just repeats the command that failed, and then
        one sampled answer (temperature `repair_temperature`) gets the chance to differ."""
        tools = plan.tools
        if not tools:
            raise PlannerError("this plan carries no tools to repair with", code="planner.invalid_request")
        started = time.monotonic()
        messages = self.design.repair_messages(intent, plan, failed_step, feedback)
        guidance = self.design.repair_guidance(tools)
        results: list[GenerationResult] = []
        failed = [(s.tool, dict(s.args)) for s in (*tried, failed_step)]
        step: PlanStep | None = None  # the first proposal that differs from every failed attempt
        for temperature in (0.0, self.repair_temperature):
            _, steps, _, generated = self._ask(messages, guidance, tools, 1, temperature=temperature)
            results += generated
            if not steps:
                return None
            if (steps[0].tool, dict(steps[0].args)) not in failed:
                step = steps[0]
                break
        if step is None:
            return None  # nothing new to try
        return PlanStep(step.tool, step.args, step.why or f"repair of step: {failed_step.why or failed_step.tool}",
                        step.source, Usage.of(results, time.monotonic() - started))
