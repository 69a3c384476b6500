"""The in-kernel copy and its one hash: every kind of copy gives the same bytes and holes, and the
digest is that of the copy, computed in a worker for a large file."""

from __future__ import annotations

import errno
import hashlib
import os
import time
from pathlib import Path

import pytest

from sandbox.changes import fastcopy
from sandbox.changes.hostfs import HostTree
from sandbox.changes.nodes import Node
from sandbox.errors import ChangesetError, ConflictError
from sandbox.types import EntryType

MIB = 1 << 20


def _write(path: Path, size: int, pieces: dict[int, bytes]) -> str:
    with open(path, "wb") as f:
        f.truncate(size)
        for offset, data in pieces.items():
            f.seek(offset)
            f.write(data)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _copy(source: Path, target: Path) -> str:
    src = os.open(source, os.O_RDONLY)
    dst = os.open(target, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    return fastcopy.start_copy(src, dst).digest()


CASES = [
    (0, {}),
    (100, {0: b"x" * 100}),  # read and written once
    (fastcopy.SMALL + 1, {1: b"y" * fastcopy.SMALL}),
    (3 * MIB + 7, {5: os.urandom(3 * MIB)}),  # hashed inline
    (12 * MIB, {0: b"head", 6 * MIB: os.urandom(MIB), 12 * MIB - 3: b"end"}),  # hashed in a worker
    (9 * MIB, {}),  # nothing but a hole
]


@pytest.mark.parametrize(("size", "pieces"), CASES)
@pytest.mark.parametrize("kind", ["best", "copy_file_range", "read_write"])
def test_every_kind_of_copy_gives_the_same_bytes_and_digest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int, pieces: dict[int, bytes], kind: str
) -> None:
    def unsupported(*args: object) -> None:
        raise OSError(errno.EOPNOTSUPP, "not here")

    if kind != "best":
        monkeypatch.setattr(fastcopy.fcntl, "ioctl", unsupported)
    if kind == "read_write":
        monkeypatch.setattr(fastcopy.os, "copy_file_range", unsupported)
    source, target = tmp_path / "src", tmp_path / "dst"
    expected = _write(source, size, pieces)
    assert _copy(source, target) == expected
    assert target.read_bytes() == source.read_bytes()
    if size >= 9 * MIB:  # holes stay holes
        assert os.stat(target).st_blocks * 512 <= os.stat(source).st_blocks * 512 + MIB


def test_the_digest_is_of_the_copy_not_of_the_source(tmp_path: Path) -> None:
    source, target = tmp_path / "src", tmp_path / "dst"
    _write(source, 8 * MIB, {0: os.urandom(8 * MIB)})
    src = os.open(source, os.O_RDONLY)
    dst = os.open(target, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        fastcopy.copy_fd(src, dst)
        os.pwrite(dst, b"changed after the copy", 0)
        digest = fastcopy.start_hash(dst).digest()
    finally:
        os.close(src)
        os.close(dst)
    assert digest == hashlib.sha256(target.read_bytes()).hexdigest()
    assert digest != hashlib.sha256(source.read_bytes()).hexdigest()


def test_a_large_staged_copy_that_differs_is_refused_and_removed(tmp_path: Path) -> None:
    source = tmp_path / "layer.bin"
    _write(source, 8 * MIB, {0: os.urandom(8 * MIB)})
    host = tmp_path / "host"
    host.mkdir()
    node = Node(EntryType.FILE, 0o644, sha256="0" * 64)
    with HostTree(str(host)) as tree:
        copy = tree.start_stage_file("f", ".f.tmp", str(source), node, None)
        assert (host / ".f.tmp").exists()
        with pytest.raises(ChangesetError) as info:
            tree.check_staged([copy])
    assert info.value.code == "changeset.hash_mismatch"
    assert list(host.iterdir()) == []


def test_a_backup_of_a_file_that_changed_is_a_conflict(tmp_path: Path) -> None:
    host = tmp_path / "host"
    host.mkdir()
    reviewed = _write(host / "f", 6 * MIB, {0: os.urandom(6 * MIB)})
    (host / "f").write_bytes(b"changed by the user")
    with HostTree(str(host)) as tree:
        copy = tree.copy_out("f", reviewed, str(tmp_path / "backup"))
        with pytest.raises(ConflictError):
            tree.check_copied([copy])


def test_a_prefetched_digest_is_used_only_for_the_file_it_was_computed_from(tmp_path: Path) -> None:
    host = tmp_path / "host"
    host.mkdir()
    first = _write(host / "same", 6 * MIB, {0: os.urandom(6 * MIB)})
    _write(host / "edited", 6 * MIB, {0: os.urandom(6 * MIB)})
    with HostTree(str(host)) as tree:
        tree.prefetch_digests(["same", "edited", "missing", "nowhere/below"])
        st = os.stat(host / "edited")
        time.sleep(0.05)  # timestamps without multigrain ctime (before Linux 6.13) tick every few ms
        with open(host / "edited", "r+b") as f:  # same size, mtime set back: only ctime tells
            f.write(b"edited after the prefetch")
        os.utime(host / "edited", ns=(st.st_atime_ns, st.st_mtime_ns))
        same, edited = tree.node("same"), tree.node("edited")
    assert same is not None and same.sha256 == first
    assert edited is not None and edited.sha256 == hashlib.sha256((host / "edited").read_bytes()).hexdigest()
