"""Budgets count what a commit would write (apparent bytes, once per name; entries), without reading."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest

from sandbox.changes import budget
from sandbox.changes.budget import Budget, Usage, measure
from sandbox.types import Limits

SMALL = Budget(change_bytes=1 << 20, change_inodes=10, pending_bytes=2 << 20, pending_inodes=15)


def test_sparse_files_count_their_apparent_size(tmp_path: Path) -> None:
    with open(tmp_path / "big.bin", "wb") as f:
        f.truncate(15 << 40)  # 15 TiB of holes: nothing allocated, nothing read
    started = time.monotonic()
    usage = measure(tmp_path)
    assert usage == Usage(bytes=15 << 40, inodes=1)
    assert time.monotonic() - started < 1
    assert "15.0 TiB" in (SMALL.verdict(usage, Usage(), 0) or "")


def test_hard_links_count_once_per_name(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"x" * 1000)
    for i in range(9):
        os.link(tmp_path / "f", tmp_path / f"link{i}")
    assert measure(tmp_path) == Usage(bytes=10_000, inodes=10)


def test_every_entry_is_an_inode_and_links_count_their_target(tmp_path: Path) -> None:
    (tmp_path / "d" / "e").mkdir(parents=True)
    (tmp_path / "d" / "e" / "f").write_text("abc")
    os.symlink("target!", tmp_path / "d" / "l")
    whiteouts = 0
    if os.geteuid() == 0:  # an overlay whiteout: a character device 0/0, one entry like any other
        os.mknod(tmp_path / "gone", 0o600 | stat.S_IFCHR, os.makedev(0, 0))
        whiteouts = 1
    usage = measure(tmp_path)
    assert usage == Usage(bytes=3 + len("target!"), inodes=4 + whiteouts)


def test_the_walk_stops_once_a_limit_is_passed(tmp_path: Path) -> None:
    for i in range(50):
        (tmp_path / f"f{i}").write_text("")
    usage = measure(tmp_path, stop_above=Usage(1 << 20, 10))
    assert usage.inodes == 11 and not usage.complete
    assert "more than 11 entries" in (SMALL.verdict(usage, Usage(), 0) or "")


def test_depth_needs_no_recursion_and_too_deep_is_refused(tmp_path: Path) -> None:
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(budget.MAX_DEPTH + 5):
            os.mkdir("d", dir_fd=fd)
            new = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = new
    finally:
        os.close(fd)
    usage = measure(tmp_path)
    assert usage.too_deep and not usage.complete
    assert "deeper than" in (SMALL.verdict(usage, Usage(), 0) or "")


def test_verdicts_per_changeset_and_across_pending() -> None:
    assert SMALL.verdict(Usage(1 << 20, 10), Usage(), 0) is None
    assert "change_bytes" in (SMALL.verdict(Usage((1 << 20) + 1, 1), Usage(), 0) or "")
    assert "change_inodes" in (SMALL.verdict(Usage(0, 11), Usage(), 0) or "")
    across = SMALL.verdict(Usage(1 << 20, 1), Usage((1 << 20) + 1, 1), 3) or ""
    assert "pending_bytes" in across and "3 pending" in across
    assert "pending_inodes" in (SMALL.verdict(Usage(0, 8), Usage(0, 8), 2) or "")
    assert SMALL.room(Usage(3 << 19, 14)) == Usage(1 << 19, 1)
    assert SMALL.room(Usage(5 << 20, 99)) == Usage(0, 0)


def test_usage_is_kept_beside_the_layer(tmp_path: Path) -> None:
    upper = tmp_path / "upper"
    upper.mkdir()
    (upper / "f").write_text("12345")
    assert budget.pending_usage([upper]) == (Usage(5, 1), 1)
    (upper / "g").write_text("more")  # the kept figure is what was measured when it was made
    assert budget.usage_of(upper) == Usage(5, 1)


def test_the_review_deadline() -> None:
    budget.check_deadline()  # no deadline: nothing to check
    with budget.deadline(0.0):
        time.sleep(0.01)
        with pytest.raises(budget.ReviewTooSlow):
            budget.check_deadline()
    budget.check_deadline()
    assert Budget.of(Limits()).review_seconds() >= budget.REVIEW_BASE_S
