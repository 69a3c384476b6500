"""Committing path transitions to the host: checked, journalled, atomic per file, reversible.

A commit (an apply, or an undo) is a list of `Step`s in tree order, each taking one path from
`expect` (what the host must hold now) to `after`. It runs in four stages:

1. `check_steps`: read the host (through hostfs, never following links) and sort each step into
   ready, conflict (the host no longer holds `expect`) or unsafe (a parent is a symlink). A step
   that needs a blocked step (a file inside a directory that will not be created, a directory
   that cannot be emptied) is blocked with it.
2. `prepare`: copy every host file that will be replaced or deleted into the commit's backup
   folder, record what each path holds (`before`), sync, then write the journal: PREPARED.
3. `execute`: removals deepest first; then, parents first, directories made and files and links
   staged beside their targets under temporary names; one sync (durable.py) so that every staged
   entry is on disk before any of them replaces its target; the renames; modes and owners,
   deepest first (a directory is made read-only only once its contents are in); a last sync.
   The journal then says DONE.
4. On failure, `roll_back` makes every path hold its `before` again; recovery after a crash runs
   the same function. It looks at what is on the host, not at how far execute got, so it can be
   interrupted and re-run any number of times.

`checkpoint(name)` is called after every step that changes something; tests make it raise to
simulate a crash there. Names: backup:I, journal:prepared, remove:I, build:I (a directory made or
an entry staged), sync:staged, install:I, attrs:I, sync; for rollback the same with a
"rollback-" prefix.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from sandbox.changes import durable
from sandbox.changes import journal as jr
from sandbox.changes.fastcopy import wait_all
from sandbox.changes.hostfs import Copy, HostTree, MissingParent, Owner, UnsafePath, copies_pending
from sandbox.changes.nodes import Node, entry_type_of
from sandbox.changes.paths import display, is_below, join, parent_of, tree_key
from sandbox.changes.statefiles import fsync_dir, remove_tree
from sandbox.errors import ConflictError, SbxError, StateError
from sandbox.types import EntryType

Checkpoint = Callable[[str], None]

CONFLICT = "conflict"
UNSAFE = "unsafe"
REFUSED = "refused"


def no_checkpoint(name: str) -> None:
    """The production checkpoint: nothing to simulate."""


@dataclass(frozen=True)
class Step:
    path: str
    expect: Node | None  # what the host must hold at `path` for the step to go ahead
    after: Node | None  # what it will hold (None: nothing); uid/gid set = restore that owner
    source: str | None = None  # real path of the content of a file `after`

    def creates_dir(self) -> bool:
        return _is(self.after, EntryType.DIR) and not _is(self.expect, EntryType.DIR)

    def removes_dir(self) -> bool:
        return _is(self.expect, EntryType.DIR) and not _is(self.after, EntryType.DIR)


@dataclass(frozen=True)
class Check:
    ready: tuple[Step, ...]
    blocked: Mapping[str, str]  # path -> CONFLICT, UNSAFE or REFUSED

    def blocked_by(self, reason: str) -> tuple[str, ...]:
        return tuple(sorted((p for p, r in self.blocked.items() if r == reason), key=tree_key))


# -- 1. check --------------------------------------------------------------------------------------
def check_steps(host: HostTree, steps: Sequence[Step], refused: Collection[str] = ()) -> Check:
    by_path = {s.path: s for s in steps}
    blocked = {p: REFUSED for p in refused}
    # The host files to compare with the review, hashed on every core at once.
    host.prefetch_digests(s.path for s in steps if _is(s.expect, EntryType.FILE) and s.path not in refused)
    try:
        for step in steps:
            verdict = _verdict(host, step, by_path)
            if verdict is not None:
                blocked[step.path] = verdict
    finally:
        host.drop_prefetched()
    order = sorted({*by_path, *refused}, key=tree_key)
    _propagate(order, blocked, by_path)
    ready = tuple(s for s in sorted(steps, key=lambda s: tree_key(s.path)) if s.path not in blocked)
    return Check(ready, blocked)


def _verdict(host: HostTree, step: Step, by_path: Mapping[str, Step]) -> str | None:
    parent = by_path.get(parent_of(step.path))
    if parent is not None and parent.creates_dir():
        # Below a directory this commit creates nothing can exist yet; the parent's own check
        # verifies that the host still holds what the parent step expects.
        return None if step.expect is None else CONFLICT
    wants_listing = step.expect is not None and step.expect.listing is not None
    try:
        actual = host.node(step.path, listing=wants_listing)
    except UnsafePath:
        return UNSAFE
    except MissingParent:
        return CONFLICT
    if step.expect is None:
        return None if actual is None else CONFLICT
    return None if actual is not None and step.expect.matches(actual) else CONFLICT


def _propagate(order: list[str], blocked: dict[str, str], by_path: Mapping[str, Step]) -> None:
    """Block what depends on a blocked step: everything below a directory that will not be
    created, or not removed or replaced (applying the removals below it alone would leave a
    state nobody reviewed), and a directory whose contents cannot all be removed."""
    prefix: str | None = None
    for path in order:
        if prefix is not None and is_below(path, prefix):
            blocked.setdefault(path, blocked[prefix])
            continue
        prefix = None
        step = by_path.get(path)
        if path in blocked and step is not None and (step.creates_dir() or step.removes_dir()):
            prefix = path
    blocked_below: dict[str, str] = {}
    for path in reversed(order):
        step = by_path.get(path)
        if path not in blocked and path in blocked_below and step is not None and step.removes_dir():
            blocked[path] = blocked_below[path]
        if path in blocked:
            ancestor = parent_of(path)
            while ancestor and ancestor not in blocked_below:
                blocked_below[ancestor] = blocked[path]
                ancestor = parent_of(ancestor)


# -- 2. prepare ------------------------------------------------------------------------------------
def prepare(
    host: HostTree, commit_dir: Path, header: jr.Journal, steps: Sequence[Step], checkpoint: Checkpoint
) -> jr.Journal:
    backup_dir = commit_dir / "backup"
    backup_dir.mkdir(parents=True, exist_ok=True)
    as_root = os.geteuid() == 0
    owners: dict[str, Owner] = {}
    created_dirs = {s.path for s in steps if s.creates_dir()}
    journal_steps = []
    copies: list[Copy] = []
    try:
        for index, step in enumerate(steps):
            temp = f".sbx-{header.commit_id}-{index}"
            # Rollback removes these names, so they must not be anything of the user's.
            if parent_of(step.path) not in created_dirs and host.exists(join(parent_of(step.path), temp)):
                raise StateError(f"{display(step.path)}: a file named {temp} is in the way", code="state.temp_exists")
            before, backup = _snapshot(host, step, backup_dir, index, copies)
            after = _with_owner(host, step, before, owners, as_root)
            journal_steps.append(jr.JournalStep(step.path, before, after, backup, step.source, temp))
            checkpoint(f"backup:{index}")
        host.check_copied(copies)  # each backup holds what the check saw, hashed once, as copied
    except BaseException:
        wait_all(copies_pending(copies))
        raise
    if copies:  # every backup is on disk before the journal names it (none made: nothing to wait for)
        durable.sync_filesystem_of(str(backup_dir))
    journal = replace(header, state=jr.PREPARED, steps=tuple(journal_steps))
    jr.save(commit_dir, journal)
    fsync_dir(commit_dir.parent)  # the commit's own folder is found after a power loss
    checkpoint("journal:prepared")
    return journal


def _snapshot(
    host: HostTree, step: Step, backup_dir: Path, index: int, copies: list[Copy]
) -> tuple[Node | None, str | None]:
    """What the host holds at the step's path (already checked to match `expect`), backed up."""
    if step.expect is None:
        return None, None
    st = host.lstat(step.path)
    if st is None or entry_type_of(st.st_mode) != step.expect.type:
        raise ConflictError(f"{display(step.path)} changed on the host while sbx was committing", (step.path,))
    if step.expect.type != EntryType.FILE:
        node = host.node(step.path)
        if node is None:  # gone between the two looks
            raise ConflictError(f"{display(step.path)} changed on the host while sbx was committing", (step.path,))
        return node, None
    backup = f"{index:06d}"
    copies.append(host.copy_out(step.path, step.expect.sha256, str(backup_dir / backup)))
    snapshot = replace(step.expect, listing=None, size=st.st_size, mtime_ns=st.st_mtime_ns)
    return replace(snapshot, uid=st.st_uid, gid=st.st_gid), backup


def _with_owner(
    host: HostTree, step: Step, before: Node | None, owners: dict[str, Owner], as_root: bool
) -> Node | None:
    """The owner sbx gives the entry: kept from what it replaces, else its parent directory's,
    so that root running sbx on a user's folder leaves the user's files. Only root chowns."""
    after = step.after
    if after is None:
        return None
    if not as_root:
        return after if after.uid is None and after.gid is None else replace(after, uid=None, gid=None)
    if after.uid is not None and after.gid is not None:
        owner = (after.uid, after.gid)
    elif before is not None and before.uid is not None and before.gid is not None:
        owner = (before.uid, before.gid)
    else:
        parent = parent_of(step.path)
        known = owners.get(parent)
        if known is None:
            st = host.dir_stat(parent)
            known = (st.st_uid, st.st_gid)
        owner = known
    owners[step.path] = owner
    return replace(after, uid=owner[0], gid=owner[1])


# -- 3. execute ------------------------------------------------------------------------------------
def execute(host: HostTree, journal: jr.Journal, checkpoint: Checkpoint) -> None:
    steps = journal.steps
    for index in reversed(range(len(steps))):
        step = steps[index]
        if step.before is not None and (step.after is None or step.before.type != step.after.type):
            host.remove(step.path)
            checkpoint(f"remove:{index}")
    staged = []
    copies: list[Copy] = []
    try:
        for index, step in enumerate(steps):
            if step.after is not None:
                if _make_or_stage(host, step, step.after, step.source, step.temp, copies=copies):
                    staged.append(index)
                checkpoint(f"build:{index}")
        _install(host, [(steps[i].path, steps[i].temp, i) for i in staged], copies, checkpoint, "")
    except BaseException:
        wait_all(copies_pending(copies))  # no worker still reads a copy the rollback removes
        raise
    for index in reversed(range(len(steps))):
        step = steps[index]
        if step.after is not None and _needs_attrs(step.before, step.after):
            host.set_attrs(step.path, step.after.mode, _owner(step.after), step.after.mtime_ns)
            checkpoint(f"attrs:{index}")
    host.sync()
    checkpoint("sync")


def _make_or_stage(
    host: HostTree, step: jr.JournalStep, node: Node, source: str | None, temp: str, *, copies: list[Copy]
) -> bool:
    """Create a directory in place, or stage a file or link beside its target (True); a staged
    file's digest is added to `copies`, to be checked before anything is installed."""
    before = step.before
    if node.type == EntryType.DIR:
        if not _is(before, EntryType.DIR) and host.lstat(step.path) is None:
            host.mkdir(step.path)
        return False
    if node.type == EntryType.FILE:
        if _same_file(before, node):
            return False  # the content stays: only attributes change
        if source is None:
            raise StateError(f"the journal has no content for {display(step.path)}", code="state.corrupt")
        copies.append(host.start_stage_file(step.path, temp, source, node, _owner(node)))
        return True
    if node.type == EntryType.SYMLINK:
        host.stage_symlink(step.path, temp, node, _owner(node))
        return True
    raise StateError(f"refusing to create a {node.type} at {display(step.path)}", code="state.corrupt")


def _install(
    host: HostTree, staged: Sequence[tuple[str, str, int]], copies: Sequence[Copy], checkpoint: Checkpoint, prefix: str
) -> None:
    """Rename staged entries over their targets, once all of them hold the reviewed content
    and are durable."""
    host.check_staged(copies)
    host.sync()
    checkpoint(f"{prefix}sync:staged")
    for path, temp, index in staged:
        host.install(path, temp)
        checkpoint(f"{prefix}install:{index}")


def _needs_attrs(before: Node | None, after: Node) -> bool:
    """Directories always (made final once filled); files only when their content is kept."""
    if after.type == EntryType.DIR:
        return True
    return after.type == EntryType.FILE and _same_file(before, after)


# -- 4. roll back ----------------------------------------------------------------------------------
def roll_back(host: HostTree, commit_dir: Path, journal: jr.Journal, checkpoint: Checkpoint) -> None:
    """Make every path of the journal hold its `before` again, whatever state the host is in."""
    steps = journal.steps
    for index in reversed(range(len(steps))):
        step = steps[index]
        host.remove_temp(step.path, step.temp)
        host.remove_temp(step.path, _rollback_temp(step))
        current = _lstat_type(host, step.path)
        if current is not None and (step.before is None or current != step.before.type):
            host.remove(step.path)
        checkpoint(f"rollback-remove:{index}")
    as_root = os.geteuid() == 0
    staged = []
    copies: list[Copy] = []
    try:
        for index, step in enumerate(steps):
            if step.before is not None:
                if _restore_or_stage(host, commit_dir, step, step.before, as_root, copies=copies):
                    staged.append((step.path, _rollback_temp(step), index))
                checkpoint(f"rollback-build:{index}")
        _install(host, staged, copies, checkpoint, "rollback-")
    except BaseException:
        wait_all(copies_pending(copies))
        raise
    for index in reversed(range(len(steps))):
        before = steps[index].before
        if before is not None and before.type in (EntryType.FILE, EntryType.DIR):
            owner = _owner(before) if as_root else None
            host.set_attrs(steps[index].path, before.mode, owner, before.mtime_ns)
            checkpoint(f"rollback-attrs:{index}")
    host.sync()
    jr.set_state(commit_dir, journal, jr.ROLLED_BACK)


def _restore_or_stage(
    host: HostTree, commit_dir: Path, step: jr.JournalStep, before: Node, as_root: bool, *, copies: list[Copy]
) -> bool:
    """Recreate a directory, or stage the backed-up file or link if the host lost it (True)."""
    restored = replace(before, uid=None, gid=None) if not as_root else before
    current = None if before.type == EntryType.DIR else host.node(step.path)
    if before.type == EntryType.FILE and current is not None and current.sha256 == before.sha256:
        return False
    if before.type == EntryType.SYMLINK and current is not None and current.target == before.target:
        return False
    source = None if step.backup is None else str(commit_dir / "backup" / step.backup)
    return _make_or_stage(host, replace(step, before=None), restored, source, _rollback_temp(step), copies=copies)


def run(
    host: HostTree, commit_dir: Path, header: jr.Journal, steps: Sequence[Step], checkpoint: Checkpoint
) -> jr.Journal:
    """prepare + execute, rolled back in-process on any error; returns the DONE journal.

    A crash (or a checkpoint raising something that is not an Exception) leaves the journal for
    `recover` instead."""
    try:
        journal = prepare(host, commit_dir, header, steps, checkpoint)
    except (Exception, KeyboardInterrupt) as exc:
        remove_tree(commit_dir)  # the host was not touched yet
        if isinstance(exc, SbxError | KeyboardInterrupt):
            raise
        raise StateError(f"the commit could not be prepared: {exc}", code="changeset.commit_failed") from exc
    try:
        execute(host, journal, checkpoint)
    except (Exception, KeyboardInterrupt) as exc:
        _roll_back_after(host, commit_dir, journal, exc)
        remove_tree(commit_dir)
        if isinstance(exc, SbxError | KeyboardInterrupt):
            raise
        raise StateError(f"the commit failed and was rolled back: {exc}", code="changeset.commit_failed") from exc
    done = jr.set_state(commit_dir, journal, jr.DONE)
    checkpoint("journal:done")
    return done


def _roll_back_after(host: HostTree, commit_dir: Path, journal: jr.Journal, cause: BaseException) -> None:
    try:
        roll_back(host, commit_dir, journal, no_checkpoint)
    except Exception as exc:
        raise StateError(
            f"the commit failed ({cause}) and rolling it back failed too ({exc})",
            code="state.rollback_failed",
            hint="fix the cause, then run any sbx command on this workspace: it retries the rollback",
        ) from exc


# -- helpers ---------------------------------------------------------------------------------------
def _lstat_type(host: HostTree, path: str) -> EntryType | None:
    """What is at `path` now; nothing, if it cannot be reached without following a link."""
    try:
        st = host.lstat(path)
    except (MissingParent, UnsafePath):
        return None
    return None if st is None else entry_type_of(st.st_mode)


def _rollback_temp(step: jr.JournalStep) -> str:
    return step.temp + "r"


def _owner(node: Node) -> Owner | None:
    return None if node.uid is None or node.gid is None else (node.uid, node.gid)


def _same_file(before: Node | None, after: Node) -> bool:
    return _is(before, EntryType.FILE) and before is not None and before.sha256 == after.sha256


def _is(node: Node | None, entry_type: EntryType) -> bool:
    return node is not None and node.type == entry_type
