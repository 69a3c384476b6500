"""Mistakes a command makes that its exit status does not show, and their fix (reads the host folder only).

A small model's commonest silent mistake on tables: `awk -F, '{s += $2} END {print s / NR}'
people.csv` reads the header row `name,age` as a person aged 0, prints 25.75 instead of 34.33,
exits 0 and says nothing. The prompt already says that the file's first line is a header
(evidence.peek), and the model still does it; told so after the run, the 1.5B model wrote
`'{s += $2} NR > 1 {s += $2} END {print s / NR}'`. The fix is mechanical, so `pitfall` makes it.

Only what is certain from the words counts:

* tables (`tables.py`): one table given as its only file to awk or cut by the first command of the
  line, in a program that never tells a line by its number nor writes a file, for a request that
  does not speak of the header, of every line, or (for cut) of a column as it stands: the rows
  after the header only (`tail -n +2 people.csv | awk ...`). awk, cut or sort reading the fields of
  a table separated by commas (semicolons, bars) without being told: the separator given. sort by
  a column of numbers of different lengths compared as text (10 before 9): the key with `n`.
* verbs (`verbs.py`): a request to move done with `cp`, or to copy done with `mv`: the other
  command. A request to edit one file ("sort words.txt", "remove the duplicate lines from
  list.txt": an edit its first word, nothing asked to be shown or put elsewhere) that the command
  only printed: its output written over the file. `sort f > f`, which empties f before reading it:
  the output written over f once read.
* listings (`listings.py`): `ls -l... | head`, which printed the "total" line as its first file;
  `find DIR -type d | wc -l`, which counts DIR; `find -perm +MODE`, which GNU find no longer reads
  (`-perm /MODE`); `find -size -1M`, which rounds sizes up and so matches empty files only (in
  bytes: `-size -1048576c`); `du -h ... | sort -n`, which orders 800K after 1.5G (`sort -h`); `find -name
  *.txt` unquoted where the shell had names to put in its place (the pattern quoted). This one is
  also fixed, without asking the model, when the command failed (`slip`).
* reach (`reach.py`): a glob of the top folder (`sed -i ... *.py`, `for f in *.py`) for "all" the
  files of a kind where some lie in subfolders: bash's `**/*.py` under `shopt -s globstar` (also a
  `slip`: a glob that matched nothing at the top fails). `sed 's/foo/bar/'` for "replace foo with
  bar" where a line of its files holds foo twice: the `g` flag. `grep fox` for "the word fox" where
  fox is also part of longer words (foxes) in its files: `grep -w`.

A fix may lead to another (a table split at its commas may then read its header): up to three
are made in turn, their reasons joined. Every fix still waits for review like any change.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

from sandbox.planner.evidence import shell_tokens
from sandbox.planner.pitfalls.line import Pitfall, first_command, writes
from sandbox.planner.pitfalls.listings import (
    counted_itself,
    expanded_pattern,
    listing_total,
    old_perm,
    rounded_size,
    sizes_as_numbers,
)
from sandbox.planner.pitfalls.reach import first_of_each_line, part_of_words, shallow_glob
from sandbox.planner.pitfalls.tables import AWKS, awk_files, cut_files, numbers_as_text, rows_only, unseparated
from sandbox.planner.pitfalls.verbs import emptied_first, other_verb, printed_not_written

__all__ = ["Pitfall", "pitfall", "slip"]

# A request about the header row itself, or about every line as it is.
_ABOUT_HEADER = re.compile(r"\b(?:header|headers|heading|headings|first (?:line|row)|column names|every line|all lines"
                           r"|each line|line numbers?|how many lines|number of lines|count the lines)\b", re.IGNORECASE)
# A program that treats a line by its number (NR > 1, FNR == 1, an average over NR - 1), reads
# lines itself, names its file, or writes one (print > "out")
_LINE_AWARE = re.compile(r"\bF?NR\s*(?:[<>]=?|[!=]=|-\s*1\b)|(?:[<>]=?|[!=]=)\s*F?NR\b|\bgetline\b|\bFILENAME\b|"
                         r"\bprintf?\b[^;}]*>")
# "the second column": the column as it stands, its header too, may be what is asked
_COLUMN = re.compile(r"\bcolumns?\b", re.IGNORECASE)
_MOST_FIXES = 3


def slip(root: Path, command: str, intent: str) -> Pitfall | None:
    """A mistake certain from the line's words, the folder and the request alone, whatever its run
    did (a failed run included): a find pattern the shell expands first, a glob of the top folder
    for "all" the files of a kind that lie deeper too."""
    tokens = shell_tokens(command)
    return None if tokens is None else _slip(root, command, tokens, intent)


def _slip(root: Path, command: str, tokens: list[str], intent: str) -> Pitfall | None:
    return expanded_pattern(root, command, tokens) or shallow_glob(root, command, tokens, intent)


def _header(root: Path, command: str, tokens: list[str], intent: str) -> Pitfall | None:
    words = first_command(tokens)
    if words is None or writes(tokens) or _ABOUT_HEADER.search(intent):
        return None
    program = PurePosixPath(words[0]).name
    files = None
    if program in AWKS and not _LINE_AWARE.search(command):
        files = awk_files(words)
    elif program == "cut" and not _COLUMN.search(intent):
        files = cut_files(words)
    return rows_only(root, command, program, files)


def _static(root: Path, command: str, intent: str) -> Pitfall | None:
    """The mistakes read from the line, the folder and the request, not from what the run printed."""
    tokens = shell_tokens(command)
    if tokens is None:
        return None
    found = _slip(root, command, tokens, intent) or other_verb(command, tokens, intent) or old_perm(command, tokens) \
        or rounded_size(command, tokens) or emptied_first(root, command, tokens) or sizes_as_numbers(command, tokens) \
        or unseparated(root, command, tokens) or first_of_each_line(root, command, tokens, intent) \
        or numbers_as_text(root, command, tokens, intent) or part_of_words(root, command, tokens, intent)
    if found is not None:
        return found
    words = first_command(tokens)
    if words is not None and PurePosixPath(words[0]).name == "find" and not writes(tokens):
        return counted_itself(command, tokens, words)
    return _header(root, command, tokens, intent)


def _printed(root: Path, command: str, intent: str, stdout: str, changed: bool) -> Pitfall | None:
    """The mistakes that what the run printed shows (ls's total line, an edit only printed)."""
    tokens = shell_tokens(command)
    if tokens is None:
        return None
    found = printed_not_written(root, command, intent, stdout, changed)
    words = first_command(tokens)
    if found is None and words is not None and PurePosixPath(words[0]).name == "ls" and not writes(tokens):
        found = listing_total(command, tokens, words, stdout)
    return found


def pitfall(root: Path, command: str, intent: str, stdout: str = "", *, changed: bool = True) -> Pitfall | None:
    """What a command that ran cleanly (printing `stdout`, changing files or not) certainly got
    wrong, and its fix (each fix made, up to three in turn); None when nothing is certain."""
    found = _static(root, command, intent) or _printed(root, command, intent, stdout, changed)
    if found is None:
        return None
    reasons, fixed = [found.reason], found.fixed
    for _ in range(_MOST_FIXES - 1):
        more = _static(root, fixed, intent)
        if more is None or more.fixed == fixed:
            break
        reasons.append(more.reason)
        fixed = more.fixed
    return Pitfall("; ".join(reasons), fixed)
