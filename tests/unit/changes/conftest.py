from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sandbox.changes import ChangesetStore, Layer, durable
from sandbox.types import Changeset

LayerWriter = Callable[[Path], None]


@pytest.fixture
def no_fsync(monkeypatch: pytest.MonkeyPatch) -> None:
    """For suites that simulate crashes by stopping at checkpoints (or that run hundreds of
    commits): fsync protects against power loss, which they do not simulate, and costs most of
    their time on a busy disk. The other suites keep it."""
    monkeypatch.setattr(os, "fsync", lambda fd: None)
    monkeypatch.setattr(durable, "sync_filesystem", lambda fd: None)


@pytest.fixture
def scratch(tmp_path: Path) -> Iterator[Path]:
    """A folder on tmpfs when there is one: suites that build hundreds of small trees spend most
    of their time in mkdir/open on a busy disk."""
    if not os.path.isdir("/dev/shm") or not os.access("/dev/shm", os.W_OK):
        yield tmp_path
        return
    path = Path(tempfile.mkdtemp(prefix="sbx-changes-", dir="/dev/shm"))
    try:
        yield path
    finally:
        shutil.rmtree(path)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = tmp_path / "ws"
    path.mkdir()
    return path


@pytest.fixture
def store(tmp_path: Path, workspace: Path) -> ChangesetStore:
    return ChangesetStore(tmp_path / "state", workspace)


@pytest.fixture
def make_changeset(store: ChangesetStore) -> Callable[[LayerWriter], Changeset]:
    """Allocate a layer, let the test write its upper dir as an overlay would, finalize it."""

    def make(write: LayerWriter) -> Changeset:
        layer: Layer = store.new_layer("test")
        write(layer.upper)
        return store.finalize(layer.id)

    return make
