"""Worked examples for few-shot prompting, and retrieval of the ones nearest an intent.

A small model answers far better after an example of the same kind (edit in place instead of
deleting the file, `jq` for JSON, `find ... -delete` for "all X files", saying no), but every
example costs prefill. So the prompt gets only the few examples nearest the intent (word overlap
weighted by rarity, a few microseconds).

The examples are data, shipped with the package (`sandbox/planner/data/`, read through
`sandbox.resources`), one JSON object a line:

* `bank.jsonl` (48): everyday tasks and three refusals (the gate's worked "no" answers), written
  for this project by hand. None is a request of the accuracy set (bench/intents); it holds
  examples of the same *kind* as some tuning ("dev") cases.
* `cheatsheet.jsonl` (180, in 22 groups): everyday requests; the first 160 (20 groups) written
  later by an author who saw neither the accuracy set nor the bank; "Ignoring files in git" (4)
  by this project, from git's gitignore documentation, for a kind of request the model got wrong
  (a dev case: ".gitignore for python bytecode and virtualenvs" came out as `*.pyc` and `venv`);
  "From the manuals: find, grep, sed and sort" (16) by this project, each the use of an option as
  the GNU findutils, grep, sed and coreutils manuals describe it (-perm /111, -executable, -newer,
  grep -w, sed ranges, sort keys with modifiers, xargs -0).

Every command of both was run in the real container on a folder built for it and its result
checked (`bench/examples_check.py` re-runs the bank's); none is taken from a published
natural-language-to-shell dataset or benchmark (NL2Bash or anything derived from it). No entry is
a request of the accuracy set, by normalized words (tests/unit/planner/test_examples.py).
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from sandbox.errors import SbxError
from sandbox.planner.names import FILE_NAME, file_names
from sandbox.resources import planner_data


@dataclass(frozen=True)
class Example:
    intent: str
    answer: str  # what the model should answer: a fenced bash block, or one sentence saying no
    group: str = field(default="", compare=False)  # the cheat sheet's heading it stands under

    @property
    def refusal(self) -> bool:
        return not self.answer.startswith("```")


def _sh(command: str) -> str:
    return f"```bash\n{command}\n```"


def _load(name: str) -> tuple[Example, ...]:
    """A bank of examples from the package's data (`sandbox/planner/data/NAME`, JSON lines): each
    line `{"intent", "command"}`, or `{"intent", "refusal"}` (the sentence that says no)."""
    out = []
    for number, line in enumerate(planner_data(name).splitlines(), 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            answer = _sh(entry["command"]) if "command" in entry else entry["refusal"]
            out.append(Example(entry["intent"], answer, str(entry.get("group", ""))))
        except (ValueError, KeyError, TypeError) as exc:
            raise SbxError(f"sbx's planner examples are damaged: {name} line {number} ({exc})",
                           hint="reinstall sbx (pip install --force-reinstall)",
                           code="sbx.incomplete_install") from None
    return tuple(out)


@functools.cache
def bank() -> tuple[Example, ...]:
    """The bank (`data/bank.jsonl`): everyday tasks, and the refusals the gate learns from."""
    return _load("bank.jsonl")


@functools.cache
def cheatsheet() -> tuple[Example, ...]:
    """The cheat sheet (`data/cheatsheet.jsonl`, in groups), without requests the bank already has."""
    known = {example.intent for example in bank()}
    return tuple(e for e in _load("cheatsheet.jsonl") if e.intent not in known)


@functools.cache
def library() -> tuple[Example, ...]:
    """The bank and the cheat sheet: what the production design retrieves from."""
    return (*bank(), *cheatsheet())


def named_like(example: Example, intent: str) -> Example:
    """`example` about the file the request names, when it asks for the same thing (half their
    words, file names aside, are shared) of one file of the same kind (extension) under another
    name: a small model copies a worked example's file names with its command (asked to dedupe
    emails.txt, it wrote to list.txt, the example's file). An example of another task keeps its
    file: about the request's own file, it would look like the answer."""
    if example.refusal:
        return example
    theirs = set(file_names(example.intent))
    ours = set(file_names(intent))
    if len(theirs) != 1 or len(ours) != 1 or theirs == ours:
        return example
    (old,), (new,) = theirs, ours
    if old.rsplit(".", 1)[1].lower() != new.rsplit(".", 1)[1].lower() or new in example.answer:
        return example
    mine, its = words(FILE_NAME.sub(" ", intent)), words(FILE_NAME.sub(" ", example.intent))
    if not mine or 2 * len(mine & its) < len(mine | its):
        return example
    same = re.compile(rf"(?<![\w./-]){re.escape(old)}(?![\w-])")
    return Example(same.sub(lambda _: new, example.intent), same.sub(lambda _: new, example.answer))


_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset((
    "a", "an", "the", "of", "in", "on", "at", "to", "into", "from", "for", "with", "and", "or", "all", "every",
    "each", "this", "that", "these", "those", "here", "there", "it", "its", "my", "me", "i", "is", "are", "be",
    "do", "does", "how", "what", "which", "show", "print", "list", "give", "get", "called", "named", "new",
    "file", "files",
))


# Words that ask for the same operation.
_SAME = {
    "delete": "remove", "erase": "remove", "strip": "remove", "drop": "remove",
    "duplicate": "copy", "bigger": "big", "biggest": "big", "larger": "big", "largest": "big", "large": "big",
    "smaller": "small", "smallest": "small", "sorted": "sort", "order": "sort",
    "sum": "total", "add": "total", "search": "find", "locate": "find", "contain": "mention",
    "create": "make", "folder": "directory", "dir": "directory", "pack": "archive", "compress": "archive",
    "modified": "changed", "edited": "changed", "last": "recent", "latest": "recent", "newest": "recent",
}


def _stem(word: str) -> str:
    word = _SAME.get(word, word)
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return _SAME.get(word[: -len(suffix)], word[: -len(suffix)])
    return word


def words(text: str) -> set[str]:
    return {_stem(w) for w in _WORD.findall(text.lower()) if w not in _STOP}


class Retriever:
    """The bank's examples nearest an intent: shared words, each weighted by how rare it is in the bank."""

    def __init__(self, examples: Sequence[Example] | None = None) -> None:
        self.bank = tuple(examples) if examples is not None else bank()
        self._words = [words(example.intent) for example in self.bank]
        counts = Counter(word for found in self._words for word in found)
        self._idf = {word: math.log((1 + len(self.bank)) / (1 + count)) + 1 for word, count in counts.items()}

    def score(self, intent: str, index: int) -> float:
        shared = words(intent) & self._words[index]
        return sum(self._idf.get(word, 0.0) for word in shared)

    def nearest(self, intent: str, k: int, *, refusals: int = 1,
                exclude: Collection[Example] = ()) -> tuple[Example, ...]:
        """The `k` nearest task examples, then the `refusals` nearest refusals (nearest last: small
        models follow the most recent example most); none of `exclude` (already in the prompt)."""
        ranked = sorted((i for i in range(len(self.bank)) if self.bank[i] not in exclude),
                        key=lambda i: (-self.score(intent, i), i))
        tasks = [self.bank[i] for i in ranked if not self.bank[i].refusal][:k]
        nays = [self.bank[i] for i in ranked if self.bank[i].refusal][:refusals]
        return (*nays, *reversed(tasks))
