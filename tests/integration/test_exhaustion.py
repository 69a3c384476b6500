"""Resource exhaustion is contained, reported, and leaves no trace: no container, mount, run
folder or process survives any of these, on the cold path and on the warm one (the call given to
a container prepared ahead; the workspace is closed before the check, as at the end of a session)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.app import Workspace
from sandbox.config import Settings
from tests.integration.conftest import call, leftovers, snapshot
from tests.integration.test_containment import _probe_profiles

RUNS = Settings.from_env().runtime_dir / "runs"


def _no_trace(marker: str, ws: Workspace | None = None) -> None:
    if ws is not None:
        ws.close()
    assert leftovers(RUNS) == {"containers": [], "mounts": [], "runs": []}
    found = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True, check=False).stdout.split()
    assert found == [], f"processes left behind: {found}"


@pytest.fixture(params=["cold", "warm"])
def ws(workspace: Path, request: pytest.FixtureRequest) -> Iterator[Workspace]:
    with Workspace(workspace, Settings.from_env(), prepare_ahead=1 if request.param == "warm" else 0) as ws:
        yield ws


def test_fork_bomb_hits_the_pids_limit(ws: Workspace) -> None:
    step = call(ws, "run_shell", {"command": "bomb() { bomb | bomb & }; bomb; sleep 3; echo forkbomb-done"},
                        timeout_s=20).steps[0]
    assert "forkbomb-done" in step.stdout or step.timed_out
    assert "fork" in step.stderr.lower() or "resource" in step.stderr.lower() or step.timed_out
    _no_trace("bomb", ws)


def test_memory_bomb_is_oom_killed(ws: Workspace) -> None:
    step = call(ws, "run_shell", {"command": "python3 -c 'b = bytearray(2 * 1024**3); print(len(b))'"},
                        timeout_s=60).steps[0]
    assert step.exit_code != 0
    assert step.oom_killed or step.exit_code == 137 or "MemoryError" in step.stderr
    _no_trace("bytearray", ws)


def test_cpu_spin_and_endless_sleep_time_out(ws: Workspace) -> None:
    for command in ("while :; do :; done", "sleep 100000"):
        step = call(ws, "run_shell", {"command": command}, timeout_s=2).steps[0]
        assert step.timed_out and step.exit_code is None
    _no_trace("sleep 100000", ws)


def test_output_flood_is_capped(ws: Workspace) -> None:
    step = call(ws, "run_shell", {"command": "yes flood; yes err >&2"}, timeout_s=3).steps[0]
    assert step.stdout_truncated and len(step.stdout) == 1 << 20
    _no_trace("yes flood", ws)


def test_disk_filling_stops_at_the_change_layer_cap(workspace: Path, tmp_path: Path) -> None:
    settings = _probe_profiles(tmp_path, """
name = "probe"
description = "a shell with a small change layer"
argv = ["/bin/sh", "-c", "{command}"]
[args.command]
type = "string"
[filesystem]
workspace = "write"
[syscalls]
groups = ["file_write"]
[limits]
changes = "8MiB"
""")
    before = snapshot(workspace)
    result = Workspace(workspace, settings).call_tool(
        "probe", {"command": "dd if=/dev/zero of=big bs=1M count=64 2>&1; echo dd-exit=$?"})
    step = result.steps[0]
    assert "No space left on device" in step.stdout
    assert any(d.startswith("disk: the change layer reached its cap") for d in step.denied)
    big = next(c for c in result.changeset.changes if c.path == "big")
    assert big.new_size is not None and big.new_size <= 8 << 20
    assert snapshot(workspace) == before
    _no_trace("of=big")
