"""A git config file read the way git reads it (config.c, `git_parse_source`), for risk flags.

Reading it line by line is not enough: a value ending in `\\` continues on the next line (so a
`[section]` there is part of a value, not a header), a UTF-8 byte-order mark is skipped, quotes
and escapes change what a value holds, `#` and `;` start comments only outside quotes, section
and key names are case-insensitive while `[section "subsection"]` names are not. This parser
follows git's own state machine byte for byte and is property-tested against
`git config --file F --list --null` (tests/unit/changes/test_gitconfig.py).

`parse` returns the entries as git would list them, or raises `GitConfigError` where git would
refuse the file ("bad config line"). Includes are not followed: an `include.path` is an entry like
any other (and a risk flag of its own). Internal whitespace of a value is folded to single
spaces, as git 2.39 (the version tested) does; later gits keep it verbatim, which changes no
command a value names.
"""

from __future__ import annotations

import re

_BOM = b"\xef\xbb\xbf"
_SPACE = frozenset(b" \t\n\r")  # git's isspace (sane_ctype): not \v or \f
_ALPHA = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_KEYCHAR = _ALPHA | frozenset(b"0123456789-")
_NAME_RUN = re.compile(rb"[A-Za-z0-9-]*")
_SECTION_RUN = re.compile(rb"[A-Za-z0-9.-]*")
_PLAIN_RUN = re.compile(rb'[^ \t\n\r;#\\"]+')  # outside quotes: nothing special in it
_QUOTED_RUN = re.compile(rb'[^\n\\"]+')  # inside quotes
_BLANKS = re.compile(rb"[ \t\r]+")  # spaces inside a line
_SPACES = re.compile(rb"[ \t\n\r]+")
_ESCAPES = {ord("t"): b"\t", ord("b"): b"\b", ord("n"): b"\n", ord("\\"): b"\\", ord('"'): b'"'}
_NL = 0x0A

Entry = tuple[bytes, bytes | None]  # (key, value); None is a bare `key` (boolean true)


class GitConfigError(ValueError):
    """git would refuse this file (and every git command reading it would fail)."""


def parse(data: bytes) -> list[Entry]:
    """The entries of a config file, in order, keys as git spells them: `section.name` or
    `section.subsection.name`, section and name lower-cased."""
    return _Parser(data).entries()


def split_key(key: bytes) -> tuple[str, str, str]:
    """(section, subsection, name) of a key; the subsection keeps its case and may hold dots."""
    text = key.decode("utf-8", "surrogateescape")
    section, _, rest = text.partition(".")
    subsection, _, name = rest.rpartition(".")
    return section, subsection, name


class _Parser:
    def __init__(self, data: bytes) -> None:
        # get_next_char: "\r\n" reads as "\n" (a lone "\r" stays); done once for the whole file.
        self.data = data.replace(b"\r\n", b"\n")
        self.pos = 0

    def _next(self) -> int:
        """The next byte; the end of the file reads as a newline, as in git, forever."""
        if self.pos >= len(self.data):
            self.pos = len(self.data) + 1
            return _NL
        c = self.data[self.pos]
        self.pos += 1
        return c

    def _at_eof(self) -> bool:
        return self.pos > len(self.data)

    def entries(self) -> list[Entry]:
        data = self.data
        if data.startswith(_BOM):
            self.pos = 3
        elif data[:1] == b"\xef":
            raise GitConfigError("a partial byte-order mark")
        out: list[Entry] = []
        prefix = b""
        while True:
            c = self._next()
            if self._at_eof():
                return out
            if c in _SPACE:
                blanks = _SPACES.match(data, self.pos)
                if blanks is not None:
                    self.pos = blanks.end()
                continue
            if c in b"#;":
                end = data.find(b"\n", self.pos)
                if end < 0:
                    return out
                self.pos = end + 1
                continue
            if c == ord("["):
                prefix = self._section() + b"."
                continue
            if c not in _ALPHA:
                raise GitConfigError(f"bad config line at byte {self.pos - 1}")
            out.append(self._setting(prefix + bytes([c]).lower()))

    def _section(self) -> bytes:
        """`[name]`, `[name.sub]` (all lower-cased) or `[name "Sub"]`: the key prefix."""
        run = _SECTION_RUN.match(self.data, self.pos)
        name = b""
        if run is not None:
            name = run.group(0).lower()
            self.pos = run.end()
        c = self._next()
        if self._at_eof():
            raise GitConfigError("a section header ends the file")
        if c == ord("]"):
            if not name:
                raise GitConfigError("an empty section name")
            return name
        if c not in _SPACE:
            raise GitConfigError("a bad character in a section name")
        return name + b"." + self._subsection(c)

    def _subsection(self, c: int) -> bytes:
        while True:  # get_extended_base_var: spaces (not a newline) up to the opening quote
            if c == _NL:
                raise GitConfigError("a section header broken by a newline")
            c = self._next()
            if c not in _SPACE:
                break
        if c != ord('"'):
            raise GitConfigError('a subsection must be quoted: [section "subsection"]')
        sub = bytearray()
        while True:
            c = self._next()
            if c == _NL:
                raise GitConfigError("a subsection broken by a newline")
            if c == ord('"'):
                break
            if c == ord("\\"):
                c = self._next()
                if c == _NL:
                    raise GitConfigError("a subsection broken by a newline")
            sub.append(c)
        if self._next() != ord("]"):
            raise GitConfigError("a section header not closed right after its subsection")
        return bytes(sub)

    def _setting(self, name: bytes) -> Entry:
        run = _NAME_RUN.match(self.data, self.pos)
        if run is not None and run.end() > self.pos:
            name += run.group(0).lower()
            self.pos = run.end()
        c = self._next()
        while c in b" \t":
            c = self._next()
        value = None
        if c != _NL:
            if c != ord("="):
                raise GitConfigError(f"bad config line at byte {self.pos - 1}")
            value = self._value()
        # git hands keys and values on as C strings: a NUL ends them
        return _cstring(name), None if value is None else _cstring(value)

    def _value(self) -> bytes:
        """parse_value: whitespace outside quotes is trimmed at both ends and folded inside,
        `#`/`;` outside quotes end the value, a backslash escapes or continues the line."""
        data = self.data
        value = bytearray()
        quote = False
        spaces = 0  # whitespace seen since the last character kept, written out before the next one
        while True:
            run = (_QUOTED_RUN if quote else _PLAIN_RUN).match(data, self.pos)
            if run is not None:
                value += b" " * spaces + run.group(0)
                spaces = 0
                self.pos = run.end()
            c = self._next()
            if c == _NL:
                if quote:
                    raise GitConfigError("a quoted value broken by a newline")
                return bytes(value)
            if c in _SPACE and not quote:
                blanks = _BLANKS.match(data, self.pos)
                end = self.pos if blanks is None else blanks.end()
                if value:
                    spaces += 1 + end - self.pos
                self.pos = end
                continue
            if not quote and c in b";#":  # a comment: the rest of the line is not part of the value
                newline = data.find(b"\n", self.pos)
                self.pos = len(data) if newline < 0 else newline + 1
                return bytes(value)
            value += b" " * spaces
            spaces = 0
            if c == ord("\\"):
                value += self._escaped()
            elif c == ord('"'):
                quote = not quote
            else:
                value.append(c)

    def _escaped(self) -> bytes:
        """What a backslash in a value stands for: nothing before a newline (the value goes on
        on the next line), a tab, backspace, newline, backslash or quote."""
        c = self._next()
        if c == _NL:
            return b""
        escaped = _ESCAPES.get(c)
        if escaped is None:
            raise GitConfigError("an unknown escape in a value")
        return escaped


def _cstring(data: bytes) -> bytes:
    nul = data.find(b"\0")
    return data if nul < 0 else data[:nul]
