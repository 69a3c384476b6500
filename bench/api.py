"""Actions per second for 1, 2, 4 and 8 concurrent callers on separate workspaces, against bare
`podman run --rm` at the same concurrency, measured in the same run.

    .venv/bin/python bench/api.py [--actions N] [--callers 1,2,4,8]

Each caller holds its own `Sandbox` on its own workspace (agents in parallel) and runs
`exec("true")` N times: every action is a full confined container with its own changeset. The
callers run as threads of one process (one agent process driving several workspaces) and, in a
second table, as separate processes (an agent farm). The baseline is the same number of concurrent
loops of `podman run --rm --network none IMAGE true` against sbx's Podman (its containers.conf), so
the ratio says how much of the scaling Podman itself allows on this machine.

Throughput is all actions of a level over the wall time from the first caller's start to the
last caller's end; every caller has connected and run one action before the clock starts.

With --planner, one caller's actions are also timed while the planner service (the default model,
as `sbx run` uses it) plans without pause in another thread: the planner runs at a lower CPU
priority (service.PLANNER_NICENESS) so that it does not hold actions up.
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
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sandbox import Sandbox
from sandbox.config import Settings
from sandbox.engine import host, service_paths


@dataclass(frozen=True)
class Level:
    callers: int
    actions: int
    seconds: float
    latencies: tuple[float, ...]

    @property
    def rate(self) -> float:
        return self.actions / self.seconds


@dataclass(frozen=True)
class CallerRun:
    started: float  # time.monotonic(): one clock for every process of the machine
    ended: float
    latencies: tuple[float, ...]


def _workspace(root: Path, name: str) -> Path:
    ws = root / name
    ws.mkdir()
    (ws / "file.txt").write_text("x\n")
    return ws


def _actions(box: Sandbox, count: int) -> CallerRun:
    started = time.monotonic()
    latencies = []
    for _ in range(count):
        begun = time.monotonic()
        result = box.exec("true")
        if result.steps[0].exit_code != 0:
            raise RuntimeError(f"an action failed: {result.steps[0].stderr}")
        latencies.append(time.monotonic() - begun)
    return CallerRun(started, time.monotonic(), tuple(latencies))


def _level(runs: Sequence[CallerRun]) -> Level:
    latencies = tuple(t for run in runs for t in run.latencies)
    seconds = max(run.ended for run in runs) - min(run.started for run in runs)
    return Level(len(runs), len(latencies), seconds, latencies)


def _in_threads(callers: int, work: Callable[[int], CallerRun]) -> Level:
    runs: list[CallerRun | None] = [None] * callers
    errors: list[BaseException] = []
    gate = threading.Barrier(callers)

    def caller(index: int) -> None:
        try:
            gate.wait()
            runs[index] = work(index)
        except BaseException as exc:  # noqa: BLE001 -- re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return _level([run for run in runs if run is not None])


def _bare(argv: Sequence[str], env: dict[str, str], count: int) -> CallerRun:
    started = time.monotonic()
    latencies = []
    for _ in range(count):
        begun = time.monotonic()
        subprocess.run(argv, env=env, check=True, capture_output=True)
        latencies.append(time.monotonic() - begun)
    return CallerRun(started, time.monotonic(), tuple(latencies))


def _in_processes(workspaces: Sequence[Path], count: int) -> Level:
    """One worker process per workspace: each opens its Sandbox and runs one action, says it is
    ready, and starts when every worker is ready (one line on its standard input)."""
    script = str(Path(__file__).resolve())
    workers = [
        subprocess.Popen([sys.executable, script, "--worker", str(ws), "--actions", str(count)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for ws in workspaces
    ]
    runs = []
    try:
        for worker in workers:
            assert worker.stdout is not None
            if worker.stdout.readline().strip() != "ready":
                raise RuntimeError("a worker did not start")
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write("go\n")
            worker.stdin.flush()
        for worker in workers:
            out, _ = worker.communicate()
            if worker.returncode != 0:
                raise RuntimeError(f"a worker failed ({worker.returncode})")
            data = json.loads(out.strip().splitlines()[-1])
            runs.append(CallerRun(data["started"], data["ended"], tuple(data["latencies"])))
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    return _level(runs)


def _worker(workspace: Path, count: int) -> int:
    box = Sandbox(workspace)
    box.exec("true")  # connect, warm caches
    print("ready", flush=True)
    sys.stdin.readline()
    run = _actions(box, count)
    box.close()
    print(json.dumps({"started": run.started, "ended": run.ended, "latencies": run.latencies}), flush=True)
    return 0


PLANNER_INTENTS = ("count the lines of every python file here", "show the 3 largest files",
                   "find files changed in the last day", "how many words are in notes.txt")


def _with_planner(box: Sandbox, count: int, settings: Settings) -> tuple[Level, Level, int]:
    """One caller's actions alone, then while the planner service plans in a loop: both levels,
    and how many plans were made meanwhile."""
    from sandbox.planner.commands import make_planner

    planner = make_planner(service_dir=settings.runtime_dir)
    tools = [profile.tool for _, profile in sorted(box._workspace.profiles.tools.items())]
    planner.plan(PLANNER_INTENTS[0], tools)  # starts the service, loads the model
    alone = _level([_actions(box, count)])
    stop = threading.Event()
    plans = [0]

    def planning() -> None:
        while not stop.is_set():
            planner.plan(PLANNER_INTENTS[plans[0] % len(PLANNER_INTENTS)], tools)
            plans[0] += 1

    thread = threading.Thread(target=planning)
    thread.start()
    try:
        time.sleep(1.0)  # generating
        busy = _level([_actions(box, count)])
    finally:
        stop.set()
        thread.join()
    return alone, busy, plans[0]


def _table(title: str, levels: Sequence[Level], bare: Sequence[Level] | None = None) -> None:
    print(f"\n{title}")
    head = f"  {'callers':>7}  {'actions':>7}  {'actions/s':>9}  {'vs 1 caller':>11}  {'p50 ms':>7}  {'p90 ms':>7}"
    print(head + ("  vs bare podman" if bare else ""))
    one = levels[0].rate
    for index, level in enumerate(levels):
        lat = sorted(level.latencies)
        p90 = lat[min(len(lat) - 1, int(0.9 * len(lat)))]
        line = (f"  {level.callers:>7}  {level.actions:>7}  {level.rate:>9.2f}  {level.rate / one:>10.2f}x  "
                f"{statistics.median(lat) * 1000:>7.1f}  {p90 * 1000:>7.1f}")
        if bare:
            line += f"  {level.rate / bare[index].rate:>14.2f}x"
        print(line)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--actions", type=int, default=8, help="actions per caller at each level")
    parser.add_argument("--callers", default="1,2,4,8", help="concurrency levels, comma-separated")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--planner", action="store_true",
                        help="also time one caller while the planner service plans (needs the default model)")
    args = parser.parse_args()
    if args.worker is not None:
        return _worker(args.worker, args.actions)
    levels = [int(n) for n in args.callers.split(",")]
    count = args.actions
    settings = Settings.from_env()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["SBX_STATE_DIR"] = str(Path(tmp) / "state")  # the workers inherit it
        root = Path(tmp)
        boxes = [Sandbox(_workspace(root, f"t{i}")) for i in range(max(levels))]
        for box in boxes:
            box.exec("true")  # connect, start sbx's Podman service if needed, warm caches
        bare_env = service_paths(settings).environment(host.detect())
        bare_argv = ["podman", "run", "--rm", "--network", "none", settings.image, "true"]
        subprocess.run(bare_argv, env=bare_env, check=True, capture_output=True)

        bare = [_in_threads(n, lambda _i: _bare(bare_argv, bare_env, count)) for n in levels]
        threads = [_in_threads(n, lambda i: _actions(boxes[i], count)) for n in levels]
        planner = _with_planner(boxes[0], count * 2, settings) if args.planner else None
        for box in boxes:
            box.close()
        procs = [_in_processes([_workspace(root, f"p{n}-{i}") for i in range(n)], count) for n in levels]

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, kernel {platform.release()}, "
          f"{'rootless' if os.geteuid() else 'rootful'}, {count} actions per caller, `true` in each")
    _table("bare `podman run --rm` (one loop per caller):", bare)
    _table("sbx API, callers as threads of one process (each its own Sandbox and workspace):", threads, bare)
    _table("sbx API, callers as separate processes (each its own Sandbox and workspace):", procs, bare)
    if planner is not None:
        alone, busy, plans = planner
        _table("one caller alone, then while the planner service plans without pause:", [alone, busy])
        print(f"  plans made meanwhile: {plans}; p50 with the planner busy / alone: "
              f"{statistics.median(busy.latencies) / statistics.median(alone.latencies):.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
