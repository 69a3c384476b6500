"""A commit copies holes as holes: the host gets the blocks a file has, not its apparent size."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from sandbox.changes.hostfs import HostTree
from sandbox.changes.nodes import Node
from sandbox.errors import ChangesetError
from sandbox.types import EntryType

SIZE = 64 << 20


def _sparse(path: Path, size: int, pieces: dict[int, bytes]) -> str:
    with open(path, "wb") as f:
        f.truncate(size)
        for offset, data in pieces.items():
            f.seek(offset)
            f.write(data)
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


@pytest.mark.parametrize("pieces", [{}, {0: b"head"}, {SIZE // 2: b"middle" * 1000}, {SIZE - 5: b"tail!"},
                                    {0: b"a", 7 << 20: b"b", SIZE // 2 + 3: b"c" * 70000}])
def test_holes_are_copied_as_holes(tmp_path: Path, pieces: dict[int, bytes]) -> None:
    source = tmp_path / "layer.bin"
    sha256 = _sparse(source, SIZE, pieces)
    host = tmp_path / "host"
    host.mkdir()
    with HostTree(str(host)) as tree:
        tree.stage_file("big.bin", ".big.tmp", str(source), Node(EntryType.FILE, 0o644, sha256=sha256), None)
        tree.install("big.bin", ".big.tmp")
    copied = host / "big.bin"
    st = copied.stat()
    assert st.st_size == SIZE
    assert st.st_blocks * 512 <= os.stat(source).st_blocks * 512 + (1 << 20)
    for offset, data in pieces.items():
        with open(copied, "rb") as f:
            f.seek(offset)
            assert f.read(len(data)) == data


def test_a_copy_that_differs_from_the_review_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "layer.bin"
    _sparse(source, 1 << 20, {100: b"x"})
    host = tmp_path / "host"
    host.mkdir()
    with HostTree(str(host)) as tree, pytest.raises(ChangesetError):
        tree.stage_file("f", ".f.tmp", str(source), Node(EntryType.FILE, 0o644, sha256="0" * 64), None)
    assert list(host.iterdir()) == []
