"""The terminal's progress line for the slow phases of `sbx run`."""

from __future__ import annotations

import sys
import threading
import time


class Ticker:
    """On a terminal, a slow phase (model start, planning, a repair) as one line that counts its
    seconds in place, so a long plan does not look like a hang; the next message replaces it."""

    def __init__(self, interval_s: float = 0.5) -> None:
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, what: str) -> None:
        self._stop.clear()
        started = time.monotonic()
        sys.stderr.write(f"sbx: {what}...")
        sys.stderr.flush()

        def tick() -> None:
            while not self._stop.wait(self._interval_s):
                sys.stderr.write(f"\rsbx: {what}... {time.monotonic() - started:.0f}s ")
                sys.stderr.flush()

        self._thread = threading.Thread(target=tick, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        self._thread = None
        sys.stderr.write("\r\033[K")  # clear the ticking line
