"""Many actions in a row and at once leave nothing behind (timings are bench/load.py's job)."""

from __future__ import annotations

from bench.load import run_load


def test_sequential_and_concurrent_actions_leak_nothing(podman_ready: None) -> None:
    result = run_load(sequential=40, concurrent=20)
    assert len(result.sequential) == 40 and len(result.concurrent) == 20
    assert result.warm_calls >= 30, "most sequential calls run in containers prepared ahead"
    assert result.leaks == {}
