"""File names as a request says them: `notes.txt`, `people.csv`, `src/app.py`, `backup.7z` (pure).

One matcher for every reader of a request's words (the scope's "does it name a file", the
examples' renaming), so that they agree on what a file name is: a name, a dot, and a short
suffix holding a letter (not `3.5`), optionally below folders.
"""

from __future__ import annotations

import re

__all__ = ["FILE_NAME", "file_names", "names_a_file"]

FILE_NAME = re.compile(
    r"(?<![\w./-])((?:[\w-]+/)*[\w-]+\.(?=[a-z0-9]{0,4}[a-z])[a-z0-9]{1,5})(?![\w-])", re.IGNORECASE)

# Suffixes of a web address, not of a file: "example.com" in a request is a site.
_WEB = frozenset({"com", "org", "net"})


def file_names(text: str) -> list[str]:
    """The file names `text` says, in order, each once."""
    return list(dict.fromkeys(FILE_NAME.findall(text)))


def names_a_file(text: str) -> bool:
    """Whether `text` names a file (a web address such as example.com is not one)."""
    return any(name.rsplit(".", 1)[1].lower() not in _WEB for name in FILE_NAME.findall(text))
