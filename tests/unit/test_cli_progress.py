"""The terminal's progress line for slow phases of `sbx run` (no model, no podman)."""

from __future__ import annotations

import io
import threading

import pytest

from sandbox.cli import _Ticker


def test_a_slow_phase_counts_in_place_and_the_next_message_replaces_it(monkeypatch: pytest.MonkeyPatch) -> None:
    err = io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    ticked = threading.Event()
    ticker = _Ticker(interval_s=0.001)
    ticker.start("planning")
    while err.getvalue().count("\rsbx: planning... ") < 3 and not ticked.wait(0.001):
        pass
    ticker.stop()
    out = err.getvalue()
    assert out.startswith("sbx: planning...") and "\rsbx: planning... 0s" in out
    assert out.endswith("\r\033[K")  # cleared: what comes next starts on a clean line
    ticker.stop()  # stopping twice is harmless
    assert err.getvalue() == out
