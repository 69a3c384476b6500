"""Human-readable review of a changeset: a header, one line per change, then the text diffs.

Everything here that an action chose (paths, link targets, the source line, notes and refusals
naming paths, diff lines) goes through `printable`, coloured or not: a control character in a
name or in a file's content is shown as an escape, never acted on by the terminal, so a hostile
file cannot clear the screen, forge a summary line or hide a flagged change. `render_risks` is
the summary a dialogue prints last, right before its question.
"""

from __future__ import annotations

from collections.abc import Iterable

from sandbox.changes.textdiff import TEXT_LIMIT
from sandbox.text import printable
from sandbox.types import Change, ChangeKind, Changeset, EntryType

_RESET = "\x1b[0m"
_BOLD = "\x1b[1m"
_RED = "\x1b[31m"
_GREEN = "\x1b[32m"
_YELLOW = "\x1b[33m"
_CYAN = "\x1b[36m"
_MAGENTA = "\x1b[35m"

_MARKS = {
    ChangeKind.ADDED: ("A", _GREEN),
    ChangeKind.MODIFIED: ("M", _YELLOW),
    ChangeKind.DELETED: ("D", _RED),
    ChangeKind.MODE: ("m", _CYAN),
    ChangeKind.SYMLINK: ("L", _MAGENTA),
    ChangeKind.TYPE: ("T", _MAGENTA),
}


def render_changeset(cs: Changeset, *, color: bool) -> str:
    paint = _painter(color)
    count = len(cs.changes)
    header = f"changeset {cs.id}  {cs.status}  {count} change{'' if count == 1 else 's'}  sha256 {cs.sha256[:16]}"
    lines = [paint(_BOLD, printable(header))]
    if cs.source:
        lines.append(f"source: {printable(cs.source)}")
    if not cs.changes:
        lines.append("no changes")
    lines += [_summary_line(c, paint) for c in cs.changes]
    for change in cs.changes:
        if change.diff:
            lines.append("")
            lines += [_diff_line(line, paint) for line in change.diff.rstrip("\n").split("\n")]
    return "\n".join(lines)


def render_risks(changes: Iterable[Change], *, color: bool) -> str:
    """The flagged changes, one line each, under a heading; "" when none is flagged."""
    paint = _painter(color)
    risky = [c for c in changes if c.risks and c.refused is None]
    if not risky:
        return ""
    lines = [paint(_MAGENTA + _BOLD, f"RISK: {len(risky)} flagged change(s) can run code or leak secrets on the host:")]
    lines += [f"  {printable(c.path)}: {paint(_MAGENTA + _BOLD, ', '.join(c.risks))}" for c in risky]
    return "\n".join(lines)


def _summary_line(change: Change, paint: _Paint) -> str:
    mark, colour = _MARKS[change.kind]
    text = f"  {paint(colour, mark)}  {printable(change.path)}{'/' if change.new_type == EntryType.DIR else ''}"
    detail = _detail(change)
    if detail:
        text += f"  ({printable(detail)})"
    if change.refused is not None:
        text += "  " + paint(_RED + _BOLD, f"REFUSED: {printable(change.refused)}")
    for note in change.notes:
        text += "  " + paint(_YELLOW, f"note: {printable(note)}")
    if change.risks:
        text += "  " + paint(_MAGENTA + _BOLD, f"RISK: {', '.join(change.risks)}")
    return text


def _detail(change: Change) -> str:
    kind = change.kind
    if kind == ChangeKind.TYPE:
        return f"{change.old_type} -> {change.new_type}{_target(change.new_target)}"
    if kind == ChangeKind.SYMLINK:
        return f"-> {change.new_target}, was -> {change.old_target}"
    if kind == ChangeKind.MODE:
        return f"mode {_mode(change.old_mode)} -> {_mode(change.new_mode)}"
    if kind == ChangeKind.ADDED:
        return _describe(change.new_type, change.new_mode, change.new_size, change.new_target, change)
    if kind == ChangeKind.DELETED:
        return _describe(change.old_type, change.old_mode, change.old_size, change.old_target, change)
    parts = [_content_summary(change)]
    if change.old_mode != change.new_mode:
        parts.append(f"mode {_mode(change.old_mode)} -> {_mode(change.new_mode)}")
    return ", ".join(p for p in parts if p)


def _describe(
    entry_type: EntryType | None, mode: int | None, size: int | None, target: str | None, change: Change
) -> str:
    if entry_type == EntryType.SYMLINK:
        return f"symlink{_target(target)}"
    parts = [str(entry_type)]
    if mode is not None:
        parts.append(_mode(mode))
    if entry_type == EntryType.FILE:
        parts.append(_content_summary(change) or f"{size} B")
    return ", ".join(parts)


def _content_summary(change: Change) -> str:
    sizes = f"{_size(change.old_size)} -> {_size(change.new_size)}"
    if change.binary:
        return f"binary, {sizes}"
    if max(change.old_size or 0, change.new_size or 0) > TEXT_LIMIT:
        return f"large file, {sizes}, no diff shown"
    if change.diff:
        added = sum(1 for line in change.diff.split("\n") if line.startswith("+") and not line.startswith("+++"))
        removed = sum(1 for line in change.diff.split("\n") if line.startswith("-") and not line.startswith("---"))
        return f"+{added} -{removed}"
    return ""


def _diff_line(raw: str, paint: _Paint) -> str:
    line = printable(raw, keep_tabs=True)
    if line.startswith(("---", "+++")):
        return paint(_BOLD, line)
    if line.startswith("@@"):
        return paint(_CYAN, line)
    if line.startswith("+"):
        return paint(_GREEN, line)
    if line.startswith("-"):
        return paint(_RED, line)
    return line


def _target(target: str | None) -> str:
    return "" if target is None else f" -> {target}"


def _mode(mode: int | None) -> str:
    return "?" if mode is None else f"{mode:04o}"


def _size(size: int | None) -> str:
    return "-" if size is None else f"{size} B"


class _Paint:
    def __init__(self, color: bool) -> None:
        self.color = color

    def __call__(self, code: str, text: str) -> str:
        return f"{code}{text}{_RESET}" if self.color else text


def _painter(color: bool) -> _Paint:
    return _Paint(color)
