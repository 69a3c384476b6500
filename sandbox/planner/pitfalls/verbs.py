"""Commands that did another thing than the request's verb: copied for a move, printed for an
edit, emptied the file they read."""

from __future__ import annotations

import itertools
import re
import shlex
from pathlib import Path, PurePosixPath

from sandbox.planner.evidence import plain_file
from sandbox.planner.names import file_names
from sandbox.planner.pitfalls.line import REDIRECTS, SEPARATORS, Pitfall

# A request to move files, or to copy them (a request that says both is left alone)
_MOVE = re.compile(r"\b(?:move|moves|moving|relocate|(?:put|place)\b.*\b(?:into|inside))\b", re.IGNORECASE)
_COPY = re.compile(r"\b(?:copy|copies|copying|back up|duplicate(?= (?:the|this|that|it|them|each|every|all|an?)\b))\b",
                   re.IGNORECASE)
_LISTS = SEPARATORS - {"|", "|&"}
_REMOVERS = frozenset({"rm", "-delete", "rsync", "tar", "unlink", "install"})
# A request whose first word edits a file, and words that ask for something to be shown instead
_EDIT = re.compile(r"\s*(?:please\s+)?(?:sort|reverse|dedupe|deduplicate|uppercase|lowercase|capitalize|strip|trim|"
                   r"squeeze|indent|number|remove|delete|drop|replace|substitute|change|convert|fix|shuffle|"
                   r"swap|rename the (?:column|header))\b", re.IGNORECASE)
_SHOW = re.compile(r"\b(?:show|print|display|list|output|see|view|preview|tell|echo|screen|terminal|stdout|"
                   r"new file|another file|copy|into|to a|as a|save (?:it|them|the result) (?:as|to|in))\b",
                   re.IGNORECASE)


def other_verb(command: str, tokens: list[str], intent: str) -> Pitfall | None:
    """A request to move done with cp, which leaves the originals, or to copy done with mv, which
    takes them away: the same line with the other command (its options that both take)."""
    moving, copying = bool(_MOVE.search(intent)), bool(_COPY.search(intent))
    if moving == copying or any(t in _REMOVERS for t in tokens):
        return None
    wrong, right = ("cp", "mv") if moving else ("mv", "cp")
    if wrong not in tokens or right in tokens or _renames_its_own(tokens):
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


def _renames_its_own(tokens: list[str]) -> bool:
    """Whether a mv of the line moves a file the line itself wrote (`sort f > f.tmp && mv f.tmp f`):
    the way to write a file in place, not a move the request asked for or not."""
    written = {after for before, after in itertools.pairwise(tokens) if before in REDIRECTS}
    return any(word == "mv" and any(w in written for w in tokens[at + 1:at + 4]) for at, word in enumerate(tokens))


def _written_over(body: str, name: str) -> str:
    """`body`'s output written over the file `name`: through a scratch file beside it, removed
    after, and `cat >` so that the file keeps its mode."""
    path = PurePosixPath(name)
    target, scratch = shlex.quote(str(path)), shlex.quote(str(path.with_name(f".{path.name}.sbx")))
    body = body.strip().rstrip(";")
    end = "\n}" if "#" in body else "; }"  # a comment would swallow the brace
    return f"{{ {body}{end} > {scratch} && cat {scratch} > {target} && rm -f {scratch}"


def printed_not_written(root: Path, command: str, intent: str, stdout: str, changed: bool) -> Pitfall | None:
    """A request to edit one file (its first word an edit, nothing asked to be shown) that the
    command only printed, edited: the same command, its output written over the file."""
    if changed or not stdout.strip() or not _EDIT.match(intent) or _SHOW.search(intent):
        return None
    named = file_names(intent)
    if len(named) != 1 or plain_file(root, named[0]) is None or named[0] not in command:
        return None
    return Pitfall(f"the request asks to change {named[0]}, and the command only printed the result",
                   _written_over(command, named[0]))


def emptied_first(root: Path, command: str, tokens: list[str]) -> Pitfall | None:
    """`sort list.txt > list.txt`: the shell empties the file before the command reads it. The same
    command, its output written over the file once it has read it all."""
    last = tokens[max((at for at, t in enumerate(tokens) if t in _LISTS), default=-1) + 1:]  # the last pipeline
    if len(last) < 4 or last[-2] not in REDIRECTS or last[-2].endswith(">>") or "}" in last or ")" in last:
        return None
    name = last[-1]
    if name not in last[:-2] or plain_file(root, name) is None:
        return None
    quoted = "|".join(re.escape(spelling) for spelling in {name, shlex.quote(name), f'"{name}"'})
    end = re.search(rf"[ \t]*(?:&>|>\|?)[ \t]*(?:{quoted})[ \t;]*$", command)
    if end is None:
        return None
    return Pitfall(f"the line reads {name} and writes it with `>`, which empties it before it is read",
                   _written_over(command[:end.start()], name))
