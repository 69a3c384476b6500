"""The one approval dialogue on a terminal, for `sbx exec`, `sbx apply` and `sbx run` alike.

Its rules: every changeset's diff first, then the risk summary of the flagged changes, last, right
before the question; a flagged change is applied only on a typed `yes` (a plain `y` or `a` does not
cover it), and approving a folder counts as approving every flagged change below it. Everything
from the changes reaches the terminal through sandbox/text.py's escaping (the renderers do it).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Collection, Sequence
from typing import TYPE_CHECKING

from sandbox.cli.common import interactive, render, risk_summary
from sandbox.text import printable
from sandbox.types import Change, Changeset

if TYPE_CHECKING:
    from sandbox.app import Approval


def ask(question: str) -> str:
    try:
        return input(question).strip().lower()
    except EOFError:
        return ""


def review(changesets: Sequence[Changeset], *, per_file: bool = True) -> Approval:
    """Show the changesets and ask: all, per file (when the caller can apply a subset), or none."""
    from sandbox.app import Approval

    for changeset in changesets:
        sys.stdout.write(render(changeset) + "\n")
    changes = [c for cs in changesets for c in cs.changes if c.refused is None]
    risky = [c for c in changes if c.risks]
    if risky:
        sys.stdout.write(risk_summary(risky) + "\n")
    flagged = f" ({len(risky)} flagged)" if risky else ""
    choices = "[a]ll / [p]er file / [N]one" if per_file else "[a]ll / [N]one"
    answer = ask(f"Apply these changes{flagged}? {choices}: ")
    if answer in ("a", "all", "y", "yes"):
        if not risky:
            return Approval.all("terminal all")
        if ask("Type 'yes' to apply the flagged changes too: ") == "yes":
            return Approval.all("terminal all")
        safe = [c.path for c in changes if not flags_within(c, risky)] if per_file else []
        return Approval(bool(safe), safe, "terminal all, flagged ones declined")
    if per_file and answer in ("p", "per file"):
        chosen = [c.path for c in changes if _approve_one(c, risky)]
        return Approval(bool(chosen), chosen, "terminal per-file")
    return Approval.none("terminal none")


def flags_within(change: Change, risky: Collection[Change]) -> tuple[str, ...]:
    """The flags a change's approval would cover: its own, and for a folder those of every
    flagged change below it (approving a path approves everything beneath it)."""
    below = change.path + "/"
    return tuple(dict.fromkeys(
        flag for c in risky if c.path == change.path or c.path.startswith(below) for flag in c.risks
    ))


def _approve_one(change: Change, risky: Collection[Change]) -> bool:
    flags = flags_within(change, risky)
    if flags:
        question = f"  apply {change.kind} {printable(change.path)} (RISK: {', '.join(flags)})? type 'yes': "
        return ask(question) == "yes"
    return ask(f"  apply {change.kind} {printable(change.path)}? [y/N] ") in ("y", "yes")


def approver(yes: bool, as_json: bool) -> Callable[[Changeset], Approval] | None:
    """How an action's changeset is approved: --yes, the dialogue on a terminal, or not at all
    (no terminal and no --yes: the changeset stays pending)."""
    from sandbox.app import Approval

    if yes:
        return lambda _cs: Approval.all("--yes")
    if not interactive(as_json):
        return None
    return lambda changeset: review([changeset])
