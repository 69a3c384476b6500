"""Brace expansion, which bash does and /bin/sh (dash, run_shell's shell) does not.

`mkdir -p app/{src,tests}` in sh makes one folder named `{src,tests}`, exits 0 and says nothing;
`cp notes.txt{,.bak}` fails. The words bash would have made are written out instead
(`mkdir -p app/src app/tests`), which every shell reads alike.
"""

from __future__ import annotations

import itertools
import re

from sandbox.planner.pitfalls.line import Pitfall

_MOST_WORDS = 256  # an expansion that makes more is left alone
# A word as the shell splits a line: quotes, escapes and operators end it or mark it as not plain
_WORD = re.compile(r"[^\s;|&()<>]+")
_RANGE = re.compile(r"(-?\d+)\.\.(-?\d+)(?:\.\.(-?\d+))?|([A-Za-z])\.\.([A-Za-z])(?:\.\.(-?\d+))?")


def _split_top(body: str) -> list[str]:
    """`body` split at its commas outside inner braces."""
    parts, depth, start = [], 0, 0
    for at, char in enumerate(body):
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(body[start:at])
            start = at + 1
    return [*parts, body[start:]]


def _sequence(body: str) -> list[str] | None:
    """`1..5`, `05..10`, `a..e`, `10..1..3` as bash counts them, or None when `body` is no sequence."""
    found = _RANGE.fullmatch(body)
    if found is None:
        return None
    if found.group(1) is not None:
        first, last, step = int(found.group(1)), int(found.group(2)), abs(int(found.group(3) or 1)) or 1
        ends = (found.group(1).lstrip("-"), found.group(2).lstrip("-"))
        width = max(map(len, ends)) if any(len(e) > 1 and e.startswith("0") for e in ends) else 0
        numbers = range(first, last + 1, step) if first <= last else range(first, last - 1, -step)
        return [f"{n:0{width}d}" for n in numbers]
    first_char, last_char = ord(found.group(4)), ord(found.group(5))
    step = abs(int(found.group(6) or 1)) or 1
    if first_char > last_char:
        return [chr(c) for c in range(first_char, last_char - 1, -step)]
    return [chr(c) for c in range(first_char, last_char + 1, step)]


def _closing(word: str, start: int) -> int | None:
    depth = 0
    for at in range(start, len(word)):
        if word[at] == "{":
            depth += 1
        elif word[at] == "}":
            depth -= 1
            if depth == 0:
                return at
    return None


def expand(word: str) -> list[str]:
    """The words bash makes of `word` by brace expansion (`[word]` when it makes none)."""
    start = 0
    while (opening := word.find("{", start)) >= 0:
        closing = _closing(word, opening)
        if closing is None:
            break
        if opening and word[opening - 1] == "$":  # ${var}: a parameter, not a brace
            start = closing + 1
            continue
        body = word[opening + 1:closing]
        choices = _sequence(body)
        if choices is None:
            parts = _split_top(body)
            choices = [w for part in parts for w in expand(part)] if len(parts) > 1 else None
        if choices is None:
            start = opening + 1
            continue
        head, tails = word[:opening], expand(word[closing + 1:])
        return [head + choice + tail for choice, tail in itertools.product(choices, tails)]
    return [word]


def _edge(command: str, at: int) -> bool:
    """Whether position `at` (just before or after a word) ends a word: the line's end, a blank, an operator."""
    return at < 0 or at >= len(command) or command[at].isspace() or command[at] in ";|&()<>"


def _plain_words(command: str) -> list[re.Match[str]]:
    """The words of the line that hold no quote, escape, substitution or glob bracket, outside
    quotes, as matches on `command`."""
    out, quote, at = [], "", 0
    spans: list[tuple[int, int]] = []  # parts of the line outside quotes
    start = 0
    while at < len(command):
        char = command[at]
        if quote:
            if char == quote:
                quote, start = "", at + 1
        elif char in "'\"":
            spans.append((start, at))
            quote = char
        elif char == "\\":
            spans.append((start, at))
            at += 1
            start = at + 1
        at += 1
    if not quote:
        spans.append((start, len(command)))
    for begin, end in spans:
        for found in _WORD.finditer(command, begin, end):
            whole = _edge(command, found.start() - 1) and _edge(command, found.end())
            if whole and "`" not in found.group(0) and "$(" not in found.group(0):
                out.append(found)
    return out


def unexpanded(command: str) -> Pitfall | None:
    """A line with words bash would expand from braces (`{a,b}`, `{1..3}`), which sh takes as they
    are: the same line with the expanded words written out."""
    changes: list[tuple[int, int, str]] = []
    for found in _plain_words(command):
        words = expand(found.group(0))
        if words != [found.group(0)] and len(words) <= _MOST_WORDS:
            changes.append((found.start(), found.end(), " ".join(words)))
    if not changes:
        return None
    fixed = command
    for start, end, text in reversed(changes):
        fixed = fixed[:start] + text + fixed[end:]
    first = command[changes[0][0]:changes[0][1]]
    return Pitfall(f"/bin/sh does not expand the braces of {first} as bash does: the words are written out", fixed)
