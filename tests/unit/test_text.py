"""What a review prints cannot drive the terminal: every control character an action chose is
shown as an escape, coloured or not, in the changes review and the audit log alike."""

from __future__ import annotations

import re
import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.audit.events import EventKind
from sandbox.audit.log import Entry
from sandbox.audit.render import render_log
from sandbox.changes import render_changeset, render_risks
from sandbox.changes.textdiff import unified_diff
from sandbox.text import printable
from sandbox.types import Change, ChangeKind, Changeset, ChangesetStatus, EntryType

# Characters a terminal acts on, or that reorder or break what it draws.
HOSTILE = "\x00\x07\x08\t\n\r\x0b\x0c\x1b\x7f\x85\x90\x9b\x9d\x9c\u061c\u200e\u202e\u2066\u2028\u2029\ufeff\udcff"
hostile_text = st.text(alphabet=st.sampled_from(list(HOSTILE) + list("ab/.[];0123456789 \\")), max_size=40)
any_text = st.text(max_size=40)

# The only escape sequences sbx itself writes: SGR colours.
OUR_SGR = re.compile(r"\x1b\[(?:0|1|3[1-6]|3[1-6];1|1;3[1-6])m")


def unsafe(char: str, *, tabs_ok: bool = False) -> bool:
    if tabs_ok and char == "\t":
        return False
    return (
        ord(char) < 0x20 or 0x7F <= ord(char) <= 0x9F or char in "\u2028\u2029\ufeff"
        or unicodedata.bidirectional(char) in ("LRE", "RLE", "LRO", "RLO", "PDF", "LRI", "RLI", "FSI", "PDI")
        or char in "\u200e\u200f\u061c" or 0xD800 <= ord(char) <= 0xDFFF
    )


@given(st.one_of(hostile_text, any_text))
def test_printable_leaves_nothing_a_terminal_acts_on(text: str) -> None:
    shown = printable(text)
    assert not any(unsafe(c) for c in shown)
    shown.encode("utf-8")  # lone surrogates are escaped too: it always prints
    kept = printable(text, keep_tabs=True)
    assert not any(unsafe(c, tabs_ok=True) for c in kept)
    assert kept.count("\t") == text.count("\t")


@given(st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Cf", "Zl", "Zp")), max_size=60))
def test_printable_keeps_ordinary_text_as_it_is(text: str) -> None:
    assert printable(text) == text


def test_escapes_are_readable() -> None:
    assert printable("a\nb\rc\x1b[2Jd\x7f\x9b\u202e") == "a\\nb\\rc\\x1b[2Jd\\x7f\\x9b\\u202e"


def changeset(path: str, target: str, diff_line: str, source: str) -> Changeset:
    changes = (
        Change(path, ChangeKind.ADDED, new_type=EntryType.FILE, new_mode=0o644, new_size=3,
               diff=unified_diff(path, "", diff_line), risks=("risk.git_hook",)),
        Change(path + "2", ChangeKind.ADDED, new_type=EntryType.SYMLINK, new_target=target,
               refused=f"it contains {path}", notes=(f"note on {path}",)),
    )
    return Changeset(id="abc", workspace="/w", status=ChangesetStatus.PENDING, sha256="0" * 64, created_at=0.0,
                     changes=changes, source=source)


@settings(max_examples=200)
@given(hostile_text, hostile_text, hostile_text, hostile_text, st.booleans())
def test_a_hostile_review_prints_as_many_lines_as_sbx_meant(
    path: str, target: str, line: str, source: str, color: bool
) -> None:
    cs = changeset(path, target, line, "run_shell " + source)
    text = render_changeset(cs, color=color) + "\n" + render_risks(cs.changes, color=color)
    leftover = OUR_SGR.sub("", text) if color else text
    assert not any(unsafe(c, tabs_ok=True) for c in leftover.replace("\n", ""))
    # header, source, 2 summary lines, blank, the diff's own lines; then the risk heading and 1 line
    diff = cs.changes[0].diff
    assert text.count("\n") + 1 == 5 + (len(diff.rstrip("\n").split("\n")) if diff else -1) + 2
    if diff:
        assert leftover.split("\n")[5] == f"--- a/{printable(path)}"
    assert text.splitlines()[-1].startswith("  ") and text.splitlines()[-2].startswith(
        ("RISK", "\x1b[35m\x1b[1mRISK")
    )


def test_render_risks_lists_flagged_changes_only() -> None:
    flagged = Change("a\x1b[2J", ChangeKind.ADDED, new_type=EntryType.FILE, risks=("risk.git_hook",))
    plain = Change("b", ChangeKind.ADDED, new_type=EntryType.FILE)
    assert render_risks([plain], color=False) == ""
    assert render_risks([flagged, plain], color=False) == (
        "RISK: 1 flagged change(s) can run code or leak secrets on the host:\n  a\\x1b[2J: risk.git_hook"
    )


@settings(max_examples=100)
@given(hostile_text, hostile_text)
def test_the_audit_log_prints_one_line_per_entry(intent: str, path: str) -> None:
    entries = [
        Entry(1, "2026-01-01T00:00:00", EventKind.ACTION, "w\x1b]0;x\x07s",
              {"action": "a1", "via": "cli", "intent": intent}, "p1", "h1"),
        Entry(2, "2026-01-01T00:00:01", EventKind.FAILURE, "ws\n",
              {"action": "a1", "changeset": path, "error": {"code": "x", "message": path}}, "h1", "h2"),
    ]
    text = render_log(entries)
    assert text.count("\n") == 1
    assert not any(unsafe(c) for c in text.replace("\n", ""))
