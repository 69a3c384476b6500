"""`sbx`: argument parsing, rendering and exit codes. The only place that prints errors.

With `--json`, every command prints exactly one JSON object on stdout, success or failure:
{"ok": true, "command": C, "result": {...}} or {"ok": false, "command": C, "error": {code, message}}.

argparse rather than typer: typer 0.29 imports pydantic, which cost ~0.3 s of every invocation,
more than half of what a short confined action costs in all (see bench/overhead.py).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from sandbox.config import Settings
from sandbox.errors import SbxError, UsageError
from sandbox.safedirs import open_append, private_dir
from sandbox.text import printable
from sandbox.types import ActionResult, Change, Changeset, ChangesetStatus, CommitResult, Recovered

if TYPE_CHECKING:
    from sandbox.app import Approval, Workspace


@dataclass(frozen=True)
class Output:
    result: dict[str, Any]
    text: str = ""  # stdout, for a person
    err: str = ""  # stderr, for a person
    exit_code: int = 0


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing usage and exiting, so errors pass the one boundary."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see `{self.prog} --help`)", code="usage.invalid")


class _Notices:
    """What sbx did on its own before the command ran (an interrupted commit rolled back or
    completed): said on stderr at once, and in --json as the envelope's `recovered` list."""

    def __init__(self) -> None:
        self.as_json = False
        self.recovered: list[Recovered] = []

    def reset(self, as_json: bool) -> None:
        self.as_json, self.recovered = as_json, []

    def on_recovered(self, done: Recovered) -> None:
        self.recovered.append(done)
        if not self.as_json:
            sys.stderr.write(f"sbx: recovery: {done.describe()}\n")
            sys.stderr.flush()

    def add_to(self, envelope: dict[str, Any]) -> dict[str, Any]:
        if self.recovered:
            envelope["recovered"] = [done.to_json() for done in self.recovered]
        return envelope


_notices = _Notices()


# -- helpers ---------------------------------------------------------------------------------------
def _workspace(path: str | None) -> Workspace:
    """The workspace a command names (or the current folder); opening it recovers first. The
    command line is the person's own, so it may commit flagged changes once they approve."""
    from sandbox.app import Workspace, resolve_workspace

    return Workspace(resolve_workspace(path), Settings.from_env(), via="cli", allow_risky_apply=True,
                     on_recovered=_notices.on_recovered)


def _color() -> bool:
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ


def _render(changeset: Changeset) -> str:
    from sandbox.changes import render_changeset

    return render_changeset(changeset, color=_color())


def _risk_summary(changes: Collection[Change]) -> str:
    from sandbox.changes import render_risks

    return render_risks(changes, color=_color())


def _for_terminal(text: str, stream: Any) -> str:
    """A tool's own output, as it is when piped; on a terminal each line is made printable, so
    the tool cannot move the cursor over, hide or recolour what sbx says around it."""
    if not text or not stream.isatty():
        return text
    return "\n".join(printable(line, keep_tabs=True) for line in text.split("\n"))


def _interactive(as_json: bool) -> bool:
    return not as_json and sys.stdin.isatty() and sys.stdout.isatty()


def _ask(question: str) -> str:
    try:
        return input(question).strip().lower()
    except EOFError:
        return ""


def _ask_approval(changeset: Changeset) -> Approval:
    """On a terminal: show the diff, the risk summary last, then all / per file / none. A
    flagged change is applied only on a typed `yes`, whichever way was chosen."""
    from sandbox.app import Approval

    sys.stdout.write(_render(changeset) + "\n")
    risky = [c for c in changeset.changes if c.risks and c.refused is None]
    if risky:
        sys.stdout.write(_risk_summary(risky) + "\n")
    flagged = f" ({len(risky)} flagged)" if risky else ""
    answer = _ask(f"Apply these changes{flagged}? [a]ll / [p]er file / [N]one: ")
    if answer in ("a", "all", "y", "yes"):
        if risky and _ask("Type 'yes' to apply the flagged changes too: ") != "yes":
            safe = [c.path for c in changeset.changes if not _flags_within(c, risky) and c.refused is None]
            return Approval(bool(safe), safe, "terminal all, flagged ones declined")
        return Approval.all("terminal all")
    if answer in ("p", "per file"):
        chosen = [c.path for c in changeset.changes if c.refused is None and _approve_one(c, risky)]
        return Approval(bool(chosen), chosen, "terminal per-file")
    return Approval.none("terminal none")


def _flags_within(change: Change, risky: Collection[Change]) -> tuple[str, ...]:
    """The flags a change's approval would cover: its own, and for a folder those of every
    flagged change below it (approving a path approves everything beneath it)."""
    below = change.path + "/"
    return tuple(dict.fromkeys(
        flag for c in risky if c.path == change.path or c.path.startswith(below) for flag in c.risks
    ))


def _approve_one(change: Change, risky: Collection[Change]) -> bool:
    flags = _flags_within(change, risky)
    if flags:
        question = f"  apply {change.kind} {printable(change.path)} (RISK: {', '.join(flags)})? type 'yes': "
        return _ask(question) == "yes"
    return _ask(f"  apply {change.kind} {printable(change.path)}? [y/N] ") in ("y", "yes")


def _approver(yes: bool, as_json: bool) -> Callable[[Changeset], Approval] | None:
    from sandbox.app import Approval

    if yes:
        return lambda _cs: Approval.all("--yes")
    if not _interactive(as_json):
        return None  # no terminal and no --yes: the changeset stays pending
    return _ask_approval


def _commit_text(commit: CommitResult) -> str:
    text = f"applied {len(commit.applied)} change(s) from changeset {commit.changeset_id}"
    if commit.conflicts:
        text += f"; conflicts, not applied: {', '.join(commit.conflicts)}"
    if commit.refused:
        text += f"; refused: {', '.join(commit.refused)}"
    return printable(text)


def _action_output(result: ActionResult) -> Output:
    """stdout is only the tools' own stdout, so `sbx exec -- CMD | ...` pipes like CMD would;
    the tools' stderr and sbx's account of each step go to stderr."""
    lines: list[str] = []
    for step in result.steps:
        if step.stderr:
            lines.append(_for_terminal(step.stderr.rstrip("\n"), sys.stderr))
        status = "timed out" if step.timed_out else f"exit {step.exit_code}"
        if step.stdout_truncated or step.stderr_truncated:
            status += ", output truncated"
        if step.oom_killed:
            status += ", out of memory"
        lines += [f"sbx: denied: {printable(str(denial))}" for denial in step.denied]
        lines.append(f"sbx: [{step.tool}: {status}, {step.duration_s:.2f}s]")
    cs = result.changeset
    lines += [f"sbx: RISK {printable(c.path)}: {', '.join(c.risks)}" for c in cs.changes if c.risks]
    if cs.status is ChangesetStatus.EMPTY:
        lines.append("sbx: no changes to the workspace")
    elif result.commit is not None:
        lines.append("sbx: " + _commit_text(result.commit))
    elif cs.status is ChangesetStatus.PENDING:
        lines.append(f"sbx: changeset {cs.id} pending: {len(cs.changes)} change(s); review with `sbx diff {cs.id}`, "
                     f"commit with `sbx apply {cs.id} --yes`")
    stdout = _for_terminal("".join(s.stdout for s in result.steps), sys.stdout)
    return Output(result.to_json(), stdout, "\n".join(lines))


def _parse_args(pairs: list[str]) -> dict[str, Any]:
    args: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--arg takes KEY=VALUE, got {pair!r}", code="usage.invalid_arg")
        args[key] = value
    return args


# -- commands --------------------------------------------------------------------------------------
def cmd_exec(ns: argparse.Namespace) -> Output:
    ws = _workspace(ns.workspace)
    approve = _approver(ns.yes, ns.json)
    command = list(ns.argv or [])
    if command[:1] == ["--"]:
        command = command[1:]
    if ns.tool is not None:
        if command:
            raise UsageError("give either --tool or a command, not both", code="usage.invalid")
        args: dict[str, Any] = _parse_args(ns.arg or [])
        if ns.args_json:
            try:
                args.update(json.loads(ns.args_json))
            except ValueError as exc:
                raise UsageError(f"--args is not JSON: {exc}", code="usage.invalid_arg") from None
        result = ws.call_tool(ns.tool, args, timeout_s=ns.timeout, approve=approve, allow_degraded=ns.allow_degraded)
    else:
        if ns.arg or ns.args_json:
            raise UsageError("--arg/--args go with --tool", code="usage.invalid")
        result = ws.exec(command, timeout_s=ns.timeout, approve=approve, allow_degraded=ns.allow_degraded)
    return _action_output(result)


def _show_plan(plan: Any, planned: Any) -> None:
    sys.stderr.write(f"plan for: {printable(str(plan.intent))}\n")
    for item in planned:
        args = json.dumps(dict(item.step.args))
        sys.stderr.write(f"  {item.index + 1}. {item.step.tool} {args[:300]}\n     confinement: {item.confinement}\n")


class _Ticker:
    """On a terminal, a slow phase (model start, planning, a repair) as one line that counts its
    seconds in place, so a long plan does not look like a hang; the next message replaces it."""

    def __init__(self, interval_s: float = 0.5) -> None:
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, what: str) -> None:

        self._stop.clear()
        started = time.monotonic()
        sys.stderr.write(f"sbx: {what}...")
        sys.stderr.flush()

        def tick() -> None:
            while not self._stop.wait(self._interval_s):
                sys.stderr.write(f"\rsbx: {what}... {time.monotonic() - started:.0f}s ")
                sys.stderr.flush()

        self._thread = threading.Thread(target=tick, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        self._thread = None
        sys.stderr.write("\r\033[K")  # clear the ticking line


def cmd_run(ns: argparse.Namespace) -> Output:
    from sandbox import intent

    ws = _workspace(ns.workspace)
    interactive = _interactive(ns.json)
    in_process = ns.no_service or os.environ.get("SBX_PLANNER_SERVICE", "1") == "0"
    planner = intent.make_planner(ns.model, ep=ns.ep, design=ns.design,
                                  service_dir=None if in_process else ws.settings.runtime_dir)

    ticker = _Ticker() if not ns.json and sys.stderr.isatty() else None

    def progress(event: Any) -> None:
        if ns.json:
            return
        if ticker is not None:
            ticker.stop()
            if event.kind in ("load", "planning", "repair"):  # these can take seconds: show the time passing
                ticker.start(event.message)
                return
        sys.stderr.write(f"sbx: {printable(str(event.message))}\n")

    def confirm(plan: Any, planned: Any) -> bool:
        _show_plan(plan, planned)
        return _ask("Run this plan? [Y/n] ") in ("", "y", "yes")

    def approve(run: Any) -> bool:
        if ns.yes:
            return True
        for changeset in run.pending:
            sys.stdout.write(_render(changeset) + "\n")
        risky = [c for cs in run.pending for c in cs.changes if c.risks and c.refused is None]
        question = "Apply these changes? [y/N] "
        if risky:  # last, right before the question
            sys.stdout.write(_risk_summary(risky) + "\n")
            question = "These changes are flagged. Type 'yes' to apply them: "
        return _ask(question) == "yes" if risky else _ask(question) in ("y", "yes")

    try:
        result = intent.run_intent(
            ws, ns.intent, planner=planner, max_steps=ns.max_steps, dry_run=ns.dry_run,
            approve=approve if (ns.yes or interactive) else None,
            on_progress=progress, confirm=confirm if (interactive and not ns.yes) else None,
            timeout_s=ns.timeout, allow_degraded=ns.allow_degraded,
        )
    finally:
        if ticker is not None:
            ticker.stop()
    lines = []
    if ns.dry_run or result.status in ("planned", "refused"):
        _show_plan(result.plan, result.planned)
    if result.status == "refused":
        lines.append(f"sbx: nothing to do: {result.plan.explanation}")
    for attempt in result.attempts:
        ran = f"exit {attempt.result.exit_code}" if attempt.result else "did not run"
        outcome = "ok" if attempt.ok else f"failed: {attempt.error}"
        lines.append(f"sbx: [step {attempt.step + 1} attempt {attempt.attempt} {attempt.call.tool}: {ran}, {outcome}]")
        if attempt.result is not None:
            lines += [f"sbx: denied: {denial}" for denial in attempt.result.denied]
    if result.error:
        lines.append(f"sbx: the run stopped: {result.error}")
    pending = result.pending
    if pending and not result.approved:
        ids = " ".join(cs.id for cs in pending)
        lines.append(f"sbx: {len(pending)} changeset(s) pending: {ids}; review with `sbx diff ID`, "
                     f"commit with `sbx apply ID --yes` (in this order)")
    if result.commits:
        lines += ["sbx: " + _commit_text(commit) for commit in result.commits]
    err = "\n".join(printable(line) for line in lines)  # denials, errors and paths come from the run
    return Output(result.to_json(), _for_terminal(result.stdout(), sys.stdout), err,
                  exit_code=0 if result.error is None else 1)


def cmd_model(ns: argparse.Namespace) -> Output:
    from sandbox import intent

    if ns.model_command == "list":
        result, text = intent.model_list()
    elif ns.model_command == "info":
        result, text = intent.model_info(ns.name, verify=ns.verify)
    elif ns.model_command == "pull":
        def log(line: str) -> None:
            if not ns.json:
                sys.stderr.write(f"sbx: {line}\n")

        result, text = intent.model_pull(ns.name, force=ns.force, log=log)
    elif ns.model_command == "stop":
        result, text = intent.model_stop(Settings.from_env())
    else:
        result, text = intent.model_bench(ns.name, ep=ns.ep)
    return Output(result, text)


def cmd_diff(ns: argparse.Namespace) -> Output:
    cs = _workspace(ns.workspace).changeset(ns.changeset)
    risks = _risk_summary(cs.changes)
    return Output({"changeset": cs.to_json()}, _render(cs) + (f"\n{risks}" if risks else ""))


def cmd_apply(ns: argparse.Namespace) -> Output:
    ws = _workspace(ns.workspace)
    cs = ws.changeset(ns.changeset)
    paths: Collection[str] | None = None
    if not ns.yes:
        if not _interactive(ns.json):
            raise UsageError(f"not applied: pass --yes to apply changeset {cs.id} without a terminal",
                             code="usage.approval_required")
        decision = _ask_approval(cs)
        if not decision.approve:
            return Output({"changeset": cs.to_json(), "applied": False}, "nothing applied")
        paths = decision.paths
    how = "--yes" if ns.yes else "terminal"
    commit = ws.apply(cs.id, sha256=ns.sha256 or cs.sha256, paths=paths, skip_conflicts=ns.skip_conflicts, how=how)
    # --yes is the person's own word, also for flagged changes; say which ones it covered.
    flagged = _flagged(cs, paths) if ns.yes else ()
    err = "\n".join(f"sbx: RISK applied on --yes: {c.path}: {', '.join(c.risks)}" for c in flagged)
    return Output(commit.to_json(), _commit_text(commit), err)


def _flagged(cs: Changeset, paths: Collection[str] | None) -> tuple[Change, ...]:
    from sandbox.app import flagged_changes

    return flagged_changes(cs, paths)


def cmd_rebase(ns: argparse.Namespace) -> Output:
    return _action_output(_workspace(ns.workspace).rebase(ns.changeset, timeout_s=ns.timeout))


def cmd_discard(ns: argparse.Namespace) -> Output:
    cs = _workspace(ns.workspace).discard(ns.changeset)
    return Output({"changeset": cs.to_json()}, f"discarded changeset {cs.id}")


def cmd_undo(ns: argparse.Namespace) -> Output:
    commit = _workspace(ns.workspace).undo()
    return Output(commit.to_json(), f"undid the commit of changeset {commit.changeset_id}: "
                  f"{len(commit.applied)} path(s) restored")


def cmd_list(ns: argparse.Namespace) -> Output:
    sets = _workspace(ns.workspace).changesets()
    text = "\n".join(f"{cs.id}  {cs.status:<9}  {len(cs.changes):>4} change(s)  {printable(cs.source[:100])}"
                     for cs in sets)
    return Output({"changesets": [cs.to_json() for cs in sets]}, text or "no changesets")


def cmd_log(ns: argparse.Namespace) -> Output:
    from sandbox.audit import AuditLog, default_path, render_log, render_verification

    if ns.verify:
        verification = AuditLog(default_path(Settings.from_env())).verify()
        return Output(verification.to_json(), render_verification(verification),
                      exit_code=0 if verification.ok else 1)
    entries = _workspace(ns.workspace).log(limit=ns.limit)
    return Output({"entries": [e.to_json() for e in entries]}, render_log(entries) or "no entries")


def cmd_doctor(ns: argparse.Namespace) -> Output:
    from sandbox.app import doctor

    if ns.workspace is not None:  # recovers an interrupted commit of that workspace first
        _workspace(ns.workspace)
    report = doctor(Settings.from_env())
    lines = [f"{key}: {value}" for key, value in report["host"].items()]
    lines += [f"podman: {report['podman']}", f"image: {report['image']}"]
    planner = report["planner"]
    services = ", ".join(f"{s['model']['name']} (pid {s['pid']})" for s in planner["services"]) or "none running"
    lines.append(f"planner: default model {planner['default_model']} "
                 f"({'prepared' if planner['prepared'] else 'NOT prepared'}); services: {services}")
    for problem in report["problems"]:
        lines.append(f"{'PROBLEM' if problem['fatal'] else 'warning'}: {problem['problem']} -> fix: {problem['fix']}")
    lines.append("ready" if report["ok"] else "NOT READY")
    return Output(report, "\n".join(lines), exit_code=0 if report["ok"] else 1)


def cmd_image_build(ns: argparse.Namespace) -> Output:
    from sandbox.app import build_image

    offline = True if ns.offline else False if ns.online else None
    result = build_image(Settings.from_env(), offline=offline)
    return Output(result, f"built {result['image']} ({result['route']})")


def cmd_serve(ns: argparse.Namespace) -> Output:
    if not ns.mcp:
        raise UsageError("say which protocol: sbx serve --mcp", code="usage.invalid")
    from sandbox.app import resolve_workspace
    from sandbox.mcp_server import serve

    serve(Path(resolve_workspace(ns.workspace)), Settings.from_env(), allow_risky_apply=ns.allow_risky_apply,
          on_recovered=_notices.on_recovered)
    return Output({})


def cmd_profile(ns: argparse.Namespace) -> Output:
    from sandbox import authoring

    settings = Settings.from_env()
    if ns.profile_command == "list":
        result, text = authoring.list_profiles(settings, fmt=ns.format)
        return Output(result, text)
    if ns.profile_command == "show":
        part = "seccomp" if ns.seccomp else "landlock" if ns.landlock else "podman" if ns.podman else None
        result, text = authoring.show(settings, ns.tool, ns.args_json, part=part)
        return Output(result, text)
    if ns.profile_command == "check":
        result, text = authoring.check(settings, ns.files)
        return Output(result, text, exit_code=0 if result["ok"] else 1)
    result, text = authoring.test(settings, ns.tool)
    return Output(result, text, exit_code=0 if result["ok"] else 1)


# -- parser ----------------------------------------------------------------------------------------
def _common(parser: argparse.ArgumentParser, *, workspace: bool = True) -> None:
    if workspace:
        parser.add_argument("-w", "--workspace", metavar="DIR", help="workspace folder (default: current)")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="sbx", description="Every tool call in a throwaway, least-privilege container; "
                     "its effects reviewed as a diff and committed only on approval.")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    _add_action_commands(sub)
    _add_run_commands(sub)
    _add_review_commands(sub)
    _add_host_commands(sub)
    _add_profile_commands(sub)
    _add_serve_command(sub)
    _add_log_command(sub)
    return parser


def _add_action_commands(sub: Any) -> None:
    p = sub.add_parser("exec", help="run a command (through run_shell) or one tool call in a container")
    _common(p)
    p.add_argument("--tool", help="run this tool instead of a command")
    p.add_argument("--arg", action="append", metavar="KEY=VALUE", help="tool argument (repeatable)")
    p.add_argument("--args", dest="args_json", metavar="JSON", help="tool arguments as a JSON object")
    p.add_argument("--timeout", type=float, metavar="S", help="wall-clock limit in seconds")
    p.add_argument("-y", "--yes", action="store_true", help="apply the changes without asking")
    p.add_argument("--allow-degraded", action="store_true",
                   help="run even if a required protection (Landlock) is unavailable; recorded in the result")
    p.add_argument("argv", nargs=argparse.REMAINDER, metavar="-- COMMAND ...", help="the command to run")
    p.set_defaults(handler=cmd_exec)


def _add_run_commands(sub: Any) -> None:
    p = sub.add_parser("run", help="plan an intent with the local model, run each step confined, review, commit")
    p.add_argument("intent", help='what to do, e.g. "find all Python files modified in the last week"')
    _common(p)
    p.add_argument("-y", "--yes", action="store_true", help="run the plan and apply its changes without asking")
    p.add_argument("--dry-run", action="store_true", help="plan only: show the steps and their confinement")
    p.add_argument("--model", help="model name (see `sbx model list`)")
    p.add_argument("--ep", default="cpu", choices=("cpu", "dml", "cuda", "qnn", "openvino"),
                   help="onnxruntime-genai execution provider (default cpu)")
    p.add_argument("--max-steps", type=int, default=5, metavar="N", help="at most N steps (default 5)")
    p.add_argument("--timeout", type=float, metavar="S", help="wall-clock limit per step, seconds")
    p.add_argument("--allow-degraded", action="store_true", help="run even if Landlock is unavailable")
    p.add_argument("--design", help="how the model is prompted and guided (docs/planner.md)")
    p.add_argument("--no-service", action="store_true",
                   help="load the model in this process, not in the resident planner service "
                        "(or SBX_PLANNER_SERVICE=0)")
    p.set_defaults(handler=cmd_run)

    model = sub.add_parser("model", help="local planning models: list, pull, info, bench").add_subparsers(
        dest="model_command", metavar="SUBCOMMAND", parser_class=_Parser, required=True)
    p = model.add_parser("list", help="the catalog, and which models are prepared")
    _common(p, workspace=False)
    p.set_defaults(handler=cmd_model)
    p = model.add_parser("stop", help="stop the resident planner services (they free their memory)")
    _common(p, workspace=False)
    p.set_defaults(handler=cmd_model)
    for name, text in (("pull", "prepare a model (offline sources first; verified by sha256)"),
                       ("info", "a model's sources, files and digests"),
                       ("bench", "load time, tokens/s and plan latency")):
        p = model.add_parser(name, help=text)
        p.add_argument("name", nargs="?" if name == "bench" else None, help="model name")
        _common(p, workspace=False)
        if name == "pull":
            p.add_argument("--force", action="store_true", help="rebuild even if prepared")
        if name == "info":
            p.add_argument("--verify", action="store_true", help="re-hash the files against the manifest")
        if name == "bench":
            p.add_argument("--ep", default="cpu", help="execution provider")
        p.set_defaults(handler=cmd_model)


def _add_review_commands(sub: Any) -> None:
    for name, handler, text in (("diff", cmd_diff, "show a changeset's diff"),
                                ("discard", cmd_discard, "drop a pending changeset; the host is not touched")):
        p = sub.add_parser(name, help=text)
        p.add_argument("changeset", nargs="?", help="changeset id or prefix (default: the newest pending)")
        _common(p)
        p.set_defaults(handler=handler)

    p = sub.add_parser("apply", help="commit a pending changeset to the host")
    p.add_argument("changeset", nargs="?", help="changeset id or prefix (default: the newest pending)")
    _common(p)
    p.add_argument("-y", "--yes", action="store_true", help="apply without asking")
    p.add_argument("--sha256", help="refuse unless the changeset still has this hash")
    p.add_argument("--skip-conflicts", action="store_true", help="apply what does not conflict, report the rest")
    p.set_defaults(handler=cmd_apply)

    p = sub.add_parser("rebase", help="re-run a pending changeset's call on the workspace as it is now")
    p.add_argument("changeset", nargs="?", help="changeset id or prefix (default: the newest pending)")
    p.add_argument("--timeout", type=float, metavar="S", help="wall-clock limit in seconds")
    _common(p)
    p.set_defaults(handler=cmd_rebase)

    p = sub.add_parser("undo", help="restore exactly what the last commit replaced")
    _common(p)
    p.set_defaults(handler=cmd_undo)

    p = sub.add_parser("list", help="list the workspace's changesets")
    _common(p)
    p.set_defaults(handler=cmd_list)


def _add_log_command(sub: Any) -> None:
    p = sub.add_parser("log", help="the audit trail: intents, steps, changesets, approvals, commits")
    p.add_argument("verify", nargs="?", choices=("verify",), help="check the hash chain for tampering")
    p.add_argument("--limit", type=int, default=50, help="newest N entries (default 50)")
    _common(p)
    p.set_defaults(handler=cmd_log)


def _add_host_commands(sub: Any) -> None:
    p = sub.add_parser("doctor", help="check the host: podman, runtime, cgroups, Landlock, seccomp, image")
    p.add_argument("-w", "--workspace", metavar="DIR",
                   help="also recover an interrupted commit of this workspace (default: none)")
    _common(p, workspace=False)
    p.set_defaults(handler=cmd_doctor)

    image = sub.add_parser("image", help="the default tool image").add_subparsers(
        dest="image_command", metavar="SUBCOMMAND", parser_class=_Parser, required=True)
    p = image.add_parser("build", help="build the default image (offline with mmdebstrap when no registry answers)")
    _common(p, workspace=False)
    route = p.add_mutually_exclusive_group()
    route.add_argument("--offline", action="store_true", help="always bootstrap with mmdebstrap")
    route.add_argument("--online", action="store_true", help="always use podman build")
    p.set_defaults(handler=cmd_image_build)


def _add_serve_command(sub: Any) -> None:
    p = sub.add_parser("serve", help="serve sbx to other agents (MCP over stdio)")
    p.add_argument("--mcp", action="store_true", help="speak the Model Context Protocol on stdin/stdout")
    p.add_argument("-w", "--workspace", metavar="DIR", help="workspace folder (default: current)")
    p.add_argument("--allow-risky-apply", action="store_true",
                   help="let the client commit changesets with risk flags (git hooks, shell start-up files, "
                        "...); without it they need a person at a terminal (sbx apply)")
    p.set_defaults(handler=cmd_serve, json=False)


def _add_profile_commands(sub: Any) -> None:
    profile = sub.add_parser("profile", help="tool profiles: list, show, check, test").add_subparsers(
        dest="profile_command", metavar="SUBCOMMAND", parser_class=_Parser, required=True)
    p = profile.add_parser("list", help="the tools and their one-line confinement")
    _common(p, workspace=False)
    p.add_argument("--format", choices=("text", "openai", "mcp"), default="text")
    p.set_defaults(handler=cmd_profile)
    p = profile.add_parser("show", help="the compiled confinement of one concrete call")
    p.add_argument("tool")
    p.add_argument("--args", dest="args_json", metavar="JSON", default="{}", help="the call's arguments")
    part = p.add_mutually_exclusive_group()
    for flag in ("--seccomp", "--landlock", "--podman"):
        part.add_argument(flag, action="store_true", help=f"print only the {flag[2:]} part")
    _common(p, workspace=False)
    p.set_defaults(handler=cmd_profile)
    p = profile.add_parser("check", help="check profile files: keys, syscalls, paths, contradictions")
    p.add_argument("files", nargs="*", help="profile files (default: every file in the profiles folder)")
    _common(p, workspace=False)
    p.set_defaults(handler=cmd_profile)
    p = profile.add_parser("test", help="run each profile's own examples in real containers")
    p.add_argument("tool", nargs="?", help="one tool (default: all)")
    _common(p, workspace=False)
    p.set_defaults(handler=cmd_profile)


def _command_name(ns: argparse.Namespace | None, argv: list[str]) -> str:
    if ns is not None and getattr(ns, "command", None):
        sub = (getattr(ns, "image_command", None) or getattr(ns, "profile_command", None)
               or getattr(ns, "model_command", None) or getattr(ns, "verify", None))
        return f"{ns.command} {sub}" if sub else str(ns.command)
    words = [a for a in argv if not a.startswith("-")]
    return words[0] if words else ""


def _print_error(command: str, as_json: bool, error: SbxError) -> None:
    if as_json:
        payload: dict[str, Any] = {"code": error.code, "message": error.message}
        if error.hint:
            payload["hint"] = error.hint
        paths = getattr(error, "paths", None)
        if paths:
            payload["paths"] = list(paths)
        steps = getattr(error, "steps", None)  # steps that ran before sbx failed: their output is data
        if steps:
            payload["steps"] = list(steps)
        sys.stdout.write(json.dumps(_notices.add_to({"ok": False, "command": command, "error": payload})) + "\n")
    else:
        for step in getattr(error, "steps", None) or ():
            sys.stdout.write(step["stdout"])
            if step["stderr"]:
                sys.stderr.write(step["stderr"].rstrip("\n") + "\n")
            status = "timed out" if step["timed_out"] else f"exit {step['exit_code']}"
            sys.stderr.write(f"sbx: [{step['tool']}: {status}, {step['duration_s']:.2f}s]\n")
        hint = f" (fix: {error.hint})" if error.hint else ""
        sys.stderr.write(f"sbx: error: {error.message}{hint}\n")


def _log_internal_error() -> str:
    import traceback

    path = Settings.from_env().state_dir / "internal-errors.log"
    try:
        private_dir(path.parent, env="SBX_STATE_DIR")
        with open_append(path) as handle:
            handle.write(traceback.format_exc().encode() + b"\n")
    except (OSError, SbxError):
        return "(could not write the log)"
    return str(path)


def main(argv: list[str] | None = None) -> int:
    """The error boundary: every failure becomes one line (or one JSON object) and an exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    options = args[: args.index("--")] if "--" in args else args  # a command after -- may say --json
    as_json = "--json" in options
    _notices.reset(as_json)
    ns: argparse.Namespace | None = None
    try:
        parser = build_parser()
        ns = parser.parse_args(args)
        if not getattr(ns, "command", None):
            parser.print_help()
            return 2
        out: Output = ns.handler(ns)
    except SbxError as exc:
        _print_error(_command_name(ns, args), as_json, exc)
        return exc.exit_code
    except KeyboardInterrupt:
        interrupted = SbxError("interrupted; nothing was applied", code="sbx.interrupted")
        _print_error(_command_name(ns, args), as_json, interrupted)
        return 130
    except Exception as exc:  # noqa: BLE001 -- a bug still gets one line, and the traceback goes to a log
        log = _log_internal_error()
        error = SbxError(f"internal error: {type(exc).__name__}: {exc}", code="sbx.internal",
                         hint=f"this is a bug in sbx; details in {log}")
        _print_error(_command_name(ns, args), as_json, error)
        return 70
    if as_json:
        envelope = {"ok": True, "command": _command_name(ns, args), "result": out.result}
        sys.stdout.write(json.dumps(_notices.add_to(envelope)) + "\n")
    else:
        if out.err:
            sys.stderr.write(out.err if out.err.endswith("\n") else out.err + "\n")
        if out.text:
            sys.stdout.write(out.text if out.text.endswith("\n") else out.text + "\n")
    return out.exit_code


if __name__ == "__main__":
    sys.exit(main())
