"""Choosing between candidate plans by what they did: the evidence, and the choice (pure).

`sbx run` can ask for several candidate plans for one intent, run each in its own throwaway
containers on the real workspace (sandbox/intent.py does the running: the planner never imports
the engine), and choose among them here, by evidence:

* how each ran: every step ran to success (after repairs), no denial, no error output;
* what each did: its printed output and the content of its changes, as digests, so that two
  candidates that did the same thing agree whatever commands they used; two that made the same
  changes agree whatever they printed about them (`Evidence.effect`);
* optionally the model's own short reading of a result against the request (`check_messages`,
  `read_check`): asked only to separate candidates that ran cleanly and disagree.

`choose` stops early when the first candidates ran cleanly and agree, picks the one outcome the
evidence puts ahead, and otherwise says `ask`: the two best are shown to a person (or returned as
`alternatives`), never picked silently.

`NextExamples` is the cheapest source of a second opinion from the same model: the same design
with the next-nearest worked examples instead of the nearest ones.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, is_dataclass, replace
from enum import StrEnum
from typing import Any

from sandbox.planner.onnx import Guidance, Message
from sandbox.planner.plan import Parsed, Plan, PlanStep
from sandbox.planner.prompt import clip
from sandbox.tools import Tool

log = logging.getLogger(__name__)

__all__ = [
    "NO_CHANGES",
    "Choice",
    "Evidence",
    "NextExamples",
    "Verdict",
    "WithNotes",
    "answer_digest",
    "asks_quantity",
    "check_messages",
    "choose",
    "detail_words",
    "disputed",
    "either_answers",
    "outcome_digest",
    "read_check",
]

CHECK_SYSTEM = ("You check the work of a shell command. Given a request, the command that ran and what it "
                "printed and changed, answer yes if it does what the request asks, no if it does not.")


class Verdict(StrEnum):
    CHOSEN = "chosen"  # one candidate is ahead on the evidence
    MORE = "more"  # not settled yet: try another candidate
    ASK = "ask"  # candidates disagree and nothing separates them: a person chooses
    NONE = "none"  # no candidate ran to the end


@dataclass(frozen=True)
class Evidence:
    """What one candidate plan did when it ran, as far as choosing needs it."""

    index: int  # in the order the candidates were made
    source: str  # how it was made: "greedy", "next examples", "model qwen2.5-coder-0.5b", "sampled 0.7"
    commands: tuple[str, ...]
    ran: bool  # every step ran to success (after its repairs)
    denied: int = 0  # denials in the steps that counted
    error_output: bool = False  # a step that counted wrote to stderr
    repairs: int = 0
    stdout_digest: str = ""
    changes_digest: str = ""
    error: str | None = None  # why it did not run to the end
    check: bool | None = None  # the model's reading of the result against the request; None: not asked
    family: str = ""  # the prompt it came from: a sample of the same prompt is no independent support
    answer_digest: str = ""  # what it printed as a person reads it (`answer_digest`); "": as stdout_digest
    detail: int = 0  # detail words around the names it printed (`detail_words`): the most is shown

    @property
    def clean(self) -> bool:
        return self.ran and not self.denied and not self.error_output

    @property
    def outcome(self) -> tuple[str, str]:
        return self.stdout_digest, self.changes_digest

    @property
    def effect(self) -> tuple[str, str]:
        """What it did, as choosing compares candidates: the changes it made, when it made any (a
        report of the same changes is no other answer: `tar -xzvf` lists what `tar -xzf` silently
        extracts, `cp -v` names what `cp` copies), else what it printed, read as a person reads it."""
        if self.changes_digest != NO_CHANGES:
            return "", self.changes_digest
        return self.answer_digest or self.stdout_digest, self.changes_digest

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index, "source": self.source, "commands": list(self.commands), "ran": self.ran,
            "clean": self.clean, "denied": self.denied, "error_output": self.error_output, "repairs": self.repairs,
            "stdout_sha256": self.stdout_digest, "changes_sha256": self.changes_digest, "error": self.error,
            "check": self.check, "family": self.family or self.source, "answer_sha256": self.answer_digest,
        }


@dataclass(frozen=True)
class Choice:
    """What the evidence says: `chosen` names the candidate; `alternatives` the two best when a person
    must choose (`ask`); `reason` in words, for the result and the audit trail."""

    verdict: Verdict
    chosen: int | None
    alternatives: tuple[int, ...]
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"verdict": str(self.verdict), "chosen": self.chosen, "alternatives": list(self.alternatives),
                "reason": self.reason}


def outcome_digest(stdout: str, changes: Sequence[Mapping[str, Any]]) -> tuple[str, str]:
    """Digests of what a candidate printed and changed. Changes are compared by path, kind, content
    (the diff, or the new size and mode where there is none) and not by changeset id or time."""
    out = hashlib.sha256(stdout.encode("utf-8", "surrogateescape")).hexdigest()
    keys = ("path", "kind", "new_type", "new_mode", "new_target", "new_size", "diff")
    rows = sorted("\x00".join(str(change.get(k, "")) for k in keys) for change in changes)
    return out, hashlib.sha256("\x01".join(rows).encode("utf-8", "surrogateescape")).hexdigest()


NO_CHANGES = outcome_digest("", [])[1]

_SPACES = re.compile(r"[ \t]+")
_HERE = re.compile(r"(?:(?<=\s)|^)\./(?=\S)")


# Details a listing adds around the names it answers with: sizes (52K, 1.2M, 4096), hashes
# (c845446), dates and times, permission strings, month names (ls -l's date)
_DETAIL = re.compile(
    r"\d+(?:[.,]\d+)?(?:[KMGTPE]i?B?|[kmg]b?|B|bytes)?|(?=[0-9a-f]*\d)[0-9a-f]{7,64}|\d{4}-\d\d-\d\d(?:[T ][\d:.]+)?Z?|"
    r"\d{1,2}:\d\d(?::\d\d(?:\.\d+)?)?|[-dlcbps][-rwxsStT]{9}[.+@]?|(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)|"
    r"[(),:;\[\]-]+")


def _answer_lines(stdout: str) -> list[str]:
    lines = []
    for raw in stdout.splitlines():
        line = _HERE.sub("", _SPACES.sub(" ", raw.strip()))
        if len(line) >= 2 and line[0] == line[-1] == '"' and '"' not in line[1:-1]:
            line = line[1:-1]
        if line:
            lines.append(line)
    return lines


def _without_details(lines: Sequence[str]) -> tuple[list[str], int]:
    """The lines without the detail words (`_DETAIL`), lines left empty dropped, and how many
    words were dropped."""
    kept, dropped = [], 0
    for line in lines:
        words = line.split(" ")
        names = [w for w in words if not _DETAIL.fullmatch(w)]
        dropped += len(words) - len(names)
        if names:
            kept.append(" ".join(names))
    return kept, dropped


def answer_digest(stdout: str, *, details: bool = True) -> str:
    """A digest of printed output as a person reads the answer in it: lines without surrounding or
    repeated blanks, blank lines dropped, paths without a leading `./` (`find .` prints `./a.py`
    where `ls` prints `a.py`), and a line that is one quoted string without its quotes (`jq .version`
    prints `"1.2.3"` where `jq -r` prints `1.2.3`). Order and everything else count.

    Without `details` (a request that does not ask for a quantity, see `asks_quantity`): the sizes,
    hashes, dates, times and permissions that a listing prints around its names do not count
    either ("which file is the largest": `video.mp4` and `52K ./video.mp4` are one answer; "the
    last commit's message": `c845446 fix typo` and `fix typo`), unless they are all it printed."""
    lines = _answer_lines(stdout)
    if not details:
        names, _ = _without_details(lines)
        lines = names or lines
    return hashlib.sha256("\n".join(lines).encode("utf-8", "surrogateescape")).hexdigest()


def detail_words(stdout: str) -> int:
    """How many detail words (sizes, hashes, dates, ...) the output holds around its names: of two
    outputs with one answer, the one with more says more, and is the one shown."""
    names, dropped = _without_details(_answer_lines(stdout))
    return dropped if names else 0


_QUANTITY = re.compile(
    r"\b(?:how (?:many|much|big|large|long|old|often|far)|count|counts|number of|total|totals|sum|average|mean|median|"
    r"size|sizes|bytes|percent|percentage|ratio|per|each|checksums?|hash(?:es)?|sha\d*|md5|when|date|dates|time|"
    r"times|age|ages|version|versions|mode|permissions?)\b", re.IGNORECASE)


def asks_quantity(intent: str) -> bool:
    """Whether a request asks for numbers, sizes, dates, hashes or versions, which are then its
    answer and not details around it."""
    return _QUANTITY.search(intent) is not None


def _group_check(group: Sequence[Evidence]) -> int:
    """The model's check of an outcome: 1 when it said yes to one of its candidates, -1 when it
    said only no, 0 when it was not asked (candidates with one outcome share one check)."""
    verdicts = {e.check for e in group} - {None}
    return 1 if True in verdicts else -1 if verdicts else 0


def _rank(group: Sequence[Evidence]) -> tuple[int, int, int, int, int, int, int]:
    """How strongly the evidence backs one outcome: a clean run at all; two independent prompts
    that reached it cleanly (what stops verification early, and more than a small model's yes or
    no: the 1.5B said yes to a rename of one file in three and no to the whole one); the model's
    check; how many independent prompts reached it cleanly and at all (a sample of a prompt that
    already reached it is no independent support: it shares its mistakes); then how many candidates
    reached it cleanly, samples included (the model reaching one answer again when it samples is
    weak evidence, and `choose` says so when it decides); the earliest (greedy first)."""
    clean = len({e.family or e.source for e in group if e.clean})
    return min(clean, 1), int(clean >= 2), _group_check(group), clean, len({e.family or e.source for e in group}), \
        sum(e.clean for e in group), -min(e.index for e in group)


def disputed(evidence: Sequence[Evidence]) -> bool:
    """Whether candidates that ran cleanly did different things (then the model's check is asked)."""
    return len({e.effect for e in evidence if e.clean}) > 1


def choose(evidence: Sequence[Evidence], *, budget: int) -> Choice:
    """Choose among the candidates that ran so far; `budget` is how many may be made in all.

    Stops early (`chosen`) when two candidates ran cleanly and agree and no other clean outcome
    competes; otherwise `more` until the budget is spent; then the outcome ranked first by `_rank`
    when it is strictly ahead of the second. When only a sample of the same prompt puts it ahead
    (the model's plan, sampled again, did the same; another prompt did otherwise), it is chosen,
    not silently: the other stays among `alternatives` and the reason says so. Measured on the
    dev cases left undecided, the outcome reached that way was right, or as good as the other, in
    11 of 12; the model's own yes/no, P(yes) and A-or-B readings told them apart in none
    (docs/planner.md). Else `ask` with the best candidate of each of the two."""
    if budget <= 1 and evidence:
        first = evidence[0]
        verdict = Verdict.CHOSEN if first.ran else Verdict.NONE
        return Choice(verdict, 0 if first.ran else None, (), "verification off: the first plan")
    groups: dict[tuple[str, str], list[Evidence]] = {}
    for item in evidence:
        if item.ran:
            groups.setdefault(item.effect, []).append(item)
    ranked = sorted(groups.values(), key=_rank, reverse=True)
    clean_groups = [g for g in ranked if any(e.clean for e in g)]
    if clean_groups and _rank(clean_groups[0])[1] and len(clean_groups) == 1:
        best = _shown(clean_groups[0])
        agreeing = ", ".join(str(e.index + 1) for e in clean_groups[0] if e.clean)
        return Choice(Verdict.CHOSEN, best, (), f"candidates {agreeing} ran cleanly and did the same")
    if len(evidence) < budget:
        return Choice(Verdict.MORE, None, (), "not settled yet")
    if not ranked:
        return Choice(Verdict.NONE, None, (), "no candidate ran to the end")
    return _settled(ranked)


def _shown(group: Sequence[Evidence]) -> int:
    """The candidate that shows an outcome: a clean one, the one that says most (detail words
    around the same answer), the earliest."""
    clean = [e for e in group if e.clean] or list(group)
    return min(clean, key=lambda e: (-e.detail, e.index)).index


def _settled(ranked: Sequence[Sequence[Evidence]]) -> Choice:
    """The choice between outcomes, once every candidate is in, best ranked first."""
    top = ranked[0]
    best = _shown(top)
    if len(ranked) == 1 or _rank(top)[:5] > _rank(ranked[1])[:5]:
        return Choice(Verdict.CHOSEN, best, (), _why_ahead(top, ranked[1] if len(ranked) > 1 else None))
    second = _shown(ranked[1])
    if _rank(top)[:6] > _rank(ranked[1])[:6]:
        best = _shown(top)
        names = ", ".join(str(e.index + 1) for e in top if e.clean)
        return Choice(Verdict.CHOSEN, best, (best, second),
                      f"candidates {names} (one prompt, sampled again) ran cleanly and did the same; candidate "
                      f"{second + 1} did otherwise and nothing else separates them: the more frequent outcome is "
                      "shown, the other is among the alternatives")
    return Choice(Verdict.ASK, None, (best, second),
                  f"candidates {best + 1} and {second + 1} ran equally well and did different things")


def either_answers(choice: Choice, evidence: Sequence[Evidence]) -> Choice:
    """For a question about the sandbox itself (the date, a tool's version, free space), an `ask`
    between two candidates that ran cleanly, changed nothing and were not rejected by the model's
    check is settled: both answer it, in different words (`df -h` and `df -h .`). The first is
    chosen; the other stays among the result's alternatives, and the reason says so."""
    if choice.verdict is not Verdict.ASK:
        return choice
    shown = sorted((e for e in evidence if e.index in choice.alternatives), key=lambda e: e.index)
    if len(shown) != 2 or not all(e.clean and e.changes_digest == NO_CHANGES and e.check is not False
                                  for e in shown):
        return choice
    first, other = shown
    return Choice(Verdict.CHOSEN, first.index, choice.alternatives,
                  f"candidates {first.index + 1} and {other.index + 1} both answer a question about the sandbox "
                  "and changed nothing; they print it differently: the first is shown, the other is in the result")


def _why_ahead(top: Sequence[Evidence], second: Sequence[Evidence] | None) -> str:
    names = ", ".join(str(e.index + 1) for e in top)
    if second is None:
        return f"only candidate(s) {names} ran to the end" if len(top) == 1 else f"candidates {names} agree"
    mine, theirs = _rank(top), _rank(second)
    if mine[0] != theirs[0]:
        return f"candidate(s) {names} ran cleanly where the others did not"
    if mine[1] != theirs[1]:
        return f"candidates {names}, of independent prompts, ran cleanly and did the same"
    if mine[2] != theirs[2]:
        return f"the model's check favours candidate(s) {names}"
    return f"candidates {names} did the same, more than any other outcome"


def check_messages(intent: str, commands: Sequence[str], stdout: str, changes: str) -> list[Message]:
    """The model's short check of one result against the request: answered yes or no."""
    shown = "\n".join(commands)
    body = (f"Request: {intent}\nCommand:\n{clip(shown, 600)}\nIt printed:\n{clip(stdout, 600) or '(nothing)'}\n"
            f"It changed:\n{clip(changes, 600) or '(nothing)'}\nDoes it do what the request asks? Answer yes or no.")
    return [{"role": "system", "content": CHECK_SYSTEM}, {"role": "user", "content": body}]


def read_check(text: str) -> bool | None:
    """The check's answer: True for yes, False for no, None when it said neither."""
    word = text.strip().lower()
    if word.startswith("yes"):
        return True
    if word.startswith("no"):
        return False
    return None


class _Wrapped:
    """A design that does what `base` does except where a subclass says otherwise."""

    def __init__(self, base: Any, notes: str = "") -> None:
        self.base = base
        self.notes = notes  # appended to the request: what the files it names begin with (evidence.peek)
        self.name: str = base.name

    @property
    def free_first(self) -> bool:
        return bool(self.base.free_first)

    def free_done(self, text: str, max_steps: int) -> bool:
        return bool(self.base.free_done(text, max_steps))

    def parse_free(self, text: str, tools: Sequence[Tool], max_steps: int) -> Parsed | None:
        result: Parsed | None = self.base.parse_free(text, tools, max_steps)
        return result

    def messages(self, intent: str, tools: Sequence[Tool], workspace: str, max_steps: int) -> list[Message]:
        out: list[Message] = self.base.messages(intent, tools, workspace, max_steps)
        return self.noted(out)

    def noted(self, out: list[Message]) -> list[Message]:
        if self.notes and out and out[-1]["role"] == "user":
            out = [*out[:-1], {"role": "user", "content": f"{out[-1]['content']}\n({self.notes})"}]
        return out

    def guidance(self, tools: Sequence[Tool], max_steps: int) -> Guidance:
        result: Guidance = self.base.guidance(tools, max_steps)
        return result

    def parse(self, text: str, tools: Sequence[Tool], max_steps: int) -> Parsed:
        result: Parsed = self.base.parse(text, tools, max_steps)
        return result

    def repair_messages(self, intent: str, plan: Plan, failed: PlanStep, feedback: str) -> list[Message]:
        result: list[Message] = self.base.repair_messages(intent, plan, failed, feedback)
        return result

    def repair_guidance(self, tools: Sequence[Tool]) -> Guidance:
        result: Guidance = self.base.repair_guidance(tools)
        return result

    def gate_messages(self, intent: str) -> list[Message] | None:
        result: list[Message] | None = self.base.gate_messages(intent)
        return result

    def gate_refusal(self, answer: str, intent: str = "") -> str | None:
        result: str | None = self.base.gate_refusal(answer, intent)
        return result

    def note(self, intent: str) -> str:
        result: str = self.base.note(intent)
        return result


class WithNotes(_Wrapped):
    """A design whose request is followed by `notes`: the first lines of the files the request
    names (evidence.peek), what a person glances at before writing the command. The model then
    sees a CSV's header and columns, a JSON file's shape. Same gate, examples and name."""


class NextExamples(_Wrapped):
    """A design, with the next-nearest worked examples in place of the nearest ones: a second
    opinion of the same model from different precedents. Made by `next_examples`, for designs that
    retrieve examples (a frozen dataclass with `few_shot` and `examples(intent)`)."""

    def __init__(self, base: Any, notes: str = "") -> None:
        super().__init__(base, notes)
        self.name = f"{base.name}+next-examples"

    def messages(self, intent: str, tools: Sequence[Tool], workspace: str, max_steps: int) -> list[Message]:
        fixed, first = self.base.examples(intent)
        moved = replace(self.base, few_shot=(*self.base.few_shot, *first))
        out: list[Message] = moved.messages(intent, tools, workspace, max_steps)
        # moved's prompt holds the first examples right after the fixed ones: take them out again
        start = 1 + 2 * len(fixed)
        out = [*out[:start], *out[start + 2 * len(first):]]
        return self.noted(out)

    def gate_messages(self, intent: str) -> list[Message] | None:
        return None  # the first candidate's gate already said yes

    def gate_refusal(self, answer: str, intent: str = "") -> str | None:
        return None  # no gate is asked


def next_examples(design: Any, notes: str = "") -> NextExamples | None:
    """`design` with its next-nearest examples (and `notes` after the request), or None when it
    retrieves none."""
    names = {f.name for f in fields(design)} if is_dataclass(design) else set()
    if not {"few_shot", "retrieve"} <= names or not getattr(design, "retrieve", 0) or not callable(
            getattr(design, "examples", None)):
        log.debug("design %s retrieves no examples: no next-examples candidate", getattr(design, "name", design))
        return None
    return NextExamples(design, notes)

