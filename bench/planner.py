"""The planner, measured: model speed, plan latency, and success on the accuracy set (bench/intents).

    .venv/bin/python bench/planner.py [--model NAME] [--design NAME ...] [--candidates N] [--cases all|dev|heldout]
                                      [--only NAME,...] [--cold N] [--budget-s S] [--json-out FILE]

For each design: load the model; plan the fixed latency set (sandbox.planner.commands.BENCH_INTENTS,
planning only); then every case of the accuracy set end to end through `sandbox.intent.run_intent`
(the `sbx run` use case) with real Podman, in a fresh workspace with its own sbx state: plan, run
each step confined, repair, approve, apply, then the case's check on the workspace and the output.
`--cold N` also times `sbx run --dry-run --candidates 1` (plan only) in new processes (see
`cold_latency`): once starting the planner service, N times with it running, N times in-process. Each run is bounded by
`--budget-s`; cases not reached are reported as skipped.

Prints one machine line per design (`RESULT ...`), then the figures. Plan latency is the model call
(prompt, generation, parsing) with the model loaded; cold CLI latency is a new `sbx` process from
spawn to exit, the goal's measure.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.designs import PRODUCTION_NAME, get_design  # noqa: E402
from bench.intents import Case, all_cases  # noqa: E402
from sandbox.app import Workspace  # noqa: E402
from sandbox.config import Settings  # noqa: E402
from sandbox.errors import SbxError  # noqa: E402
from sandbox.intent import RunResult, run_intent  # noqa: E402
from sandbox.planner.catalog import DEFAULT_MODEL  # noqa: E402
from sandbox.planner.commands import BENCH_INTENTS, BENCH_WORKSPACE, make_planner  # noqa: E402
from sandbox.planner.plan import Planner, Usage  # noqa: E402
from sandbox.policy.profiles import load_profiles  # noqa: E402


@dataclasses.dataclass
class Outcome:
    case: str
    heldout: bool
    category: str
    refusal: bool
    passed: bool
    reason: str
    status: str = ""
    plan_seconds: float = 0.0
    usage: dict[str, Any] = dataclasses.field(default_factory=dict)
    raw: str = ""
    calls: list[str] = dataclasses.field(default_factory=list)
    attempts: int = 0
    seconds: float = 0.0
    candidates: int = 0  # candidate plans verification made and ran (0: one plan, not verified)
    verdict: str = ""  # the choice between them (sandbox.planner.verify.Verdict)
    changed: bool = False  # verification chose another candidate than the first plan
    asked: bool = False  # nothing separated them: a person would have been asked (status undecided)
    evidence: list[dict[str, Any]] = dataclasses.field(default_factory=list)  # each candidate, what it did


def _calls(result: RunResult) -> list[str]:
    out = []
    for attempt in result.attempts:
        call = attempt.call
        text = call.source or json.dumps({"tool": call.tool, "args": dict(call.args)})
        out.append(f"[{attempt.step}.{attempt.attempt} {call.tool} {'ok' if attempt.ok else attempt.error}] {text}")
    if not result.attempts:
        out = [f"[plan {s.tool}] {s.source or json.dumps(dict(s.args))}" for s in result.plan.steps]
    return out


def run_case(case: Case, planner: Planner, settings: Settings, scratch: Path, candidates: int = 1) -> Outcome:
    root = Path(tempfile.mkdtemp(prefix=f"{case.name}-", dir=scratch))
    ws, state = root / "ws", root / "state"
    ws.mkdir()
    state.mkdir()
    case.prepare(ws)
    started = time.monotonic()
    outcome = Outcome(case.name, case.heldout, case.category, case.refusal, False, "")
    try:
        workspace = Workspace(ws, dataclasses.replace(settings, state_dir=state), allow_risky_apply=True)
        result = run_intent(workspace, case.intent, planner=planner, approve=lambda _: True, candidates=candidates)
        outcome.status = result.status
        outcome.candidates = len(result.candidates)
        outcome.evidence = [{**c.evidence.to_json(), "stdout": c.stdout()[:400], "diff": c.diff()[:400]}
                            for c in result.candidates]
        if result.choice is not None:
            outcome.verdict = str(result.choice.verdict)
            outcome.changed = result.choice.chosen not in (None, 0)
        outcome.asked = result.status == "undecided"
        outcome.plan_seconds = result.plan.usage.seconds
        outcome.usage = result.plan.usage.to_json()
        outcome.raw = result.plan.raw
        outcome.calls = _calls(result)
        outcome.attempts = len(result.attempts)
        if case.refusal or result.status in {"applied", "done"}:
            case.check(ws, result)
            outcome.passed, outcome.reason = True, ""
        else:
            outcome.reason = f"{result.status}: {result.error or result.plan.explanation}"
    except AssertionError as exc:
        outcome.reason = f"check: {exc}"
    except SbxError as exc:
        outcome.reason = f"{exc.code}: {exc.message}"
    except Exception as exc:  # noqa: BLE001 - a benchmark reports, it does not stop
        outcome.reason = f"crash: {type(exc).__name__}: {exc}\n{traceback.format_exc()[-600:]}"
    outcome.seconds = time.monotonic() - started
    return outcome


def _cli_plan(model: str, intent: str, ws: Path, env: dict[str, str], *extra: str) -> dict[str, Any]:
    """One `sbx run --dry-run --candidates 1 --json` (plan only) in a new process: interpreter,
    imports, the planner (service or in-process), the plan, its confinement compiled; the wall time
    from spawn to exit."""
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "sandbox.cli", "run", "--dry-run", "--candidates", "1", "--json",
                           "--model", model, *extra, "-w", str(ws), intent], capture_output=True, text=True,
                          timeout=600, check=False, cwd=ROOT, env={**os.environ, **env})
    seconds = time.monotonic() - started
    try:
        data = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"error": (proc.stderr.strip().splitlines() or ["?"])[-1]}
    if not data.get("ok"):
        return {"error": data.get("error")}
    plan = data["result"]["plan"]
    return {"seconds": round(seconds, 3), "intent": intent, "usage": plan["usage"], "raw": plan["raw"],
            "load": data["result"]["timings"].get("load_seconds")}


def cold_latency(model: str, runs: int) -> dict[str, Any]:
    """`sbx run --dry-run` from a cold CLI over the fixed intents: the first with no planner service
    running (it starts one: model load, the whole prompt), then `runs` with the service running
    (each a new intent), then `runs` planning in-process (`--no-service`: the model loaded each time).
    The command line plans with the production design only."""
    from sandbox.planner.service import stop_services

    runtime = Path(tempfile.mkdtemp(prefix="sbx-bench-rt-", dir="/tmp"))
    env = {"SBX_RUNTIME_DIR": str(runtime)}
    ws = Path(tempfile.mkdtemp(prefix="sbx-bench-ws-"))
    for rel in ("src/app.py", "src/util.py", "tests/test_app.py", "README.md", "notes.txt", "data/a.csv"):
        (ws / rel).parent.mkdir(parents=True, exist_ok=True)
        (ws / rel).write_text("x\n")
    intents = [BENCH_INTENTS[i % len(BENCH_INTENTS)] for i in range(runs + 1)]
    try:
        first = _cli_plan(model, intents[0], ws, env)
        warm = [_cli_plan(model, intent, ws, env) for intent in intents[1:]]
        local = [_cli_plan(model, intent, ws, env, "--no-service") for intent in intents[1:]]
    finally:
        stop_services(runtime)
    return {"first": first, "service": warm, "in_process": local}


def _p50(samples: list[dict[str, Any]]) -> float | None:
    values = [s["seconds"] for s in samples if "seconds" in s]
    return round(statistics.median(values), 2) if values else None


def _rate(outcomes: list[Outcome]) -> str:
    if not outcomes:
        return "-"
    passed = sum(o.passed for o in outcomes)
    return f"{passed / len(outcomes):.0%} ({passed}/{len(outcomes)})"


def bench_design(args: argparse.Namespace, design: str, cases: list[Case], settings: Settings,
                 deadline: float) -> dict[str, Any]:
    tools = [p.tool for _, p in sorted(load_profiles(settings.profiles_dir).tools.items())]
    planner = make_planner(args.model, design=get_design(design))
    load = planner.load()
    latency = [planner.plan(intent, tools, BENCH_WORKSPACE, 3).usage for intent in BENCH_INTENTS]
    outcomes: list[Outcome] = []
    skipped = 0
    with tempfile.TemporaryDirectory(prefix="sbx-bench-planner-") as scratch:
        for case in cases:
            if time.monotonic() > deadline:
                skipped += 1
                continue
            outcome = run_case(case, planner, settings, Path(scratch), args.candidates)
            outcomes.append(outcome)
            mark = "PASS" if outcome.passed else "FAIL"
            print(f"  {mark} {case.name:<16} {outcome.plan_seconds:5.2f}s {outcome.reason[:110]}", file=sys.stderr)
            for call in outcome.calls:
                print(f"         {call[:150]!r}", file=sys.stderr)
    usages: list[Usage] = latency + [Usage(**{k: v for k, v in o.usage.items() if k in Usage.__dataclass_fields__})
                                     for o in outcomes if o.usage]
    prefill = sum(u.prompt_tokens - u.cached_tokens for u in usages) / max(sum(u.prefill_seconds for u in usages), 1e-9)
    decode = sum(u.completion_tokens for u in usages) / max(sum(u.decode_seconds for u in usages), 1e-9)
    cold = cold_latency(args.model, args.cold) if args.cold and design == PRODUCTION_NAME else {}
    return {
        "model": planner.model.to_json(),
        "design": design,
        "load_seconds": round(load, 2),
        "prefill_tokens_per_second": round(prefill, 1),
        "decode_tokens_per_second": round(decode, 1),
        "plan_p50_seconds": round(statistics.median(u.seconds for u in latency), 2),
        "plan_p50_seconds_cases": round(statistics.median(o.plan_seconds for o in outcomes), 2) if outcomes else None,
        "prompt_tokens_p50": statistics.median(u.prompt_tokens for u in latency),
        "cold_p50_seconds": _p50(cold.get("service", [])),
        "cold_first_seconds": (cold.get("first") or {}).get("seconds"),
        "cold_in_process_p50_seconds": _p50(cold.get("in_process", [])),
        "cold": cold,
        "success": _rate(outcomes),
        "success_dev": _rate([o for o in outcomes if not o.heldout]),
        "success_heldout": _rate([o for o in outcomes if o.heldout]),
        "success_refusal": _rate([o for o in outcomes if o.refusal]),
        "success_by_category": {cat: _rate([o for o in outcomes if o.category == cat])
                                for cat in sorted({o.category for o in outcomes})},
        "plan_seconds_cases_p90": (round(statistics.quantiles([o.plan_seconds for o in outcomes], n=10)[-1], 2)
                                   if len(outcomes) > 1 else None),
        "passed": sum(o.passed for o in outcomes),
        "candidates": args.candidates,
        "verification_changed": sum(o.changed for o in outcomes),
        "verification_asked": sum(o.asked for o in outcomes),
        "candidates_made_mean": round(statistics.mean(o.candidates for o in outcomes), 2) if outcomes else None,
        "case_seconds_p50": round(statistics.median(o.seconds for o in outcomes), 2) if outcomes else None,
        "case_seconds_p90": (round(statistics.quantiles([o.seconds for o in outcomes], n=10)[-1], 2)
                             if len(outcomes) > 1 else None),
        "ran": len(outcomes),
        "skipped": skipped,
        "outcomes": [dataclasses.asdict(o) for o in outcomes],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--design", action="append",
                        help=f"a design of bench/designs.py, repeatable (default: {PRODUCTION_NAME}, in sbx run)")
    parser.add_argument("--candidates", type=int, default=3,
                        help="candidate plans verified per case, as `sbx run --candidates` (1: no verification)")
    parser.add_argument("--cases", choices=("all", "dev", "heldout"), default="all")
    parser.add_argument("--only", default="", help="comma-separated case names")
    parser.add_argument("--heldout-first", action="store_true",
                        help="the held-out cases first, so that a run cut by --budget-s skips dev cases")
    parser.add_argument("--cold", type=int, default=0, help="cold-process plan timings per design")
    parser.add_argument("--budget-s", type=float, default=1800.0, help="wall-clock bound of the whole run")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    cases = all_cases()
    if args.cases != "all":
        cases = [c for c in cases if c.heldout == (args.cases == "heldout")]
    if args.only:
        wanted = set(args.only.split(","))
        cases = [c for c in cases if c.name in wanted]
    if args.heldout_first:
        cases.sort(key=lambda c: not c.heldout)
    settings = Settings.from_env()
    os.environ.setdefault("SBX_STATE_DIR", tempfile.mkdtemp(prefix="sbx-bench-state-"))
    deadline = time.monotonic() + args.budget_s
    reports = []
    for design in args.design or [PRODUCTION_NAME]:
        print(f"== {args.model} / {design}", file=sys.stderr)
        report = bench_design(args, design, cases, settings, deadline)
        reports.append(report)
        print(
            f"RESULT model={args.model} design={design} success={report['passed']}/{report['ran']} "
            f"dev={report['success_dev'].split()[0]} heldout={report['success_heldout'].split()[0]} "
            f"refusal={report['success_refusal'].split()[0]} plan_p50_s={report['plan_p50_seconds']} "
            f"cold_p50_s={report['cold_p50_seconds']} load_s={report['load_seconds']} "
            f"prefill_tps={report['prefill_tokens_per_second']} decode_tps={report['decode_tokens_per_second']} "
            f"skipped={report['skipped']} candidates={report['candidates']} "
            f"changed={report['verification_changed']} asked={report['verification_asked']}",
            flush=True,
        )
    for report in reports:
        print(f"\n{report['model']['name']} / {report['design']}")
        print(f"  load                 {report['load_seconds']:6.2f} s")
        print(f"  prefill              {report['prefill_tokens_per_second']:6.1f} tokens/s")
        print(f"  decode               {report['decode_tokens_per_second']:6.1f} tokens/s")
        print(f"  plan latency p50     {report['plan_p50_seconds']:6.2f} s  (fixed set, model loaded; "
              f"{report['prompt_tokens_p50']:.0f} prompt tokens)")
        if report["cold_p50_seconds"] is not None:
            print(f"  cold CLI plan p50    {report['cold_p50_seconds']:6.2f} s  (`sbx run --dry-run --candidates 1`, "
                  f"new process, planner service running)  goal <= 3 s")
            print(f"  cold CLI, first      {report['cold_first_seconds'] or float('nan'):6.2f} s  "
                  f"(no service yet: it starts, loads the model, computes the whole prompt)")
            print(f"  cold CLI, in-process {report['cold_in_process_p50_seconds'] or float('nan'):6.2f} s  "
                  f"(`--no-service`: the model loads in the command)")
        print(f"  success              {report['success']}  goal >= 90%")
        print(f"    dev {report['success_dev']}, held-out {report['success_heldout']} (goal >= 85%), "
              f"refusals {report['success_refusal']}")
        for category, rate in report["success_by_category"].items():
            print(f"    {category:<12} {rate}")
        print(f"  plan seconds, cases  p50 {report['plan_p50_seconds_cases']}  p90 {report['plan_seconds_cases_p90']}")
        print(f"  case seconds         p50 {report['case_seconds_p50']}  p90 {report['case_seconds_p90']}  "
              f"(plan, verification, run, apply)")
        print(f"  verification         {report['candidates']} candidate(s) at most, {report['candidates_made_mean']} "
              f"made on average; changed the answer {report['verification_changed']}x, "
              f"asked the person {report['verification_asked']}x")
    if args.json_out:
        args.json_out.write_text(json.dumps(reports, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
