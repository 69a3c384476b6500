"""Containers prepared ahead (engine/warm.py) with real Podman: a prepared container never shows a
stale view or runs a stale image, and none survives its process, even one killed with -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from sandbox.app import Workspace
from sandbox.config import Settings
from tests.integration.conftest import call, leftovers, sbx

RUNS = Settings.from_env().runtime_dir / "runs"


def _podman(*args: str) -> subprocess.CompletedProcess[str]:
    """Podman's CLI against sbx's own storage (rootless: its service's environment)."""
    from sandbox.engine import host, service_paths

    facts = host.detect()
    env = service_paths(Settings.from_env()).environment(facts) if facts.rootless else None
    return subprocess.run(["podman", *args], capture_output=True, text=True, check=True, env=env)


def _wait_prepared(ws: Workspace, made: int) -> None:
    deadline = time.monotonic() + 90
    while ws.engine.prepared_counts()[0] <= made and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ws.engine.prepared_counts()[0] > made, "no container was prepared"


@pytest.fixture
def ws(workspace: Path, podman_ready: None) -> Iterator[Workspace]:
    with Workspace(workspace, Settings.from_env(), prepare_ahead=1, allow_risky_apply=True) as ws:
        yield ws


def test_a_commit_by_another_process_is_seen_by_the_next_call(ws: Workspace, workspace: Path) -> None:
    first = ws.call_tool("run_shell", {"command": "echo 1 > f"})
    assert first.changeset is not None
    _wait_prepared(ws, 0)  # shaped for the next call over the pending layer
    applied = sbx("apply", first.changeset.id, "-w", str(workspace), "--yes", "--json")
    assert applied.code == 0, applied.stdout
    (workspace / "f").write_text("2\n")  # the person edits the applied file
    step = ws.call_tool("run_shell", {"command": "cat f"}).steps[0]
    assert step.stdout == "2\n", "the call saw the workspace as it was before the apply"


def test_a_rebuilt_image_under_the_same_name_is_not_used_stale(workspace: Path, podman_ready: None) -> None:
    settings = Settings.from_env()
    name = f"localhost/sbx/warm-test-{os.getpid()}:latest"
    _podman("tag", settings.image, name)
    try:
        with Workspace(workspace, replace(settings, image=name), prepare_ahead=1) as ws:
            call(ws, "run_shell", {"command": "true"})
            made, used = ws.engine.prepared_counts()
            ws.prepare("run_shell", {"command": "true"})
            _wait_prepared(ws, made)
            # the same name now names another image: one with a marker file
            container = _podman("create", "--name", f"warm-test-{os.getpid()}", name, "true").stdout.strip()
            try:
                _podman("commit", "-q", "--change", "LABEL=io.sbx.warm-test=rebuilt", container, name)
            finally:
                _podman("rm", "-f", container)
            ws.call_tool("run_shell", {"command": "true"})
            assert ws.engine.prepared_counts()[1] == used, "the container of the old image was used"
    finally:
        subprocess.run(["podman", "rmi", "-f", name], capture_output=True, check=False,
                       env=None if os.geteuid() == 0 else _service_env())


def _service_env() -> dict[str, str]:
    from sandbox.engine import host, service_paths

    return service_paths(Settings.from_env()).environment(host.detect())


HOLDER = """
import sys, time
from sandbox import Sandbox
box = Sandbox(sys.argv[1], prepare_ahead=1)
box.exec("true")
deadline = time.monotonic() + 90
while box._workspace.engine.prepared_counts()[0] == 0 and time.monotonic() < deadline:
    time.sleep(0.05)
print("prepared", flush=True)
time.sleep(600)
"""


def test_a_process_killed_with_9_leaves_its_prepared_container_to_the_next_run(
        workspace: Path, tmp_path: Path, podman_ready: None) -> None:
    assert leftovers(RUNS) == {"containers": [], "mounts": [], "runs": []}
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(workspace)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "prepared"
        left = leftovers(RUNS)
        assert len(left["containers"]) == 1 and len(left["runs"]) == 1
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    other = tmp_path / "other"
    other.mkdir()
    run = sbx("exec", "-w", str(other), "--json", "--", "true")
    assert run.code == 0, run.stdout
    assert leftovers(RUNS) == {"containers": [], "mounts": [], "runs": []}
