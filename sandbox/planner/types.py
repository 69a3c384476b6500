"""The planner's result types and the two protocols it is built on, in a leaf module.

`Plan`, `PlanStep`, `Usage` and `ModelRef` are what a plan is; `PlannerBackend` is what the planner
needs of a model (generate under guidance); `Design` is how the model is led to a plan (prompt,
guidance, parsing back, the gate and its refusal). The planner (`plan.py`), the production design
(`design.py`), verification (`verify.py`) and the measured designs of `bench/` all import these,
and this module imports none of them: no import circle is possible through it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from sandbox.errors import PlannerError
from sandbox.tools import Tool

if TYPE_CHECKING:
    from sandbox.planner.onnx import GenerationResult, Guidance, Message

MAX_STEPS_LIMIT = 10


@dataclass(frozen=True)
class ModelRef:
    """Which model planned: the catalog name, the digest of the built files (from its manifest)."""

    name: str
    digest: str | None = None
    execution_provider: str = "cpu"

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "digest": self.digest, "execution_provider": self.execution_provider}


@dataclass(frozen=True)
class Usage:
    """What one model call cost."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    prefill_seconds: float = 0.0
    decode_seconds: float = 0.0
    setup_seconds: float = 0.0  # generator creation: guidance compilation (and its first-use start-up)
    seconds: float = 0.0  # wall time of the whole call: prompt building, generation(s), parsing
    finish_reason: str = "stop"
    passes: int = 1  # generations for the plan: 2 when a free pass did not parse and a guided one followed
    cached_tokens: int = 0  # prompt tokens not computed again (the prefix cache, onnx.PrefixCache)
    gated: bool = False  # the design's yes/no gate ran first (its cost is included)

    @classmethod
    def of(cls, results: Sequence[GenerationResult], seconds: float, *, gate: bool = False) -> Usage:
        return cls(
            sum(r.prompt_tokens for r in results),
            sum(r.completion_tokens for r in results),
            sum(r.prefill_seconds for r in results),
            sum(r.decode_seconds for r in results),
            sum(r.setup_seconds for r in results),
            seconds,
            results[-1].finish_reason if results else "stop",
            len(results) - (1 if gate else 0),
            sum(r.cached_tokens for r in results),
            gate,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "prefill_seconds": round(self.prefill_seconds, 3),
            "decode_seconds": round(self.decode_seconds, 3),
            "setup_seconds": round(self.setup_seconds, 3),
            "seconds": round(self.seconds, 3),
            "finish_reason": self.finish_reason,
            "passes": self.passes,
            "cached_tokens": self.cached_tokens,
            "gated": self.gated,
        }


@dataclass(frozen=True)
class PlanStep:
    """One tool call of a plan. `source` is what the model wrote for it (e.g. the bash block), when
    that differs from the call itself; `usage` is set on steps that came from a repair."""

    tool: str
    args: Mapping[str, Any]
    why: str = ""
    source: str = ""
    usage: Usage | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"tool": self.tool, "args": dict(self.args), "why": self.why}
        if self.source:
            out["source"] = self.source
        if self.usage is not None:
            out["usage"] = self.usage.to_json()
        return out


@dataclass(frozen=True)
class Plan:
    """The model's plan for an intent. Empty `steps` with an `explanation`: the tools cannot do it."""

    intent: str
    steps: tuple[PlanStep, ...]
    explanation: str
    model: ModelRef
    design: str
    usage: Usage
    raw: str  # the model's output, verbatim
    tools: tuple[Tool, ...] = field(default=(), compare=False, repr=False)  # what the plan was made with
    workspace: str = field(default="", compare=False, repr=False)  # the workspace line the prompt had
    note: str = ""  # what the answer describes, from the design (a question about the sandbox itself)

    @property
    def empty(self) -> bool:
        return not self.steps

    def to_json(self) -> dict[str, Any]:
        return {
            "intent": self.intent,
            "steps": [step.to_json() for step in self.steps],
            "explanation": self.explanation,
            "model": self.model.to_json(),
            "design": self.design,
            "usage": self.usage.to_json(),
            "raw": self.raw,
            "note": self.note,
        }


class PlannerBackend(Protocol):
    """What the planner needs from a model: generate under guidance. Tests inject a scripted fake."""

    @property
    def model(self) -> ModelRef: ...

    @property
    def where(self) -> str:
        """Where the model runs, for progress messages ("loaded in this process", ...)."""
        ...

    def load(self) -> float:
        """Make the model ready; the seconds it took (0 when it already was)."""
        ...

    def generate(self, messages: Sequence[Message], *, guidance: Guidance | None, max_tokens: int,
                 stop: Callable[[str], bool] | None = None, temperature: float = 0.0,
                 seed: int = 0) -> GenerationResult:
        """One completion; `guidance` None is free generation, which `stop` may end early.
        `temperature` 0 is greedy; above, sampled, reproducibly: the draw is fixed by the prompt and
        `seed` (another `seed`, another draw of the same prompt)."""
        ...


@dataclass(frozen=True)
class Parsed:
    """A design's reading of the model output, before the planner validates it."""

    calls: tuple[PlanStep, ...]
    explanation: str = ""


def invalid(message: str, *, hint: str | None = None) -> PlannerError:
    return PlannerError(message, code="planner.invalid_plan", hint=hint)


class Design(Protocol):
    """How the model is led to a plan. The planner calls these and interprets none of their text:
    the design owns its prompt, its grammar, how the answer is read back, its gate and its refusal."""

    @property
    def name(self) -> str: ...

    @property
    def free_first(self) -> bool:
        """Whether to try a free (unguided) pass before the guided one."""
        ...

    def free_done(self, text: str, max_steps: int) -> bool:
        """Whether a free pass has said all it will usefully say (generation stops there)."""
        ...

    def parse_free(self, text: str, tools: Sequence[Tool], max_steps: int) -> Parsed | None:
        """A free pass's output as calls, or None when it is not cleanly what the guidance allows."""
        ...

    def messages(self, intent: str, tools: Sequence[Tool], workspace: str, max_steps: int) -> list[Message]: ...

    def guidance(self, tools: Sequence[Tool], max_steps: int) -> Guidance: ...

    def parse(self, text: str, tools: Sequence[Tool], max_steps: int) -> Parsed: ...

    def repair_messages(self, intent: str, plan: Plan, failed: PlanStep, feedback: str) -> list[Message]: ...

    def repair_guidance(self, tools: Sequence[Tool]) -> Guidance: ...

    def gate_messages(self, intent: str) -> list[Message] | None:
        """A question put to the model before planning (None: no gate): can commands on the
        folder's files do this at all?"""
        ...

    def gate_refusal(self, answer: str, intent: str = "") -> str | None:
        """The gate's answer to `intent` read by the design: the explanation of an empty plan when
        it says no, None when planning goes on."""
        ...

    def note(self, intent: str) -> str:
        """What an answer to `intent` describes, for the person ("" when nothing needs saying)."""
        ...
