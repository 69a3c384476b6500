"""What a confined action costs against bare Podman, measured interleaved in one run, rootful and
rootless side by side.

    .venv/bin/python bench/overhead.py [--rounds N] [--no-rootless]

Three ways to run `true`, round-robin so that machine noise hits all alike:
  bare   `podman run --rm --network none IMAGE true` (Podman's CLI, in the same mode and with the
         same configuration as sbx's own service, so that it runs here)
  cli    `sbx exec -w WS -- true` in a fresh process (Python start-up and imports included)
  api    `Workspace.exec(["true"])` in this process (the Python API an agent would hold open)
As root, the same measurement then runs as an unprivileged user on rootless Podman (the user of
scripts/test-user), and each mode is compared with bare Podman of the same mode.
Goals: cli <= 1.5x, api < 1.0x of bare; rootless api within 10% of rootful api.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sandbox.app import Workspace
from sandbox.config import Settings
from sandbox.engine import host, service_paths

ROOT = Path(__file__).resolve().parent.parent


def _timed(fn: Callable[[], None]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def measure(rounds: int) -> dict[str, list[float]]:
    settings = Settings.from_env()
    with tempfile.TemporaryDirectory() as state, tempfile.TemporaryDirectory() as ws:
        os.environ["SBX_STATE_DIR"] = state
        Path(ws, "file.txt").write_text("x\n")
        workspace = Workspace(ws, Settings.from_env())
        workspace.exec(["true"])  # connect (starts sbx's Podman service if needed) and warm caches
        bare_env = service_paths(settings).environment(host.detect())
        bare_argv = ["podman", "run", "--rm", "--network", "none", settings.image, "true"]
        cli_argv = [sys.executable, "-m", "sandbox.cli", "exec", "-w", ws, "--", "true"]

        def bare() -> None:
            subprocess.run(bare_argv, env=bare_env, check=True, capture_output=True)

        def cli() -> None:
            subprocess.run(cli_argv, check=True, capture_output=True)

        def api() -> None:
            result = workspace.exec(["true"])
            if result.steps[0].exit_code != 0:
                raise RuntimeError(f"the action failed: {result.steps[0].stderr}")

        bare()
        cli()
        times: dict[str, list[float]] = {"bare": [], "cli": [], "api": []}
        for _ in range(rounds):
            times["bare"].append(_timed(bare))
            times["cli"].append(_timed(cli))
            times["api"].append(_timed(api))
    return times


def _rootless(rounds: int) -> dict[str, list[float]]:
    """The same measurement as the test user, on rootless Podman."""
    user, checkout = subprocess.run([str(ROOT / "scripts/test-user")], check=True, capture_output=True,
                                    text=True).stdout.split()
    home = subprocess.run(["getent", "passwd", user], check=True, capture_output=True,
                          text=True).stdout.split(":")[5]
    env = ["env", "-i", f"HOME={home}", f"USER={user}", "LANG=C.UTF-8", "PATH=/usr/local/bin:/usr/bin:/bin"]
    out = subprocess.run(["runuser", "-u", user, "--", *env, f"{checkout}/.venv-user/bin/python",
                          f"{checkout}/bench/overhead.py", "--rounds", str(rounds), "--json"],
                         check=True, capture_output=True, text=True, cwd=checkout).stdout
    data: dict[str, list[float]] = json.loads(out.strip().splitlines()[-1])
    return data


def _report(mode: str, times: dict[str, list[float]]) -> dict[str, float]:
    med = {name: statistics.median(values) for name, values in times.items()}
    print(f"-- {mode}")
    for name in ("bare", "cli", "api"):
        values = sorted(times[name])
        low, high = values[0] * 1000, values[-1] * 1000
        print(f"{name:>5}: median {med[name] * 1000:7.1f} ms  (min {low:.1f}, max {high:.1f})")
    print(f"ratio cli/bare: {med['cli'] / med['bare']:.2f}x  (goal <= 1.50x)")
    print(f"ratio api/bare: {med['api'] / med['bare']:.2f}x  (goal < 1.00x)")
    return med


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--json", action="store_true", help="print the raw times as JSON (one mode)")
    parser.add_argument("--no-rootless", action="store_true", help="as root, do not measure rootless too")
    args = parser.parse_args()
    times = measure(args.rounds)
    if args.json:
        print(json.dumps(times))
        return 0
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, kernel {platform.release()}, rounds {args.rounds}")
    mode = "rootless" if os.geteuid() != 0 else "rootful"
    med = _report(mode, times)
    if os.geteuid() == 0 and not args.no_rootless:
        rootless = _report("rootless (as the test user)", _rootless(args.rounds))
        print(f"ratio rootless/rootful api: {rootless['api'] / med['api']:.2f}x  (goal <= 1.10x)")
        print(f"ratio rootless/rootful bare podman: {rootless['bare'] / med['bare']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
