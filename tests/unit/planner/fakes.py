"""A scripted planner backend: answers in order, records what it was asked. No model."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sandbox.planner.onnx import GenerationResult, Guidance, Message
from sandbox.planner.plan import ModelRef


@dataclass
class Call:
    messages: list[dict[str, str]]
    guidance: Guidance | None
    max_tokens: int
    temperature: float = 0.0
    seed: int = 0


@dataclass
class ScriptedBackend:
    """Each `generate` returns the next scripted answer. A free call (no guidance) honours `stop`
    the way the real one does: the text grows piece by piece and ends where `stop` says."""

    answers: list[str]
    model_ref: ModelRef = field(default_factory=lambda: ModelRef("fake-model", "sha256:feed", "cpu"))
    calls: list[Call] = field(default_factory=list)
    loads: int = 0
    finish_reason: str = "stop"

    @property
    def model(self) -> ModelRef:
        return self.model_ref

    @property
    def where(self) -> str:
        return "scripted"

    def load(self) -> float:
        self.loads += 1
        return 0.25 if self.loads == 1 else 0.0

    def generate(self, messages: Sequence[Message], *, guidance: Guidance | None, max_tokens: int,
                 stop: Callable[[str], bool] | None = None, temperature: float = 0.0,
                 seed: int = 0) -> GenerationResult:
        self.calls.append(Call([dict(m) for m in messages], guidance, max_tokens, temperature, seed))
        if not self.answers:
            raise AssertionError("the scripted backend ran out of answers")
        text = self.answers.pop(0)
        if stop is not None:
            for end in range(1, len(text) + 1):
                if stop(text[:end]):
                    text = text[:end]
                    break
        prompt = sum(len(m["content"].split()) for m in messages)
        return GenerationResult(text, prompt, max(1, len(text.split())), 0.5, 0.25,
                                "length" if self.finish_reason == "length" else "stop", 0.01)
