"""For policy authors: `sbx profile list | show | check | test`."""

from __future__ import annotations

import argparse
import json
from typing import Any

from sandbox.cli.common import Output, Parser, add_common
from sandbox.config import Settings
from sandbox.text import printable


def cmd_profile(ns: argparse.Namespace) -> Output:
    from sandbox import authoring

    settings = Settings.from_env()
    if ns.profile_command == "list":
        result, text = authoring.list_profiles(settings, fmt=ns.format)
        return Output(result, text)
    if ns.profile_command == "show":
        part = "seccomp" if ns.seccomp else "landlock" if ns.landlock else "podman" if ns.podman else None
        result, text = authoring.show(settings, ns.tool, ns.args_json, part=part)
        placeholder = result.get("placeholder_args")
        err = "" if placeholder is None else (
            f"sbx: no --args given: the parts that depend on the arguments are computed for the placeholder "
            f"arguments {printable(json.dumps(placeholder))}")
        return Output(result, text, err)
    if ns.profile_command == "check":
        result, text = authoring.check(settings, ns.files)
        return Output(result, text, exit_code=0 if result["ok"] else 1)
    result, text = authoring.test(settings, ns.tool)
    return Output(result, text, exit_code=0 if result["ok"] else 1)


def add_commands(sub: Any) -> None:
    profile = sub.add_parser("profile", help="tool profiles: list, show, check, test").add_subparsers(
        dest="profile_command", metavar="SUBCOMMAND", parser_class=Parser, required=True)
    p = profile.add_parser("list", help="the tools and their one-line confinement")
    add_common(p, workspace=False)
    p.add_argument("--format", choices=("text", "openai", "mcp"), default="text")
    p.set_defaults(handler=cmd_profile)
    p = profile.add_parser("show", help="the compiled confinement of one call (without --args: of a placeholder call)")
    p.add_argument("tool")
    p.add_argument("--args", dest="args_json", metavar="JSON",
                   help="the call's arguments (default: placeholders, said on stderr and as placeholder_args)")
    part = p.add_mutually_exclusive_group()
    for flag in ("--seccomp", "--landlock", "--podman"):
        part.add_argument(flag, action="store_true", help=f"print only the {flag[2:]} part")
    add_common(p, workspace=False)
    p.set_defaults(handler=cmd_profile)
    p = profile.add_parser("check", help="check profile files: keys, syscalls, paths, contradictions")
    p.add_argument("files", nargs="*", help="profile files (default: every file in the profiles folder)")
    add_common(p, workspace=False)
    p.set_defaults(handler=cmd_profile)
    p = profile.add_parser("test", help="run each profile's own examples in real containers")
    p.add_argument("tool", nargs="?", help="one tool (default: all)")
    add_common(p, workspace=False)
    p.set_defaults(handler=cmd_profile)
