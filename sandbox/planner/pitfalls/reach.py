"""Commands that reach less (or more) than the request asks: a glob of the top folder for "all" the
files of a kind that also lie deeper, a sed substitution of the first match of each line for
"replace" them, a grep for "the word" that also matches it inside longer words."""

from __future__ import annotations

import fnmatch
import os
import re
from pathlib import Path, PurePosixPath

from sandbox.planner.evidence import plain_file, text_head
from sandbox.planner.pitfalls.line import Pitfall, commands, program_spots

_MOST_SEEN = 5000  # entries walked when looking for deeper files
_MOST_READ = 1 << 20  # bytes read of a file sed edits
# "all the python files", "every .txt file", "each log", "recursively", "in subfolders"
_EVERY = re.compile(r"\b(?:all|every|each|any|recursive(?:ly)?|sub-?(?:folders?|director(?:y|ies))|and below|"
                    r"the whole (?:project|tree|folder|directory))\b", re.IGNORECASE)
_ONLY_HERE = re.compile(r"\b(?:top[- ]level|not (?:in |into )?(?:the )?sub-?(?:folders?|director(?:y|ies))|"
                        r"non-?recursive(?:ly)?|only (?:here|in (?:this|the current) (?:folder|directory))|"
                        r"(?:this|the current) (?:folder|directory) only|directly in)\b", re.IGNORECASE)
# Commands that put the files they are given side by side in one folder: two of one name collide
_FLATTENING = frozenset({"mv", "cp", "rsync", "ln", "install"})
# A word `*.ext` outside quotes (the quotes are checked by `_outside_quotes`)
_SHALLOW = re.compile(r"(?<![^\s;|&(<>=])\*\.[\w.+-]+(?=$|[\s;|&)<>])")
_REPLACE = re.compile(r"\b(?:replace|replaces|replacing|substitute|change|changes|rename|renames|swap|turn)\b",
                      re.IGNORECASE)
_FIRST_ONLY = re.compile(r"\b(?:first|once|one occurrence|single occurrence)\b", re.IGNORECASE)
# A sed s command: delimiter, pattern, replacement, flags
_SUBSTITUTE = re.compile(r"s([^\w\s\\])((?:\\.|(?!\1).)*)\1((?:\\.|(?!\1).)*)\1([gIipwme0-9]*)$")
_PLAIN = re.compile(r"[\w .,:@%=/-]+")
_MOST_GLOBBED = 200


def _outside_quotes(command: str, at: int) -> bool:
    before = command[:at]
    return before.count("'") % 2 == 0 and before.replace("\\\"", "").count('"') % 2 == 0


def _matching(root: Path, pattern: str) -> tuple[list[str], bool] | None:
    """The names of the files that match `pattern` by name anywhere under `root` (not in a hidden
    folder, as bash's ** skips them), and whether one lies below the top folder; None when the
    folder is too large to walk."""
    names: list[str] = []
    deeper, seen = False, 0
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        matched = [name for name in files if fnmatch.fnmatchcase(name, pattern)]
        names += matched
        deeper = deeper or (bool(matched) and Path(folder) != root)
        seen += len(files) + len(dirs)
        if seen > _MOST_SEEN:
            return None
    return names, deeper


def _missed(root: Path, pattern: str, *, flattening: bool) -> bool:
    """Whether files that match `pattern` lie below the top folder, where a glob of the top does
    not reach them (for a command that puts them side by side: and no two of them share a name)."""
    found = _matching(root, pattern)
    if found is None or not found[1]:
        return False
    return not flattening or len(set(found[0])) == len(found[0])


def shallow_glob(root: Path, command: str, tokens: list[str], intent: str) -> Pitfall | None:
    """`sed -i ... *.py` (or `for f in *.py`) for "all python files" where some lie in subfolders:
    the glob reaches the top folder only (and, matching nothing there, stays a literal `*.py`). The
    same line with bash's recursive glob, `**/*.py` under `shopt -s globstar`."""
    if not _EVERY.search(intent) or _ONLY_HERE.search(intent) or "globstar" in command:
        return None
    if "find" in tokens:
        return None
    flattening = any(PurePosixPath(t).name in _FLATTENING for t in tokens)
    found = [m for m in _SHALLOW.finditer(command) if _outside_quotes(command, m.start())]
    missed = [m for m in found if _missed(root, m.group(0), flattening=flattening)]
    if not missed:
        return None
    fixed = command
    for match in reversed(missed):
        fixed = fixed[:match.start()] + "**/" + fixed[match.start():]
    return Pitfall(f"the glob {missed[0].group(0)} reaches only the top folder, and files it names lie in "
                   "subfolders too", f"shopt -s globstar; {fixed}")


def _sed_parts(tokens: list[str]) -> list[tuple[str, list[str]]]:
    """Each sed of the line as (its one script, its file operands); seds with several scripts or a
    script file are left out."""
    out: list[tuple[str, list[str]]] = []
    for words in commands(tokens):
        if PurePosixPath(words[0]).name != "sed":
            continue
        scripts: list[str] = []
        files: list[str] = []
        args = iter(words[1:])
        for word in args:
            if word in ("-e", "--expression"):
                scripts.append(next(args, ""))
            elif word in ("-f", "--file") or word.startswith("-f"):
                scripts.append("")  # a script file: not read here
            elif word.startswith("-") and word != "-":
                continue
            elif not scripts:
                scripts.append(word)
            else:
                files.append(word)
        if len(scripts) == 1 and scripts[0]:
            out.append((scripts[0], files))
    return out


def _files_named(root: Path, words: list[str]) -> list[Path]:
    """The plain files inside `root` that `words` name, globs expanded as bash would (`**` too)."""
    out: list[Path] = []
    for word in words:
        if not any(c in word for c in "*?["):
            out += [p for p in [plain_file(root, word)] if p is not None]
            continue
        path = PurePosixPath(word)
        try:
            named = sorted(root.glob(word))[:_MOST_GLOBBED] if not path.is_absolute() and ".." not in path.parts else []
        except (ValueError, OSError):
            continue
        out += [p for p in named if not p.is_symlink() and p.is_file()]
    return out


def _twice_on_a_line(root: Path, files: list[str], pattern: str) -> bool:
    """Whether some line of `files` holds `pattern` (plain words; `.` any character) twice."""
    try:
        compiled = re.compile(pattern)
    except re.error:
        return False
    return any(any(len(compiled.findall(line)) >= 2 for line in _text(target).splitlines())
               for target in _files_named(root, files))


def first_of_each_line(root: Path, command: str, tokens: list[str], intent: str) -> Pitfall | None:
    """`sed 's/foo/bar/' notes.txt` for "replace foo with bar in notes.txt", where a line holds
    foo twice: sed replaces the first on each line; the same with the `g` flag."""
    if not _REPLACE.search(intent) or _FIRST_ONLY.search(intent):
        return None
    for script, files in _sed_parts(tokens):
        parts = _SUBSTITUTE.match(script)
        if parts is None or "g" in parts.group(4) or any(c.isdigit() for c in parts.group(4)):
            continue
        pattern = parts.group(2)
        if not _PLAIN.fullmatch(pattern) or not _twice_on_a_line(root, files, pattern):
            continue
        if command.count(script) != 1:
            return None
        spot = command.index(script) + len(script) - len(parts.group(4))
        return Pitfall(f"sed {script} replaces the first {pattern} of each line only, and a line holds more",
                       command[:spot] + "g" + command[spot:])
    return None


_WORD_ASKED = re.compile(r"\bword\s+[\"'\u201c\u2018]?([\w-]+)", re.IGNORECASE)
_GREPS = frozenset({"grep", "egrep", "fgrep"})


def _grep_parts(words: list[str]) -> tuple[str, list[str], str] | None:
    """A grep's one pattern, its file operands and its short options, or None (several patterns,
    a pattern file)."""
    patterns: list[str] = []
    files: list[str] = []
    flags = ""
    args = iter(words[1:])
    for word in args:
        if word in ("-e", "--regexp"):
            patterns.append(next(args, ""))
        elif word in ("-f", "--file") or word.startswith("-f"):
            return None
        elif word.startswith("--"):
            flags += "w" if word == "--word-regexp" else ""
        elif word.startswith("-") and len(word) > 1:
            flags += word[1:]
        elif not patterns:
            patterns.append(word)
        else:
            files.append(word)
    return (patterns[0], files, flags) if len(patterns) == 1 else None


def part_of_words(root: Path, command: str, tokens: list[str], intent: str) -> Pitfall | None:
    """`grep -o fox tale.txt` for "the word fox", where fox is also part of longer words (foxes):
    the same grep with -w, which matches the whole word only."""
    asked = _WORD_ASKED.search(intent)
    if asked is None:
        return None
    word = asked.group(1)
    greps = [w for w in commands(tokens) if PurePosixPath(w[0]).name in _GREPS]
    parts = _grep_parts(greps[0]) if len(greps) == 1 else None
    if parts is None:
        return None
    pattern, files, flags = parts
    if pattern.lower() != word.lower() or "w" in flags or "x" in flags:
        return None
    inside = re.compile(rf"\w{re.escape(pattern)}|{re.escape(pattern)}\w", re.IGNORECASE if "i" in flags else 0)
    if not any(inside.search(_text(path)) for path in _files_named(root, files)):
        return None
    spots = program_spots(command, greps[0][0])
    if len(spots) != 1:
        return None
    at = spots[0].end()
    return Pitfall(f"grep {pattern} also matches {pattern} inside longer words, and the request asks for the word; "
                   "-w matches the whole word", command[:at] + " -w" + command[at:])


def _text(path: Path) -> str:
    return text_head(path, _MOST_READ) or ""
