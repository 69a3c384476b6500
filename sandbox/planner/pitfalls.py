"""Mistakes a command makes that its exit status does not show, and their fix (reads the host folder only).

A small model's commonest silent mistake on tables: `awk -F, '{s += $2} END {print s / NR}'
people.csv` reads the header row `name,age` as a person aged 0, prints 25.75 instead of 34.33,
exits 0 and says nothing. The prompt already says that the file's first line is a header
(evidence.peek), and the model still does it; told so after the run, the 1.5B model wrote
`'{s += $2} NR > 1 {s += $2} END {print s / NR}'`. The fix is mechanical, so `pitfall` makes it:
the same program, given the rows after the header (`tail -n +2 people.csv | awk ...`), where NR
counts data rows only and every rule sees data only.

Only what is certain from the words counts: one table (`header_row`) given as its only file to
awk or cut by the first command of the line, where awk's program never tells a line by its number
(NR > 1, NR - 1) nor asks for FILENAME, in a command that prints its answer (no file written: a
table rewritten without its header would lose it), for a request that does not speak of the
header, of every line, or (for cut) of a column as it stands. And `ls -l... | head`, which printed
the listing's "total" line as its first "file": the same line with `tail -n +2` before head.
And a request to move files done with `cp` (no `mv`, no `rm`: the originals stay), or to copy
them done with `mv`: the same line with the other command. And a request to edit one file ("sort
words.txt alphabetically", "remove the duplicate lines from list.txt": an edit its first word,
nothing asked to be shown or put elsewhere) that the command only printed: its output written
over the file. And `find DIR -type d | wc -l`, which counts DIR with the folders in it: the same
with `-mindepth 1`. And `find -perm +MODE`, an old spelling GNU find no longer reads (it matches
nothing, silently): `-perm /MODE`. Every fix still waits for review like any change.
"""

from __future__ import annotations

import itertools
import re
import shlex
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from sandbox.planner.evidence import first_lines, header_row, shell_tokens
from sandbox.planner.names import file_names

__all__ = ["Pitfall", "pitfall"]

_AWKS = frozenset({"awk", "gawk", "mawk", "nawk"})
_SEPARATORS = frozenset({"|", "||", "&&", ";", "&", "|&", "\n"})
# A request about the header row itself, or about every line as it is.
_ABOUT_HEADER = re.compile(r"\b(?:header|headers|heading|headings|first (?:line|row)|column names|every line|all lines"
                           r"|each line|line numbers?|how many lines|number of lines|count the lines)\b", re.IGNORECASE)
# A program that treats a line by its number (NR > 1, FNR == 1, an average over NR - 1), reads
# lines itself, names its file, or writes one (print > "out")
_LINE_AWARE = re.compile(r"\bF?NR\s*(?:[<>]=?|[!=]=|-\s*1\b)|(?:[<>]=?|[!=]=)\s*F?NR\b|\bgetline\b|\bFILENAME\b|"
                         r"\bprintf?\b[^;}]*>")
# "the second column": the column as it stands, its header too, may be what is asked
_COLUMN = re.compile(r"\bcolumns?\b", re.IGNORECASE)
# A request to move files, or to copy them (a request that says both is left alone)
_MOVE = re.compile(r"\b(?:move|moves|moving|relocate)\b", re.IGNORECASE)
_COPY = re.compile(r"\b(?:copy|copies|copying|duplicate|back up)\b", re.IGNORECASE)
_REMOVERS = frozenset({"rm", "-delete", "rsync", "tar", "unlink", "install"})
# A request whose first word edits a file, and words that ask for something to be shown instead
_EDIT = re.compile(r"\s*(?:please\s+)?(?:sort|reverse|dedupe|deduplicate|uppercase|lowercase|capitalize|strip|trim|"
                   r"squeeze|indent|number|remove|delete|drop|replace|substitute|change|convert|fix|shuffle|"
                   r"swap|rename the (?:column|header))\b", re.IGNORECASE)
_SHOW = re.compile(r"\b(?:show|print|display|list|output|see|view|preview|tell|echo|screen|terminal|stdout|"
                   r"new file|another file|copy|into|to a|as a|save (?:it|them|the result) (?:as|to|in))\b",
                   re.IGNORECASE)
_REDIRECTS = frozenset({">", ">>", ">|", "&>", "&>>"})
_WRITERS = frozenset({"tee", "sponge", "inplace", "-i"})


@dataclass(frozen=True)
class Pitfall:
    """What a command got wrong (`reason`, one sentence) and the command that does it right (`fixed`)."""

    reason: str
    fixed: str


def _writes(tokens: list[str]) -> bool:
    """Whether the line writes a file: a redirection to one (not 2>, not /dev/null), tee, in place."""
    for at, token in enumerate(tokens):
        if token in _WRITERS:
            return True
        if token in _REDIRECTS:
            before = tokens[at - 1] if at else ""
            after = tokens[at + 1] if at + 1 < len(tokens) else ""
            if before != "2" and after != "/dev/null":
                return True
    return False


def _first_command(tokens: list[str]) -> list[str] | None:
    """The words of the line's first simple command (before a pipe or a list), or None when the
    line starts with a group."""
    words: list[str] = []
    skip = False
    for token in tokens:
        if skip:
            skip = False
            continue
        if token in _SEPARATORS:
            break
        if token in ("(", ")", "{", "}"):
            return None
        if token in _REDIRECTS or token in (">&", "<&"):  # 2>/dev/null, >&2: not the command's words
            if words and words[-1].isdigit():
                words.pop()
            skip = True
            continue
        words.append(token)
    return words or None


def _awk_files(words: list[str]) -> list[str] | None:
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


def _cut_files(words: list[str]) -> list[str]:
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


def _rows_only(root: Path, command: str, program: str, files: list[str] | None) -> Pitfall | None:
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


def _first_part(command: str, words: list[str]) -> tuple[str, str] | None:
    """The line cut at its first `|` (the first command's text, the rest from the `|` on), when that
    `|` is the one the shell sees after `words` (not one in quotes, no redirection between)."""
    first, bar, rest = command.partition("|")
    return (first, bar + rest) if bar and shell_tokens(first) == words else None


def _listing_total(command: str, tokens: list[str], words: list[str], stdout: str) -> Pitfall | None:
    """`ls -l... | head`: the listing's first line is its "total", not a file."""
    long = any(w.startswith("-") and not w.startswith("--") and "l" in w for w in words[1:])
    after = tokens[len(words):]
    if not long or not stdout.startswith("total ") or len(after) < 2 or after[:2] != ["|", "head"]:
        return None
    parts = _first_part(command, words)
    if parts is None:
        return None
    return Pitfall("ls -l begins its listing with a \"total\" line, and head counted it as a file",
                   f"{parts[0].rstrip()} | tail -n +2 {parts[1]}")


def _other_verb(command: str, tokens: list[str], intent: str) -> Pitfall | None:
    """A request to move done with cp, which leaves the originals, or to copy done with mv, which
    takes them away: the same line with the other command (its options that both take)."""
    moving, copying = bool(_MOVE.search(intent)), bool(_COPY.search(intent))
    if moving == copying or any(t in _REMOVERS for t in tokens):
        return None
    wrong, right = ("cp", "mv") if moving else ("mv", "cp")
    if wrong not in tokens or right in tokens:
        return None
    call = re.compile(rf"(?<![\w./$-]){wrong}((?:[ \t]+-[A-Za-z]+)*)(?=[ \t])")
    if len(call.findall(command)) != tokens.count(wrong):  # a cp in quotes, or one this cannot read
        return None

    def swapped(found: re.Match[str]) -> str:
        kept = [f"-{''.join(c for c in option[1:] if c in 'fintuv')}" for option in found.group(1).split()]
        options = [option for option in kept if option != "-"] + (["-r"] if right == "cp" else [])
        return " ".join([right, *options])

    what = "move" if moving else "copy"
    return Pitfall(f"the request asks to {what}, and {wrong} {'copies' if moving else 'moves'} instead",
                   call.sub(swapped, command))


def _printed_not_written(root: Path, command: str, intent: str, stdout: str, changed: bool) -> Pitfall | None:
    """A request to edit one file (its first word an edit, nothing asked to be shown) that the
    command only printed, edited: the same command, its output written over the file (through a
    scratch file beside it, removed after, and `cat >` so that the file keeps its mode)."""
    if changed or not stdout.strip() or not _EDIT.match(intent) or _SHOW.search(intent):
        return None
    named = file_names(intent)
    on_disk = root / named[0] if len(named) == 1 else None
    if on_disk is None or not on_disk.is_file() or on_disk.is_symlink() or named[0] not in command:
        return None
    path = PurePosixPath(named[0])
    target, scratch = shlex.quote(str(path)), shlex.quote(str(path.with_name(f".{path.name}.sbx")))
    body = command.strip().rstrip(";")
    end = "\n}" if "#" in body else "; }"  # a comment would swallow the brace
    return Pitfall(f"the request asks to change {named[0]}, and the command only printed the result",
                   f"{{ {body}{end} > {scratch} && cat {scratch} > {target} && rm -f {scratch}")


def _counted_itself(command: str, tokens: list[str], words: list[str]) -> Pitfall | None:
    """`find DIR -type d | wc -l`: the count includes DIR itself; the same with -mindepth 1."""
    after = tokens[len(words):]
    if "-mindepth" in words or len(words) < 4 or after[:3] != ["|", "wc", "-l"]:
        return None
    start = words[1]
    if start.startswith("-") or not any(words[i:i + 2] == ["-type", "d"] for i in range(2, len(words) - 1)):
        return None
    parts = _first_part(command, words)
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


def _old_perm(command: str, tokens: list[str]) -> Pitfall | None:
    """`find -perm +MODE`: the old spelling of "any of these bits", which GNU find no longer reads
    so (it matches nothing and says nothing); today's is `-perm /MODE`."""
    modes = [after for before, after in itertools.pairwise(tokens) if before == "-perm" and after[:1] == "+"]
    spot = re.compile(r"(-perm[ \t]+)\+([0-7]+|[ugoa]*[-+=]?[rwxXst]+)(?=[ \t;)]|$)")
    if not modes or len(spot.findall(command)) != len(modes):
        return None
    today = _any_bits(modes[0][1:])
    return Pitfall(f"find -perm {modes[0]} matches nothing in GNU find; any of the bits is -perm {today}",
                   spot.sub(lambda m: m.group(1) + _any_bits(m.group(2)), command))


def pitfall(root: Path, command: str, intent: str, stdout: str = "", *, changed: bool = True) -> Pitfall | None:
    """What a command that ran cleanly (printing `stdout`, changing files or not) certainly got
    wrong, and its fix; None when nothing is certain."""
    tokens = shell_tokens(command)
    if tokens is None:
        return None
    verb = _other_verb(command, tokens, intent) or _printed_not_written(root, command, intent, stdout, changed) \
        or _old_perm(command, tokens)
    words = _first_command(tokens)
    if verb is not None or words is None or _writes(tokens):
        return verb
    program = PurePosixPath(words[0]).name
    if program == "ls":
        return _listing_total(command, tokens, words, stdout)
    if program == "find":
        return _counted_itself(command, tokens, words)
    files = None
    if program in _AWKS and not _LINE_AWARE.search(command):
        files = _awk_files(words)
    elif program == "cut" and not _COLUMN.search(intent):
        files = _cut_files(words)
    return None if _ABOUT_HEADER.search(intent) else _rows_only(root, command, program, files)
