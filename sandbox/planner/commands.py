"""`sbx model list | pull NAME | info NAME | bench NAME | stop`, and the planner the CLI builds.

Each command is a function returning `(json-able dict, human text)`: the CLI prints the text, or
puts the dict in its `--json` envelope. Errors are `SbxError`s (`model.not_found`, ...).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sandbox.config import Settings
from sandbox.planner.backend import OnnxBackend
from sandbox.planner.catalog import DEFAULT_MODEL, get_spec
from sandbox.planner.models import ModelInfo, ModelStore
from sandbox.planner.plan import Plan, Planner, PlannerBackend
from sandbox.planner.service import ServiceBackend, stop_services
from sandbox.planner.types import Design
from sandbox.tools import Tool

Output = tuple[dict[str, Any], str]

# `model bench`: fixed intents against a fixed workspace line; planning only, nothing runs.
BENCH_WORKSPACE = "README.md, notes.txt, setup.py, data/ (4 files), src/ (12 files), tests/ (5 files)"
BENCH_INTENTS = (
    "find all Python files modified in the last week",
    "count the lines in every csv file under data",
    "replace 'colour' with 'color' in notes.txt",
    "make a tar.gz archive of the src folder",
    "show the 5 largest files",
)


def make_planner(model: str | None = None, *, ep: str = "cpu", design: Design | None = None,
                 store: ModelStore | None = None, service_dir: Path | None = None) -> Planner:
    """A planner over a cached model (`model.not_found` when it is not prepared). Nothing loads yet.

    With `service_dir` the model runs in the resident planner service whose socket is in that
    folder (started on first use, see service.py); without, in this process."""
    name = model or DEFAULT_MODEL
    backend: PlannerBackend
    if service_dir is not None:
        backend = ServiceBackend.for_model(name, ep=ep, store=store, directory=service_dir)
    else:
        backend = OnnxBackend(name, ep=ep, store=store)
    return Planner(backend, design=design)


def _size(info: ModelInfo) -> str:
    return f"{(info.size_bytes or 0) / 2**20:,.0f} MiB" if info.size_bytes else "-"


def _info_json(info: ModelInfo) -> dict[str, Any]:
    return {**info.to_json(), "default": info.name == DEFAULT_MODEL}


def model_list(*, store: ModelStore | None = None) -> Output:
    infos = (store or ModelStore()).list()
    rows = [f"{'name':<22} {'params':>6}  {'present':<8} {'size':>10}  licence"]
    for info in infos:
        name = info.name + (" *" if info.name == DEFAULT_MODEL else "")
        rows.append(f"{name:<22} {info.parameters:>6}  {'yes' if info.present else 'no':<8} {_size(info):>10}  "
                    f"{info.license}")
    rows.append("* default; prepare one with `sbx model pull NAME`")
    return {"models": [_info_json(info) for info in infos]}, "\n".join(rows)


def _info_text(info: ModelInfo) -> str:
    lines = [
        f"{info.name}: {info.title} ({info.parameters}, {info.license})",
        f"  present:  {'yes' if info.present else 'no'}" + (f" in {info.path}" if info.present else ""),
        f"  gguf:     {info.gguf_size:,} bytes, sha256 {info.gguf_sha256}",
    ]
    if info.present:
        lines += [
            f"  size:     {_size(info)}",
            f"  digest:   {info.model_digest}",
            f"  source:   {info.source}; built with {info.builder or '-'} at {info.created_at}",
        ]
    if info.verified is not None:
        lines.append(f"  verified: {'yes' if info.verified else 'NO: ' + '; '.join(info.problems)}")
    return "\n".join(lines)


def model_info(name: str, *, verify: bool = False, store: ModelStore | None = None) -> Output:
    info = (store or ModelStore()).info(get_spec(name), verify=verify)
    return _info_json(info), _info_text(info)


def model_pull(name: str, *, force: bool = False, log: Callable[[str], None] | None = None,
               store: ModelStore | None = None) -> Output:
    started = time.monotonic()
    target = store or ModelStore(log=log)
    info = target.pull(get_spec(name), force=force)
    seconds = time.monotonic() - started
    return {**_info_json(info), "seconds": round(seconds, 1)}, f"{_info_text(info)}\n  ready in {seconds:.0f} s"


def bench_planner(planner: Planner, tools: Sequence[Tool], *, intents: Sequence[str] = BENCH_INTENTS,
                  workspace: str = BENCH_WORKSPACE, runs: int = 1) -> Output:
    """Load time, prefill and decode tokens/s, and plan latency over `intents` (planning only)."""
    load = planner.load()
    plans: list[Plan] = []
    for _ in range(max(1, runs)):
        for intent in intents:
            plans.append(planner.plan(intent, tools, workspace, 3))
    usages = [plan.usage for plan in plans]
    prefill = sum(u.prompt_tokens - u.cached_tokens for u in usages) / max(sum(u.prefill_seconds for u in usages), 1e-9)
    decode = sum(u.completion_tokens for u in usages) / max(sum(u.decode_seconds for u in usages), 1e-9)
    latencies = sorted(u.seconds for u in usages)
    data: dict[str, Any] = {
        "model": planner.model.to_json(),
        "design": planner.design.name,
        "load_seconds": round(load, 3),
        "prefill_tokens_per_second": round(prefill, 1),
        "decode_tokens_per_second": round(decode, 1),
        "plan_seconds_p50": round(statistics.median(latencies), 3),
        "plan_seconds_max": round(latencies[-1], 3),
        "plans": [
            {"intent": p.intent, "raw": p.raw, "steps": [s.to_json() for s in p.steps], "usage": p.usage.to_json()}
            for p in plans
        ],
    }
    lines = [
        f"{planner.model.name} ({planner.design.name}, {planner.model.execution_provider})",
        f"  load            {load:6.2f} s",
        f"  prefill         {prefill:6.1f} tokens/s",
        f"  decode          {decode:6.1f} tokens/s",
        f"  plan p50        {data['plan_seconds_p50']:6.2f} s   (max {data['plan_seconds_max']:.2f} s, "
        f"{len(plans)} plans)",
    ]
    for plan in plans[: len(intents)]:
        shown = " | ".join(s.source or f"{s.tool} {dict(s.args)}" for s in plan.steps) or f"({plan.explanation})"
        lines.append(f"  {plan.usage.seconds:5.2f} s  {plan.intent}  ->  {shown[:100]}")
    return data, "\n".join(lines)


def model_bench(name: str | None, tools: Sequence[Tool], *, ep: str = "cpu", design: Design | None = None,
                runs: int = 1) -> Output:
    """`sbx model bench NAME`: load time, prefill/decode tokens/s and plan latency (planning only,
    fixed intents, `tools` as the catalog the model sees), in this process."""
    return bench_planner(make_planner(name, ep=ep, design=design), tools, runs=runs)


def model_stop(settings: Settings | None = None) -> Output:
    """`sbx model stop`: stop the resident planner services of this user."""
    stopped = stop_services((settings or Settings.from_env()).runtime_dir)
    text = f"stopped: {', '.join(stopped)}" if stopped else "no planner service was running"
    return {"stopped": stopped}, text
