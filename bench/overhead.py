"""What a confined action costs against bare Podman, measured interleaved in one run.

    .venv/bin/python bench/overhead.py [--rounds N]

Three ways to run `true`, round-robin so that machine noise hits all alike:
  bare   `podman run --rm --network none IMAGE true` (Podman's CLI, sbx's containers.conf so it runs here)
  cli    `sbx exec -w WS -- true` in a fresh process (Python start-up and imports included)
  api    `Workspace.exec(["true"])` in this process (the Python API an agent would hold open)
Prints each median and the ratios cli/bare and api/bare. Goals: cli <= 1.5x, api < 1.0x.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sandbox.app import Workspace
from sandbox.config import Settings


def _timed(fn: object) -> float:
    started = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=15)
    rounds = parser.parse_args().rounds
    settings = Settings.from_env()
    with tempfile.TemporaryDirectory() as state, tempfile.TemporaryDirectory() as ws:
        os.environ["SBX_STATE_DIR"] = state
        Path(ws, "file.txt").write_text("x\n")
        workspace = Workspace(ws, Settings.from_env())
        workspace.exec(["true"])  # connect (starts sbx's Podman service if needed) and warm caches
        conf = settings.runtime_dir / "containers.conf"
        bare_env = {**os.environ, "CONTAINERS_CONF": str(conf)}
        bare_argv = ["podman", "run", "--rm", "--network", "none", settings.image, "true"]
        cli_argv = [sys.executable, "-m", "sandbox.cli", "exec", "-w", ws, "--", "true"]

        def bare() -> None:
            subprocess.run(bare_argv, env=bare_env, check=True, capture_output=True)

        def cli() -> None:
            subprocess.run(cli_argv, check=True, capture_output=True)

        def api() -> None:
            result = workspace.exec(["true"])
            assert result.steps[0].exit_code == 0

        bare()
        cli()
        times: dict[str, list[float]] = {"bare": [], "cli": [], "api": []}
        for _ in range(rounds):
            times["bare"].append(_timed(bare))
            times["cli"].append(_timed(cli))
            times["api"].append(_timed(api))
    med = {name: statistics.median(values) for name, values in times.items()}
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, kernel {platform.release()}, rounds {rounds}")
    for name in ("bare", "cli", "api"):
        values = sorted(times[name])
        low, high = values[0] * 1000, values[-1] * 1000
        print(f"{name:>5}: median {med[name] * 1000:7.1f} ms  (min {low:.1f}, max {high:.1f})")
    print(f"ratio cli/bare: {med['cli'] / med['bare']:.2f}x  (goal <= 1.50x)")
    print(f"ratio api/bare: {med['api'] / med['bare']:.2f}x  (goal < 1.00x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
