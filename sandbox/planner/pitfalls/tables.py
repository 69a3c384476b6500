"""Tables read wrong: a header row taken for data, fields split at the wrong separator."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from sandbox.planner.evidence import first_lines, header_row, plain_file, text_head
from sandbox.planner.pitfalls.line import Pitfall, pipeline, program_spots

AWKS = frozenset({"awk", "gawk", "mawk", "nawk"})
# Commands that pass a table's lines through as they are: what comes after them still sees its fields
_PASSING = frozenset({"cat", "tail", "head", "grep", "egrep", "fgrep", "sort", "uniq", "tac", "shuf"})
# An awk program that reads fields, or counts them
_FIELDS = re.compile(r"\$(?:[1-9]|\(?NF\b)|\bNF\b")
_SPLITS_AT = {"awk": "blanks", "cut": "tabs", "sort": "blanks"}
_MOST_READ = 1 << 16  # bytes of a table read to see what its column holds
_AS_TEXT = re.compile(r"\b(?:alphabetic(?:al(?:ly)?)?|lexicographic(?:al(?:ly)?)?|as text|as strings?|"
                      r"dictionary order)\b", re.IGNORECASE)
_KEY = re.compile(r"(-k[ \t]*|--key=)(\d+)((?:\.\d+)?(?:,\d+(?:\.\d+)?)?)([a-zA-Z]*)")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


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
        spots = [m.end() for m in program_spots(command, program)]
        mine = [at for at, words in enumerate(commands) if words[0] == program]
        if len(spots) != len(mine):
            return None
        by_command = dict(zip(mine, spots, strict=True))
        inserts += [(by_command[at], f" {option}{shlex.quote(sep)}") for at, option in lacking
                    if commands[at][0] == program]
    for spot, text in sorted(inserts, reverse=True):
        command = command[:spot] + text + command[spot:]
    return command


def _rows(root: Path, name: str) -> list[str] | None:
    """The lines of the start of the text file `name` inside `root`, or None."""
    target = plain_file(root, name)
    head = text_head(target, _MOST_READ) if target is not None else None
    if target is None or head is None:
        return None
    lines = head.splitlines()
    return lines[:-1] if target.stat().st_size > _MOST_READ else lines  # the last may be cut


def _sort_key(words: list[str]) -> tuple[int, str | None, str] | None:
    """The field a sort orders by, its separator (None: blanks) and the global ordering options its
    key inherits, when it compares that field as text: one key, no numeric, general, human, month
    or version ordering anywhere."""
    flags = "".join(w[1:] for w in words[1:] if w.startswith("-") and not w.startswith(("--", "-k", "-t", "-o")))
    keys, separator = [], None
    args = iter(words[1:])
    for word in args:
        if word in ("-k", "--key"):
            keys.append(next(args, ""))
        elif word.startswith(("-k", "--key=")):
            keys.append(word.split("=", 1)[1] if word.startswith("--key=") else word[2:])
        elif word in ("-t", "--field-separator"):
            separator = next(args, "")
        elif word.startswith("-t"):
            separator = word[2:]
    start = re.match(r"\d+", keys[0]) if len(keys) == 1 else None
    if start is None or int(start.group(0)) < 1 or any(c in flags + keys[0] for c in "nghMV"):
        return None
    # a key with modifiers of its own inherits no global ordering option: they go with the n
    inherited = "" if re.search(r"[a-zA-Z]", keys[0]) else "".join(dict.fromkeys(c for c in flags if c in "bdfirR"))
    return int(start.group(0)), separator, inherited


def _text_ordered(root: Path, commands: list[list[str]], field: int,
                  separator: str | None) -> tuple[str, list[str]] | None:
    """The one table the line reads and the numbers its column `field` holds, when ordering them as
    text differs from ordering them as numbers."""
    files = [w for w in commands[0][1:] if not w.startswith("-") and _rows(root, w) is not None]
    if len(files) != 1 or (rows := _rows(root, files[0])) is None:
        return None
    cells = [(row.split(separator) if separator else row.split()) for row in rows if row.strip()]
    values = [c[field - 1].strip() for c in cells if len(c) >= field]
    numbers = [v for v in values if _NUMBER.fullmatch(v)]
    if len(numbers) < 2 or len(numbers) < len(values) - 1 or sorted(numbers) == sorted(numbers, key=float):
        return None  # (a header may be the one value that is no number)
    return files[0], numbers


def numbers_as_text(root: Path, command: str, tokens: list[str], intent: str) -> Pitfall | None:
    """`sort -t, -k2 people.csv` where the second column holds numbers of different lengths: sort
    compares them as text (10 before 9); the key with `n`, which compares numbers."""
    commands = pipeline(tokens)
    if commands is None or _AS_TEXT.search(intent):
        return None
    sorter = next((w for w in commands if Path(w[0]).name not in _PASSING or Path(w[0]).name == "sort"), None)
    if sorter is None or Path(sorter[0]).name != "sort" or (key := _sort_key(sorter)) is None:
        return None
    field, separator, inherited = key
    table = _text_ordered(root, commands, field, separator)
    spots = list(_KEY.finditer(command))
    if table is None or len(spots) != 1 or len(program_spots(command, "sort")) != 1:
        return None
    name, numbers = table
    spot = spots[0].end()
    return Pitfall(f"field {field} of {name} holds numbers, and sort -k{field} compares them as text "
                   f"({min(numbers, key=len)} after {max(numbers, key=len)}); -k{field}n compares numbers",
                   command[:spot] + "n" + inherited + command[spot:])
