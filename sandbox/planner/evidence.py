"""What exists where a failed command looked, for the model's repair.

A small model told only "exit 2, sed: can't read *.py: No such file or directory" tends to repeat
itself; told also that `*.py` matches nothing at the top of the folder but `src/pkg/app.py` and
`tests/test_app.py` exist, it writes the recursive command. `where_it_looked` reads the command's
path-like words (names with a `/`, a `.`, or glob characters, and names that exist) and says, for
each, whether it exists, what a folder holds, and where names like it are further down.

It reads the host folder only (not the pending changes of earlier steps) and never follows a path
out of it; it is bounded (a few words, a few hundred entries walked), so it costs milliseconds.
"""

from __future__ import annotations

import fnmatch
import itertools
import logging
import os
import re
import shlex
from pathlib import Path, PurePosixPath

log = logging.getLogger(__name__)

__all__ = ["first_lines", "header_row", "peek", "shell_tokens", "where_it_looked"]

MAX_WORDS = 4
MAX_SHOWN = 8
WALK_BUDGET = 3000
_GLOB = re.compile(r"[*?\[]")
_SKIPPED_DIRS = {".git", "node_modules", "__pycache__", ".venv", "venv"}


def shell_tokens(command: str) -> list[str] | None:
    """A shell line as words and operators (`|`, `&&`, `>`, ... apart, quotes removed), or None
    when it does not parse (an open quote)."""
    try:
        lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        return list(lexer)
    except ValueError:
        return None


def _words(command: str) -> list[str]:
    tokens = shell_tokens(command)
    out = []
    for word in tokens if tokens is not None else command.split():
        if not word or word.startswith("-") or any(c in word for c in " =$`'\"\n(){}<>|;&") or len(word) > 200:
            continue
        if word.startswith("s/") or (word.count("/") > 3 and word.endswith("/")):  # a sed expression
            continue
        out.append(word)
    return out


def _inside(root: Path, word: str) -> PurePosixPath | None:
    path = PurePosixPath(word)
    if path.is_absolute() or ".." in path.parts:
        return None
    return path


def _walk(root: Path) -> list[str]:
    """Relative paths below `root`, breadth first, at most WALK_BUDGET, skipping bulky folders."""
    found: list[str] = []
    queue = [root]
    while queue and len(found) < WALK_BUDGET:
        folder = queue.pop(0)
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            rel = os.path.relpath(entry.path, root)
            found.append(rel + ("/" if entry.is_dir(follow_symlinks=False) else ""))
            if entry.is_dir(follow_symlinks=False) and entry.name not in _SKIPPED_DIRS:
                queue.append(Path(entry.path))
    return found


def _listing(folder: Path, limit: int = MAX_SHOWN) -> str:
    try:
        names = sorted(e.name + ("/" if e.is_dir(follow_symlinks=False) else "") for e in os.scandir(folder))
    except OSError:
        return "(unreadable)"
    if not names:
        return "(empty)"
    more = f", ... ({len(names) - limit} more)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _elsewhere(everything: list[str], pattern: str) -> list[str]:
    return [p for p in everything if fnmatch.fnmatch(PurePosixPath(p.rstrip("/")).name, pattern)][:MAX_SHOWN]


def _about_pattern(root: Path, word: str, path: PurePosixPath, everything: list[str]) -> str:
    here = sorted(str(p.relative_to(root)) for p in itertools.islice(root.glob(str(path)), WALK_BUDGET))
    if here:
        return f"`{word}` matches {len(here)}: {', '.join(here[:MAX_SHOWN])}"
    further = _elsewhere(everything, path.name)
    where = f"; names like it further down: {', '.join(further)}" if further else ", nor anywhere below"
    return f"`{word}` matches nothing in {path.parent}/{where}"


def _about(root: Path, word: str, everything: list[str]) -> str | None:
    path = _inside(root, word)
    if path is None or str(path) == ".":
        return None
    target = root / path
    if _GLOB.search(word):
        return _about_pattern(root, word, path, everything)
    if target.is_symlink() or target.exists():
        if target.is_dir():
            return f"`{word}` is a folder holding: {_listing(target)}"
        head = _head(target)  # for data only, as in `peek`: a script's or a note's words mislead
        return f"`{word}` exists (a file of {target.stat().st_size} bytes" + (f"; it begins: {head})" if head else ")")
    if "/" not in word and "." not in word:
        return None  # a plain word that names nothing here: a program or an argument, not a path
    further = [p for p in _elsewhere(everything, path.name) if p.rstrip("/") != str(path)]
    parent = root / path.parent
    where = (f"`{path.parent}/` holds: {_listing(parent)}" if parent.is_dir()
             else f"`{path.parent}/` does not exist either")
    also = f"; `{path.name}` is at: {', '.join(further)}" if further else ""
    return f"`{word}` does not exist; {where}{also}"


def where_it_looked(root: Path, command: str) -> str:
    """Facts about the paths `command` names, one per line ("" when it names none we can check)."""
    everything: list[str] | None = None
    facts: list[str] = []
    for word in dict.fromkeys(_words(command)):
        if len(facts) >= MAX_WORDS:
            break
        if everything is None:
            everything = _walk(root)
        try:
            fact = _about(root, word, everything)
        except OSError as exc:
            log.debug("cannot look at %r: %s", word, exc)
            continue
        if fact:
            facts.append(fact)
    return "\n".join(facts)


HEAD_CHARS = 160


def _head(path: Path) -> str:
    """The first lines of a text file in one line (a format, a header row, a JSON shape): what a
    failed `jq` path or `awk` field was run against. "" for a binary or unreadable file."""
    try:
        with path.open("rb") as handle:
            data = handle.read(HEAD_CHARS)
    except OSError:
        return ""
    if b"\0" in data:
        return ""
    if not _structured(path, data.decode("utf-8", "replace").splitlines()[:3]):
        return ""
    text = " | ".join(line.strip() for line in data.decode("utf-8", "replace").splitlines()[:3] if line.strip())
    return text[:HEAD_CHARS]


PEEK_LINES = 3
PEEK_CHARS = 240
PEEK_FILES = 2


def plain_file(root: Path, word: str) -> Path | None:
    """The regular file `word` names inside `root` (no link, no path out of it), or None."""
    path = _inside(root, word) if word else None
    target = root / path if path is not None else None
    return target if target is not None and not target.is_symlink() and target.is_file() else None


def text_head(path: Path, size: int) -> str | None:
    """The first `size` bytes of a text file, decoded; None when it is unreadable or binary."""
    try:
        with path.open("rb") as handle:
            head = handle.read(size)
    except OSError:
        return None
    return None if b"\0" in head else head.decode("utf-8", "replace")


def first_lines(root: Path, word: str) -> list[str] | None:
    """The first lines of the text file `word` names inside `root` (no link, no path out of it),
    or None (no such file, unreadable, binary)."""
    target = plain_file(root, word)
    head = text_head(target, PEEK_CHARS * 2) if target is not None else None
    return None if head is None else head.splitlines()[:PEEK_LINES]


def peek(root: Path, intent: str) -> str:
    """The first lines of the files the request names (a header row, a format), in one line each:
    what a person would glance at before writing the command. "" when it names none."""
    shown: list[str] = []
    for word in dict.fromkeys(w.strip(".,;:!?'\"()") for w in intent.split()):
        if len(shown) >= PEEK_FILES or not word:
            break
        lines = None if _GLOB.search(word) else first_lines(root, word)
        if lines is None:
            continue
        if not _structured(root / word, lines):
            continue  # prose: its words would read as the request's (a rename became an edit)
        note = "; its first line is a header, not data" if header_row(lines) else ""
        shown.append(f"{word} begins: " + " | ".join(line[:PEEK_CHARS // PEEK_LINES] for line in lines) + note)
    return "\n".join(shown)


DATA_SUFFIXES = {".csv", ".tsv", ".json", ".jsonl", ".ndjson", ".yaml", ".yml", ".xml", ".toml", ".ini"}


def _structured(path: Path, lines: list[str]) -> bool:
    """A file whose format a command on its contents must follow: a data format by its name, a
    JSON or markup document, or rows sharing a delimiter."""
    if path.suffix.lower() in DATA_SUFFIXES:
        return True
    if lines and lines[0].lstrip()[:1] in ("{", "[", "<"):
        return True
    return len(lines) >= 2 and any(c in lines[0] and lines[0].count(c) == lines[1].count(c) for c in ",\t;|")


def header_row(lines: list[str]) -> bool:
    """A table's header row: the first line's fields hold no number where the next line's do."""
    if len(lines) < 2:
        return False
    sep = next((c for c in ",\t;|" if c in lines[0] and c in lines[1]), None)
    if sep is None:
        return False
    first, second = lines[0].split(sep), lines[1].split(sep)

    def numeric(field: str) -> bool:
        return field.strip().replace(".", "", 1).lstrip("-").isdigit()

    return len(first) == len(second) and not any(map(numeric, first)) and any(map(numeric, second))
