"""Turning reviewed changes (or a past commit) into commit steps."""

from __future__ import annotations

import os
from collections.abc import Collection, Sequence
from dataclasses import replace
from pathlib import Path

from sandbox.changes.commit import Step
from sandbox.changes.digest import listing_digest
from sandbox.changes.journal import Journal
from sandbox.changes.nodes import SAFE_PERMISSION_BITS, Node
from sandbox.changes.paths import is_below, parent_of
from sandbox.changes.records import ChangeRecord
from sandbox.errors import ChangesetError
from sandbox.types import EntryType


def select(records: Sequence[ChangeRecord], paths: Collection[str] | None) -> list[ChangeRecord]:
    """The records a partial approval covers: each path given selects itself and everything
    below it; the directories a selected entry needs to exist in come along."""
    if paths is None:
        return list(records)
    wanted = {_normalise(p) for p in paths}
    unknown = sorted(w for w in wanted if not any(_covers(w, r.path) for r in records))
    if unknown:
        raise ChangesetError(f"not a path of this changeset: {', '.join(unknown[:5])}", code="changeset.unknown_path")
    chosen = {r.path for r in records if any(_covers(w, r.path) for w in wanted)}
    by_path = {r.path: r for r in records}
    for path in list(chosen):
        ancestor = parent_of(path)
        while ancestor:
            record = by_path.get(ancestor)
            if record is not None and record.creates_dir():
                chosen.add(ancestor)
            ancestor = parent_of(ancestor)
    return [r for r in records if r.path in chosen]


def apply_steps(records: Sequence[ChangeRecord], upper: Path) -> list[Step]:
    """Steps for every record that may reach the host; content comes from the change layer."""
    steps = []
    for record in records:
        if record.refused is not None:
            continue
        after = record.after
        if after is not None and not _stripped(after):  # stripped at review; again if the state file says otherwise
            after = replace(after, mode=after.mode & SAFE_PERMISSION_BITS, uid=None, gid=None, mtime_ns=None)
        source = os.path.join(upper, record.path) if after is not None and after.type == EntryType.FILE else None
        steps.append(Step(record.path, record.base, after, source))
    return steps


def undo_steps(journal: Journal, commit_dir: Path) -> list[Step]:
    """Steps taking every path of a committed apply from what it wrote back to what it replaced.

    A directory the apply created holds, as far as the apply knows, exactly the entries it
    created there: its listing is checked, so an undo never removes a directory a user has
    since put files in."""
    created_in: dict[str, list[str]] = {}
    for step in journal.steps:
        if step.after is not None:
            created_in.setdefault(parent_of(step.path), []).append(step.path.rpartition("/")[2])
    steps = []
    for step in journal.steps:
        expect = None if step.after is None else step.after.without_owner()
        if expect is not None and expect.type == EntryType.DIR and not _is_dir(step.before):
            expect = replace(expect, listing=listing_digest(created_in.get(step.path, [])))
        source = None
        if step.before is not None and step.before.type == EntryType.FILE and step.backup is not None:
            source = str(commit_dir / "backup" / step.backup)
        steps.append(Step(step.path, expect, step.before, source))
    return steps


def _normalise(path: str) -> str:
    path = path.strip()
    while path.startswith("./"):
        path = path[2:]
    return path.rstrip("/")


def _covers(wanted: str, path: str) -> bool:
    return bool(wanted) and (path == wanted or is_below(path, wanted))


def _stripped(node: Node) -> bool:
    """Whether the node carries no setuid/setgid bits, owner or mtime (checked before copying
    it: a replace per file costs more than reading the record)."""
    unowned = node.uid is None and node.gid is None and node.mtime_ns is None
    return unowned and node.mode == node.mode & SAFE_PERMISSION_BITS


def _is_dir(node: Node | None) -> bool:
    return node is not None and node.type == EntryType.DIR
