"""Unified diffs of file contents, or the reason there is none (binary, large).

A side is text when it decodes as UTF-8 and has no NUL. Sides larger than `TEXT_LIMIT` are not
diffed (a reviewer cannot read them either); only their start is sniffed to tell text from binary.
"""

from __future__ import annotations

import codecs
import difflib
import os
from dataclasses import dataclass

from sandbox.text import printable

TEXT_LIMIT = 256 * 1024
SNIFF_BYTES = 8 * 1024
NO_NEWLINE = "\\ No newline at end of file\n"


@dataclass(frozen=True)
class FileDiff:
    binary: bool
    large: bool
    diff: str | None  # None when binary, large, or the text is identical


def diff_files(path: str, old_real: str | None, new_real: str | None) -> FileDiff:
    """Diff two regular files (None = the side does not exist) shown as a/PATH and b/PATH."""
    old = _Side.read(old_real)
    new = _Side.read(new_real)
    binary = old.binary or new.binary
    large = old.large or new.large
    if binary or large:
        return FileDiff(binary, large, None)
    text = unified_diff(path, old.text, new.text)
    return FileDiff(False, False, text or None)


def unified_diff(path: str, old: str, new: str) -> str:
    # a newline in the name would split its header into lines that read as diff lines
    shown = printable(path)
    return "".join(difflib.unified_diff(_lines(old), _lines(new), f"a/{shown}", f"b/{shown}"))


def _lines(text: str) -> list[str]:
    """Lines with their "\\n", git-style marker on a last line without one (only "\\n" splits)."""
    parts = text.split("\n")
    lines = [p + "\n" for p in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1] + "\n" + NO_NEWLINE)
    return lines


@dataclass(frozen=True)
class _Side:
    text: str
    binary: bool
    large: bool

    @classmethod
    def read(cls, real: str | None) -> _Side:
        if real is None:
            return cls("", False, False)
        fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            size = os.fstat(fd).st_size
            if size > TEXT_LIMIT:
                return cls("", not _looks_like_text(os.read(fd, SNIFF_BYTES), final=False), True)
            data = _read_all(fd, size)
        finally:
            os.close(fd)
        if not _looks_like_text(data, final=True):
            return cls("", True, False)
        return cls(data.decode("utf-8"), False, False)


def _looks_like_text(data: bytes, *, final: bool) -> bool:
    if b"\0" in data:
        return False
    try:
        codecs.getincrementaldecoder("utf-8")().decode(data, final=final)
    except UnicodeDecodeError:
        return False
    return True


def _read_all(fd: int, size_hint: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, max(size_hint, 65536)):
        chunks.append(chunk)
    return b"".join(chunks)
