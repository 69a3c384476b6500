"""Against a real kernel overlay, mounted the way the engine mounts it: what the action saw
through the mount is exactly what applying its changeset puts on the host."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from changes_fs import build, kinds, overlay_mount, overlay_works, snapshot

from sandbox.changes import ChangesetStore


@pytest.fixture
def overlay_ok(tmp_path: Path) -> None:
    if not overlay_works(tmp_path / "probe"):
        if os.environ.get("CI"):
            pytest.fail("kernel overlayfs mounts are needed (root) and do not work here")
        pytest.skip("needs root and kernel overlayfs")


HOST = {
    "edit.txt": b"one\ntwo\n",
    "untouched.txt": b"same\n",
    "copied-up.txt": b"opened for writing, never changed\n",
    "gone.txt": b"bye\n",
    "script.sh": b"#!/bin/sh\necho hi\n",
    "olddir": {"a": b"a", "sub": {"b": b"b"}},
    "replaced": {"x": b"x", "y": b"y"},
    "moveme.txt": b"move\n",
    "movedir": {"inner": b"i"},
}


def act(m: Path) -> None:
    """What an action might do, through the overlay mount."""
    (m / "edit.txt").write_bytes(b"one\nTWO\nthree\n")
    with open(m / "copied-up.txt", "ab"):
        pass
    os.unlink(m / "gone.txt")
    os.chmod(m / "script.sh", 0o755)  # noqa: S103 - gaining an exec bit is the change under test
    shutil.rmtree(m / "olddir")
    shutil.rmtree(m / "replaced")
    os.mkdir(m / "replaced")  # rm -r then recreate: an opaque dir
    (m / "replaced" / "x").write_bytes(b"new x\n")
    os.symlink("/etc/passwd", m / "passwd-link")
    os.symlink("edit.txt", m / "rel-link")
    os.rename(m / "moveme.txt", m / "moved.txt")
    shutil.move(m / "movedir", m / "moved-dir")  # redirect_dir=off: EXDEV, so copy + delete
    (m / "newdir" / "deeper").mkdir(parents=True)
    (m / "newdir" / "deeper" / "file").write_bytes(b"\x00binary\x01")


def test_real_overlay_changes_and_apply(overlay_ok: None, tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    build(workspace, HOST)
    before = snapshot(workspace)
    store = ChangesetStore(tmp_path / "state", workspace)
    layer = store.new_layer("act")
    with overlay_mount([*store.lower_layers(before=layer.id), workspace], layer.upper, layer.work, tmp_path / "m") as m:
        act(m)
        seen = snapshot(m)
    cs = store.finalize(layer.id)
    assert kinds(cs.changes) == {
        "edit.txt": "modified",
        "gone.txt": "deleted",
        "script.sh": "mode",
        "olddir": "deleted",
        "olddir/a": "deleted",
        "olddir/sub": "deleted",
        "olddir/sub/b": "deleted",
        "replaced/y": "deleted",
        "replaced/x": "modified",
        "passwd-link": "added",
        "rel-link": "added",
        "moveme.txt": "deleted",
        "moved.txt": "added",
        "movedir": "deleted",
        "movedir/inner": "deleted",
        "moved-dir": "added",
        "moved-dir/inner": "added",
        "newdir": "added",
        "newdir/deeper": "added",
        "newdir/deeper/file": "added",
    }
    assert snapshot(workspace) == before
    store.apply(cs.id, sha256=cs.sha256)
    assert snapshot(workspace) == seen
    store.undo()
    assert snapshot(workspace) == before


def test_stacked_real_overlays(overlay_ok: None, tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    build(workspace, {"f": b"0\n", "d": {"keep": b"k"}})
    store = ChangesetStore(tmp_path / "state", workspace)
    first_layer = store.new_layer("first")
    with overlay_mount([workspace], first_layer.upper, first_layer.work, tmp_path / "m1") as m:
        (m / "f").write_bytes(b"1\n")
        (m / "g").write_bytes(b"from first\n")
        shutil.rmtree(m / "d")
    first = store.finalize(first_layer.id)
    second_layer = store.new_layer("second")
    lowers = [*store.lower_layers(before=second_layer.id), workspace]
    assert lowers[0] == first_layer.upper
    with overlay_mount(lowers, second_layer.upper, second_layer.work, tmp_path / "m2") as m:
        assert not (m / "d").exists()  # the second action sees the first's pending effect
        (m / "f").write_bytes(b"2\n")
        os.unlink(m / "g")
        (m / "d").mkdir()
        (m / "d" / "fresh").write_bytes(b"f")
        seen = snapshot(m)
    second = store.finalize(second_layer.id)
    assert kinds(second.changes) == {"f": "modified", "g": "deleted", "d": "added", "d/fresh": "added"}
    store.apply(first.id)
    store.apply(second.id)
    assert snapshot(workspace) == seen
