"""The resident planner service with the real default model, through the real CLI: the first
`sbx run` starts it, later ones reuse it (and its prefix cache), the plan is the same as planning
in-process, `sbx model stop` ends it. Without the model this skips on a developer's machine and
FAILS in CI."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.planner.catalog import DEFAULT_MODEL
from sandbox.planner.service import ServiceBackend, socket_path
from tests.integration.conftest import sbx

pytestmark = pytest.mark.integration

INTENT = "find all Python files modified in the last week"


@pytest.fixture
def runtime() -> Iterator[Path]:
    # its own runtime folder, short enough for a unix socket path; stopped whatever happens
    with tempfile.TemporaryDirectory(prefix="sbx-svc-", dir="/tmp") as name:
        yield Path(name)
        sbx("model", "stop", env={"SBX_RUNTIME_DIR": name})


@pytest.fixture
def model_ready() -> None:
    from sandbox.errors import ModelError
    from sandbox.planner.catalog import get_spec
    from sandbox.planner.models import ModelStore

    try:
        ModelStore().require(get_spec(DEFAULT_MODEL))
    except ModelError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"the default model is not prepared: {exc.message}")
        pytest.skip(f"the default model is not prepared: {exc.message}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_the_first_run_starts_the_service_later_runs_reuse_it(tmp_path: Path, runtime: Path, podman_ready: None,
                                                               model_ready: None) -> None:
    ws = tmp_path / "ws"
    (ws / "src").mkdir(parents=True)
    (ws / "src" / "app.py").write_text("print(1)\n")
    env = {"SBX_RUNTIME_DIR": str(runtime)}
    sock = socket_path(runtime, DEFAULT_MODEL, "cpu")
    assert not sock.exists()

    first = sbx("run", "--dry-run", "--candidates", "1", "--json", INTENT, "-w", str(ws), env=env, timeout=600)
    assert first.code == 0, first.stderr
    assert sock.exists() and (sock.stat().st_mode & 0o777) == 0o600
    hello = ServiceBackend.for_model(DEFAULT_MODEL, directory=runtime).hello()
    assert hello is not None and hello["model"]["name"] == DEFAULT_MODEL
    pid = int(hello["pid"])
    assert _alive(pid)
    doctor = sbx("doctor", "--json", env=env).json["result"]["planner"]
    assert doctor["prepared"] is True and [s["pid"] for s in doctor["services"]] == [pid]

    second = sbx("run", "--dry-run", "--candidates", "1", "--json", INTENT, "-w", str(ws), env=env, timeout=600)
    assert second.code == 0, second.stderr
    plan1, plan2 = first.json["result"]["plan"], second.json["result"]["plan"]
    assert plan2["usage"]["cached_tokens"] > 0  # the prompt's attention state came from the first run
    generations = plan2["usage"]["passes"] + (1 if plan2["usage"]["gated"] else 0)
    assert plan2["usage"]["cached_tokens"] >= plan2["usage"]["prompt_tokens"] - generations  # one token each
    assert [s["args"] for s in plan2["steps"]] == [s["args"] for s in plan1["steps"]]

    local = sbx("run", "--dry-run", "--candidates", "1", "--json", "--no-service", INTENT, "-w", str(ws), env=env,
                timeout=600)
    assert local.code == 0, local.stderr
    assert local.json["result"]["plan"]["raw"] == plan1["raw"]  # same model, same greedy answer
    assert local.json["result"]["plan"]["usage"]["cached_tokens"] == 0

    stopped = sbx("model", "stop", "--json", env=env)
    assert stopped.code == 0 and stopped.json["result"]["stopped"] == [f"{DEFAULT_MODEL}-cpu"]
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid) and not sock.exists()
    again = sbx("model", "stop", "--json", env=env)
    assert again.code == 0 and again.json["result"]["stopped"] == []


def test_a_service_that_cannot_start_is_a_clear_error(tmp_path: Path, runtime: Path, model_ready: None) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    # an execution provider this onnxruntime-genai build lacks: the service fails to load the model
    run = sbx("run", "--dry-run", "--candidates", "1", "--json", "--ep", "dml", INTENT, "-w", str(ws),
              env={"SBX_RUNTIME_DIR": str(runtime)}, timeout=300)
    assert run.code != 0
    error = run.json["error"]
    assert error["code"] == "model.provider_unavailable", error
    assert "Traceback" not in run.stderr
    assert not socket_path(runtime, DEFAULT_MODEL, "dml").exists()
