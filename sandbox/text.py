"""Text from an action, made safe to print on a terminal.

Everything a review shows (paths, link targets, the call's source line, diff lines, audit
summaries) may come from a hostile tool. A terminal acts on control characters: an escape
sequence can clear the screen and draw a fake review, a carriage return or newline in a file name
can overwrite or forge a line. `printable` shows each such character as a visible escape instead,
so what is printed is exactly one line per line sbx meant, whatever the bytes were.
"""

from __future__ import annotations

import re

# C0 controls, DEL, C1 controls (a UTF-8 terminal may take U+009B as CSI), the bidirectional
# controls that reorder what a terminal draws (Trojan Source), the Unicode line and paragraph
# separators, a byte-order mark, and lone surrogates (undecodable bytes; a terminal cannot
# print them at all).
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff\ud800-\udfff]"
)
_UNSAFE_KEEP_TAB = re.compile(
    "[\x00-\x08\x0a-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff\ud800-\udfff]"
)
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: str, *, keep_tabs: bool = False) -> str:
    """`text` with every character a terminal would act on shown as an escape (`\\n`, `\\x1b`,
    `\\u202e`). `keep_tabs` leaves tabs as they are (diff lines of code indented with tabs): a tab
    only moves the cursor right and cannot hide or redraw anything."""
    pattern = _UNSAFE_KEEP_TAB if keep_tabs else _UNSAFE
    return pattern.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    char = match.group(0)
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
