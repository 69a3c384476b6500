"""Actions per second through the Python API, sequential and with 4 concurrent callers, with the
per-action overhead against bare `podman run` measured in the same run.

    .venv/bin/python bench/api.py [--actions N]

Each caller holds its own `Sandbox` on its own workspace (the agents-in-parallel case) and runs
`run_shell("true")`; every action is a full confined container with its own changeset.
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
from pathlib import Path

from sandbox import Sandbox
from sandbox.config import Settings


def _sandbox(root: Path, index: int) -> Sandbox:
    ws = root / f"ws{index}"
    ws.mkdir()
    (ws / "file.txt").write_text("x\n")
    return Sandbox(ws)


def _sequential(box: Sandbox, count: int) -> list[float]:
    times = []
    for _ in range(count):
        started = time.perf_counter()
        assert box.exec("true").steps[0].exit_code == 0
        times.append(time.perf_counter() - started)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--actions", type=int, default=20, help="actions per measurement")
    count = parser.parse_args().actions
    settings = Settings.from_env()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["SBX_STATE_DIR"] = str(Path(tmp) / "state")
        root = Path(tmp)
        boxes = [_sandbox(root, i) for i in range(4)]
        for box in boxes:
            box.exec("true")  # connect, start sbx's Podman service if needed, warm caches
        bare_env = {**os.environ, "CONTAINERS_CONF": str(settings.runtime_dir / "containers.conf")}
        bare_argv = ["podman", "run", "--rm", "--network", "none", settings.image, "true"]
        bare = []
        for _ in range(max(count // 2, 5)):
            started = time.perf_counter()
            subprocess.run(bare_argv, env=bare_env, check=True, capture_output=True)
            bare.append(time.perf_counter() - started)

        started = time.perf_counter()
        seq_times = _sequential(boxes[0], count)
        seq_rate = count / (time.perf_counter() - started)

        per_caller = max(count // 4, 1)
        results: list[list[float]] = [[] for _ in boxes]
        threads = [threading.Thread(target=lambda i=i: results[i].extend(_sequential(boxes[i], per_caller)))
                   for i in range(4)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        conc_rate = 4 * per_caller / (time.perf_counter() - started)
        conc_times = [t for r in results for t in r]
    bare_med, seq_med = statistics.median(bare), statistics.median(seq_times)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, kernel {platform.release()}, actions {count}")
    print(f"bare podman run:        median {bare_med * 1000:7.1f} ms")
    print(f"api, sequential:        median {seq_med * 1000:7.1f} ms   {seq_rate:5.2f} actions/s")
    print(f"api, 4 callers:         median {statistics.median(conc_times) * 1000:7.1f} ms   "
          f"{conc_rate:5.2f} actions/s")
    print(f"ratio api/bare (per action): {seq_med / bare_med:.2f}x   concurrency speed-up: {conc_rate / seq_rate:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
