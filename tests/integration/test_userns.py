"""Every container has a user namespace: rootless, the user's own ids; as root, root's subordinate
range, with the workspace seen through an ID-mapped mount. The container's root is never the
host's uid 0, and the host folder still works as it did."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sandbox.engine import host, idmap, overlay
from sandbox.errors import EngineError
from tests.integration.conftest import sbx


def _outside_root(uid_map: str) -> int:
    """The host uid the container's uid 0 maps to, from /proc/self/uid_map's text."""
    for row in uid_map.splitlines():
        inside, outside, _count = row.split()
        if inside == "0":
            return int(outside)
    raise AssertionError(f"uid 0 is not mapped: {uid_map!r}")


def test_the_containers_root_is_not_the_hosts(workspace: Path) -> None:
    run = sbx("exec", "-w", str(workspace), "--json", "--", "cat", "/proc/self/uid_map")
    assert run.code == 0, run.stdout + run.stderr
    step = run.json["result"]["steps"][0]
    outside = _outside_root(step["stdout"])
    assert outside != 0
    assert step["protections"]["user_namespace"].startswith(f"private uid_map 0:{outside}:")
    if os.geteuid() == 0:
        ids = host.detect().container_ids
        assert ids is not None, "root has a subordinate range on the test machines (scripts/bootstrap)"
        assert outside == ids.uid
    else:
        assert outside == os.geteuid()


def test_the_workspace_is_the_containers_own_and_applies_with_host_owners(workspace: Path) -> None:
    """Root's files appear as the container root's, a user's file as that user's (the container has
    no capability to write it, as before); new files land on the host owned like their folder,
    never by a mapped uid."""
    if os.geteuid() == 0:
        (workspace / "users.txt").write_text("u\n")
        os.chown(workspace / "users.txt", 1234, 1234)
    script = "stat -c '%u %n' hello.txt; echo more >> hello.txt; echo n > src/new.py; " \
             "[ -e users.txt ] && stat -c '%u %n' users.txt; rm -r src/main.py"
    run = sbx("exec", "-w", str(workspace), "--json", "--yes", "--", "sh", "-c", script)
    assert run.code == 0, run.stdout + run.stderr
    step = run.json["result"]["steps"][0]
    assert step["exit_code"] == 0, step["stderr"]
    assert step["stdout"].startswith("0 hello.txt")
    assert (workspace / "hello.txt").read_text() == "hello\nmore\n"
    assert not (workspace / "src" / "main.py").exists()
    new = workspace / "src" / "new.py"
    assert new.read_text() == "n\n"
    folder = (workspace / "src").stat()
    assert (new.stat().st_uid, new.stat().st_gid) == (folder.st_uid, folder.st_gid)
    if os.geteuid() == 0:
        assert "1234 users.txt" in step["stdout"]
        assert (workspace / "users.txt").stat().st_uid == 1234


def test_a_run_folder_is_never_removed_through_the_host_folders_mount(tmp_path: Path) -> None:
    if os.geteuid() != 0:  # rootless sees the user's files as they are: no ID-mapped mount is made
        assert host.detect().container_ids is None
        return
    hostdir, run_dir = tmp_path / "host", tmp_path / "run"
    hostdir.mkdir()
    (hostdir / "precious").write_text("keep\n")
    (run_dir / overlay.SHIFTED).mkdir(parents=True)
    idmap.bind(hostdir, run_dir / overlay.SHIFTED, idmap.IdMap(1000000, 1000000, 65536))
    try:
        assert (run_dir / overlay.SHIFTED / "precious").stat().st_uid == 1000000 + os.getuid()
        with pytest.raises(EngineError, match="still mounted"):
            overlay._remove_run_dir(run_dir)
        assert (hostdir / "precious").read_text() == "keep\n"
    finally:
        overlay.HostMounter().unmount(run_dir / overlay.SHIFTED)
    overlay._remove_run_dir(run_dir)
    assert not run_dir.exists() and (hostdir / "precious").read_text() == "keep\n"
