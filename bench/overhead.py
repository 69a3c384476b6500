"""What a confined action costs against bare Podman, measured interleaved in one run, rootful and
rootless side by side.

    .venv/bin/python bench/overhead.py [--rounds N] [--no-rootless]

Ways to run one action, round-robin so that machine noise hits all alike:
  bare        `podman run --rm --network none IMAGE true` (Podman's CLI, in the same mode and with
              the same configuration as sbx's own service, so that it runs here)
  cli         `sbx exec -w WS -- true` in a fresh process (Python start-up and imports included)
  api-cold    `Workspace.call_tool("run_shell", {"command": "true"})` in this process, with nothing
              prepared ahead: the container is made for the call
  warm TOOL   the same through a workspace that prepares ahead (engine/warm.py): the call is given
              to a container that was made and started before it, as an agent's next call is while
              it thinks; read_file, list_dir, search_text and run_shell `true`. The wait for the
              container to be ready is not timed: it is the time the agent spends between calls.
Before each timed action, every way alike, a pause of 0.3 s lets what the previous one left running
(a container's removal in the background, a CLI process's exit) finish, as an agent's thinking would.
As root, the same measurement then runs as an unprivileged user on rootless Podman (the user of
scripts/test-user), and each mode is compared with bare Podman of the same mode.
Goals: warm p50 <= 50 ms and <= 0.3x bare; api-cold <= 0.7x; cli <= 1.2x; rootless api within 10%
of rootful.
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
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from sandbox.app import Workspace
from sandbox.config import Settings
from sandbox.engine import host, service_paths

ROOT = Path(__file__).resolve().parent.parent
WARM_CALLS: dict[str, tuple[str, dict[str, Any]]] = {
    "warm read_file": ("read_file", {"path": "file.txt"}),
    "warm list_dir": ("list_dir", {"path": "."}),
    "warm search_text": ("search_text", {"pattern": "x", "path": "."}),
    "warm run_shell": ("run_shell", {"command": "true"}),
}
NAMES = ("bare", "cli", "api-cold", *WARM_CALLS)
PAUSE_S = 0.3  # before each timed action, for every way alike


def _timed(fn: Callable[[], None]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def _ready(ws: Workspace, tool: str, args: Mapping[str, Any]) -> None:
    """Have the next call's container prepared, and wait until it is (not timed)."""
    made = ws.engine.prepared_counts()[0]
    ws.prepare(tool, args)
    deadline = time.monotonic() + 60
    while ws.engine.prepared_counts()[0] == made and time.monotonic() < deadline:
        time.sleep(0.01)


def _called(ws: Workspace, tool: str, args: Mapping[str, Any]) -> None:
    step = ws.call_tool(tool, args).steps[0]
    if step.exit_code != 0:
        raise RuntimeError(f"the action failed: {step.stderr}")


def measure(rounds: int) -> dict[str, list[float]]:
    settings = Settings.from_env()
    with tempfile.TemporaryDirectory() as state, tempfile.TemporaryDirectory() as ws:
        os.environ["SBX_STATE_DIR"] = state
        Path(ws, "file.txt").write_text("x\n")
        cold = Workspace(ws, Settings.from_env(), prepare_ahead=0)
        warm = Workspace(ws, Settings.from_env(), prepare_ahead=1)
        bare_env = service_paths(settings).environment(host.detect())
        bare_argv = ["podman", "run", "--rm", "--network", "none", settings.image, "true"]
        cli_argv = [sys.executable, "-m", "sandbox.cli", "exec", "-w", ws, "--", "true"]
        def bare() -> None:
            subprocess.run(bare_argv, env=bare_env, check=True, capture_output=True)

        def cli() -> None:
            subprocess.run(cli_argv, check=True, capture_output=True)

        actions: dict[str, Callable[[], None]] = {
            "bare": bare, "cli": cli, "api-cold": lambda: _called(cold, "run_shell", {"command": "true"}),
        }
        for name, (tool, args) in WARM_CALLS.items():
            actions[name] = lambda tool=tool, args=args: _called(warm, tool, args)  # type: ignore[misc]
        for name, action in actions.items():  # connect, start sbx's service, warm caches
            if name in WARM_CALLS:
                _ready(warm, *WARM_CALLS[name])
            action()
        used = warm.engine.prepared_counts()[1]
        times: dict[str, list[float]] = {name: [] for name in NAMES}
        for _ in range(rounds):
            for name, action in actions.items():
                if name in WARM_CALLS:
                    _ready(warm, *WARM_CALLS[name])
                time.sleep(PAUSE_S)  # the caller's own work between calls: what the last one left settles
                times[name].append(_timed(action))
        warm_used = warm.engine.prepared_counts()[1] - used
        warm.close()
        if warm_used != rounds * len(WARM_CALLS):
            raise RuntimeError(f"only {warm_used} of {rounds * len(WARM_CALLS)} warm calls ran prepared ahead")
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


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000


def _report(mode: str, times: dict[str, list[float]]) -> dict[str, float]:
    med = {name: statistics.median(values) for name, values in times.items()}
    print(f"-- {mode}")
    for name in NAMES:
        print(f"{name:>17}: p50 {_pct(times[name], 0.5):7.1f} ms  p99 {_pct(times[name], 0.99):7.1f} ms  "
              f"({med[name] / med['bare']:.2f}x bare)")
    warm = max(med[name] for name in WARM_CALLS)
    print(f"warm p50, slowest tool: {warm * 1000:.1f} ms, {warm / med['bare']:.2f}x bare  (goals <= 50 ms, <= 0.30x)")
    print(f"ratio api-cold/bare: {med['api-cold'] / med['bare']:.2f}x  (goal <= 0.70x)")
    print(f"ratio cli/bare: {med['cli'] / med['bare']:.2f}x  (goal <= 1.20x)")
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
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, kernel {platform.release()}, rounds {args.rounds}, "
          f"load average {os.getloadavg()[0]:.2f}")
    mode = "rootless" if os.geteuid() != 0 else "rootful"
    med = _report(mode, times)
    if os.geteuid() == 0 and not args.no_rootless:
        rootless = _report("rootless (as the test user)", _rootless(args.rounds))
        for name in ("api-cold", "warm run_shell"):
            print(f"ratio rootless/rootful {name}: {rootless[name] / med[name]:.2f}x  (goal <= 1.10x)")
        print(f"ratio rootless/rootful bare podman: {rootless['bare'] / med['bare']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
