"""The planner's accuracy set: everyday intents, each with the files its workspace starts with and a
check, written as code, of what running the plan must leave behind (files, changes, output).

A case passes when `sbx run` planned it, every step ran (repairs included), the changes were
applied to the workspace, and `check(workspace, result)` raised nothing. Refusal cases pass when the
plan is empty (the tools cannot do it) and nothing ran.

`heldout` cases were not looked at while the prompts and designs were tuned (their figures are
reported separately; see `all_cases`); none of the few-shot examples in `sandbox/planner/` comes
from here.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Check = Callable[[Path, Any], None]  # (workspace, sandbox.intent.RunResult) -> None, raises AssertionError


@dataclass(frozen=True)
class Case:
    name: str
    intent: str
    check: Check
    files: Mapping[str, str | bytes] = field(default_factory=dict)
    ages_days: Mapping[str, float] = field(default_factory=dict)  # path -> how old its mtime is
    modes: Mapping[str, int] = field(default_factory=dict)
    setup: Callable[[Path], None] | None = None  # anything files cannot say (archives, git history)
    heldout: bool = False
    refusal: bool = False

    def prepare(self, root: Path) -> None:
        for rel, content in self.files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content)
        if self.setup is not None:
            self.setup(root)
        now = time.time()
        for rel, days in self.ages_days.items():
            stamp = now - days * 86400
            os.utime(root / rel, (stamp, stamp))
        for rel, mode in self.modes.items():
            (root / rel).chmod(mode)


def out(result: Any) -> str:
    """Everything the plan's successful steps printed."""
    return str(result.stdout())


def text(root: Path, rel: str) -> str:
    path = root / rel
    assert path.is_file(), f"{rel} does not exist"
    return path.read_text()


def absent(root: Path, rel: str) -> None:
    assert not (root / rel).exists(), f"{rel} should not exist"


def has(haystack: str, *needles: str) -> None:
    for needle in needles:
        assert needle in haystack, f"{needle!r} not in output {haystack[:300]!r}"


def lacks(haystack: str, *needles: str) -> None:
    for needle in needles:
        assert needle not in haystack, f"{needle!r} should not be in output {haystack[:300]!r}"


def all_cases() -> list[Case]:
    """Every case. The first held-out split (the cases marked `heldout=True` in files, textedit,
    data, refusals) was read while the prompts were tuned after its first measurement, so it now
    counts as tuning ("dev") data; `fresh` is the held-out set: 20 cases written blind to the
    planner's prompts and examples, each with a reference solution verified against its check."""
    from dataclasses import replace

    from bench.intents import data, files, fresh, refusals, textedit

    seen = [replace(c, heldout=False) for c in (*files.CASES, *textedit.CASES, *data.CASES, *refusals.CASES)]
    cases = [*seen, *fresh.CASES]
    names = [c.name for c in cases]
    assert len(names) == len(set(names)), "case names must be unique"
    return cases
