"""`AuditLog`: an append-only, hash-chained log of what sbx did, in one SQLite file.

Every entry is one row `(seq, time, kind, workspace, payload, prev_hash, hash)`:

* `seq` counts from 1 with no gaps; `prev_hash` is the previous entry's `hash` (64 zeros for
  the first); `hash = sha256(canonical JSON of [seq, time, kind, workspace, payload, prev_hash])`,
  canonical meaning sorted keys, no whitespace, ASCII only. `verify()` recomputes the chain and
  names the first entry that does not fit: an edited row, a deleted or reordered one, a forged
  hash.
* One append is one `BEGIN IMMEDIATE` transaction: read the head, insert the next row, commit.
  SQLite serialises writers across processes (WAL mode, a busy timeout), so concurrent sbx
  processes extend one chain and never fork it. `prev_hash` is also UNIQUE, so a fork could not
  be stored even by a buggy writer.
* There is no update or delete in this API, and triggers refuse UPDATE and DELETE in the file.
  Triggers stop accidents, not an attacker with write access to the file: that is what the
  chain is for. An attacker who rewrites every hash after an edit, or drops the newest entries,
  is detected only by comparing the head hash with one noted elsewhere (`Verification.head`).

Any SQLite error (not a database, malformed, unknown schema) is a `StateError` with code
`state.corrupt` naming the file; a writer that waited out the busy timeout gets `state.locked`.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sandbox.audit import events as ev
from sandbox.audit.chain import GENESIS, Verification, entry_hash, verify_rows
from sandbox.audit.events import EventKind, Via
from sandbox.config import Settings
from sandbox.digests import canonical_json
from sandbox.errors import StateError
from sandbox.safedirs import private_dir
from sandbox.types import Changeset, CommitResult, StepResult

SCHEMA_VERSION = 1
DEFAULT_BUSY_TIMEOUT_S = 30.0
FILE_NAME = "audit.sqlite"
_INSERT = "INSERT INTO entries (seq, time, kind, workspace, payload, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?)"
_COLUMNS = "SELECT seq, time, kind, workspace, payload, prev_hash, hash FROM entries"
_SELECT_ALL = _COLUMNS + " ORDER BY seq"
_SELECT_NEWEST = _COLUMNS + " ORDER BY seq DESC LIMIT ?"
_SELECT_NEWEST_OF = _COLUMNS + " WHERE workspace = ? ORDER BY seq DESC LIMIT ?"


_INHERITED: list[Any] = []  # connections a forked child inherited: kept alive so that it never closes them


def default_path(settings: Settings | None = None) -> Path:
    """Where sbx keeps its audit log: `audit.sqlite` in the state folder."""
    return (settings or Settings.from_env()).state_dir / FILE_NAME


_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS entries (
        seq       INTEGER PRIMARY KEY,
        time      TEXT    NOT NULL,
        kind      TEXT    NOT NULL,
        workspace TEXT,
        payload   TEXT    NOT NULL,
        prev_hash TEXT    NOT NULL UNIQUE,
        hash      TEXT    NOT NULL UNIQUE
    )""",
    "CREATE INDEX IF NOT EXISTS entries_by_workspace ON entries (workspace, seq)",
    """CREATE TRIGGER IF NOT EXISTS entries_no_update BEFORE UPDATE ON entries
        BEGIN SELECT RAISE(ABORT, 'the sbx audit log is append-only'); END""",
    """CREATE TRIGGER IF NOT EXISTS entries_no_delete BEFORE DELETE ON entries
        BEGIN SELECT RAISE(ABORT, 'the sbx audit log is append-only'); END""",
    f"PRAGMA user_version = {SCHEMA_VERSION}",
)


@dataclass(frozen=True)
class Entry:
    seq: int
    time: str  # UTC, ISO 8601 with microseconds and a Z
    kind: EventKind
    workspace: str | None
    payload: Mapping[str, Any]
    prev_hash: str
    hash: str

    @property
    def action_id(self) -> str | None:
        value = self.payload.get("action")
        return value if isinstance(value, str) else None

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "time": self.time,
            "kind": str(self.kind),
            "workspace": self.workspace,
            "payload": dict(self.payload),
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


# Entries on disk before `record` returns: whatever reached, or was decided for, the host folder.
# The others (an action arrived, a step ran, the changeset it left) are committed in WAL mode
# without their own fsync (synchronous=NORMAL): the next durable entry's fsync carries them, in
# order, and a power loss before it can only cut the chain's tail (never fork or corrupt it) of
# actions whose effects are still pending. sqlite: https://sqlite.org/pragma.html#pragma_synchronous
DURABLE = frozenset({EventKind.APPROVAL, EventKind.COMMIT, EventKind.UNDO, EventKind.DISCARD, EventKind.FAILURE,
                     EventKind.RECOVERY})


class AuditLog:
    """The audit log in one SQLite file. Opened lazily; safe to share between threads, and each
    process (including a forked child) uses its own connection."""

    def __init__(self, path: str | Path, *, busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S) -> None:
        self.path = Path(path)
        self._busy_timeout_s = busy_timeout_s
        self._conn: Any = None  # sqlite3.Connection, imported lazily (sbx's start-up stays fast)
        self._pid = 0
        self._durable = True  # the connection's synchronous setting: FULL (True) or NORMAL
        self._lock = threading.Lock()

    # -- writing -----------------------------------------------------------------------------------
    def record(self, kind: EventKind | str, workspace: str | Path | None, payload: Mapping[str, Any]) -> Entry:
        """Append one entry and return it as stored. `payload` must be JSON data (a TypeError or
        ValueError otherwise: a bug in the caller)."""
        event = EventKind(kind)
        stored_payload = json.loads(json.dumps(dict(payload), allow_nan=False))  # as it will read back
        text = canonical_json(stored_payload)
        ws = None if workspace is None else str(workspace)
        stamp = _now()
        with self._lock, self._translated(), self._transaction(write=True, durable=event in DURABLE) as conn:
            row = conn.execute("SELECT seq, hash FROM entries ORDER BY seq DESC LIMIT 1").fetchone()
            seq, prev = (1, GENESIS) if row is None else (int(row[0]) + 1, str(row[1]))
            digest = entry_hash(seq, stamp, str(event), ws, stored_payload, prev_hash=prev)
            conn.execute(_INSERT, (seq, stamp, str(event), ws, text, prev, digest))
        return Entry(seq, stamp, event, ws, stored_payload, prev, digest)

    # -- one line per event: typed helpers (payloads in events.py, documented in docs/audit.md) -----
    def action(
        self,
        workspace: str | Path,
        *,
        intent: str | None = None,
        command: Sequence[str] | None = None,
        tool: str | None = None,
        args: Mapping[str, Any] | None = None,
        via: str = "cli",
        action_id: str | None = None,
        parent: str | None = None,
        step: int | None = None,
    ) -> Entry:
        """An intent or a tool call arrived. The entry's `action_id` links what follows."""
        payload = ev.action_payload(
            action_id=action_id or ev.new_action_id(), intent=intent, command=command, tool=tool, args=args, via=via,
            parent=parent, step=step,
        )
        return self.record(EventKind.ACTION, workspace, payload)

    def plan(
        self,
        workspace: str | Path,
        *,
        action_id: str,
        steps: Sequence[Mapping[str, Any]],
        model: str | None,
        model_digest: str | None,
        provider: str | None = None,
        verification: Mapping[str, Any] | None = None,
    ) -> Entry:
        payload = ev.plan_payload(
            action_id=action_id, steps=steps, model=model, model_digest=model_digest, provider=provider,
            verification=verification,
        )
        return self.record(EventKind.PLAN, workspace, payload)

    def step(
        self, workspace: str | Path, *, action_id: str, index: int, step: StepResult, landlock_digest: str | None
    ) -> Entry:
        payload = ev.step_payload(action_id=action_id, index=index, step=step, landlock_digest=landlock_digest)
        return self.record(EventKind.STEP, workspace, payload)

    def changeset(self, workspace: str | Path, *, action_id: str | None, changeset: Changeset) -> Entry:
        payload = ev.changeset_payload(action_id=action_id, changeset=changeset)
        return self.record(EventKind.CHANGESET, workspace, payload)

    def approval(
        self,
        workspace: str | Path,
        *,
        changeset_id: str,
        sha256: str,
        via: Via | str,
        approved: bool = True,
        paths: Iterable[str] | None = None,
        by: str | None = None,
        risks: Iterable[str] = (),
    ) -> Entry:
        payload = ev.approval_payload(
            changeset_id=changeset_id, sha256=sha256, via=via, approved=approved, paths=paths, by=by, risks=risks
        )
        return self.record(EventKind.APPROVAL, workspace, payload)

    def commit(
        self,
        workspace: str | Path,
        *,
        changeset_id: str,
        sha256: str | None,
        result: CommitResult | None = None,
        error: BaseException | None = None,
    ) -> Entry:
        payload = ev.commit_payload(changeset_id=changeset_id, sha256=sha256, result=result, error=error)
        return self.record(EventKind.COMMIT, workspace, payload)

    def undo(self, workspace: str | Path, *, result: CommitResult, undid: str | None = None) -> Entry:
        return self.record(EventKind.UNDO, workspace, ev.undo_payload(result=result, undid=undid))

    def discard(self, workspace: str | Path, *, changeset: Changeset) -> Entry:
        return self.record(EventKind.DISCARD, workspace, ev.discard_payload(changeset=changeset))

    def recovery(
        self, workspace: str | Path, *, commit_id: str, kind: str, changeset_id: str, outcome: str, paths: int
    ) -> Entry:
        payload = ev.recovery_payload(
            commit_id=commit_id, kind=kind, changeset_id=changeset_id, outcome=outcome, paths=paths
        )
        return self.record(EventKind.RECOVERY, workspace, payload)

    def failure(
        self,
        workspace: str | Path | None,
        *,
        error: BaseException,
        action_id: str | None = None,
        changeset_id: str | None = None,
    ) -> Entry:
        payload = ev.failure_payload(error=error, action_id=action_id, changeset_id=changeset_id)
        return self.record(EventKind.FAILURE, workspace, payload)

    # -- reading -----------------------------------------------------------------------------------
    def entries(self, workspace: str | Path | None = None, *, limit: int | None = 50) -> list[Entry]:
        """The newest `limit` entries (all with None), of one workspace or of all, oldest first."""
        if not self.path.exists():
            return []
        count = -1 if limit is None else max(0, int(limit))
        with self._lock, self._translated(), self._transaction(write=False) as conn:
            if workspace is None:
                rows = conn.execute(_SELECT_NEWEST, (count,)).fetchall()
            else:
                rows = conn.execute(_SELECT_NEWEST_OF, (str(workspace), count)).fetchall()
        return [self._entry(row) for row in reversed(rows)]

    def verify(self) -> Verification:
        """Walk the whole chain, oldest first, and report the first entry that does not fit."""
        if not self.path.exists():
            return Verification(ok=True, checked=0, head=None)
        with self._lock, self._translated(), self._transaction(write=False) as conn:
            cursor = conn.execute(_SELECT_ALL)
            return verify_rows(cursor, frozenset(str(k) for k in EventKind))

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the connection ----------------------------------------------------------------------------
    def _connection(self) -> Any:
        if self._conn is not None and self._pid == os.getpid():
            return self._conn
        import sqlite3

        if self._conn is not None:  # inherited through fork: never used, nor closed, here (SQLite's rule)
            _INHERITED.append(self._conn)
            self._conn = None
        try:
            private_dir(self.path.parent, env="SBX_STATE_DIR")
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600))
        except OSError as exc:
            message = f"cannot create the audit log {self.path}: {exc.strerror or exc}"
            raise StateError(message, code="state.unwritable") from exc
        conn = sqlite3.connect(
            str(self.path), timeout=self._busy_timeout_s, isolation_level=None, check_same_thread=False
        )
        try:
            self._wal(conn, sqlite3)
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("BEGIN IMMEDIATE")
            try:
                version = int(conn.execute("PRAGMA user_version").fetchone()[0])
                if version == 0:
                    for statement in _SCHEMA:
                        conn.execute(statement)
                elif version != SCHEMA_VERSION:
                    raise _corrupt(self.path, f"unknown schema version {version} (written by another sbx?)")
                conn.execute("COMMIT")
            except BaseException:
                conn.rollback()
                raise
        except BaseException:
            conn.close()
            raise
        self._conn, self._pid, self._durable = conn, os.getpid(), True
        return conn

    def _wal(self, conn: Any, sqlite3: Any) -> None:
        """WAL mode (persistent in the file). Switching to it needs an exclusive lock, and SQLite
        returns "locked" at once, without its busy handler, when several processes switch a new
        file at the same moment: so retry until the busy timeout."""
        deadline = time.monotonic() + self._busy_timeout_s
        while True:
            try:
                if str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                    conn.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                text = str(exc).lower()
                if ("locked" not in text and "busy" not in text) or time.monotonic() > deadline:
                    raise
                time.sleep(0.005)

    @contextmanager
    def _transaction(self, *, write: bool, durable: bool = True) -> Iterator[Any]:
        conn = self._connection()
        if write and durable != self._durable:
            conn.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
            self._durable = durable
        conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            yield conn
        except BaseException:
            conn.rollback()
            raise
        conn.execute("COMMIT")

    @contextmanager
    def _translated(self) -> Iterator[None]:
        import sqlite3

        try:
            yield
        except sqlite3.OperationalError as exc:
            text = str(exc)
            if "locked" in text or "busy" in text:
                raise StateError(
                    f"the audit log {self.path} stayed locked for {self._busy_timeout_s:g}s: {text}",
                    code="state.locked",
                    hint="another sbx process is writing to it; retry",
                ) from exc
            if "readonly" in text or "unable to open" in text:
                raise StateError(f"cannot write the audit log {self.path}: {text}", code="state.unwritable") from exc
            raise _corrupt(self.path, text) from exc
        except sqlite3.Error as exc:
            raise _corrupt(self.path, str(exc)) from exc

    def _entry(self, row: tuple[Any, ...]) -> Entry:
        seq, stamp, kind, workspace, text, prev, digest = row
        try:
            payload = json.loads(text)
            event = EventKind(kind)
        except (ValueError, TypeError) as exc:
            raise _corrupt(self.path, f"entry {seq} cannot be read ({exc}); see `sbx log verify`") from exc
        if not isinstance(payload, dict):
            raise _corrupt(self.path, f"entry {seq} has a payload that is not an object; see `sbx log verify`")
        return Entry(int(seq), str(stamp), event, workspace, payload, str(prev), str(digest))


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _corrupt(path: Path, detail: str) -> StateError:
    return StateError(
        f"the audit log {path} is corrupt or unreadable: {detail}",
        code="state.corrupt",
        hint=f"move {path} aside (sbx starts a new log) and keep it for inspection",
    )
