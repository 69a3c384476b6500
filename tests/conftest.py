"""Shared test settings: every test gets its own sbx state folder, never the user's."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

# A runtime folder (Podman socket, per-action mounts) of this test session's own, so that leak
# checks see only what these tests made, even while other sbx processes run on the machine.
os.environ.setdefault("SBX_RUNTIME_DIR", tempfile.mkdtemp(prefix="sbx-test-"))


@pytest.fixture(autouse=True)
def sbx_state(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    state = tmp_path_factory.mktemp("sbx-state")
    monkeypatch.setenv("SBX_STATE_DIR", str(state))
    yield state


@pytest.fixture(scope="session", autouse=True)
def no_planner_service_outlives_the_tests() -> Iterator[None]:
    yield
    from sandbox.planner.service import stop_services

    stop_services(Path(os.environ["SBX_RUNTIME_DIR"]))
