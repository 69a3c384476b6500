"""Crash safety with large files: their copies are made and hashed window by window in worker
threads (fastcopy.py), so a crash can come while workers still copy, hash or start writeback.
After `recover()` the workspace is exactly as before or exactly as approved, as with small files
(test_changes_crash.py)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from changes_fs import build, exact_snapshot, snapshot, whiteout

from sandbox.changes import ChangesetStore, fastcopy
from sandbox.types import ChangesetStatus

BIG = fastcopy.PARALLEL_MIN + 3 * fastcopy.WINDOW + 123  # a worker's job, over several windows


class Crash(BaseException):
    """Not an Exception: nothing in sbx catches it, as nothing runs after a kill -9."""


def _sparse(path: Path, size: int, pieces: dict[int, bytes]) -> None:
    with open(path, "wb") as f:
        f.truncate(size)
        for offset, data in pieces.items():
            f.seek(offset)
            f.write(data)


def _content(name: str, size: int) -> bytes:
    """The same bytes in every world, so that one probe's final state is every world's."""
    return hashlib.shake_256(name.encode()).digest(size)


def make_world(root: Path) -> tuple[Path, ChangesetStore, str, dict[str, object], dict[str, tuple[object, ...]]]:
    workspace = root / "ws"
    build(workspace, {"edit.bin": _content("old edit", BIG), "gone.bin": _content("gone", BIG), "small.txt": b"old\n"})
    store = ChangesetStore(root / "state", workspace)
    layer = store.new_layer("test")
    upper = {"edit.bin": _content("new edit", BIG), "small.txt": b"new\n", "d": {"new.bin": _content("new", BIG)}}
    build(layer.upper, upper)
    pieces = {fastcopy.WINDOW + 5: _content("holes", BIG // 2), 2 * BIG - 1: b"!"}
    _sparse(layer.upper / "holes.bin", 2 * BIG, pieces)
    whiteout(layer.upper / "gone.bin")
    cs = store.finalize(layer.id)
    return workspace, store, cs.id, snapshot(workspace), exact_snapshot(workspace)


def checkpoint_names(root: Path) -> tuple[list[str], dict[str, object]]:
    seen: list[str] = []
    workspace, store, cs_id, _, _ = make_world(root)
    store._checkpoint = seen.append
    store.apply(cs_id)
    return seen, snapshot(workspace)


def test_crash_at_every_apply_checkpoint_with_large_files(scratch: Path, no_fsync: None) -> None:
    names, after = checkpoint_names(scratch / "probe")
    assert any(n.startswith("build:") for n in names)
    for index, name in enumerate(names):
        workspace, store, cs_id, before, exact_before = make_world(scratch / f"crash-{index}")

        def crash(seen: str, name: str = name) -> None:
            if seen == name:
                raise Crash(seen)

        store._checkpoint = crash
        with pytest.raises(Crash):
            store.apply(cs_id)
        store._checkpoint = lambda seen: None
        store.recover()
        state = snapshot(workspace)
        assert state in (before, after), name
        if state == before:
            assert exact_snapshot(workspace) == exact_before, name
            assert store.get(cs_id).status == ChangesetStatus.PENDING, name
            store.apply(cs_id)
            assert snapshot(workspace) == after, name
        else:
            assert store.get(cs_id).status == ChangesetStatus.APPLIED, name
        assert not [n for _, _, files in os.walk(workspace) for n in files if n.startswith(".sbx-")], name


@pytest.mark.parametrize("where", ["backup:0", "build:1", "build:4", "sync:staged", "install:1"])
def test_kill_9_while_workers_copy(scratch: Path, where: str) -> None:
    """A real process exit, taken as soon as the large copies are handed to the workers (or later):
    the workers die mid-copy with the process, and the next process recovers."""
    names, after = checkpoint_names(scratch / "probe")
    assert where in names
    workspace, store, cs_id, before, exact_before = make_world(scratch / "killed")
    pid = os.fork()
    if pid == 0:

        def die(seen: str) -> None:
            if seen == where:
                os._exit(137)

        store._checkpoint = die
        try:
            store.apply(cs_id)
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 137
    store.recover()
    state = snapshot(workspace)
    assert state in (before, after)
    if state == before:
        assert exact_snapshot(workspace) == exact_before
        store.apply(cs_id)
        assert snapshot(workspace) == after
