"""`sbx`: typer commands, rendering and exit codes. The only place that prints errors.

With `--json`, every command prints exactly one JSON object on stdout, success or failure:
{"ok": true, "command": C, "result": {...}} or {"ok": false, "command": C, "error": {code, message}}.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Collection
from typing import Annotated, Any, NoReturn

import typer

from sandbox.config import Settings
from sandbox.errors import SbxError, UsageError
from sandbox.types import ActionResult, Changeset, ChangesetStatus, CommitResult

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Every tool call in a throwaway, least-privilege container; effects reviewed as a diff, committed on approval.",
    pretty_exceptions_enable=False,
)
image_app = typer.Typer(help="The default tool image.", no_args_is_help=True)
app.add_typer(image_app, name="image")

WorkspaceOpt = Annotated[str | None, typer.Option("-w", "--workspace", help="Workspace folder (default: current).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Apply without asking.")]


class _Exit(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


def _emit(command: str, as_json: bool, result: dict[str, Any], text: str, err: str = "") -> None:
    """One JSON object, or the text for a person (with the tools' own stderr on stderr)."""
    if as_json:
        sys.stdout.write(json.dumps({"ok": True, "command": command, "result": result}) + "\n")
        return
    if err:
        sys.stderr.write(err if err.endswith("\n") else err + "\n")
    if text:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


def _fail(command: str, as_json: bool, error: SbxError) -> NoReturn:
    if as_json:
        payload: dict[str, Any] = {"code": error.code, "message": error.message}
        if error.hint:
            payload["hint"] = error.hint
        paths = getattr(error, "paths", None)
        if paths:
            payload["paths"] = list(paths)
        sys.stdout.write(json.dumps({"ok": False, "command": command, "error": payload}) + "\n")
    else:
        hint = f" (fix: {error.hint})" if error.hint else ""
        sys.stderr.write(f"sbx: error: {error.message}{hint}\n")
    raise _Exit(error.exit_code)


def _guard(command: str, as_json: bool, body: Callable[[], None]) -> None:
    """The error boundary: sbx errors become one line (or one JSON object) and an exit code."""
    try:
        body()
    except SbxError as exc:
        _fail(command, as_json, exc)
    except KeyboardInterrupt:
        _fail(command, as_json, SbxError("interrupted; nothing was applied", code="sbx.interrupted"))
    except (_Exit, typer.Exit, typer.Abort):
        raise
    except Exception as exc:  # noqa: BLE001 -- the boundary: a bug still gets one line, and a log
        log = _log_internal_error()
        _fail(command, as_json, SbxError(f"internal error: {type(exc).__name__}: {exc}", code="sbx.internal",
                                         hint=f"this is a bug in sbx; details in {log}"))


def _log_internal_error() -> str:
    import traceback

    path = Settings.from_env().state_dir / "internal-errors.log"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as handle:
            handle.write(traceback.format_exc() + "\n")
    except OSError:
        return "(could not write the log)"
    return str(path)


def _workspace(path: str | None) -> Any:
    from sandbox.app import Workspace, resolve_workspace

    return Workspace(resolve_workspace(path), Settings.from_env())


def _color() -> bool:
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ


def _render(changeset: Changeset) -> str:
    from sandbox.changes import render_changeset

    return render_changeset(changeset, color=_color())


def _ask_approval(changeset: Changeset) -> Any:
    """On a terminal: show the diff, then all / per file / none. Elsewhere: nothing is applied."""
    from sandbox.app import Approval

    sys.stdout.write(_render(changeset) + "\n")
    answer = typer.prompt("Apply these changes? [a]ll / [p]er file / [n]one", default="n", show_default=False)
    answer = answer.strip().lower()
    if answer in ("a", "all", "y", "yes"):
        return Approval.all()
    if answer in ("p", "per file"):
        chosen = [c.path for c in changeset.changes if c.refused is None and typer.confirm(f"  apply {c.kind} {c.path}?")]
        return Approval(bool(chosen), chosen)
    return Approval.none()


def _approver(yes: bool, as_json: bool) -> Callable[[Changeset], Any] | None:
    from sandbox.app import Approval

    if yes:
        return lambda _cs: Approval.all()
    if as_json or not (sys.stdin.isatty() and sys.stdout.isatty()):
        return None  # no terminal and no --yes: the changeset stays pending
    return _ask_approval


def _action_text(result: ActionResult) -> str:
    """Only the tools' own stdout, so that `sbx exec -- CMD | ...` pipes like CMD would."""
    return "".join(step.stdout for step in result.steps)


def _action_stderr(result: ActionResult) -> str:
    """The tools' stderr, then sbx's own account of each step and of the changeset."""
    lines: list[str] = []
    for step in result.steps:
        if step.stderr:
            lines.append(step.stderr.rstrip("\n"))
        status = "timed out" if step.timed_out else f"exit {step.exit_code}"
        if step.stdout_truncated or step.stderr_truncated:
            status += ", output truncated"
        if step.oom_killed:
            status += ", out of memory"
        for denial in step.denied:
            lines.append(f"sbx: denied: {denial}")
        lines.append(f"sbx: [{step.tool}: {status}, {step.duration_s:.2f}s]")
    cs = result.changeset
    if cs.status is ChangesetStatus.EMPTY:
        lines.append("sbx: no changes to the workspace")
    elif result.commit is not None:
        lines.append("sbx: " + _commit_text(result.commit))
    elif cs.status is ChangesetStatus.PENDING:
        lines.append(f"sbx: changeset {cs.id} pending: {len(cs.changes)} change(s); review with `sbx diff {cs.id}`, "
                     f"commit with `sbx apply {cs.id} --yes`")
    return "\n".join(lines)


def _commit_text(commit: CommitResult) -> str:
    text = f"applied {len(commit.applied)} change(s) from changeset {commit.changeset_id}"
    if commit.conflicts:
        text += f"; conflicts, not applied: {', '.join(commit.conflicts)}"
    if commit.refused:
        text += f"; refused: {', '.join(commit.refused)}"
    return text


def _parse_args(pairs: list[str]) -> dict[str, str]:
    args: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--arg takes KEY=VALUE, got {pair!r}", code="usage.invalid_arg")
        args[key] = value
    return args


@app.command(context_settings={"allow_interspersed_args": False})
def exec(  # noqa: A001 -- the command's name is part of the CLI contract
    command: Annotated[list[str] | None, typer.Argument(help="The command, after `--`.")] = None,
    workspace: WorkspaceOpt = None,
    tool: Annotated[str | None, typer.Option("--tool", help="Run this tool instead of a command.")] = None,
    arg: Annotated[list[str] | None, typer.Option("--arg", help="Tool argument KEY=VALUE (repeatable).")] = None,
    timeout: Annotated[float | None, typer.Option("--timeout", help="Wall-clock limit in seconds.")] = None,
    as_json: JsonOpt = False,
    yes: YesOpt = False,
) -> None:
    """Run one command (through run_shell) or one tool call in a throwaway container."""

    def body() -> None:
        ws = _workspace(workspace)
        approve = _approver(yes, as_json)
        if tool is not None:
            if command:
                raise UsageError("give either --tool or a command, not both", code="usage.invalid")
            result = ws.call_tool(tool, _parse_args(arg or []), timeout_s=timeout, approve=approve)
        else:
            if arg:
                raise UsageError("--arg goes with --tool", code="usage.invalid")
            result = ws.exec(list(command or []), timeout_s=timeout, approve=approve)
        _emit("exec", as_json, result.to_json(), _action_text(result), _action_stderr(result))

    _guard("exec", as_json, body)


@app.command()
def diff(
    changeset: Annotated[str | None, typer.Argument(help="Changeset id or prefix (default: newest pending).")] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a changeset's diff."""

    def body() -> None:
        cs = _workspace(workspace).changeset(changeset)
        _emit("diff", as_json, {"changeset": cs.to_json()}, _render(cs))

    _guard("diff", as_json, body)


@app.command()
def apply(
    changeset: Annotated[str | None, typer.Argument(help="Changeset id or prefix (default: newest pending).")] = None,
    workspace: WorkspaceOpt = None,
    yes: YesOpt = False,
    sha256: Annotated[str | None, typer.Option("--sha256", help="Refuse unless the changeset has this hash.")] = None,
    skip_conflicts: Annotated[bool, typer.Option("--skip-conflicts", help="Apply what does not conflict.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Commit a pending changeset to the host (after review)."""

    def body() -> None:
        ws = _workspace(workspace)
        cs = ws.changeset(changeset)
        paths: Collection[str] | None = None
        if not yes:
            if as_json or not (sys.stdin.isatty() and sys.stdout.isatty()):
                raise UsageError(f"not applied: pass --yes to apply changeset {cs.id} without a terminal",
                                 code="usage.approval_required")
            decision = _ask_approval(cs)
            if not decision.approve:
                _emit("apply", as_json, {"changeset": cs.to_json(), "applied": False}, "nothing applied")
                return
            paths = decision.paths
        commit = ws.apply(cs.id, sha256=sha256 or cs.sha256, paths=paths, skip_conflicts=skip_conflicts)
        _emit("apply", as_json, commit.to_json(), _commit_text(commit))

    _guard("apply", as_json, body)


@app.command()
def discard(
    changeset: Annotated[str | None, typer.Argument(help="Changeset id or prefix (default: newest pending).")] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Drop a pending changeset; the host is not touched."""

    def body() -> None:
        cs = _workspace(workspace).discard(changeset)
        _emit("discard", as_json, {"changeset": cs.to_json()}, f"discarded changeset {cs.id}")

    _guard("discard", as_json, body)


@app.command()
def undo(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Restore exactly what the last commit replaced."""

    def body() -> None:
        commit = _workspace(workspace).undo()
        _emit("undo", as_json, commit.to_json(), f"undid commit of changeset {commit.changeset_id}: "
              f"{len(commit.applied)} path(s) restored")

    _guard("undo", as_json, body)


@app.command("list")
def list_(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """List the workspace's changesets."""

    def body() -> None:
        sets = _workspace(workspace).changesets()
        text = "\n".join(f"{cs.id}  {cs.status:<9}  {len(cs.changes):>4} change(s)  {cs.source}" for cs in sets)
        _emit("list", as_json, {"changesets": [cs.to_json() for cs in sets]}, text or "no changesets")

    _guard("list", as_json, body)


@app.command()
def doctor(as_json: JsonOpt = False) -> None:
    """Check the host: podman, runtime, cgroups, Landlock, seccomp, the default image."""

    def body() -> None:
        from sandbox.app import doctor as run_doctor

        report = run_doctor(Settings.from_env())
        lines = [f"{key}: {value}" for key, value in report["host"].items()]
        lines += [f"podman: {report['podman']}", f"image: {report['image']}"]
        for problem in report["problems"]:
            lines.append(f"{'PROBLEM' if problem['fatal'] else 'warning'}: {problem['problem']} -> fix: {problem['fix']}")
        lines.append("ok" if report["ok"] else "not ready")
        _emit("doctor", as_json, report, "\n".join(lines))
        if not report["ok"]:
            raise _Exit(1)

    _guard("doctor", as_json, body)


@image_app.command("build")
def image_build(
    offline: Annotated[bool | None, typer.Option("--offline/--online", help="Force a route (default: probe).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Build the default image from the Containerfile (offline with mmdebstrap when no registry answers)."""

    def body() -> None:
        from sandbox.app import build_image

        result = build_image(Settings.from_env(), offline=offline)
        _emit("image build", as_json, result, f"built {result['image']} ({result['route']})")

    _guard("image build", as_json, body)


def _command_name(argv: list[str]) -> str:
    words = [a for a in argv if not a.startswith("-")]
    if words[:1] == ["image"] and len(words) > 1:
        return f"image {words[1]}"
    return words[0] if words else ""


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in args
    try:
        app(args=args, prog_name="sbx", standalone_mode=False)
    except _Exit as done:
        return done.code
    except typer.Exit as done:
        return int(done.exit_code)
    except typer.Abort:
        sys.stderr.write("sbx: aborted; nothing was applied\n")
        return 130
    except typer.TyperException as exc:
        error = UsageError(exc.format_message(), code="usage.invalid")
        if as_json:
            payload = {"ok": False, "command": _command_name(args), "error": {"code": error.code, "message": error.message}}
            sys.stdout.write(json.dumps(payload) + "\n")
        else:
            sys.stderr.write(f"sbx: error: {error.message} (see `sbx --help`)\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
