"""`sbx`: the parser and the error boundary, the only place that prints errors.

With `--json`, every command prints exactly one JSON object on stdout, success or failure:
{"ok": true, "command": C, "result": {...}} or {"ok": false, "command": C, "error": {code, message}}.
Exit codes: 0 ok, 1 the command's own failure (a run that stopped, a failed check), 2 a usage error,
the error's own code otherwise (sandbox/errors.py), 70 a bug in sbx, 130 interrupted.

argparse rather than typer: typer 0.29 imports pydantic, which cost ~0.3 s of every invocation,
more than half of what a short confined action costs in all (see bench/overhead.py).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from typing import Any

from sandbox.cli import actions, changes, host, models, profile
from sandbox.cli import log as audit_log
from sandbox.cli.common import Output, Parser, notices
from sandbox.config import Settings
from sandbox.errors import SbxError, UsageError
from sandbox.safedirs import open_append, private_dir

log = logging.getLogger(__name__)

LOG_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="sbx", description="Every tool call in a throwaway, least-privilege container; "
                    "its effects reviewed as a diff and committed only on approval.")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--version", action="store_true", help="print sbx's version and exit")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="log what sbx does to stderr: -v info, -vv debug (or SBX_LOG=debug|info|warning)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    actions.add_commands(sub)
    models.add_commands(sub)
    changes.add_commands(sub)
    host.add_commands(sub)
    profile.add_commands(sub)
    host.add_serve_command(sub)
    audit_log.add_commands(sub)
    return parser


def configure_logging(verbosity: int, env: str | None) -> None:
    """The `sandbox` loggers say nothing unless asked (the package's own NullHandler): -v info,
    -vv debug, or SBX_LOG=LEVEL; asked, they write to stderr (stdout is the tools' output and the
    --json object). Levels and propagation stay as they are when not asked, for whoever embeds sbx."""
    root = logging.getLogger("sandbox")
    for handler in [h for h in root.handlers if getattr(h, "sbx_cli", False)]:
        root.removeHandler(handler)
    level = None
    if env:
        if env.lower() not in LOG_LEVELS:
            raise UsageError(f"SBX_LOG={env!r}: say one of {', '.join(LOG_LEVELS)}", code="usage.invalid")
        level = LOG_LEVELS[env.lower()]
    if verbosity:
        level = min(level or logging.WARNING, logging.INFO if verbosity == 1 else logging.DEBUG)
    root.setLevel(logging.NOTSET if level is None else level)
    if level is None:
        return
    ours = logging.StreamHandler(sys.stderr)
    ours.setFormatter(logging.Formatter("sbx: %(levelname)s %(name)s: %(message)s"))
    ours.sbx_cli = True  # type: ignore[attr-defined]  # ours to replace on the next main()
    root.addHandler(ours)


def _command_name(ns: argparse.Namespace | None, argv: list[str]) -> str:
    if ns is not None and getattr(ns, "command", None):
        sub = (getattr(ns, "image_command", None) or getattr(ns, "profile_command", None)
               or getattr(ns, "model_command", None) or getattr(ns, "verify", None))
        return f"{ns.command} {sub}" if sub else str(ns.command)
    if ns is not None and getattr(ns, "version", False):
        return "version"
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
        sys.stdout.write(json.dumps(notices.add_to({"ok": False, "command": command, "error": payload})) + "\n")
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
        log.debug("could not write the internal error log %s", path, exc_info=True)
        return "(could not write the log)"
    return str(path)


def _version() -> Output:
    from sandbox.version import version

    current = version()
    return Output({"version": current}, f"sbx {current}")


def _terminated(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """The error boundary: every failure becomes one line (or one JSON object) and an exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    options = args[: args.index("--")] if "--" in args else args  # a command after -- may say --json
    as_json = "--json" in options
    notices.reset(as_json)
    ns: argparse.Namespace | None = None
    # `kill PID` ends sbx the way Ctrl-C does: its containers, mounts and state cleaned up on the
    # way out, rather than left to the next command's sweep.
    signal.signal(signal.SIGTERM, _terminated)
    try:
        parser = build_parser()
        ns = parser.parse_args(args)
        configure_logging(ns.verbose + getattr(ns, "sub_verbose", 0), os.environ.get("SBX_LOG"))
        if ns.version:
            out = _version()
        elif not getattr(ns, "command", None):
            parser.print_help()
            return 2
        else:
            out = ns.handler(ns)
    except SbxError as exc:
        _print_error(_command_name(ns, args), as_json, exc)
        return exc.exit_code
    except KeyboardInterrupt:
        interrupted = SbxError("interrupted; nothing was applied", code="sbx.interrupted")
        _print_error(_command_name(ns, args), as_json, interrupted)
        return 130
    except Exception as exc:  # noqa: BLE001 -- a bug still gets one line, and the traceback goes to a log
        where = _log_internal_error()
        error = SbxError(f"internal error: {type(exc).__name__}: {exc}", code="sbx.internal",
                         hint=f"this is a bug in sbx; details in {where}")
        _print_error(_command_name(ns, args), as_json, error)
        return 70
    if as_json:
        envelope = {"ok": True, "command": _command_name(ns, args), "result": out.result}
        sys.stdout.write(json.dumps(notices.add_to(envelope)) + "\n")
    else:
        if out.err:
            sys.stderr.write(out.err if out.err.endswith("\n") else out.err + "\n")
        if out.text:
            sys.stdout.write(out.text if out.text.endswith("\n") else out.text + "\n")
    return out.exit_code
