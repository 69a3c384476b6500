from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.policy.profiles import load_profiles
from sandbox.tools import Tool

PROFILES = Path(__file__).resolve().parents[3] / "profiles"


@pytest.fixture(scope="session")
def tools() -> list[Tool]:
    return [profile.tool for _, profile in sorted(load_profiles(PROFILES).tools.items())]


@pytest.fixture(scope="session")
def by_name(tools: list[Tool]) -> dict[str, Tool]:
    return {tool.name: tool for tool in tools}
