"""Listings and searches that miss silently: ls's total, find counting its start, old -perm,
sizes sorted as plain numbers, a find pattern the shell expanded first."""

from __future__ import annotations

import fnmatch
import itertools
import os
import re
from pathlib import Path

from sandbox.planner.pitfalls.line import Pitfall, first_part, pipeline, program_spots, short_options

# Commands that print sizes as 1.5K, 20M, 3G with -h, and those that pass such lines through
_HUMAN = frozenset({"du", "ls", "df"})
_PASSING = frozenset({"grep", "egrep", "head", "tail", "cat", "tac"})
# find's tests that take a shell pattern
_PATTERN_TESTS = ("-name", "-iname", "-path", "-ipath", "-wholename", "-iwholename", "-lname", "-ilname")
_UNQUOTED_TEST = re.compile(r"(?<![\w-])(-i?(?:name|path|wholename|lname))([ \t]+)([^\s'\"\\;|&()<>`$]*[*?[]"
                            r"[^\s'\"\\;|&()<>`$]*)(?=[ \t;|&)]|$)")


def listing_total(command: str, tokens: list[str], words: list[str], stdout: str) -> Pitfall | None:
    """`ls -l... | head`: the listing's first line is its "total", not a file."""
    long = any(w.startswith("-") and not w.startswith("--") and "l" in w for w in words[1:])
    after = tokens[len(words):]
    if not long or not stdout.startswith("total ") or len(after) < 2 or after[:2] != ["|", "head"]:
        return None
    parts = first_part(command, words)
    if parts is None:
        return None
    return Pitfall("ls -l begins its listing with a \"total\" line, and head counted it as a file",
                   f"{parts[0].rstrip()} | tail -n +2 {parts[1]}")


def counted_itself(command: str, tokens: list[str], words: list[str]) -> Pitfall | None:
    """`find DIR -type d | wc -l`: the count includes DIR itself; the same with -mindepth 1."""
    after = tokens[len(words):]
    if "-mindepth" in words or len(words) < 4 or after[:3] != ["|", "wc", "-l"]:
        return None
    start = words[1]
    if start.startswith("-") or not any(words[i:i + 2] == ["-type", "d"] for i in range(2, len(words) - 1)):
        return None
    parts = first_part(command, words)
    spot = re.compile(rf"(find[ \t]+{re.escape(start)}(?=[ \t]))")
    if parts is None or len(spot.findall(parts[0])) != 1:
        return None
    return Pitfall(f"find {start} -type d lists {start} itself, and wc counted it with the folders inside it",
                   spot.sub(lambda m: f"{m.group(1)} -mindepth 1", parts[0], count=1) + parts[1])


def _any_bits(mode: str) -> str:
    """An old `+MODE` of find -perm as today's "any of these bits": +111 -> /111, +u+x -> /u+x, +x -> /a+x."""
    if mode.isdigit() or (mode[:1] in ("u", "g", "o", "a") and any(op in mode for op in "+-=")):
        return f"/{mode}"
    return f"/a+{mode}"


def old_perm(command: str, tokens: list[str]) -> Pitfall | None:
    """`find -perm +MODE`: the old spelling of "any of these bits", which GNU find no longer reads
    so (it matches nothing and says nothing); today's is `-perm /MODE`."""
    modes = [after for before, after in itertools.pairwise(tokens) if before == "-perm" and after[:1] == "+"]
    spot = re.compile(r"(-perm[ \t]+)\+([0-7]+|[ugoa]*[-+=]?[rwxXst]+)(?=[ \t;)]|$)")
    if not modes or len(spot.findall(command)) != len(modes):
        return None
    today = _any_bits(modes[0][1:])
    return Pitfall(f"find -perm {modes[0]} matches nothing in GNU find; any of the bits is -perm {today}",
                   spot.sub(lambda m: m.group(1) + _any_bits(m.group(2)), command))


_UNDER_SIZE = re.compile(r"(-size[ \t]+)-(\d+)([kMG])(?=[ \t;)]|$)")
_UNITS = {"k": 1024, "M": 1024 ** 2, "G": 1024 ** 3}


def rounded_size(command: str, tokens: list[str]) -> Pitfall | None:
    """`find -size -1M`: find rounds each size up to whole units before it compares, so "under
    1M" matches empty files only (and -size -2k files of 1k or less); the same in bytes, -size -1048576c."""
    if "find" not in tokens or "-size" not in tokens:
        return None
    found = _UNDER_SIZE.search(command)
    if found is None:
        return None
    fixed = _UNDER_SIZE.sub(lambda m: f"{m.group(1)}-{int(m.group(2)) * _UNITS[m.group(3)]}c", command)
    return Pitfall(f"find -size -{found.group(2)}{found.group(3)} rounds sizes up to whole units before comparing "
                   f"(it matches {'empty files only' if found.group(2) == '1' else 'less than it says'}); "
                   "in bytes it compares exactly", fixed)


def _human_option(option: str) -> str:
    """A sort option that sorts numbers, made to sort human-readable sizes (-rn -> -rh, -k5,5n -> -k5,5h)."""
    if option == "--numeric-sort":
        return "--human-numeric-sort"
    if option.startswith(("-k", "-t", "-o", "-T", "-S", "--")) and not option.startswith("-k"):
        return option
    return option.replace("n", "h")


def sizes_as_numbers(command: str, tokens: list[str]) -> Pitfall | None:
    """`du -sh * | sort -rn`: sort -n reads 1.5G as 1.5 and 800K as 800; sort -h reads the units."""
    commands = pipeline(tokens)
    if commands is None or len(commands) < 2:
        return None
    producer = commands[0]
    if Path(producer[0]).name not in _HUMAN or not ("h" in short_options(producer) or "--human-readable" in producer):
        return None
    sorter = next((words for words in commands[1:] if Path(words[0]).name not in _PASSING), None)
    if sorter is None or Path(sorter[0]).name != "sort" or "h" in short_options(sorter) \
            or "--human-numeric-sort" in sorter:
        return None
    numeric = [w for w in sorter[1:] if w == "--numeric-sort" or (w.startswith("-") and not w.startswith("--")
                                                                 and "n" in w and not w.startswith(("-t", "-o")))]
    spots = list(re.finditer(r"(?<![\w./$-])sort((?:[ \t]+-[-\w,.=]+)+)", command))
    if not numeric or len(spots) != 1 or len(program_spots(command, "sort")) != 1:
        return None
    found = spots[0]
    options = re.sub(r"-[-\w,.=]+", lambda m: _human_option(m.group(0)), found.group(1))
    fixed = command[:found.start(1)] + options + command[found.end(1):]
    return Pitfall(f"{Path(producer[0]).name} -h prints sizes with units (800K, 1.5G), and sort -n "
                   "compares their numbers only; sort -h reads the units", fixed)


def expanded_pattern(root: Path, command: str, tokens: list[str]) -> Pitfall | None:
    """`find . -name *.txt` where a file here matches `*.txt`: the shell replaced the pattern by
    those names before find ran (one name: find looks for it alone; several: find fails). The same
    line with the pattern quoted. A pattern that matches nothing here reaches find as it is."""
    if not any(t in _PATTERN_TESTS for t in tokens) or "find" not in tokens:
        return None
    found = [m for m in _UNQUOTED_TEST.finditer(command) if _matches_here(root, m.group(3))]
    if not found:
        return None
    fixed = _UNQUOTED_TEST.sub(lambda m: f"{m.group(1)}{m.group(2)}'{m.group(3)}'" if _matches_here(root, m.group(3))
                               else m.group(0), command)
    first = found[0].group(3)
    return Pitfall(f"the shell expanded find's pattern {first} to the names here that match it before find saw it",
                   fixed)


def _matches_here(root: Path, pattern: str) -> bool:
    """Whether the shell, in `root`, would replace `pattern` by names that match it."""
    if pattern.startswith("/") or ".." in pattern.split("/"):
        return False
    try:
        if "/" not in pattern:  # the shell's `*` passes over names that begin with a dot
            hidden = pattern.startswith(".")
            return any(fnmatch.fnmatchcase(name, pattern) for name in os.listdir(root)
                       if hidden or not name.startswith("."))
        return next(iter(root.glob(pattern)), None) is not None
    except (ValueError, OSError):
        return False
