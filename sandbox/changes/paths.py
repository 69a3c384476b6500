"""Workspace-relative paths: validation, tree order, display.

A path here is POSIX, relative, made of non-empty components without `.`/`..`; "" is the
workspace root. Names come from `os.scandir`/`os.listdir` on str paths, so bytes that are not
UTF-8 arrive as lone surrogates (surrogateescape); such names are never committed.
"""

from __future__ import annotations

import os


def components(path: str) -> tuple[str, ...]:
    return tuple(path.split("/")) if path else ()


def tree_key(path: str) -> tuple[str, ...]:
    """Sort key that puts a directory right before everything below it."""
    return components(path)


def join(parent: str, name: str) -> str:
    return f"{parent}/{name}" if parent else name


def parent_of(path: str) -> str:
    return path.rpartition("/")[0]


def is_below(path: str, ancestor: str) -> bool:
    """True when `path` is strictly inside `ancestor` ("" contains everything)."""
    return path != ancestor and (not ancestor or path.startswith(ancestor + "/"))


def is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def is_valid_relpath(path: str) -> bool:
    """A path sbx may touch on the host: relative, normalised, UTF-8, no NUL."""
    if not path or "\0" in path or not is_utf8(path):
        return False
    return all(part not in ("", ".", "..") for part in path.split("/"))


def display(path: str) -> str:
    """A printable, JSON-safe form of a path whose bytes may not be UTF-8."""
    return os.fsencode(path).decode("utf-8", errors="backslashreplace")
