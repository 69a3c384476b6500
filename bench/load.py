"""Load: many sequential actions and many concurrent ones through the Python API, with p50/p99
latency and a leak check (containers, overlay mounts, run folders, container processes).

    .venv/bin/python bench/load.py [--sequential 200] [--concurrent 20]

Exits non-zero if anything leaked.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from sandbox import Sandbox
from sandbox.config import Settings


@dataclass(frozen=True)
class LoadResult:
    sequential: list[float]
    concurrent: list[float]
    leaks: dict[str, list[str]]
    warm_calls: int  # calls that ran in a container prepared ahead


def leaks(runs: Path) -> dict[str, list[str]]:
    containers = subprocess.run(["podman", "ps", "-a", "--filter", f"label=io.sbx.runs={runs}", "--format", "{{.ID}}"],
                                capture_output=True, text=True, check=False).stdout.split()
    mounts = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines() if str(runs) in line]
    folders = [p.name for p in runs.iterdir()] if runs.is_dir() else []
    conmons = subprocess.run(["pgrep", "-f", "conmon.*io.sbx"], capture_output=True, text=True, check=False).stdout
    return {k: v for k, v in {"containers": containers, "mounts": mounts, "runs": folders,
                              "conmon": conmons.split()}.items() if v}


def run_load(sequential: int, concurrent: int) -> LoadResult:
    settings = Settings.from_env()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["SBX_STATE_DIR"] = str(Path(tmp) / "state")
        boxes = []
        for index in range(max(concurrent, 1)):
            ws = Path(tmp) / f"ws{index}"
            ws.mkdir()
            boxes.append(Sandbox(ws))
        seq: list[float] = []
        for _ in range(sequential):
            started = time.perf_counter()
            assert boxes[0].exec("true").steps[0].exit_code == 0
            seq.append(time.perf_counter() - started)
        conc: list[float] = []
        guard = threading.Lock()

        def one(box: Sandbox) -> None:
            started = time.perf_counter()
            assert box.exec("echo hi > out.txt").steps[0].exit_code == 0
            with guard:
                conc.append(time.perf_counter() - started)

        threads = [threading.Thread(target=one, args=(box,)) for box in boxes[:concurrent]]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        prepared = sum(box._workspace.engine.prepared_counts()[1] for box in boxes)
        for box in boxes:  # the end of the agents' sessions: what each prepared ahead goes
            box.close()
        return LoadResult(seq, conc, leaks(settings.runtime_dir / "runs"), prepared)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sequential", type=int, default=200)
    parser.add_argument("--concurrent", type=int, default=20)
    args = parser.parse_args()
    started = time.perf_counter()
    result = run_load(args.sequential, args.concurrent)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, kernel {platform.release()}")
    print(f"sequential {len(result.sequential)}: p50 {_pct(result.sequential, 0.5):.0f} ms, "
          f"p99 {_pct(result.sequential, 0.99):.0f} ms, mean {statistics.mean(result.sequential) * 1000:.0f} ms")
    print(f"concurrent {len(result.concurrent)}: p50 {_pct(result.concurrent, 0.5):.0f} ms, "
          f"p99 {_pct(result.concurrent, 0.99):.0f} ms")
    print(f"calls in a container prepared ahead: {result.warm_calls}")
    print(f"leaks: {result.leaks or 'none'}   ({time.perf_counter() - started:.0f} s in all)")
    return 1 if result.leaks else 0


if __name__ == "__main__":
    sys.exit(main())
