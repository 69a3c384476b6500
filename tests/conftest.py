"""Shared test settings: every test gets its own sbx state folder, never the user's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def sbx_state(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    state = tmp_path_factory.mktemp("sbx-state")
    monkeypatch.setenv("SBX_STATE_DIR", str(state))
    yield state
