"""The hash chain: the canonical encoding, an entry's hash, and the walk that verifies a chain.

`hash = sha256(canonical JSON of [seq, time, kind, workspace, payload, prev_hash])`, where the
canonical JSON has sorted keys, no whitespace, ASCII only (everything else escaped) and no NaN.
The first entry's `prev_hash` is 64 zeros. Anyone can re-check a log with a few lines of any
language: nothing here is secret.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

from sandbox.digests import canonical_json

GENESIS = "0" * 64


@dataclass(frozen=True)
class Verification:
    """The result of walking the chain. `head` is the hash of the last entry that verified: note
    it somewhere else to detect later truncation or a rewritten chain."""

    ok: bool
    checked: int  # entries that verified before the first broken one (all of them when ok)
    head: str | None
    broken_seq: int | None = None  # the first entry that does not fit (or the seq missing there)
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "head": self.head,
            "broken_seq": self.broken_seq,
            "reason": self.reason,
        }


def entry_hash(seq: int, time: str, kind: str, workspace: str | None, payload: Any, *, prev_hash: str) -> str:
    material = canonical_json([seq, time, kind, workspace, payload, prev_hash])
    return hashlib.sha256(material.encode("ascii")).hexdigest()


def verify_rows(rows: Iterable[tuple[Any, ...]], kinds: Collection[str]) -> Verification:
    """Check rows `(seq, time, kind, workspace, payload_text, prev_hash, hash)` in seq order;
    `kinds` are the event kinds a well-formed entry may have."""
    expected_seq, prev, checked, head = 1, GENESIS, 0, None

    def broken(seq: int, reason: str) -> Verification:
        return Verification(ok=False, checked=checked, head=head, broken_seq=seq, reason=reason)

    for seq, stamp, kind, workspace, text, prev_hash, digest in rows:
        if seq != expected_seq:
            what = "missing (deleted)" if isinstance(seq, int) and seq > expected_seq else "out of order"
            return broken(expected_seq, f"entry {expected_seq} is {what}: the next stored entry is {seq!r}")
        if prev_hash != prev:
            return broken(
                seq,
                f"entry {seq} does not link to the entry before it (prev_hash differs): "
                "an entry was removed, replaced or reordered",
            )
        if not _well_formed(stamp, kind, workspace, text, kinds):
            return broken(seq, f"entry {seq} was edited: its fields are not as sbx writes them")
        if entry_hash(seq, stamp, kind, workspace, json.loads(text), prev_hash=prev_hash) != digest:
            return broken(seq, f"entry {seq} does not match its hash: its contents or its hash were changed")
        prev, head, checked, expected_seq = digest, digest, checked + 1, seq + 1
    return Verification(ok=True, checked=checked, head=head)


def _well_formed(stamp: object, kind: object, workspace: object, text: object, kinds: Collection[str]) -> bool:
    if not isinstance(stamp, str) or kind not in kinds or not isinstance(text, str):
        return False
    if workspace is not None and not isinstance(workspace, str):
        return False
    try:
        payload = json.loads(text)
        return isinstance(payload, dict) and canonical_json(payload) == text
    except ValueError:
        return False
