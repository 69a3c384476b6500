"""The audit log: append, read, verify; tampering done with raw SQL is caught; several
processes append to one chain; a corrupt file is a clear error."""

from __future__ import annotations

import hashlib
import itertools
import json
import multiprocessing
import sqlite3
import threading
from pathlib import Path

import pytest

from sandbox.audit import GENESIS, AuditLog, EventKind, default_path
from sandbox.config import Settings
from sandbox.digests import canonical_json
from sandbox.errors import StateError

WRITERS = 4
PER_WRITER = 50


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "state" / "audit.sqlite"


def filled(db: Path, count: int = 6) -> AuditLog:
    log = AuditLog(db)
    for i in range(count):
        log.record(EventKind.ACTION, f"/ws{i % 2}", {"i": i, "text": f"entry {i}"})
    return log


def tamper(db: Path, *statements: str, params: tuple[object, ...] = ()) -> None:
    """What someone with write access to the file can do: drop the triggers, then edit rows."""
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute("DROP TRIGGER IF EXISTS entries_no_update")
        conn.execute("DROP TRIGGER IF EXISTS entries_no_delete")
        for statement in statements:
            conn.execute(statement, params if "?" in statement else ())
    finally:
        conn.close()


def rehash(db: Path, seq: int) -> None:
    """Forge: recompute one row's hash over its (edited) contents, as an attacker would."""
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        row = conn.execute("SELECT seq, time, kind, workspace, payload, prev_hash FROM entries WHERE seq=?", (seq,))
        s, t, k, w, p, prev = row.fetchone()
        material = canonical_json([s, t, k, w, json.loads(p), prev]).encode()
        conn.execute("UPDATE entries SET hash=? WHERE seq=?", (hashlib.sha256(material).hexdigest(), seq))
    finally:
        conn.close()


# -- appending and reading ---------------------------------------------------------------------------
def test_entries_chain_from_genesis_and_read_back_in_order(db: Path) -> None:
    log = filled(db, 6)
    entries = log.entries(limit=None)
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5, 6]
    assert entries[0].prev_hash == GENESIS
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(entries))
    assert [e.payload["i"] for e in log.entries("/ws1", limit=None)] == [1, 3, 5]
    assert [e.seq for e in log.entries(limit=2)] == [5, 6]  # the newest, oldest first
    assert log.verify().ok and log.verify().checked == 6 and log.verify().head == entries[-1].hash


def test_the_hash_is_the_documented_formula(db: Path) -> None:
    entry = AuditLog(db).record("approval", "/ws", {"b": [1, 2], "a": "é"})
    material = json.dumps(
        [entry.seq, entry.time, "approval", "/ws", {"a": "é", "b": [1, 2]}, "0" * 64],
        sort_keys=True, separators=(",", ":"), ensure_ascii=True,
    )
    assert entry.hash == hashlib.sha256(material.encode()).hexdigest()
    assert entry.to_json()["payload"] == {"a": "é", "b": [1, 2]}


def test_record_returns_what_is_stored(db: Path) -> None:
    log = AuditLog(db)
    entry = log.record("step", None, {"args": ("x", 1), 3: "int key"})
    assert entry.payload == {"args": ["x", 1], "3": "int key"}  # as JSON has it
    assert log.entries()[0] == entry


def test_unknown_kind_and_non_json_payload_are_refused(db: Path) -> None:
    log = AuditLog(db)
    with pytest.raises(ValueError):
        log.record("rename", "/ws", {})
    with pytest.raises(TypeError):
        log.record("action", "/ws", {"x": object()})
    with pytest.raises(ValueError):
        log.record("action", "/ws", {"x": float("nan")})
    assert log.entries() == []


def test_reading_a_missing_log_creates_nothing(db: Path) -> None:
    log = AuditLog(db)
    assert log.entries() == []
    assert log.verify().ok and log.verify().head is None
    assert not db.exists()


def test_default_path_is_in_the_state_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SBX_STATE_DIR", str(tmp_path / "st"))
    assert default_path() == tmp_path / "st" / "audit.sqlite"
    assert default_path(Settings.from_env()) == tmp_path / "st" / "audit.sqlite"


def test_the_file_refuses_update_and_delete(db: Path) -> None:
    filled(db, 2).close()
    conn = sqlite3.connect(db)
    try:
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute("UPDATE entries SET payload='{}' WHERE seq=1")
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute("DELETE FROM entries WHERE seq=2")
    finally:
        conn.close()
    assert AuditLog(db).verify().ok
    assert (db.stat().st_mode & 0o777) == 0o600


# -- tampering ---------------------------------------------------------------------------------------
def test_an_edited_payload_is_caught_at_that_entry(db: Path) -> None:
    filled(db).close()
    tamper(db, """UPDATE entries SET payload='{"i":99,"text":"entry 2"}' WHERE seq=3""")
    result = AuditLog(db).verify()
    assert (result.ok, result.broken_seq, result.checked) == (False, 3, 2)
    assert "does not match its hash" in (result.reason or "")


def test_an_edit_with_a_recomputed_hash_breaks_the_next_link(db: Path) -> None:
    filled(db).close()
    tamper(db, """UPDATE entries SET payload='{"i":99,"text":"forged"}' WHERE seq=3""")
    rehash(db, 3)
    result = AuditLog(db).verify()
    assert (result.ok, result.broken_seq) == (False, 4)
    assert "does not link" in (result.reason or "")


def test_a_forged_hash_is_caught(db: Path) -> None:
    filled(db).close()
    tamper(db, "UPDATE entries SET hash=? WHERE seq=6", params=("f" * 64,))  # the newest: no next link to break
    result = AuditLog(db).verify()
    assert (result.ok, result.broken_seq, result.checked) == (False, 6, 5)


@pytest.mark.parametrize(
    ("statement", "value"),
    [
        ("UPDATE entries SET time=? WHERE seq=2", "2001-01-01T00:00:00.000000Z"),
        ("UPDATE entries SET kind=? WHERE seq=2", "commit"),
        ("UPDATE entries SET workspace=? WHERE seq=2", "/elsewhere"),
        ("UPDATE entries SET workspace=? WHERE seq=2", None),
    ],
)
def test_every_column_is_covered_by_the_hash(db: Path, statement: str, value: object) -> None:
    filled(db).close()
    tamper(db, statement, params=(value,))
    assert AuditLog(db).verify().broken_seq == 2


def test_a_payload_that_is_not_as_sbx_writes_it_is_caught(db: Path) -> None:
    filled(db).close()
    tamper(db, """UPDATE entries SET payload='{"text": "entry 1", "i": 1}' WHERE seq=2""")  # same data, respaced
    result = AuditLog(db).verify()
    assert (result.broken_seq, result.reason) == (2, "entry 2 was edited: its fields are not as sbx writes them")
    tamper(db, "UPDATE entries SET payload='not json' WHERE seq=2")
    assert AuditLog(db).verify().broken_seq == 2
    with pytest.raises(StateError) as info:
        AuditLog(db).entries()
    assert info.value.code == "state.corrupt"


@pytest.mark.parametrize(("deleted", "expected"), [(3, 3), (1, 1)])
def test_a_deleted_entry_is_caught(db: Path, deleted: int, expected: int) -> None:
    filled(db).close()
    tamper(db, "DELETE FROM entries WHERE seq=?", params=(deleted,))
    result = AuditLog(db).verify()
    assert (result.ok, result.broken_seq) == (False, expected)
    assert "missing" in (result.reason or "")


def test_a_deleted_entry_with_renumbered_successors_is_caught(db: Path) -> None:
    filled(db).close()
    tamper(db, "DELETE FROM entries WHERE seq=3", "UPDATE entries SET seq=seq-1 WHERE seq>3")
    result = AuditLog(db).verify()
    assert (result.ok, result.broken_seq) == (False, 3)


def test_reordered_entries_are_caught(db: Path) -> None:
    filled(db).close()
    tamper(
        db,
        "UPDATE entries SET seq=100 WHERE seq=3",
        "UPDATE entries SET seq=3 WHERE seq=4",
        "UPDATE entries SET seq=4 WHERE seq=100",
    )
    result = AuditLog(db).verify()
    assert (result.ok, result.broken_seq) == (False, 3)


def test_a_dropped_tail_keeps_a_valid_chain_but_moves_the_head(db: Path) -> None:
    """The documented limit: truncation is seen only against a head noted elsewhere."""
    log = filled(db)
    head = log.verify().head
    log.close()
    tamper(db, "DELETE FROM entries WHERE seq=6")
    result = AuditLog(db).verify()
    assert result.ok and result.checked == 5 and result.head != head


def test_appending_after_tampering_does_not_repair_it(db: Path) -> None:
    filled(db).close()
    tamper(db, "UPDATE entries SET payload='{\"i\":0}' WHERE seq=2")
    log = AuditLog(db)
    log.record("action", "/ws", {"after": True})
    assert log.verify().broken_seq == 2


# -- concurrency -------------------------------------------------------------------------------------
def _append_many(path: str, writer: int, start: multiprocessing.synchronize.Barrier) -> None:  # type: ignore[name-defined]
    log = AuditLog(path)
    start.wait()
    for n in range(PER_WRITER):
        log.record("step", f"/ws{writer}", {"writer": writer, "n": n})
    log.close()


def test_concurrent_processes_extend_one_chain(db: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    start = ctx.Barrier(WRITERS)
    procs = [ctx.Process(target=_append_many, args=(str(db), w, start)) for w in range(WRITERS)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0] * WRITERS
    log = AuditLog(db)
    result = log.verify()
    assert result.ok and result.checked == WRITERS * PER_WRITER
    entries = log.entries(limit=None)
    assert [e.seq for e in entries] == list(range(1, WRITERS * PER_WRITER + 1))
    for w in range(WRITERS):  # each writer's own entries stay in its order
        assert [e.payload["n"] for e in entries if e.payload["writer"] == w] == list(range(PER_WRITER))
    assert len({e.workspace for e in entries}) == WRITERS


def test_threads_share_one_log(db: Path) -> None:
    log = AuditLog(db)

    def work(t: int) -> None:
        for n in range(25):
            log.record("action", "/ws", {"t": t, "n": n})

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert log.verify().checked == 100


def _child_appends(log: AuditLog) -> None:
    log.record("action", "/child", {"from": "child"})


def test_a_forked_child_does_not_reuse_the_parents_connection(db: Path) -> None:
    log = filled(db, 1)  # the parent's connection is open
    ctx = multiprocessing.get_context("fork")
    child = ctx.Process(target=_child_appends, args=(log,))
    child.start()
    child.join(30)
    assert child.exitcode == 0
    log.record("action", "/parent", {"from": "parent"})
    assert [e.workspace for e in log.entries(limit=None)] == ["/ws0", "/child", "/parent"]
    assert log.verify().ok


def test_a_writer_that_waits_too_long_gets_state_locked(db: Path) -> None:
    filled(db, 1).close()
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StateError) as info:
            AuditLog(db, busy_timeout_s=0.1).record("action", "/ws", {})
        assert info.value.code == "state.locked"
        assert str(db) in info.value.message
    finally:
        holder.execute("ROLLBACK")
        holder.close()


# -- bad files ---------------------------------------------------------------------------------------
def test_a_file_that_is_not_a_database_is_state_corrupt(db: Path) -> None:
    db.parent.mkdir(parents=True)
    db.write_bytes(b"this is not sqlite\n" * 100)
    log = AuditLog(db)
    for call in (lambda: log.record("action", "/ws", {}), log.entries, log.verify):
        with pytest.raises(StateError) as info:
            call()
        assert info.value.code == "state.corrupt"
        assert str(db) in info.value.message


def test_a_truncated_database_is_state_corrupt(db: Path) -> None:
    log = AuditLog(db)
    for i in range(300):
        log.record("action", "/ws", {"i": i, "pad": "x" * 500})
    log.close()
    conn = sqlite3.connect(db)  # fold the WAL into the file, then cut the file
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    data = db.read_bytes()
    db.write_bytes(data[: len(data) // 2])
    with pytest.raises(StateError) as info:
        AuditLog(db).verify()
    assert info.value.code == "state.corrupt"


def test_a_database_from_another_program_is_state_corrupt(db: Path) -> None:
    db.parent.mkdir(parents=True)
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE other (x)")
    conn.execute("PRAGMA user_version = 7")
    conn.commit()
    conn.close()
    with pytest.raises(StateError) as info:
        AuditLog(db).record("action", "/ws", {})
    assert info.value.code == "state.corrupt"
    assert "schema version 7" in info.value.message


def test_a_file_where_the_state_folder_should_be_is_refused(tmp_path: Path) -> None:
    """sbx's folder checks run first: a file in the folder's place is not a folder of sbx's own."""
    (tmp_path / "file").write_text("")
    with pytest.raises(StateError) as info:
        AuditLog(tmp_path / "file" / "audit.sqlite").record("action", "/ws", {})
    assert info.value.code == "state.unsafe_dir"
    assert str(tmp_path / "file") in info.value.message and "not a folder" in info.value.message
