"""sbx's private Podman service outlives the command that started it, so it must stand on its own:
not in the caller's working folder (which may be deleted), not with the caller's environment, and a
service that answers but cannot start containers is restarted rather than failing every action."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import sbx


@pytest.fixture
def own_runtime(tmp_path_factory: pytest.TempPathFactory, podman_ready: None) -> Iterator[dict[str, str]]:
    """A runtime folder of this test's own, so that the service it starts is this test's."""
    runtime = tmp_path_factory.mktemp("rt")
    runtime.chmod(0o700)
    env = {"SBX_RUNTIME_DIR": str(runtime), "SBX_PODMAN": "private"}
    yield env
    sbx("doctor", "--json", env=env)  # nothing to clean but the service, which stops by itself
    pid_file = runtime / "podman.pid"
    if pid_file.exists():
        subprocess.run(["kill", pid_file.read_text().strip()], check=False)


def _service_pid(env: dict[str, str]) -> int:
    return int((Path(env["SBX_RUNTIME_DIR"]) / "podman.pid").read_text())


def test_service_survives_the_deletion_of_the_folder_it_was_started_from(
        tmp_path: Path, own_runtime: dict[str, str], workspace: Path) -> None:
    caller = tmp_path / "caller"
    caller.mkdir()
    started = sbx("doctor", "--json", cwd=caller, env={**own_runtime, "SBX_TEST_SECRET": "leak-me"})
    assert started.code == 0, started.stdout + started.stderr
    assert started.json["result"]["probe"]["ok"] is True
    pid = _service_pid(own_runtime)
    assert os.readlink(f"/proc/{pid}/cwd") == own_runtime["SBX_RUNTIME_DIR"]
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    assert not any(var.startswith(b"SBX_TEST_SECRET=") for var in environ), "the caller's environment leaked"
    shutil.rmtree(caller)

    run = sbx("exec", "-w", str(workspace), "--json", "--", "sh", "-c", "echo ok > done.txt", env=own_runtime)
    assert run.code == 0, run.stdout + run.stderr
    assert run.json["result"]["changeset"]["changes"][0]["path"] == "done.txt"
    assert _service_pid(own_runtime) == pid  # the same service, still working


def test_a_service_that_cannot_start_containers_is_restarted(
        tmp_path: Path, own_runtime: dict[str, str], workspace: Path) -> None:
    """The failure reported from the field: a service whose working folder was deleted answers its
    socket but every container fails ("Failed to get working directory"). Made here by starting
    the service the old way, inside a folder that is then deleted."""
    assert sbx("doctor", "--json", env=own_runtime).code == 0  # writes sbx's configuration
    from sandbox.config import Settings
    from sandbox.engine import host, service, service_paths

    runtime = Path(own_runtime["SBX_RUNTIME_DIR"])
    os.kill(_service_pid(own_runtime), 15)
    for _ in range(100):
        if not service.ping(runtime / "podman.sock", timeout=0.2):
            break
        time.sleep(0.1)
    facts = host.detect()
    old = os.environ.get("SBX_RUNTIME_DIR")
    os.environ["SBX_RUNTIME_DIR"] = str(runtime)
    try:
        paths = service_paths(Settings.from_env())
    finally:
        if old is not None:
            os.environ["SBX_RUNTIME_DIR"] = old
    doomed = tmp_path / "doomed"
    doomed.mkdir()
    (runtime / "podman.sock").unlink(missing_ok=True)
    broken = subprocess.Popen([str(facts.podman), "system", "service", "--time", "120", f"unix://{paths.socket}"],
                              cwd=doomed, env=paths.environment(facts), start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    (runtime / "podman.pid").write_text(str(broken.pid))
    for _ in range(200):
        if service.ping(paths.socket, timeout=0.2):
            break
        time.sleep(0.05)
    shutil.rmtree(doomed)

    run = sbx("exec", "-w", str(workspace), "--json", "--", "sh", "-c", "echo ok > done.txt", env=own_runtime)
    assert run.code == 0, run.stdout + run.stderr
    assert run.json["result"]["steps"][0]["exit_code"] == 0
    assert _service_pid(own_runtime) != broken.pid  # replaced by a service standing on its own
    broken.wait(timeout=30)
