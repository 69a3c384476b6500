"""Crash safety: a commit (or undo, or recovery) killed at any checkpoint leaves the workspace,
after `recover()`, exactly as before or exactly as approved."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from changes_fs import build, exact_snapshot, is_root, opaque_dir, snapshot, whiteout

from sandbox.changes import ChangesetStore
from sandbox.errors import StateError
from sandbox.types import ChangesetStatus

HOST = {
    "edit.txt": b"one\n",
    "gone.txt": b"bye\n",
    "chmod.sh": b"echo\n",
    "link": ("link", "edit.txt"),
    "ro": ("dir", 0o755, {"x": b"x"}),
    "tree": {"a": b"a", "sub": {"b": b"b"}},
    "file-to-dir": b"f",
    "link-to-dir": ("link", "edit.txt"),
    "dir-to-link": {"inside": b"i"},
}


def action(upper: Path) -> None:
    build(upper, {
        "edit.txt": b"two\n",
        "chmod.sh": (b"echo\n", 0o755),
        "link": ("link", "gone.txt"),
        "new": {"deep": {"file": b"new\n"}},
        "tree": b"now a file",
        "ro": ("dir", 0o555, {"x": b"x2"}),
        "dir-to-link": ("link", "somewhere"),
    })
    opaque_dir(upper / "link-to-dir")
    build(upper / "link-to-dir", {"child": b"c", "sub": {"grandchild": b"g"}})
    whiteout(upper / "gone.txt")
    opaque_dir(upper / "file-to-dir")
    build(upper / "file-to-dir", {"inside": b"i"})


@pytest.fixture(autouse=True)
def _fast(no_fsync: None) -> None:
    pass


class Crash(BaseException):
    """Not an Exception: nothing in sbx catches it, as nothing runs after a kill -9."""


@dataclass
class Faults:
    crash_at: str | None = None
    seen: list[str] = field(default_factory=list)

    def __call__(self, name: str) -> None:
        self.seen.append(name)
        if name == self.crash_at:
            raise Crash(name)


@dataclass
class World:
    workspace: Path
    store: ChangesetStore
    faults: Faults
    changeset_id: str
    before: dict[str, object]
    exact_before: dict[str, tuple[object, ...]]


def make_world(root: Path) -> World:
    workspace = root / "ws"
    build(workspace, HOST)
    if is_root():  # a user's folder: a rollback must give every entry back its owner
        for dirpath, dirnames, filenames in os.walk(workspace):
            for name in dirnames + filenames:
                os.chown(os.path.join(dirpath, name), 1000, 1001, follow_symlinks=False)
    faults = Faults()
    store = ChangesetStore(root / "state", workspace, checkpoint=faults)
    layer = store.new_layer("test")
    action(layer.upper)
    cs = store.finalize(layer.id)
    return World(workspace, store, faults, cs.id, snapshot(workspace), exact_snapshot(workspace))


def expected_after(root: Path) -> dict[str, object]:
    world = make_world(root / "reference")
    world.store.apply(world.changeset_id)
    return snapshot(world.workspace)


def apply_checkpoints(root: Path) -> list[str]:
    world = make_world(root / "probe-apply")
    world.store.apply(world.changeset_id)
    return list(world.faults.seen)


def test_checkpoints_cover_every_stage(scratch: Path) -> None:
    names = apply_checkpoints(scratch)
    stages = {n.split(":")[0] for n in names}
    assert stages == {"backup", "journal", "remove", "build", "sync", "install", "attrs", "meta"}
    assert len(names) == len(set(names))


def test_crash_at_every_apply_checkpoint(scratch: Path) -> None:
    after = expected_after(scratch)
    names = apply_checkpoints(scratch)
    for index, name in enumerate(names):
        world = make_world(scratch / f"crash-{index}")
        world.faults.crash_at = name
        with pytest.raises(Crash):
            world.store.apply(world.changeset_id)
        world.faults.crash_at = None
        world.store.recover()
        state = snapshot(world.workspace)
        status = world.store.get(world.changeset_id).status
        assert state in (world.before, after), name
        if state == world.before:
            assert status == ChangesetStatus.PENDING, name
            assert exact_snapshot(world.workspace) == world.exact_before, name
            world.store.apply(world.changeset_id)  # rolled back: can be applied again
            assert snapshot(world.workspace) == after, name
        else:
            assert status == ChangesetStatus.APPLIED, name
            world.store.undo()  # finished: can be undone
            assert snapshot(world.workspace) == world.before, name
        assert not _leftovers(world.workspace), name


def test_crash_at_every_undo_checkpoint(scratch: Path) -> None:
    after = expected_after(scratch)
    probe = make_world(scratch / "probe-undo")
    probe.store.apply(probe.changeset_id)
    probe.faults.seen.clear()
    probe.store.undo()
    names = list(probe.faults.seen)
    assert "journal:undone" in names
    for index, name in enumerate(names):
        world = make_world(scratch / f"undo-{index}")
        world.store.apply(world.changeset_id)
        world.faults.crash_at = name
        with pytest.raises(Crash):
            world.store.undo()
        world.faults.crash_at = None
        world.store.recover()
        state = snapshot(world.workspace)
        assert state in (world.before, after), name
        expected_status = ChangesetStatus.PENDING if state == world.before else ChangesetStatus.APPLIED
        if state == world.before:  # the undo finished: every owner and file mtime is back too
            assert exact_snapshot(world.workspace) == world.exact_before, name
        assert world.store.get(world.changeset_id).status == expected_status, name
        assert not _leftovers(world.workspace), name


def test_crash_during_recovery_is_recovered_too(scratch: Path) -> None:
    names = apply_checkpoints(scratch)
    mid_commit = [n for n in names if n.startswith(("install:", "attrs:"))]
    probe = make_world(scratch / "probe-rollback")
    probe.faults.crash_at = mid_commit[len(mid_commit) // 2]
    with pytest.raises(Crash):
        probe.store.apply(probe.changeset_id)
    probe.faults.crash_at = None
    probe.faults.seen.clear()
    probe.store.recover()
    rollback_names = [n for n in probe.faults.seen if n.startswith("rollback")]
    assert rollback_names
    for index, name in enumerate(rollback_names):
        world = make_world(scratch / f"double-{index}")
        world.faults.crash_at = mid_commit[len(mid_commit) // 2]
        with pytest.raises(Crash):
            world.store.apply(world.changeset_id)
        world.faults.crash_at = name
        with pytest.raises(Crash):
            world.store.recover()
        world.faults.crash_at = None
        world.store.recover()
        assert exact_snapshot(world.workspace) == world.exact_before, name
        assert world.store.get(world.changeset_id).status == ChangesetStatus.PENDING


@pytest.mark.parametrize("step", [0, 7, 15, 25])
def test_kill_9_in_a_child_process(scratch: Path, step: int) -> None:
    """The same, with a real process exit: no finally blocks, no flushing, descriptors dropped."""
    after = expected_after(scratch)
    names = apply_checkpoints(scratch)
    name = names[min(step, len(names) - 1)]
    world = make_world(scratch / "killed")
    pid = os.fork()
    if pid == 0:  # child: die at the checkpoint
        def die(seen: str) -> None:
            if seen == name:
                os._exit(137)

        world.store._checkpoint = die
        try:
            world.store.apply(world.changeset_id)
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 137
    world.store.recover()
    assert snapshot(world.workspace) in (world.before, after)


def test_an_error_mid_commit_is_rolled_back_in_process(scratch: Path) -> None:
    world = make_world(scratch / "error")

    def fail(name: str) -> None:
        if name.startswith("install:"):
            raise OSError(28, "No space left on device")

    world.store._checkpoint = fail
    with pytest.raises(StateError) as info:
        world.store.apply(world.changeset_id)
    assert info.value.code == "changeset.commit_failed"
    assert "rolled back" in info.value.message
    assert snapshot(world.workspace) == world.before
    assert world.store.get(world.changeset_id).status == ChangesetStatus.PENDING
    assert list((world.store.state_dir / "commits").iterdir()) == []


def _leftovers(workspace: Path) -> list[str]:
    return [name for _, _, files in os.walk(workspace) for name in files if name.startswith(".sbx-")]
