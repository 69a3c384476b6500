"""`sbx exec` (a command or one tool call, confined) and `sbx run` (an intent, planned by the local
model, each step confined)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from sandbox.cli.alternatives import choose_between, dissent, undecided
from sandbox.cli.common import Output, action_output, add_common, commit_text, for_terminal, interactive, open_workspace
from sandbox.cli.dialogue import approver, ask, review
from sandbox.cli.ticker import Ticker
from sandbox.errors import UsageError
from sandbox.text import printable
from sandbox.types import ProgressKind, RunStatus


def _parse_pairs(pairs: list[str]) -> dict[str, Any]:
    args: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--arg takes KEY=VALUE, got {pair!r}", code="usage.invalid_arg")
        args[key] = value
    return args


DEFAULT_CANDIDATES = 3
MAX_CANDIDATES = 8
_JSON_KINDS = {type(None): "null", list: "an array", str: "a string", bool: "true or false"}


def parse_args_json(text: str) -> dict[str, Any]:
    """`--args JSON`: a JSON object, or a usage error (a list, a string or null are not arguments)."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"--args is not JSON: {exc}", code="usage.invalid_arg") from None
    if not isinstance(value, dict):
        kind = _JSON_KINDS.get(type(value), "a number")
        raise UsageError(f"--args must be a JSON object of argument names to values, got {kind}: "
                         f"{printable(text[:100])}", code="usage.invalid_arg")
    return value


def cmd_exec(ns: argparse.Namespace) -> Output:
    command = list(ns.argv or [])
    if command[:1] == ["--"]:
        command = command[1:]
    args: dict[str, Any] = {}
    if ns.tool is not None:
        if command:
            raise UsageError("give either --tool or a command, not both", code="usage.invalid")
        args = _parse_pairs(ns.arg or [])
        if ns.args_json:
            args.update(parse_args_json(ns.args_json))
    elif ns.arg or ns.args_json:
        raise UsageError("--arg/--args go with --tool", code="usage.invalid")
    ws = open_workspace(ns.workspace)  # after the usage checks: a mistyped command recovers nothing
    approve = approver(ns.yes, ns.json)
    if ns.tool is not None:
        result = ws.call_tool(ns.tool, args, timeout_s=ns.timeout, approve=approve, allow_degraded=ns.allow_degraded)
    else:
        result = ws.exec(command, timeout_s=ns.timeout, approve=approve, allow_degraded=ns.allow_degraded)
    return action_output(result)


def _show_plan(plan: Any, planned: Any) -> None:
    sys.stderr.write(f"plan for: {printable(str(plan.intent))}\n")
    for item in planned:
        args = json.dumps(dict(item.step.args))
        sys.stderr.write(f"  {item.index + 1}. {item.step.tool} {args[:300]}\n     confinement: {item.confinement}\n")


def cmd_run(ns: argparse.Namespace) -> Output:
    from sandbox import intent
    from sandbox.planner.commands import make_planner

    if not 1 <= ns.candidates <= MAX_CANDIDATES:
        raise UsageError(f"--candidates must be between 1 and {MAX_CANDIDATES}", code="usage.invalid_arg")
    ws = open_workspace(ns.workspace, prepare_ahead=True)
    ws.prepare("run_shell", {"command": "true"})  # made while the model plans
    asking = interactive(ns.json)
    in_process = ns.no_service or os.environ.get("SBX_PLANNER_SERVICE", "1") == "0"
    planner = make_planner(ns.model, ep=ns.ep,
                           service_dir=None if in_process else ws.settings.runtime_dir)
    alternates = [make_planner(name, ep=ns.ep, service_dir=None if in_process else ws.settings.runtime_dir)
                  for name in ns.second_model or ()]

    ticker = Ticker() if not ns.json and sys.stderr.isatty() else None
    slow = {ProgressKind.LOAD, ProgressKind.PLANNING, ProgressKind.REPAIR}  # these can take seconds

    def progress(event: Any) -> None:
        if ns.json:
            return
        if ticker is not None:
            ticker.stop()
            if event.kind in slow:
                ticker.start(event.message)
                return
        sys.stderr.write(f"sbx: {printable(str(event.message))}\n")

    def confirm(plan: Any, planned: Any) -> bool:
        _show_plan(plan, planned)
        return ask("Run this plan? [Y/n] ") in ("", "y", "yes")

    dissent_shown: list[bool] = []

    def approve(run: Any) -> bool:
        if ns.yes:
            return True
        other = dissent(run)
        if other:  # before the person approves: what the candidate not chosen would have done
            sys.stdout.write(other.lstrip("\n") + "\n")
            dissent_shown.append(True)
        # the run commits its changesets whole and in order: the dialogue offers no per-file choice
        return review(run.pending, per_file=False).approve

    try:
        result = intent.run_intent(
            ws, ns.intent, planner=planner, max_steps=ns.max_steps, dry_run=ns.dry_run,
            approve=approve if (ns.yes or asking) else None,
            on_progress=progress, confirm=confirm if (asking and not ns.yes) else None,
            timeout_s=ns.timeout, allow_degraded=ns.allow_degraded,
            candidates=ns.candidates, alternates=alternates, resolve=choose_between if asking else None,
        )
    finally:
        if ticker is not None:
            ticker.stop()
    return _run_output(result, dry_run=ns.dry_run, dissent_shown=bool(dissent_shown))


def _run_output(result: Any, *, dry_run: bool, dissent_shown: bool = False) -> Output:
    """What `sbx run` shows of its result: the plan, each attempt, the output, what is pending."""
    lines = []
    if dry_run or result.status in (RunStatus.PLANNED, RunStatus.REFUSED):
        _show_plan(result.plan, result.planned)
    if result.status is RunStatus.REFUSED:
        lines.append(f"sbx: nothing to do: {result.plan.explanation}")
    for attempt in result.attempts:
        ran = f"exit {attempt.result.exit_code}" if attempt.result else "did not run"
        outcome = "ok" if attempt.ok else f"set aside, {attempt.error}" if attempt.set_aside else \
            f"failed: {attempt.error}"
        lines.append(f"sbx: [step {attempt.step + 1} attempt {attempt.attempt} {attempt.call.tool}: {ran}, {outcome}]")
        if attempt.result is not None:
            lines += [f"sbx: denied: {denial}" for denial in attempt.result.denied]
    if dry_run and result.choice is not None:
        lines.append(f"sbx: tried in the sandbox, nothing kept: {result.choice.reason}")
    if result.error:
        lines.append(f"sbx: the run stopped: {result.error}")
    pending = result.pending
    if pending and not result.approved:
        ids = " ".join(cs.id for cs in pending)
        lines.append(f"sbx: {len(pending)} changeset(s) pending: {ids}; review with `sbx diff ID`, "
                     f"commit with `sbx apply ID --yes` (in this order)")
    if result.commits:
        lines += ["sbx: " + commit_text(commit) for commit in result.commits]
    err = "\n".join(printable(line) for line in lines)  # denials, errors and paths come from the run
    err += undecided(result)  # escaped as it is made
    if not dissent_shown:  # else the approval dialogue showed it
        err += dissent(result)
    failed = result.error is not None or result.status is RunStatus.UNDECIDED
    shown = "" if dry_run else for_terminal(result.stdout(), sys.stdout)  # a dry run shows its plan
    return Output(result.to_json(), shown, err, exit_code=1 if failed else 0)


def add_commands(sub: Any) -> None:
    p = sub.add_parser("exec", help="run a command (through run_shell) or one tool call in a container")
    add_common(p)
    p.add_argument("--tool", help="run this tool instead of a command")
    p.add_argument("--arg", action="append", metavar="KEY=VALUE", help="tool argument (repeatable)")
    p.add_argument("--args", dest="args_json", metavar="JSON", help="tool arguments as a JSON object")
    p.add_argument("--timeout", type=float, metavar="S", help="wall-clock limit in seconds")
    p.add_argument("-y", "--yes", action="store_true", help="apply the changes without asking")
    p.add_argument("--allow-degraded", action="store_true",
                   help="run even if a required protection (Landlock) is unavailable; recorded in the result")
    p.add_argument("argv", nargs=argparse.REMAINDER, metavar="-- COMMAND ...", help="the command to run")
    p.set_defaults(handler=cmd_exec)

    p = sub.add_parser("run", help="plan an intent with the local model, run each step confined, review, commit")
    p.add_argument("intent", help='what to do, e.g. "find all Python files modified in the last week"')
    add_common(p)
    p.add_argument("-y", "--yes", action="store_true", help="run the plan and apply its changes without asking")
    p.add_argument("--dry-run", action="store_true",
                   help="show the plan and its confinement, changing nothing: its candidates are tried in "
                        "throwaway containers (with --candidates 1, planned only)")
    p.add_argument("--model", help="model name (see `sbx model list`)")
    p.add_argument("--ep", default="cpu", choices=("cpu", "dml", "cuda", "qnn", "openvino"),
                   help="onnxruntime-genai execution provider (default cpu)")
    p.add_argument("--max-steps", type=int, default=5, metavar="N", help="at most N steps (default 5)")
    p.add_argument("--timeout", type=float, metavar="S", help="wall-clock limit per step, seconds")
    p.add_argument("--allow-degraded", action="store_true", help="run even if Landlock is unavailable")
    p.add_argument("--candidates", type=int, default=DEFAULT_CANDIDATES, metavar="N",
                   help=f"check the plan by running up to N candidate plans, each in throwaway containers, "
                        f"and keep the one the evidence supports (default {DEFAULT_CANDIDATES}; 1: no check)")
    p.add_argument("--second-model", action="append", metavar="NAME",
                   help="another prepared model whose plan is the next candidate (repeatable)")
    p.add_argument("--no-service", action="store_true",
                   help="load the model in this process, not in the resident planner service "
                        "(or SBX_PLANNER_SERVICE=0)")
    p.set_defaults(handler=cmd_run)
