"""`ChangesetStore`: one workspace's change layers, changesets and commits.

State lives outside the workspace, in STATE_ROOT/workspaces/<sha256(realpath)[:16]>/:

    workspace.json            the workspace's real path
    lock                      flock'ed by the process working on the workspace
    seq                       a counter ordering changesets and commits
    changesets/<id>/          meta.json, changes.json, upper/ and work/ (the overlay's dirs)
    commits/<commit_id>/      journal.json and backup/ (see journal.py)

Life of a changeset: `new_layer` (OPEN) -> the engine runs an action on upper/work ->
`finalize` (PENDING, or EMPTY) -> `apply` (APPLIED) or `discard` (DISCARDED). `undo` makes the
last applied one PENDING again: its layer is kept until it is discarded, so it can be re-applied.
"""

from __future__ import annotations

import builtins
import hashlib
import os
import secrets
import stat
import time
from collections.abc import Collection, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

from sandbox.changes import commit
from sandbox.changes import journal as jr
from sandbox.changes.commit import CONFLICT, REFUSED, UNSAFE, Check, Checkpoint, no_checkpoint
from sandbox.changes.digest import layer_digest
from sandbox.changes.hostfs import HostTree
from sandbox.changes.layers import read_changes
from sandbox.changes.meta import OPEN, Meta, load_meta, load_records, save_meta, save_records
from sandbox.changes.nodes import corrupt
from sandbox.changes.records import ChangeRecord
from sandbox.changes.selection import apply_steps, select, undo_steps
from sandbox.changes.statefiles import read_json, remove_tree, write_json
from sandbox.errors import ChangesetError, ConflictError, SbxError, StateError, UnsafeChangeError, WorkspaceError
from sandbox.locks import exclusive, waiting
from sandbox.procs import pid_alive
from sandbox.safedirs import private_dir
from sandbox.types import Changeset, ChangesetStatus, CommitResult, Recovered

_ID_BYTES = 4  # changeset ids: 8 hex digits
_SHOWN = 5  # paths named in an error message


@dataclass(frozen=True)
class Layer:
    """A change layer allocated for one action: the overlay's upperdir and workdir."""

    id: str
    upper: Path
    work: Path


@dataclass(frozen=True)
class Quarantined:
    """A changeset folder recovery could not handle, moved aside (to `moved_to`) with why."""

    changeset_id: str
    reason: str
    moved_to: str

    def describe(self) -> str:
        return (f"changeset {self.changeset_id} could not be cleaned up ({self.reason}); "
                f"it was moved to {self.moved_to}, and can be deleted from there")


class ChangesetStore:
    def __init__(self, state_root: Path, workspace: Path, *, checkpoint: Checkpoint | None = None) -> None:
        self.workspace = _resolve_workspace(Path(workspace))
        key = hashlib.sha256(str(self.workspace).encode()).hexdigest()[:16]
        self._state_root, self._key = Path(state_root), key
        self.state_dir = Path(os.path.realpath(state_root)) / "workspaces" / key
        _check_state_outside(self.state_dir, self.workspace)
        self._checkpoint = checkpoint or no_checkpoint
        self.quarantined: builtins.list[Quarantined] = []
        self._changesets = self.state_dir / "changesets"
        self._commits = self.state_dir / "commits"
        # Each meta.json as last read, by the identity of the file read: a meta is replaced by a
        # rename (a new inode), by any process, so a changed one is never served from here.
        self._meta_cache: dict[str, tuple[tuple[int, int, int], Meta]] = {}
        self._init_state_dir()

    # -- layers ------------------------------------------------------------------------------------
    def lock(self) -> AbstractContextManager[None]:
        return exclusive(self.state_dir / "lock", str(self.workspace))

    def new_layer(self, source: str) -> Layer:
        layer_id = self._reserve_id()
        directory = self._changesets / layer_id
        layer = Layer(layer_id, directory / "upper", directory / "work")
        layer.upper.mkdir(mode=0o755)
        layer.work.mkdir(mode=0o700)
        # The overlay shows the upper root's attributes as the workspace root's.
        os.chmod(layer.upper, stat.S_IMODE(os.stat(self.workspace).st_mode))
        save_meta(directory, Meta(layer_id, self._next_seq(), time.time(), source, OPEN, pid=os.getpid()))
        return layer

    def lower_layers(self, before: str | None = None) -> list[Path]:
        metas = self._metas()
        limit = None
        if before is not None:
            limit = next((m.seq for m in metas if m.id == before), None)
            if limit is None:
                raise _not_found(before, self.workspace)
        pending = [m for m in metas if m.status == ChangesetStatus.PENDING and (limit is None or m.seq < limit)]
        return [self._changesets / m.id / "upper" for m in sorted(pending, key=lambda m: m.seq, reverse=True)]

    def view_generation(self) -> str:
        """Changes with every commit onto the host folder (apply, undo, recovery), by any process:
        each makes its folder under commits/. With the pending layers, what a call would see."""
        return str(os.stat(self._commits).st_mtime_ns)

    def finalize(self, layer_id: str) -> Changeset:
        with self.lock():
            meta = self._open_meta(layer_id)
            directory = self._changesets / layer_id
            lowers = [str(p) for p in self.lower_layers(before=layer_id)] + [str(self.workspace)]
            try:
                records = read_changes(str(directory / "upper"), lowers)
                sha256 = layer_digest(str(directory / "upper"), _reviewed_digests(records))  # each file read once
            except (OSError, StateError) as exc:
                raise self._refuse_layer(directory, meta, exc) from exc
            status = ChangesetStatus.PENDING if records else ChangesetStatus.EMPTY
            # An empty changeset need not survive a crash: recovery finds the layer open, its
            # process gone, and drops it, which is all there was to it.
            durable = status == ChangesetStatus.PENDING
            save_records(directory, records, durable=durable)
            meta = meta.with_status(status, pid=None, sha256=sha256)
            save_meta(directory, meta, durable=durable)
            remove_tree(directory / "work")
            if status == ChangesetStatus.EMPTY:
                remove_tree(directory / "upper")
            return meta.changeset(str(self.workspace), tuple(records))

    def _refuse_layer(self, directory: Path, meta: Meta, exc: OSError | StateError) -> StateError:
        """A layer that cannot be reviewed is discarded at once (quarantined if even that fails), so
        the workspace stays usable; the error says what happened."""
        if isinstance(exc, StateError):
            what, code, hint = exc.message, exc.code, exc.hint
        else:
            what, code, hint = f"its change layer cannot be read ({exc})", "state.unreadable_layer", None
        save_meta(directory, meta.with_status(ChangesetStatus.DISCARDED, pid=None))
        try:
            self._drop_layer(directory)
        except OSError as failed:
            self._quarantine(directory, failed)
        message = f"changeset {meta.id}: {what}; the layer was discarded and the workspace is untouched"
        return StateError(message, code=code, hint=hint)

    def reject(self, layer_id: str, error: StateError) -> StateError:
        """Discard an open layer that cannot be reviewed for a reason found outside the store (the
        engine could not keep it whole); the returned error says so."""
        with self.lock():
            return self._refuse_layer(self._changesets / layer_id, self._open_meta(layer_id), error)

    def refuse(self, layer_id: str) -> Changeset:
        """Discard an open layer without reviewing it (it broke a change budget): DISCARDED, no
        changes, its folders removed at once."""
        with self.lock():
            meta = self._open_meta(layer_id)
            directory = self._changesets / layer_id
            save_records(directory, [])
            meta = meta.with_status(ChangesetStatus.DISCARDED, pid=None)
            save_meta(directory, meta)
            self._drop_layer(directory)
            return meta.changeset(str(self.workspace), ())

    def abandon(self, layer_id: str) -> None:
        directory = self._changesets / layer_id
        if not (directory / "meta.json").exists():
            return
        self._open_meta(layer_id)
        remove_tree(directory)

    # -- reading -----------------------------------------------------------------------------------
    def get(self, ref: str | None = None) -> Changeset:
        return self._changeset(self._find(ref))

    def list(self) -> list[Changeset]:
        metas = sorted((m for m in self._metas() if m.status != OPEN), key=lambda m: m.seq)
        return [self._changeset(m) for m in metas]

    # -- committing --------------------------------------------------------------------------------
    def apply(
        self,
        ref: str,
        *,
        sha256: str | None = None,
        paths: Collection[str] | None = None,
        skip_conflicts: bool = False,
    ) -> CommitResult:
        with self.lock():
            meta = self._find(ref)
            if meta.status == ChangesetStatus.EMPTY or (paths is not None and not paths):
                return CommitResult(meta.id, applied=())
            _require_pending(meta)
            directory = self._changesets / meta.id
            records = load_records(directory)
            if sha256 is not None:
                _verify_digest(meta, sha256, directory / "upper", records)
            selected = select(records, paths)
            steps = apply_steps(selected, directory / "upper")
            refused = [r.path for r in selected if r.refused is not None]
            with self._host() as host:
                check = commit.check_steps(host, steps, refused)
                if not skip_conflicts:
                    _raise_if_blocked(check, meta.id)
                conflicts = check.blocked_by(CONFLICT)
                not_applied = check.blocked_by(REFUSED) + check.blocked_by(UNSAFE)
                if not check.ready:
                    if not conflicts:  # approved, and nothing left that could ever apply
                        save_meta(directory, meta.with_status(ChangesetStatus.APPLIED, refused=not_applied))
                    return CommitResult(meta.id, (), conflicts, not_applied)
                header = self._header(jr.APPLY, meta.id, conflicts=conflicts, refused=not_applied)
                done = commit.run(host, self._commits / header.commit_id, header, check.ready, self._checkpoint)
            self._finish_apply(done)
            return CommitResult(meta.id, done.applied, conflicts, not_applied, done.commit_id)

    def discard(self, ref: str) -> Changeset:
        with self.lock():
            meta = self._find(ref)
            if meta.status not in (ChangesetStatus.PENDING, ChangesetStatus.EMPTY):
                message = f"changeset {meta.id} is {meta.status}: only a pending one can be discarded"
                raise ChangesetError(message, code="changeset.not_pending")
            directory = self._changesets / meta.id
            records = load_records(directory)
            meta = meta.with_status(ChangesetStatus.DISCARDED)
            save_meta(directory, meta)
            self._drop_layer(directory)
            return meta.changeset(str(self.workspace), records)

    def undo(self) -> CommitResult:
        with self.lock():
            applied = self._last_commit()
            if applied is None:
                raise ChangesetError(f"nothing to undo in {self.workspace}", code="changeset.nothing_to_undo")
            steps = undo_steps(applied, self._commits / applied.commit_id)
            with self._host() as host:
                check = commit.check_steps(host, steps)
                if check.blocked:
                    changed = tuple(sorted(check.blocked))
                    raise ConflictError(
                        f"cannot undo commit {applied.commit_id}: changed since it was made: {_some(changed)}",
                        changed,
                        hint="restore or move those paths, then undo again",
                    )
                header = self._header(jr.UNDO, applied.changeset_id, undoes=applied.commit_id)
                done = commit.run(host, self._commits / header.commit_id, header, check.ready, self._checkpoint)
            self._finish_undo(done)
            return CommitResult(applied.changeset_id, done.applied, commit_id=done.commit_id)

    def has_interrupted_commit(self) -> bool:
        """Whether some commit is not settled: one a dead process left (or a live one is making)."""
        return any(not jr.settled(d) for d in self._commits.iterdir() if d.is_dir() and not d.is_symlink())

    def recover(self) -> tuple[Recovered, ...]:
        """Finish or roll back every commit a dead process left; returns what that changed."""
        with self.lock():
            recovered = []
            for commit_dir in sorted(d for d in self._commits.iterdir() if d.is_dir() and not d.is_symlink()):
                outcome = self._recover_commit(commit_dir)
                if outcome is not None:
                    recovered.append(outcome)
            for directory in list(self._changeset_dirs()):
                try:
                    self._collect_layer(directory)
                except (OSError, SbxError) as exc:
                    self._quarantine(directory, exc)
            return tuple(recovered)

    # -- commit bookkeeping ------------------------------------------------------------------------
    def _finish_apply(self, done: jr.Journal) -> None:
        directory = self._changesets / done.changeset_id
        meta = load_meta(directory)
        save_meta(
            directory,
            meta.with_status(
                ChangesetStatus.APPLIED,
                commit_id=done.commit_id,
                applied=done.applied,
                conflicts=done.conflicts,
                refused=done.refused,
                undone=False,
            ),
        )
        self._checkpoint("meta:applied")
        jr.set_state(self._commits / done.commit_id, done, jr.COMMITTED)
        self._checkpoint("journal:committed")

    def _finish_undo(self, done: jr.Journal) -> None:
        if done.undoes is None:
            raise corrupt(str(self._commits / done.commit_id), "an undo journal that names no commit it undoes")
        target_dir = self._commits / done.undoes
        target = jr.load(target_dir)
        if target.state == jr.COMMITTED:
            jr.set_state(target_dir, target, jr.UNDONE)
        self._checkpoint("journal:undone")
        directory = self._changesets / done.changeset_id
        meta = load_meta(directory)
        status = ChangesetStatus.PENDING if (directory / "upper").is_dir() else ChangesetStatus.APPLIED
        save_meta(directory, meta.with_status(status, undone=True, applied=(), conflicts=(), refused=()))
        self._checkpoint("meta:undone")
        jr.set_state(self._commits / done.commit_id, done, jr.COMMITTED)
        self._checkpoint("journal:committed")
        remove_tree(self._commits / done.commit_id / "backup")
        remove_tree(target_dir / "backup")

    def _recover_commit(self, commit_dir: Path) -> Recovered | None:
        if not jr.journal_path(commit_dir).exists():
            remove_tree(commit_dir)  # a commit that died before its journal: the host was not touched
            return None
        journal = jr.load(commit_dir)
        outcome = jr.ROLLED_BACK if journal.state == jr.PREPARED else jr.COMMITTED
        recovered = Recovered(journal.commit_id, journal.kind, journal.changeset_id, outcome, len(journal.steps))
        if journal.state == jr.PREPARED:
            try:
                with self._host() as host:
                    commit.roll_back(host, commit_dir, journal, self._checkpoint)
            except (OSError, SbxError) as exc:
                raise StateError(
                    f"an interrupted commit in {self.workspace} could not be rolled back: {exc}",
                    code="state.rollback_failed",
                    hint="fix the cause and run any sbx command on this workspace again",
                ) from exc
            remove_tree(commit_dir)
        elif journal.state == jr.ROLLED_BACK:
            remove_tree(commit_dir)  # only the folder was left: the host was restored already
            return None
        elif journal.state == jr.DONE and journal.kind == jr.APPLY:
            self._finish_apply(journal)
        elif journal.state == jr.DONE:
            self._finish_undo(journal)
        else:
            return None  # committed or undone: nothing was interrupted
        return recovered

    def _collect_layer(self, directory: Path) -> None:
        """Remove what a crash left of a layer: an action's layer whose process is gone, the
        folders of a discarded or empty changeset."""
        if not (directory / "meta.json").exists():
            if time.time() - directory.stat().st_mtime > 3600:
                remove_tree(directory)  # id reserved by a process that died before writing meta
            return
        meta = load_meta(directory)
        if meta.status == OPEN and meta.pid is not None and not pid_alive(meta.pid):
            remove_tree(directory)
        elif meta.status in (ChangesetStatus.DISCARDED, ChangesetStatus.EMPTY):
            self._drop_layer(directory)

    def _quarantine(self, directory: Path, exc: OSError | SbxError) -> None:
        """Move a changeset folder that sbx cannot handle out of its way (a rename: instant at any
        size or depth), so that every other command on the workspace keeps working."""
        target = self.state_dir / "quarantine" / f"{directory.name}-{time.time_ns()}"
        target.parent.mkdir(mode=0o700, exist_ok=True)
        os.rename(directory, target)
        reason = exc.message if isinstance(exc, SbxError) else (exc.strerror or str(exc))
        self.quarantined.append(Quarantined(directory.name, reason, str(target)))

    def take_quarantined(self) -> tuple[Quarantined, ...]:
        """The changeset folders moved to quarantine since the last call."""
        taken, self.quarantined = tuple(self.quarantined), []
        return taken

    @contextmanager
    def _host(self) -> Iterator[HostTree]:
        """The host workspace for a commit; an OS error reading it is a clear one-line error."""
        try:
            with HostTree(str(self.workspace)) as host:
                yield host
        except OSError as exc:
            raise StateError(
                f"cannot work on the workspace {self.workspace}: {exc.strerror or exc}",
                code="workspace.unusable",
            ) from exc

    def _last_commit(self) -> jr.Journal | None:
        journals = [jr.load(d) for d in self._commits.iterdir() if d.is_dir() and jr.journal_path(d).exists()]
        applies = [j for j in journals if j.kind == jr.APPLY and j.state == jr.COMMITTED]
        return max(applies, key=lambda j: j.seq, default=None)

    def _header(
        self,
        kind: str,
        changeset_id: str,
        *,
        undoes: str | None = None,
        conflicts: tuple[str, ...] = (),
        refused: tuple[str, ...] = (),
    ) -> jr.Journal:
        """A journal without steps yet, for a new commit."""
        return jr.Journal(
            commit_id=secrets.token_hex(8),
            kind=kind,
            changeset_id=changeset_id,
            seq=self._next_seq(),
            created_at=time.time(),
            state=jr.PREPARED,
            steps=(),
            undoes=undoes,
            conflicts=conflicts,
            refused=refused,
        )

    # -- changesets on disk ------------------------------------------------------------------------
    def _find(self, ref: str | None) -> Meta:
        metas = [m for m in self._metas() if m.status != OPEN]
        if ref is None:
            pending = [m for m in metas if m.status == ChangesetStatus.PENDING]
            if not pending:
                raise ChangesetError(f"no pending changeset in {self.workspace}", code="changeset.none_pending")
            return max(pending, key=lambda m: m.seq)
        wanted = ref.strip().lower()
        exact = [m for m in metas if m.id == wanted]
        matches = exact or ([m for m in metas if m.id.startswith(wanted)] if wanted else [])
        if not matches:
            raise _not_found(ref, self.workspace)
        if len(matches) > 1:
            ids = ", ".join(sorted(m.id for m in matches))
            raise ChangesetError(f"changeset prefix {ref!r} is ambiguous: {ids}", code="changeset.ambiguous")
        return matches[0]

    def _metas(self) -> builtins.list[Meta]:
        """Every changeset's meta. Each call reads them all (a workspace's history holds every
        empty, applied and discarded one too), so a meta whose file is unchanged is not parsed again."""
        metas = []
        for directory in self._changeset_dirs():
            try:
                st = os.stat(directory / "meta.json")
            except FileNotFoundError:
                continue
            key = (st.st_ino, st.st_mtime_ns, st.st_size)
            cached = self._meta_cache.get(directory.name)
            if cached is None or cached[0] != key:
                cached = (key, load_meta(directory))
                self._meta_cache[directory.name] = cached
            metas.append(cached[1])
        return metas

    def _changeset_dirs(self) -> Iterator[Path]:
        for directory in self._changesets.iterdir():
            if len(directory.name) == 2 * _ID_BYTES and _is_hex(directory.name) and directory.is_dir():
                yield directory

    def _changeset(self, meta: Meta) -> Changeset:
        directory = self._changesets / meta.id
        records: tuple[ChangeRecord, ...] = load_records(directory) if (directory / "changes.json").exists() else ()
        return meta.changeset(str(self.workspace), records)

    def _open_meta(self, layer_id: str) -> Meta:
        directory = self._changesets / layer_id
        if not _is_hex(layer_id) or not (directory / "meta.json").exists():
            raise _not_found(layer_id, self.workspace)
        meta = load_meta(directory)
        if meta.status != OPEN:
            raise ChangesetError(f"changeset {layer_id} is already {meta.status}", code="changeset.not_open")
        return meta

    def _drop_layer(self, directory: Path) -> None:
        remove_tree(directory / "upper")
        remove_tree(directory / "work")

    def _reserve_id(self) -> str:
        while True:
            candidate = secrets.token_hex(_ID_BYTES)
            try:
                (self._changesets / candidate).mkdir(mode=0o700)
            except FileExistsError:
                continue
            return candidate

    def _next_seq(self) -> int:
        """A strictly increasing number, shared by changesets and commits of this workspace."""
        with waiting(self.state_dir / "seq") as fd:  # held for microseconds: waiting is fine
            previous = os.pread(fd, 32, 0).decode(errors="replace").strip()
            seq = max(time.time_ns(), int(previous) + 1 if previous.isdigit() else 0)
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(seq).encode(), 0)
            return seq

    def _init_state_dir(self) -> None:
        try:
            for sub in (self._changesets.name, self._commits.name):
                private_dir(self._state_root, "workspaces", self._key, sub, env="SBX_STATE_DIR")
        except OSError as exc:
            message = f"cannot create sbx's state folder {self.state_dir}: {exc.strerror}"
            raise StateError(message, code="state.unwritable") from exc
        marker = self.state_dir / "workspace.json"
        if not marker.exists():
            write_json(marker, {"path": str(self.workspace)})
        elif read_json(marker).get("path") != str(self.workspace):
            hint = f"move {self.state_dir} aside"
            raise StateError(f"{marker} belongs to another workspace", code="state.corrupt", hint=hint)


def _resolve_workspace(workspace: Path) -> Path:
    try:
        st = os.stat(workspace)
    except FileNotFoundError:
        raise WorkspaceError(f"workspace {workspace} does not exist", code="workspace.not_found") from None
    except OSError as exc:
        message = f"workspace {workspace} cannot be used: {exc.strerror}"
        raise WorkspaceError(message, code="workspace.unusable") from None
    if not stat.S_ISDIR(st.st_mode):
        raise WorkspaceError(f"workspace {workspace} is not a directory", code="workspace.not_a_dir")
    return Path(os.path.realpath(workspace))


def _check_state_outside(state_dir: Path, workspace: Path) -> None:
    if state_dir.is_relative_to(workspace) or workspace.is_relative_to(state_dir):
        raise WorkspaceError(
            f"sbx keeps its state in {state_dir}, inside the workspace {workspace}",
            code="workspace.contains_state",
            hint="use a workspace that does not contain sbx's state folder, or move the state (SBX_STATE_DIR)",
        )


def _require_pending(meta: Meta) -> None:
    if meta.status != ChangesetStatus.PENDING:
        raise ChangesetError(f"changeset {meta.id} is {meta.status}, not pending", code="changeset.not_pending")


def _verify_digest(meta: Meta, expected: str, upper: Path, records: Collection[ChangeRecord]) -> None:
    """Files count with their reviewed digests: the commit checks every copy it stages."""
    actual = layer_digest(str(upper), _reviewed_digests(records))
    if expected.strip().lower() != actual or actual != meta.sha256:
        raise ChangesetError(
            f"changeset {meta.id} does not match sha256 {expected[:16]}... "
            f"(its layer hashes to {actual[:16]}...); nothing was applied",
            code="changeset.hash_mismatch",
        )


def _reviewed_digests(records: Collection[ChangeRecord]) -> dict[str, str]:
    return {r.path: r.after.sha256 for r in records if r.after is not None and r.after.sha256 is not None}


def _raise_if_blocked(check: Check, changeset_id: str) -> None:
    unsafe = check.blocked_by(UNSAFE)
    if unsafe:
        raise UnsafeChangeError(
            f"changeset {changeset_id} would write through a symlink on the host at {_some(unsafe)}; "
            "nothing was applied",
            hint="apply the rest with skip_conflicts (those paths are refused)",
        )
    conflicts = check.blocked_by(CONFLICT)
    if conflicts:
        raise ConflictError(
            f"changeset {changeset_id}: the host changed since the action ran: {_some(conflicts)}; nothing was applied",
            conflicts,
            hint="apply the other changes with skip_conflicts, or re-run the action on the current state",
        )


def _not_found(ref: str, workspace: Path) -> ChangesetError:
    return ChangesetError(f"no changeset {ref!r} in {workspace}", code="changeset.not_found")


def _some(paths: tuple[str, ...]) -> str:
    more = len(paths) - _SHOWN
    return ", ".join(paths[:_SHOWN]) + (f" and {more} more" if more > 0 else "")


def _is_hex(text: str) -> bool:
    return bool(text) and all(c in "0123456789abcdef" for c in text)

