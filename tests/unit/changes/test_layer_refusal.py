"""A layer sbx cannot review is refused and discarded at finalize; a changeset folder recovery
cannot handle is quarantined: either way the workspace stays usable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_walk import nest

from sandbox.changes import ChangesetStore
from sandbox.changes.walk import MAX_DEPTH
from sandbox.errors import StateError
from sandbox.types import ChangesetStatus


def _dead_pid() -> int:
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                           check=True)
    return int(child.stdout)


def test_finalize_refuses_a_too_deep_layer_and_discards_it(store: ChangesetStore, workspace: Path) -> None:
    layer = store.new_layer("deep")
    nest(layer.upper, MAX_DEPTH * 6)
    with pytest.raises(StateError) as caught:
        store.finalize(layer.id)
    assert caught.value.code == "state.layer_refused"
    assert f"changeset {layer.id}:" in caught.value.message and "workspace is untouched" in caught.value.message
    assert not layer.upper.exists() and not layer.work.exists()
    assert store.get(layer.id).status is ChangesetStatus.DISCARDED
    assert [cs.status for cs in store.list()] == [ChangesetStatus.DISCARDED]
    assert list(workspace.iterdir()) == []
    ok = store.new_layer("after")
    (ok.upper / "a").write_text("a")
    assert store.finalize(ok.id).status is ChangesetStatus.PENDING


def test_finalize_refuses_an_overlay_redirect_and_discards_it(store: ChangesetStore) -> None:
    layer = store.new_layer("redirect")
    (layer.upper / "moved").mkdir()
    try:
        os.setxattr(layer.upper / "moved", "user.overlay.redirect", b"/elsewhere")
    except OSError:
        pytest.skip("this filesystem has no user xattrs")
    with pytest.raises(StateError) as caught:
        store.finalize(layer.id)
    assert caught.value.code == "state.unsupported_layer"
    assert not layer.upper.exists()


def test_recover_removes_a_dead_actions_deep_layer(store: ChangesetStore) -> None:
    layer = store.new_layer("crashed deep action")
    nest(layer.upper, sys.getrecursionlimit() * 2)
    meta_file = layer.upper.parent / "meta.json"
    meta = json.loads(meta_file.read_text())
    meta["pid"] = _dead_pid()
    meta_file.write_text(json.dumps(meta))
    assert store.recover() == ()
    assert not layer.upper.parent.exists()
    assert store.take_quarantined() == ()


def test_recover_quarantines_what_it_cannot_handle(store: ChangesetStore) -> None:
    layer = store.new_layer("broken")
    (layer.upper.parent / "meta.json").write_text("{not json")
    store.recover()
    assert not layer.upper.parent.exists()
    (moved,) = store.take_quarantined()
    assert moved.changeset_id == layer.id and "corrupt" in moved.reason
    assert Path(moved.moved_to).is_dir() and (Path(moved.moved_to) / "upper").is_dir()
    assert layer.id in moved.describe() and moved.moved_to in moved.describe()
    assert store.list() == []
    assert store.take_quarantined() == ()
