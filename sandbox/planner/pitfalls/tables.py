"""Tables read wrong: a header row taken for data, fields split at the wrong separator."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from sandbox.planner.evidence import first_lines, header_row
from sandbox.planner.pitfalls.line import Pitfall, pipeline

AWKS = frozenset({"awk", "gawk", "mawk", "nawk"})
# Commands that pass a table's lines through as they are: what comes after them still sees its fields
_PASSING = frozenset({"cat", "tail", "head", "grep", "egrep", "fgrep", "sort", "uniq", "tac", "shuf"})
# An awk program that reads fields, or counts them
_FIELDS = re.compile(r"\$(?:[1-9]|\(?NF\b)|\bNF\b")
_SPLITS_AT = {"awk": "blanks", "cut": "tabs", "sort": "blanks"}


def awk_files(words: list[str]) -> list[str] | None:
    """The files an awk command reads (its operands after the program, its `<` input), or None
    when its program is in a file (-f) or it assigns variables between files."""
    out: list[str] = []
    program_seen = False
    args = iter(words[1:])
    for word in args:
        if word in ("-f", "--file") or word.startswith("-f"):
            return None
        if word in ("-F", "-v"):
            next(args, None)
        elif word == "<":
            out.append(next(args, ""))
        elif word.startswith("-") and not program_seen:
            continue
        elif not program_seen:
            program_seen = True
        elif "=" in word:
            return None
        else:
            out.append(word)
    return out


def cut_files(words: list[str]) -> list[str]:
    """The files a cut command reads (its operands, its `<` input)."""
    out: list[str] = []
    args = iter(words[1:])
    for word in args:
        if word in ("-d", "-f", "-c", "-b", "--output-delimiter"):
            next(args, None)
        elif word == "<":
            out.append(next(args, ""))
        elif not word.startswith("-"):
            out.append(word)
    return out


def rows_only(root: Path, command: str, program: str, files: list[str] | None) -> Pitfall | None:
    """The command's one file, when it is a table, fed to it without its header line."""
    if files is None or len(files) != 1:
        return None
    name = files[0]
    lines = first_lines(root, name)
    if lines is None or not header_row(lines):
        return None
    # The file's one place in the line, as a plain word (or after <), removed and fed by tail
    spot = re.compile(rf"[ \t]+(?:<[ \t]*)?{re.escape(name)}(?![\w./'\"-])")
    if len(spot.findall(command)) != 1:
        return None
    fixed = f"tail -n +2 {shlex.quote(name)} | " + spot.sub("", command, count=1)
    return Pitfall(f"{program} read the header line of {name} ({lines[0].strip()[:80]}) as if it were data", fixed)


def _separator(root: Path, word: str) -> str | None:
    """The character a table file separates its fields with, when blanks and tabs are not it."""
    lines = first_lines(root, word) if not word.startswith("-") else None
    if not lines or "\t" in lines[0]:
        return None
    shown = lines[:2]
    return next((c for c in ",;|" if all(c in line for line in shown)), None)


def _unseparated(words: list[str]) -> str | None:
    """The option a field-reading awk, cut or sort lacks to be told the separator, or None."""
    program = Path(words[0]).name
    args = words[1:]
    if program in AWKS:
        told = any(w.startswith(("-F", "--field-separator")) or "FS" in w for w in args)
        return None if told or not any(_FIELDS.search(w) for w in args) else "-F"
    if program == "cut":
        told = any(w.startswith(("-d", "--delimiter")) for w in args)
        fields = any(w.startswith(("-f", "--fields")) for w in args)
        return "-d" if fields and not told else None
    if program == "sort":
        told = any(w.startswith(("-t", "--field-separator")) for w in args)
        keyed = any(w.startswith(("-k", "--key")) for w in args)
        return "-t" if keyed and not told else None
    return None


def unseparated(root: Path, command: str, tokens: list[str]) -> Pitfall | None:
    """awk, cut or sort reading the fields of a table separated by commas (semicolons, bars)
    without being told the separator (awk and sort split at blanks, cut at tabs): the same line
    with the separator given to each command that sees the table's lines as they are."""
    commands = pipeline(tokens)
    if commands is None:
        return None
    tables = {(w, sep) for w in commands[0][1:] if (sep := _separator(root, w)) is not None}
    if len(tables) != 1:
        return None
    (name, sep), = tables
    lacking: list[tuple[int, str]] = []  # (which command, the option it lacks)
    for at, words in enumerate(commands):
        option = _unseparated(words)
        if option is not None:
            lacking.append((at, option))
        if Path(words[0]).name not in _PASSING:
            break
    if not lacking:
        return None
    fixed = _with_options(command, commands, lacking, sep)
    if fixed is None:
        return None
    programs = ", ".join(dict.fromkeys(Path(commands[at][0]).name for at, _ in lacking))
    splits = " and ".join(dict.fromkeys(_SPLITS_AT.get(Path(commands[at][0]).name, "blanks") for at, _ in lacking))
    return Pitfall(f"{name} separates its fields with {sep!r}, and {programs} split its lines at {splits}", fixed)


def _with_options(command: str, commands: list[list[str]], lacking: list[tuple[int, str]], sep: str) -> str | None:
    """The line with `OPTION SEP` after the program word of each lacking command, found by the
    program's occurrences in the text (None when they do not match its commands one to one)."""
    inserts: list[tuple[int, str]] = []
    for program in {commands[at][0] for at, _ in lacking}:
        spots = [m.end() for m in re.finditer(rf"(?<![\w./$-]){re.escape(program)}(?=[ \t])", command)]
        mine = [at for at, words in enumerate(commands) if words[0] == program]
        if len(spots) != len(mine):
            return None
        by_command = dict(zip(mine, spots, strict=True))
        inserts += [(by_command[at], f" {option}{shlex.quote(sep)}") for at, option in lacking
                    if commands[at][0] == program]
    for spot, text in sorted(inserts, reverse=True):
        command = command[:spot] + text + command[spot:]
    return command
