"""Execution-verified plans, measured: success against the number of candidates, how often
verification changed the answer or asked, and what it costs, against unverified runs in the same run.

    .venv/bin/python bench/verify.py [--candidates 1,2,3,5] [--cases all|dev|heldout] [--every K]
                                     [--only NAME,...] [--budget-s S] [--json-out FILE]

Each case of the accuracy set (bench/intents, judged by code as in bench/planner.py) runs end to end
through `run_intent` once per candidate count, interleaved (case 1 with 1, 2, 3, 5 candidates, then
case 2, ...), each in a fresh workspace with its own state, with the default model loaded once in
this process, and each after another request was planned (untimed), so that no run finds its
prompt already computed by the run before it. With 1 candidate it is today's unverified `sbx run`.
A run whose candidates disagree with nothing to separate them is `undecided` (no terminal: nobody
is asked): it counts as not solved, and as "asked". Latency is the whole run (plans, candidates'
containers, checks), since verification is all of that; the ratio is against the 1-candidate run
of the same cases.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.intents import Case, all_cases  # noqa: E402
from sandbox.app import Workspace  # noqa: E402
from sandbox.config import Settings  # noqa: E402
from sandbox.errors import SbxError  # noqa: E402
from sandbox.intent import RunResult, run_intent  # noqa: E402
from sandbox.planner.commands import make_planner  # noqa: E402
from sandbox.planner.plan import Planner  # noqa: E402


@dataclasses.dataclass
class Run:
    case: str
    heldout: bool
    candidates: int
    passed: bool = False
    status: str = ""
    reason: str = ""
    seconds: float = 0.0
    made: int = 0  # candidates actually made (early stop)
    changed: bool = False  # the kept answer is not the first candidate's
    asked: bool = False  # undecided: two alternatives, nobody to ask
    agreed_early: bool = False  # the first two candidates agreed and ran cleanly
    commands: list[str] = dataclasses.field(default_factory=list)


def _judge(case: Case, ws: Path, result: RunResult, run: Run) -> None:
    run.status = str(result.status)
    run.made = max(1, len(result.candidates))
    run.commands = [" | ".join(c.evidence.commands) for c in result.candidates] or [
        s.source or json.dumps(dict(s.args)) for s in result.plan.steps]
    if result.choice is not None:
        first = result.candidates[0].evidence
        chosen = result.choice.chosen
        run.asked = str(result.status) == "undecided"
        run.changed = chosen is not None and result.candidates[chosen].evidence.outcome != first.outcome
        run.agreed_early = (run.made == 2 and result.choice.verdict == "chosen"
                            and "did the same" in result.choice.reason)
    if case.refusal or result.status in {"applied", "done"}:
        case.check(ws, result)
        run.passed = True
    else:
        run.reason = f"{result.status}: {result.error or result.plan.explanation}"


# Planned (not run, not timed) before each measured run: the model's prefix cache then holds another
# request's prompt, as it does when a person asks something new. Without it, the run after another
# count's run of the same case found the first plan's whole prompt computed (2 s less on 2 cores).
OTHER_REQUEST = "print the name of the current month"


def _other_request_first(planner: Planner, settings: Settings, scratch: Path) -> None:
    root = Path(tempfile.mkdtemp(prefix="other-", dir=scratch))
    (root / "ws").mkdir()
    workspace = Workspace(root / "ws", dataclasses.replace(settings, state_dir=root / "state"))
    run_intent(workspace, OTHER_REQUEST, planner=planner, dry_run=True, candidates=1)


def run_case(case: Case, planner: Planner, candidates: int, settings: Settings, scratch: Path) -> Run:
    _other_request_first(planner, settings, scratch)
    root = Path(tempfile.mkdtemp(prefix=f"{case.name}-{candidates}-", dir=scratch))
    ws, state = root / "ws", root / "state"
    ws.mkdir()
    state.mkdir()
    case.prepare(ws)
    run = Run(case.name, case.heldout, candidates)
    started = time.monotonic()
    try:
        workspace = Workspace(ws, dataclasses.replace(settings, state_dir=state), allow_risky_apply=True)
        result = run_intent(workspace, case.intent, planner=planner, approve=lambda _: True, candidates=candidates)
        run.seconds = time.monotonic() - started
        _judge(case, ws, result, run)
    except AssertionError as exc:
        run.reason = f"check: {exc}"
    except SbxError as exc:
        run.reason = f"{exc.code}: {exc.message}"
    except Exception as exc:  # noqa: BLE001 - a benchmark reports, it does not stop
        run.reason = f"crash: {type(exc).__name__}: {exc}\n{traceback.format_exc()[-600:]}"
    run.seconds = run.seconds or time.monotonic() - started
    return run


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def report(runs: list[Run], counts: list[int]) -> list[str]:
    done = {r.case for r in runs if r.candidates == counts[-1]}  # cases measured with every count
    lines = [f"machine: {platform.machine()}, {os.cpu_count()} cores, cases {len(done)} "
             f"(held-out {len({r.case for r in runs if r.case in done and r.heldout})})"]
    base = {r.case: r for r in runs if r.candidates == 1 and r.case in done}
    base_p50 = statistics.median([r.seconds for r in base.values()]) if base else float("nan")
    for k in counts:
        mine = [r for r in runs if r.candidates == k and r.case in done]
        if not mine:
            continue
        held = [r for r in mine if r.heldout]
        secs = [r.seconds for r in mine]
        p50 = statistics.median(secs)
        line = (f"candidates {k}: success {sum(r.passed for r in mine)}/{len(mine)} "
                f"({100 * sum(r.passed for r in mine) / len(mine):.0f}%), held-out "
                f"{sum(r.passed for r in held)}/{len(held)}; latency p50 {p50:.2f} s p90 {_pct(secs, 0.9):.2f} s "
                f"(x{p50 / base_p50:.2f} of 1 candidate)")
        if k > 1:
            early = [r for r in mine if r.agreed_early]
            early_ratio = (statistics.median([r.seconds / base[r.case].seconds for r in early if r.case in base])
                           if early else float("nan"))
            line += (f"; changed the answer {sum(r.changed for r in mine)}, asked {sum(r.asked for r in mine)}, "
                     f"first two agreed {len(early)} (their latency x{early_ratio:.2f}), "
                     f"candidates made {statistics.mean(r.made for r in mine):.1f} on average")
        lines.append(line)
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--candidates", default="1,2,3,5")
    parser.add_argument("--cases", choices=("all", "dev", "heldout"), default="all")
    parser.add_argument("--every", type=int, default=1, help="every K-th case only (a spread sample)")
    parser.add_argument("--only", help="comma-separated case names")
    parser.add_argument("--model")
    parser.add_argument("--budget-s", type=float, default=3600.0)
    parser.add_argument("--json-out")
    ns = parser.parse_args()
    counts = sorted({int(k) for k in ns.candidates.split(",")})
    cases = [c for c in all_cases() if ns.cases == "all" or (c.heldout == (ns.cases == "heldout"))]
    if ns.only:
        wanted = set(ns.only.split(","))
        cases = [c for c in cases if c.name in wanted]
    cases = cases[:: max(1, ns.every)]
    planner = make_planner(ns.model)
    planner.load()
    settings = Settings.from_env()
    scratch = Path(tempfile.mkdtemp(prefix="sbx-bench-verify-"))
    runs: list[Run] = []
    deadline = time.monotonic() + ns.budget_s
    for number, case in enumerate(cases, 1):
        if time.monotonic() > deadline:
            print(f"budget spent: {len(cases) - number + 1} case(s) not reached", flush=True)
            break
        for k in counts:
            run = run_case(case, planner, k, settings, scratch)
            runs.append(run)
            print(f"[{number}/{len(cases)}] {case.name} k={k}: {'PASS' if run.passed else 'FAIL'} {run.status} "
                  f"{run.seconds:.1f}s made={run.made} changed={run.changed} asked={run.asked} "
                  f"{run.reason[:160]} :: {run.commands}", flush=True)
    lines = report(runs, counts)
    print("\n".join(lines))
    if ns.json_out:
        Path(ns.json_out).write_text(json.dumps({"runs": [dataclasses.asdict(r) for r in runs], "report": lines},
                                                indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
