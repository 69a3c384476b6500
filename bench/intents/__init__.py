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
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
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
    category: str = ""  # what people ask: files, text, data, archives, search, counting, permissions, git, ...
    reference: str = ""  # one sh command checked to pass the case in the real container (verify.py)

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


def number(value: str) -> Check:
    """The output holds `value` as a number of its own (not part of a longer one), or, for a value
    with decimals, the same number printed with more of them (34.3333 for 34.33: awk's default)."""
    places = len(value.partition(".")[2])

    def same(printed: str) -> bool:
        if printed == value:
            return True
        if not places or len(printed.partition(".")[2]) <= places:
            return False
        step = Decimal(1).scaleb(-places)
        return any(Decimal(printed).quantize(step, rounding=mode) == Decimal(value)
                   for mode in (ROUND_HALF_UP, ROUND_HALF_EVEN))

    def check(ws: Path, run: Any) -> None:
        printed = re.findall(r"(?<![\d.])-?\d+(?:\.\d+)?(?![\d.])", out(run))
        assert any(same(p) for p in printed), f"no {value} in {out(run)[:300]!r}"

    return check


def said(*needles: str, never: tuple[str, ...] = ()) -> Check:
    """The output holds every one of `needles` and none of `never`."""

    def check(ws: Path, run: Any) -> None:
        has(out(run), *needles)
        lacks(out(run), *never)

    return check


def file_is(rel: str, content: str) -> Check:
    def check(ws: Path, run: Any) -> None:
        assert text(ws, rel) == content, f"{rel} is {text(ws, rel)[:300]!r}, not {content[:300]!r}"

    return check


def gone(*rels: str) -> Check:
    def check(ws: Path, run: Any) -> None:
        for rel in rels:
            absent(ws, rel)

    return check


def every(*checks: Check) -> Check:
    def check(ws: Path, run: Any) -> None:
        for one in checks:
            one(ws, run)

    return check


def refused(ws: Path, run: Any) -> None:
    assert run.status == "refused", f"expected an empty plan, got {run.status} with {len(run.plan.steps)} step(s)"
    assert run.plan.explanation, "an empty plan needs an explanation"


# The category of the cases written before categories were recorded, by module.
_CATEGORY = {"files": "files", "textedit": "text", "data": "data", "refusals": "refusal"}
_FRESH_CATEGORY = {
    "f-archive-old-logs": "files", "f-copy-config": "files", "f-jpeg-to-jpg": "files", "f-clean-pycache": "files",
    "f-empty-folders": "files", "f-lowercase-photos": "files", "f-comment-debug": "text", "f-number-lines": "text",
    "f-longest-line": "text", "f-drop-blank-lines": "text", "f-unique-ips": "counting", "f-csv-header": "data",
    "f-average-price": "data", "f-users-over-30": "data", "f-git-changed": "git", "f-biggest-folder": "files",
    "f-rename-readonly": "multi-step", "f-join-count": "multi-step", "f-refuse-pizza": "refusal",
    "f-refuse-text-sister": "refusal",
}


def all_cases() -> list[Case]:
    """Every case. The first held-out split (the cases marked `heldout=True` in files, textedit,
    data, refusals) was read while the prompts were tuned after its first measurement, so it now
    counts as tuning ("dev") data. Held out: `fresh` (20 cases written blind to the planner's
    prompts and examples) and `blind` (53, written with the grown set); `everyday` (47) is dev.
    Every case of those three has a reference command checked to pass it (verify.py)."""
    from dataclasses import replace

    from bench.intents import blind, data, everyday, files, fresh, refusals, textedit

    seen = [replace(c, heldout=False, category=c.category or _CATEGORY[module.__name__.rsplit(".", 1)[1]])
            for module in (files, textedit, data, refusals) for c in module.CASES]
    first_fresh = [replace(c, category=_FRESH_CATEGORY[c.name], reference=fresh.REFERENCE.get(c.name, ""))
                   for c in fresh.CASES]
    cases = [*seen, *first_fresh, *everyday.CASES, *blind.CASES]
    names = [c.name for c in cases]
    assert len(names) == len(set(names)), "case names must be unique"
    return cases
