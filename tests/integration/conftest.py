"""Integration tests run real Podman through the real CLI. Without a working Podman they skip
on a developer's machine and FAIL in CI (CI=true): nothing may pass there by not running."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from sandbox.app import Workspace
    from sandbox.types import ActionResult

SBX = [sys.executable, "-m", "sandbox.cli"]


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> dict[str, Any]:
        lines = self.stdout.strip().splitlines()
        assert len(lines) == 1, f"--json must print exactly one line, got: {self.stdout!r}"
        data: dict[str, Any] = json.loads(lines[0])
        return data


def sbx(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 120) -> Run:
    proc = subprocess.run(
        [*SBX, *args], check=False, cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True,
        stdin=subprocess.DEVNULL, timeout=timeout,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture(scope="session")
def podman_ready() -> None:
    report = sbx("doctor", "--json")
    ok = report.code == 0 and report.json.get("ok") and report.json["result"].get("ok")
    if not ok:
        message = f"sbx doctor says the host is not ready: {report.stdout or report.stderr}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(params=["podman", "docker"])
def engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, podman_ready: None) -> str:
    """Run the test once per engine: Podman's libpod API, and the Docker engine against Podman's
    Docker-compatible API (no Docker daemon runs on the test machines)."""
    name = str(request.param)
    select_engine(name, monkeypatch)
    return name


def select_engine(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make `name` ("podman" or "docker") the engine of the Workspaces and CLI runs of a test."""
    from sandbox.config import Settings
    from sandbox.engine import host, service, service_paths

    if name == "docker":
        settings = Settings.from_env()
        socket_path, _ = service.find_socket(service_paths(settings), host.detect())
        monkeypatch.setenv("DOCKER_HOST", f"unix://{socket_path}")
    monkeypatch.setenv("SBX_ENGINE", name)


@pytest.fixture
def workspace(tmp_path: Path, podman_ready: None) -> Iterator[Path]:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "hello.txt").write_text("hello\n")
    (ws / "src").mkdir()
    (ws / "src" / "main.py").write_text("print('hi')\n")
    yield ws


def call(ws: Workspace, tool: str, args: Mapping[str, Any], **kwargs: Any) -> ActionResult:
    """`ws.call_tool`, made warm when the workspace prepares ahead: in a container that was made,
    started and left waiting before the call was known (the test fails if it was not)."""
    if ws.prepare_ahead <= 0:
        return ws.call_tool(tool, args, **kwargs)
    made, used = ws.engine.prepared_counts()
    ws.prepare(tool, args, timeout_s=kwargs.get("timeout_s"))
    deadline = time.monotonic() + 90
    while ws.engine.prepared_counts()[0] == made and time.monotonic() < deadline:
        time.sleep(0.05)
    result = ws.call_tool(tool, args, **kwargs)
    assert ws.engine.prepared_counts()[1] == used + 1, "the call did not run in the prepared container"
    return result


def snapshot(root: Path) -> dict[str, tuple[str, int, bytes]]:
    """Type, mode and content (or link target) of every entry, read without following links."""
    out: dict[str, tuple[str, int, bytes]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            st = path.lstat()
            rel = str(path.relative_to(root))
            if path.is_symlink():
                out[rel] = ("link", 0, os.readlink(path).encode())
            elif path.is_dir():
                out[rel] = ("dir", st.st_mode & 0o7777, b"")
            else:
                out[rel] = ("file", st.st_mode & 0o7777, path.read_bytes())
    return out


def leftovers(runtime_runs: Path | None = None) -> dict[str, list[str]]:
    """Containers, overlay and tmpfs mounts, and per-action run folders of this test session's
    runtime folder that are still present."""
    from sandbox.config import Settings
    from sandbox.engine import host, service, service_paths

    settings = Settings.from_env()
    runs = runtime_runs or settings.runtime_dir / "runs"
    # Rootless, containers live in sbx's own storage and mounts in its service's mount namespace.
    facts, paths = host.detect(), service_paths(settings)
    env = paths.environment(facts) if facts.rootless else None
    containers = subprocess.run(
        ["podman", "ps", "-a", "--filter", f"label=io.sbx.runs={runs}", "--format", "{{.ID}}"],
        capture_output=True, text=True, check=False, env=env,
    ).stdout.split()
    table = Path("/proc/self/mounts")
    if facts.rootless:
        pid = service.service_pid(paths.runtime_dir)
        ns_pid = service.namespace_pid(pid) if pid else None
        table = Path(f"/proc/{ns_pid}/mounts") if ns_pid else table
    mounts = [line for line in table.read_text().splitlines() if f" {runs}/" in line]
    runs = [str(p) for p in runtime_runs.iterdir()] if runtime_runs and runtime_runs.is_dir() else []
    return {"containers": containers, "mounts": mounts, "runs": runs}
