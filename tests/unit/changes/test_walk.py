"""Walks over hostile trees: any depth, any path length, read-only folders, links never followed."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from sandbox.changes.digest import layer_digest
from sandbox.changes.layers import read_changes
from sandbox.changes.walk import MAX_DEPTH, PATH_MAX, Limits, remove_tree
from sandbox.errors import StateError

NOBODY = 65534
SYSTEM_PYTHON = "/usr/bin/python3"  # the venv's interpreter lives in root's home
REPO = Path(__file__).resolve().parents[3]


def nest(root: Path, depth: int, name: str = "d", *, leaf: bytes = b"x") -> None:
    """`depth` directories inside each other below `root`, made through descriptors so that the
    tree can be deeper than PATH_MAX allows a path to be; a file at the bottom."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(depth):
            os.mkdir(name, dir_fd=fd)
            child = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = child
        leaf_fd = os.open("leaf", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        os.write(leaf_fd, leaf)
        os.close(leaf_fd)
    finally:
        os.close(fd)


def test_remove_tree_removes_a_tree_deeper_than_recursion_and_path_max(tmp_path: Path) -> None:
    root = tmp_path / "layer"
    root.mkdir()
    depth = sys.getrecursionlimit() * 3
    assert depth * 2 > PATH_MAX  # "d/" per level: no path names the bottom
    nest(root, depth)
    remove_tree(root)
    assert not root.exists()
    assert list(tmp_path.iterdir()) == []


def test_remove_tree_removes_links_and_never_what_they_point_to(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("keep\n")
    root = tmp_path / "layer"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "to-dir").symlink_to(outside)
    (root / "to-file").symlink_to(outside / "keep.txt")
    (root / "dangling").symlink_to(tmp_path / "nothing")
    remove_tree(root)
    assert not root.exists()
    assert (outside / "keep.txt").read_text() == "keep\n"
    link = tmp_path / "link"
    link.symlink_to(outside)
    remove_tree(link)  # the link itself, not the folder it names
    assert not link.exists() and (outside / "keep.txt").exists()


def test_remove_tree_of_nothing_is_nothing(tmp_path: Path) -> None:
    remove_tree(tmp_path / "absent")
    (tmp_path / "file").write_text("x")
    remove_tree(tmp_path / "file")
    assert list(tmp_path.iterdir()) == []


def _read_only_tree(root: Path) -> None:
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "b" / "f").write_text("f")
    (root / "closed").mkdir()
    (root / "closed" / "g").write_text("g")
    nest(root / "a", 40)
    os.chmod(root / "a" / "b", 0o500)  # listable, but nothing can be unlinked in it
    os.chmod(root / "closed", 0)  # overlayfs leaves work/work like this
    os.chmod(root / "a", 0o100)  # search only: cannot be listed


def test_remove_tree_opens_up_read_only_folders(tmp_path: Path) -> None:
    root = tmp_path / "layer"
    root.mkdir()
    _read_only_tree(root)
    remove_tree(root)
    assert not root.exists()


@pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists(SYSTEM_PYTHON), reason="needs root and python3")
def test_an_unprivileged_owner_removes_its_read_only_tree() -> None:
    """As root every permission check passes; as the folder's plain owner, each has to be opened up."""
    home = Path(tempfile.mkdtemp(prefix="sbx-walk-"))  # not below pytest's 0700 folders
    try:
        root = home / "layer"
        root.mkdir()
        _read_only_tree(root)
        subprocess.run(["chown", "-R", f"{NOBODY}:{NOBODY}", str(home)], check=True)
        code = "import sys; from sandbox.changes.walk import remove_tree; remove_tree(sys.argv[1])"
        done = subprocess.run(
            [SYSTEM_PYTHON, "-c", code, str(root)], user=NOBODY, group=NOBODY, capture_output=True, text=True,
            env={"PYTHONPATH": str(REPO)}, cwd="/", check=False,
        )
        assert done.returncode == 0, done.stderr
        assert not root.exists()
    finally:
        remove_tree(home)


def test_read_changes_refuses_a_layer_deeper_than_the_limit(tmp_path: Path) -> None:
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    lower.mkdir()
    upper.mkdir()
    nest(upper, sys.getrecursionlimit() + 500)
    try:
        with pytest.raises(StateError) as caught:
            read_changes(str(upper), [str(lower)])
        assert caught.value.code == "state.layer_refused"
        assert f"deeper than {MAX_DEPTH} levels" in caught.value.message
        with pytest.raises(StateError) as digest:
            layer_digest(str(upper))
        assert digest.value.code == "state.layer_refused"
    finally:
        remove_tree(upper)  # pytest's own clean-up of old temp folders recurses


def test_read_changes_takes_a_tree_at_the_depth_limit(tmp_path: Path) -> None:
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    lower.mkdir()
    upper.mkdir()
    nest(upper, MAX_DEPTH - 1, "n")
    records = read_changes(str(upper), [str(lower)])
    assert records[-1].path == "/".join(["n"] * (MAX_DEPTH - 1)) + "/leaf"
    assert len(records) == MAX_DEPTH
    layer_digest(str(upper))


def test_read_changes_refuses_paths_too_long_for_the_host(tmp_path: Path) -> None:
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    lower.mkdir()
    upper.mkdir()
    nest(upper, 20, "x" * 250)  # shallow, but 5000 bytes of path
    with pytest.raises(StateError) as caught:
        read_changes(str(upper), [str(lower)])
    assert caught.value.code == "state.layer_refused"
    assert "a path longer than" in caught.value.message


def test_limits_count_entries_and_escape_names() -> None:
    limits = Limits(root_bytes=10, max_entries=3)
    for name in ("a", "b", "c"):
        limits.check(name)
    with pytest.raises(StateError, match="more than 3 entries"):
        limits.check("d")
    shallow = Limits(root_bytes=10, max_depth=2)
    with pytest.raises(StateError) as caught:
        shallow.check("a/b\x1b[2J/c")
    assert "\x1b" not in caught.value.message and "\\x1b" in caught.value.message
