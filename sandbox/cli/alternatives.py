"""When `sbx run`'s candidate plans disagree and nothing separates them: show the two best, each
with what it printed and changed, and let the person choose (a terminal), or say so.

Everything from the candidates (commands, output, diffs) reaches the terminal escaped
(sandbox/text.py), as in the approval dialogue.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sandbox.cli.common import render
from sandbox.cli.dialogue import ask
from sandbox.text import printable
from sandbox.types import RunStatus

if TYPE_CHECKING:
    from sandbox.intent import Candidate, RunResult

SHOWN_OUTPUT_LINES = 20


def describe(candidate: Candidate, number: int) -> str:
    """One candidate: its commands, how it ran, what it printed, what it changed."""
    evidence = candidate.evidence
    ran = "ran cleanly" if evidence.clean else (f"failed: {evidence.error}" if evidence.error
                                                else "ran, with error output or denials")
    check = "" if evidence.check is None else f"; the model's check: {'yes' if evidence.check else 'no'}"
    lines = [f"--- option {number}: candidate {candidate.index + 1} ({candidate.source}), {ran}{check}"]
    lines += [f"  $ {printable(command)}" for command in evidence.commands]
    output = candidate.stdout().splitlines()
    if output:
        lines.append("  printed:")
        lines += [f"    {printable(line)}" for line in output[:SHOWN_OUTPUT_LINES]]
        if len(output) > SHOWN_OUTPUT_LINES:
            lines.append(f"    ... ({len(output) - SHOWN_OUTPUT_LINES} more lines)")
    changed = [cs for cs in candidate.changesets if cs.changes]
    if changed:
        lines.append("  changed:")
        lines += [render(cs) for cs in changed]
    if not output and not changed:
        lines.append("  (printed nothing, changed nothing)")
    return "\n".join(lines)


def choose_between(options: Sequence[Candidate]) -> int | None:
    """Show the options and ask which to keep; the chosen candidate's index, or None for neither."""
    sys.stdout.write("sbx is not sure: these candidate plans did different things and nothing "
                     "tells which is right.\n")
    for number, candidate in enumerate(options, 1):
        sys.stdout.write(describe(candidate, number) + "\n")
    numbers = "/".join(str(n) for n in range(1, len(options) + 1))
    answer = ask(f"Which one is right? [{numbers}/N(either)]: ")
    if answer.isdigit() and 1 <= int(answer) <= len(options):
        return options[int(answer) - 1].index
    return None


def dissent(result: RunResult) -> str:
    """When a candidate was chosen over one that did otherwise (`alternatives` of a run that is not
    undecided): the other, so that the choice is not silent; "" otherwise."""
    if result.status is RunStatus.UNDECIDED or result.choice is None or result.choice.chosen is None:
        return ""
    others = [c for c in result.alternatives if c.index != result.choice.chosen]
    if not others:
        return ""
    lines = [f"sbx: candidate {result.choice.chosen + 1} was chosen, another did otherwise "
             "(`alternatives` in --json):"]
    lines += [describe(candidate, number) for number, candidate in enumerate(others, 1)]
    return "\n" + "\n".join(lines)


def undecided(result: RunResult) -> str:
    """What stderr says about a run left undecided (nothing kept), the options included; "" otherwise."""
    if result.status is not RunStatus.UNDECIDED or result.choice is None:
        return ""
    lines = [f"sbx: not sure, nothing kept: {printable(result.choice.reason)}; the options "
             "(`alternatives` in --json):"]
    lines += [describe(candidate, number) for number, candidate in enumerate(result.alternatives, 1)]
    lines.append("sbx: run the right one with `sbx exec`, or say more precisely what you want")
    return "\n" + "\n".join(lines)
