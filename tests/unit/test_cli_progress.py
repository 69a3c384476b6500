"""The terminal's progress line for slow phases of `sbx run` (no model, no podman)."""

from __future__ import annotations

import io
import time

import pytest

from sandbox.cli.ticker import Ticker


def test_a_slow_phase_counts_in_place_and_the_next_message_replaces_it(monkeypatch: pytest.MonkeyPatch) -> None:
    err = io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    ticker = Ticker(interval_s=0.001)
    ticker.start("planning")
    deadline = time.monotonic() + 10  # a ticker that never ticks fails here instead of spinning forever
    while err.getvalue().count("\rsbx: planning... ") < 3 and time.monotonic() < deadline:
        time.sleep(0.001)
    ticker.stop()
    out = err.getvalue()
    assert out.count("\rsbx: planning... ") >= 3, "the ticker did not tick within 10 s"
    assert out.startswith("sbx: planning...") and "\rsbx: planning... 0s" in out
    assert out.endswith("\r\033[K")  # cleared: what comes next starts on a clean line
    ticker.stop()  # stopping twice is harmless
    assert err.getvalue() == out
