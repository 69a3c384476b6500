"""What per-call confinement costs: compiling it, and applying it, measured in one run.

    .venv/bin/python bench/confinement.py [--rounds N]

1. compile: `compile_call` for each shipped tool (seccomp via libseccomp + Landlock document +
   options), warm, median per call. Goal: < 5 ms.
2. apply, cold: the same action (`sh -c true` in the workspace) through the same engine, interleaved:
     confined  sbx's launcher (no_new_privs + Landlock), given the call on its standard input,
               + compiled seccomp allowlist
     defaults  the same container with Podman's default seccomp profile and no launcher
   Both have sbx's overlay, dropped capabilities, read-only root and limits: the difference is what
   per-call confinement adds to a container made for its call.
3. apply, warm: the same call given to a container prepared ahead (engine/warm.py), whose launcher
   started before the call and whose seccomp filter the runtime installed then. What confinement
   still costs at call time is the launcher's work from the call's arrival to the exec (parsing the
   call, no_new_privs, Landlock), which it reports itself (`seconds` in its report), plus compiling
   the call on the host. Prints both as a share of the warm action's wall time. Goal: < 5%.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from sandbox.app import INPUT_WAIT_S, LAUNCHER_ARGV, _environment, launcher_files, launcher_input
from sandbox.config import Settings
from sandbox.engine import ContainerSpec, Engine, WorkspaceOverlay, connect
from sandbox.engine.spec import ContainerOutcome
from sandbox.policy.compile import compile_call
from sandbox.policy.profiles import load_profiles

SAMPLE_ARGS = {
    "run_shell": {"command": "true"},
    "read_file": {"path": "a.txt"},
    "write_file": {"path": "src/a.py", "content": "x"},
    "list_dir": {"path": "."},
    "search_text": {"pattern": "x", "path": "."},
    "http_get": {"url": "https://deb.debian.org/debian/"},
    "install_package": {"name": "hello"},
}


def bench_compile(settings: Settings, repeat: int) -> dict[str, float]:
    profiles = load_profiles(settings.profiles_dir)
    out = {}
    for name, args in SAMPLE_ARGS.items():
        profile = profiles.get(name)
        compile_call(profile, args)  # warm libseccomp's resolution caches
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            compile_call(profile, args)
            times.append(time.perf_counter() - started)
        out[name] = statistics.median(times) * 1000
    return out


def _run_warm(engine: Engine, spec: ContainerSpec) -> tuple[float, ContainerOutcome]:
    """Prepare a container of `spec`'s shape, wait until it is ready (not timed), then time the call."""
    made = engine.prepared_counts()[0]
    engine.prepare(spec, 1)
    deadline = time.monotonic() + 60
    while engine.prepared_counts()[0] == made and time.monotonic() < deadline:
        time.sleep(0.01)
    used = engine.prepared_counts()[1]
    started = time.perf_counter()
    outcome = engine.run(spec)
    elapsed = time.perf_counter() - started
    if engine.prepared_counts()[1] != used + 1:
        raise RuntimeError("the warm call did not run in the prepared container")
    return elapsed, outcome


def _launcher_seconds(outcome: ContainerOutcome) -> float:
    report = json.loads(outcome.reports["applied.json"])
    return float(report["seconds"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=15)
    rounds = parser.parse_args().rounds
    settings = Settings.from_env()
    compile_ms = bench_compile(settings, 200)

    engine = connect(settings)
    call = compile_call(load_profiles(settings.profiles_dir).get("run_shell"), SAMPLE_ARGS["run_shell"])
    with tempfile.TemporaryDirectory() as tmp:
        ws, state = Path(tmp) / "ws", Path(tmp) / "state"
        ws.mkdir()
        (ws / "a.txt").write_text("x\n")

        def overlay(index: int) -> WorkspaceOverlay:
            upper, work = state / f"u{index}", state / f"w{index}"
            upper.mkdir(parents=True)
            work.mkdir(parents=True)
            return WorkspaceOverlay(lowers=(ws,), upper=upper, work=work)

        base = ContainerSpec(image=settings.image, argv=call.argv, workspace=overlay(0), limits=call.limits,
                             env=_environment(call))
        confined = replace(
            base,
            argv=LAUNCHER_ARGV,
            stdin=launcher_input(call),
            input_wait_s=INPUT_WAIT_S,
            files=launcher_files(),
            report_dir="/sbx-run",
            seccomp_profile=call.seccomp_json,
        )
        times: dict[str, list[float]] = {"confined": [], "defaults": [], "warm": []}
        launcher_s: list[float] = []
        counter = 1
        for spec in (confined, base):  # warm-up
            engine.run(replace(spec, workspace=overlay(counter)))
            counter += 1
        _run_warm(engine, replace(confined, workspace=overlay(counter)))
        counter += 1
        for _ in range(rounds):
            for name, template in (("confined", confined), ("defaults", base), ("warm", confined)):
                spec = replace(template, workspace=overlay(counter))
                counter += 1
                if name == "warm":
                    elapsed, outcome = _run_warm(engine, spec)
                    launcher_s.append(_launcher_seconds(outcome))
                else:
                    started = time.perf_counter()
                    outcome = engine.run(spec)
                    elapsed = time.perf_counter() - started
                times[name].append(elapsed)
                assert outcome.exit_code == 0, outcome.stderr
        engine.shutdown()
    med = {name: statistics.median(values) for name, values in times.items()}
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, kernel {platform.release()}, rounds {rounds}, "
          f"load average {os.getloadavg()[0]:.2f}")
    for name, ms in compile_ms.items():
        print(f"compile {name:<16} {ms:6.2f} ms")
    print(f"compile max: {max(compile_ms.values()):.2f} ms per call  (goal < 5 ms)")
    for name in ("confined", "defaults", "warm"):
        print(f"{name:>9}: median {med[name] * 1000:7.1f} ms")
    overhead = (med["confined"] - med["defaults"]) / med["confined"]
    print(f"cold: ratio confined/defaults {med['confined'] / med['defaults']:.3f}x; confinement share of the "
          f"action's wall time {overhead * 100:.1f}%")
    applied = statistics.median(launcher_s)
    compile_s = compile_ms["run_shell"] / 1000
    print(f"warm: the launcher's confinement at call time, median {applied * 1000:.2f} ms; compile "
          f"{compile_s * 1000:.2f} ms; warm action {med['warm'] * 1000:.1f} ms")
    print(f"warm: confinement share of the action's wall time {applied / med['warm'] * 100:.1f}% applied, "
          f"{(applied + compile_s) / med['warm'] * 100:.1f}% with compile  (goal < 5%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
