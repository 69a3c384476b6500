"""A shell line as the pitfall rules read it: its simple commands, what it writes, where its first pipe is."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sandbox.planner.evidence import shell_tokens

SEPARATORS = frozenset({"|", "||", "&&", ";", "&", "|&", "\n"})
REDIRECTS = frozenset({">", ">>", ">|", "&>", "&>>"})
_WRITERS = frozenset({"tee", "sponge", "inplace", "-i"})


@dataclass(frozen=True)
class Pitfall:
    """What a command got wrong (`reason`, one sentence) and the command that does it right (`fixed`)."""

    reason: str
    fixed: str


def writes(tokens: list[str]) -> bool:
    """Whether the line writes a file: a redirection to one (not 2>, not /dev/null), tee, in place."""
    for at, token in enumerate(tokens):
        if token in _WRITERS:
            return True
        if token in REDIRECTS:
            before = tokens[at - 1] if at else ""
            after = tokens[at + 1] if at + 1 < len(tokens) else ""
            if before != "2" and after != "/dev/null":
                return True
    return False


def _simple(tokens: list[str]) -> tuple[list[str] | None, int]:
    """The words of the simple command `tokens` start with (redirections left out, `< F` kept as
    two words), None when it is a group, and how many tokens it spans."""
    words: list[str] = []
    skip = False
    for at, token in enumerate(tokens):
        if skip:
            skip = False
            continue
        if token in SEPARATORS:
            return words or None, at
        if token in ("(", ")", "{", "}"):
            return None, len(tokens)
        if token in REDIRECTS or token in (">&", "<&"):  # 2>/dev/null, >&2: not the command's words
            if words and words[-1].isdigit():
                words.pop()
            skip = True
            continue
        words.append(token)
    return words or None, len(tokens)


def first_command(tokens: list[str]) -> list[str] | None:
    """The words of the line's first simple command (before a pipe or a list), or None when the
    line starts with a group."""
    return _simple(tokens)[0]


def pipeline(tokens: list[str]) -> list[list[str]] | None:
    """The simple commands of a line that is one pipeline (`a | b | c`), or None (a list, a group)."""
    out: list[list[str]] = []
    rest = tokens
    while rest:
        words, used = _simple(rest)
        if words is None:
            return None
        out.append(words)
        if used < len(rest) and rest[used] != "|":
            return None
        rest = rest[used + 1:]
    return out or None


def commands(tokens: list[str]) -> list[list[str]]:
    """The words of every simple command of a line, whatever joins or groups them."""
    out: list[list[str]] = []
    rest = [t for t in tokens if t not in ("(", ")", "{", "}")]
    while rest:
        words, used = _simple(rest)
        if words:
            out.append(words)
        rest = rest[used + 1:]
    return out


def program_spots(command: str, program: str) -> list[re.Match[str]]:
    """Where `program` stands as a command word in the text of the line (not inside another word)."""
    return list(re.finditer(rf"(?<![\w./$-]){re.escape(program)}(?![\w./-])", command))


def first_part(command: str, words: list[str]) -> tuple[str, str] | None:
    """The line cut at its first `|` (the first command's text, the rest from the `|` on), when that
    `|` is the one the shell sees after `words` (not one in quotes, no redirection between)."""
    first, bar, rest = command.partition("|")
    return (first, bar + rest) if bar and shell_tokens(first) == words else None


def short_options(words: list[str]) -> str:
    """The letters of a command's short options (`ls -lhS -a` -> "lhSa")."""
    return "".join(w[1:] for w in words[1:] if w.startswith("-") and not w.startswith("--"))
