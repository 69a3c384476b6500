"""The host and other agents: `sbx doctor`, `sbx image build`, `sbx serve --mcp`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from sandbox.cli.common import Output, Parser, add_common, add_verbose, notices, open_workspace
from sandbox.config import Settings
from sandbox.errors import UsageError


def cmd_doctor(ns: argparse.Namespace) -> Output:
    from sandbox.hostcheck import doctor

    if ns.workspace is not None:  # recovers an interrupted commit of that workspace first
        open_workspace(ns.workspace)
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
    from sandbox.hostcheck import build_image

    offline = True if ns.offline else False if ns.online else None
    result = build_image(Settings.from_env(), offline=offline)
    return Output(result, f"built {result['image']} ({result['route']})")


def cmd_serve(ns: argparse.Namespace) -> Output:
    if not ns.mcp:
        raise UsageError("say which protocol: sbx serve --mcp", code="usage.invalid")
    from sandbox.app import resolve_workspace
    from sandbox.mcp_server import serve

    serve(Path(resolve_workspace(ns.workspace)), Settings.from_env(), allow_risky_apply=ns.allow_risky_apply,
          on_recovered=notices.on_recovered)
    return Output({})


def add_commands(sub: Any) -> None:
    p = sub.add_parser("doctor", help="check the host: podman, runtime, cgroups, Landlock, seccomp, image")
    p.add_argument("-w", "--workspace", metavar="DIR",
                   help="also recover an interrupted commit of this workspace (default: none)")
    add_common(p, workspace=False)
    p.set_defaults(handler=cmd_doctor)

    image = sub.add_parser("image", help="the default tool image").add_subparsers(
        dest="image_command", metavar="SUBCOMMAND", parser_class=Parser, required=True)
    p = image.add_parser("build", help="build the default image (offline with mmdebstrap when no registry answers)")
    add_common(p, workspace=False)
    route = p.add_mutually_exclusive_group()
    route.add_argument("--offline", action="store_true", help="always bootstrap with mmdebstrap")
    route.add_argument("--online", action="store_true", help="always use podman build")
    p.set_defaults(handler=cmd_image_build)


def add_serve_command(sub: Any) -> None:
    p = sub.add_parser("serve", help="serve sbx to other agents (MCP over stdio)")
    p.add_argument("--mcp", action="store_true", help="speak the Model Context Protocol on stdin/stdout")
    p.add_argument("-w", "--workspace", metavar="DIR", help="workspace folder (default: current)")
    p.add_argument("--allow-risky-apply", action="store_true",
                   help="let the client commit changesets with risk flags (git hooks, shell start-up files, "
                        "...); without it they need a person at a terminal (sbx apply)")
    add_verbose(p)
    p.set_defaults(handler=cmd_serve, json=False)
