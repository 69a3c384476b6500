"""Change budgets count what applying would write (sparse files at their full size, each hard link,
every entry), per changeset and across the pending ones; a call over budget is reported and its
layer discarded, with the host and sbx's state checked afterwards. And a tool killed by the memory
cgroup is reported as `oom_killed`."""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import time
from pathlib import Path
from typing import Any

from sandbox.config import Settings
from tests.integration.conftest import Run, sbx, snapshot

ROOT = Path(__file__).resolve().parents[2]
MIB = 1 << 20


def _profiles(tmp_path: Path, **limits: str | int) -> dict[str, str]:
    """The shipped profiles with base.toml's budgets replaced; the environment that selects them."""
    folder = tmp_path / "profiles"
    shutil.copytree(ROOT / "profiles", folder)
    base = folder / "base.toml"
    lines = base.read_text().splitlines()
    for key, value in limits.items():
        shown = f'"{value}"' if isinstance(value, str) else str(value)
        index = next(i for i, line in enumerate(lines) if line.startswith(f"{key} ="))
        lines[index] = f"{key} = {shown}"
    base.write_text("\n".join(lines) + "\n")
    return {"SBX_PROFILES": str(folder)}


def _state_dir(workspace: Path) -> Path:
    key = hashlib.sha256(str(workspace.resolve()).encode()).hexdigest()[:16]
    return Settings.from_env().state_dir.resolve() / "workspaces" / key


def _entries_below(path: Path) -> int:
    return sum(len(dirs) + len(files) for _, dirs, files in os.walk(path))


def _exec(workspace: Path, script: str, env: dict[str, str] | None = None, *flags: str,
          timeout: float = 120) -> dict[str, Any]:
    run = sbx("exec", "--json", "-w", str(workspace), *flags, "--", "sh", "-c", script, env=env, timeout=timeout)
    assert run.code == 0, run.stdout + run.stderr
    result: dict[str, Any] = run.json["result"]
    return result


def _assert_refused(result: dict[str, Any], workspace: Path, limit: str) -> None:
    """Reported as a denial naming the limit; the changeset discarded with nothing in it; its layer
    gone from sbx's state."""
    step, changeset = result["steps"][0], result["changeset"]
    budget = [d for d in step["denied"] if d.startswith("change budget:")]
    assert budget and limit in budget[0], step["denied"]
    assert changeset["status"] == "discarded" and changeset["changes"] == []
    layer = _state_dir(workspace) / "changesets" / changeset["id"]
    assert not (layer / "upper").exists() and not (layer / "work").exists()
    assert _entries_below(layer) <= 3  # meta.json, changes.json: the record, not the layer


def _lock_is_free(workspace: Path) -> bool:
    fd = os.open(_state_dir(workspace) / "lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def test_a_sparse_file_counts_its_full_size(workspace: Path) -> None:
    before = snapshot(workspace)
    result = _exec(workspace, "truncate -s 3G big.bin && ls -s big.bin")
    _assert_refused(result, workspace, "change_bytes")
    assert "3.0 GiB" in result["steps"][0]["denied"][0]
    assert snapshot(workspace) == before


def test_a_sparse_file_within_budget_is_applied_with_its_holes(workspace: Path, tmp_path: Path) -> None:
    env = _profiles(tmp_path, change_bytes="4GiB", pending_bytes="8GiB")
    result = _exec(workspace, "truncate -s 3G big.bin && printf end >> big.bin", env, "--yes", timeout=300)
    assert result["changeset"]["status"] == "applied", result
    st = os.stat(workspace / "big.bin")
    assert st.st_size == (3 << 30) + 3
    assert st.st_blocks * 512 <= MIB  # the holes stayed holes: one block of data, not 3 GiB of zeros
    with open(workspace / "big.bin", "rb") as f:
        f.seek(3 << 30)
        assert f.read() == b"end"


def test_a_15_terabyte_sparse_file_is_refused_without_reading_it(workspace: Path) -> None:
    started = time.monotonic()
    result = _exec(workspace, "truncate -s 15T huge.bin", timeout=120)
    assert time.monotonic() - started < 60
    _assert_refused(result, workspace, "change_bytes")
    assert not (workspace / "huge.bin").exists()
    assert _lock_is_free(workspace)
    listed = sbx("list", "--json", "-w", str(workspace), timeout=20)
    assert listed.code == 0 and listed.json["ok"], listed.stdout + listed.stderr


def test_each_hard_link_counts_as_the_copy_it_becomes(workspace: Path, tmp_path: Path) -> None:
    env = _profiles(tmp_path, change_bytes="190MiB")
    before = snapshot(workspace)
    script = "head -c 20M /dev/urandom > f && for i in 1 2 3 4 5 6 7 8 9; do ln f link$i; done; du -sh ."
    result = _exec(workspace, script, env)
    _assert_refused(result, workspace, "change_bytes")
    assert "200.0 MiB" in result["steps"][0]["denied"][0]  # 10 names of 20 MiB, not one file of 20 MiB
    assert snapshot(workspace) == before
    # Two names fit: applied as two separate files, as the budget counted them.
    result = _exec(workspace, "head -c 20M /dev/urandom > f && ln f g", env, "--yes")
    assert result["changeset"]["status"] == "applied", result
    f, g = os.stat(workspace / "f"), os.stat(workspace / "g")
    assert f.st_nlink == g.st_nlink == 1 and f.st_ino != g.st_ino and f.st_size == g.st_size == 20 * MIB


def test_a_call_making_files_without_end_is_stopped_at_the_inode_budget(workspace: Path, tmp_path: Path) -> None:
    env = _profiles(tmp_path, change_inodes=200)
    script = "i=0; while [ $i -lt 100000 ]; do true > f$i || break; i=$((i+1)); done; echo made=$i"
    started = time.monotonic()
    result = _exec(workspace, script, env)
    step = result["steps"][0]
    made = int(step["stdout"].split("made=")[1])
    assert 200 <= made < 1000, step  # stopped by the layer's inode cap, not by the loop's end
    assert "No space left on device" in step["stderr"]
    _assert_refused(result, workspace, "change_inodes")
    assert time.monotonic() - started < 30
    assert not any(p.name.startswith("f") for p in workspace.iterdir())


def test_pending_changesets_share_one_budget(workspace: Path, tmp_path: Path) -> None:
    env = _profiles(tmp_path, change_bytes="8MiB", pending_bytes="10MiB", pending_inodes=40)
    first = _exec(workspace, "head -c 4M /dev/zero > a.bin", env)
    second = _exec(workspace, "head -c 4M /dev/zero > b.bin", env)
    assert first["changeset"]["status"] == second["changeset"]["status"] == "pending"
    third = _exec(workspace, "head -c 4M /dev/zero > c.bin", env)  # 12 MiB would wait: over 10
    _assert_refused(third, workspace, "pending_bytes")
    assert "2 pending" in third["steps"][0]["denied"][0]
    # Files (inodes) count across pending changesets as well.
    many = _exec(workspace, "mkdir d && cd d && touch $(seq 1 40)", env)
    _assert_refused(many, workspace, "pending_inodes")
    # Room is made by discarding: the same call then fits.
    assert sbx("discard", first["changeset"]["id"], "-w", str(workspace)).code == 0
    again = _exec(workspace, "head -c 4M /dev/zero > c.bin", env)
    assert again["changeset"]["status"] == "pending" and not any(
        d.startswith("change budget") for d in again["steps"][0]["denied"])
    listed: Run = sbx("list", "--json", "-w", str(workspace))
    pending = [c for c in listed.json["result"]["changesets"] if c["status"] == "pending"]
    assert len(pending) == 2
    assert not any(p.suffix == ".bin" for p in workspace.iterdir())  # nothing reached the host


def test_a_tool_killed_by_the_memory_cgroup_is_reported_oom_killed(workspace: Path, engine: str) -> None:
    result = _exec(workspace, "python3 -c 'b = bytearray(2 * 1024**3); print(len(b))'; echo after=$?")
    step = result["steps"][0]
    degraded = [line for line in step["protections"]["degraded"] if line.startswith("memory:")]
    if not degraded:
        assert "after=137" in step["stdout"], step
        assert step["oom_killed"] is True
    elif "RLIMIT_DATA" in degraded[0]:  # rootless on cgroups v1: no cgroup to kill, the rlimit refuses
        assert "MemoryError" in step["stderr"] and "after=1" in step["stdout"], step
        assert step["oom_killed"] is False
    else:  # the step says that nothing limits its memory here; nothing else may claim a kill
        assert engine == "docker" and "not limited" in degraded[0], degraded
        assert step["oom_killed"] is False
    calm = _exec(workspace, "python3 -c 'b = bytearray(1024**2); print(len(b))'")["steps"][0]
    assert calm["oom_killed"] is False
