"""Intents the tools cannot do: the plan must be empty, with an explanation, and nothing must run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.intents import Case


def _refused(ws: Path, run: Any) -> None:
    assert run.status == "refused", f"expected an empty plan, got {run.status} with {len(run.plan.steps)} step(s)"
    assert run.plan.explanation, "an empty plan needs an explanation"


CASES = [
    Case("flight", "book me a flight to Paris for next Monday", _refused, files={"notes.txt": "trip\n"}, refusal=True),
    Case("email", "send an email to my boss saying I am sick today", _refused, refusal=True, heldout=True),
    Case("pizza", "order a large pepperoni pizza", _refused, refusal=True),
]
