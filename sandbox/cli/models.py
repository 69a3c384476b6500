"""The local planning models: `sbx model list | pull | info | bench | stop`."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sandbox.cli.common import Output, Parser, add_common
from sandbox.config import Settings


def cmd_model(ns: argparse.Namespace) -> Output:
    from sandbox.planner import commands

    if ns.model_command == "list":
        result, text = commands.model_list()
    elif ns.model_command == "info":
        result, text = commands.model_info(ns.name, verify=ns.verify)
    elif ns.model_command == "pull":
        def log(line: str) -> None:
            if not ns.json:
                sys.stderr.write(f"sbx: {line}\n")

        result, text = commands.model_pull(ns.name, force=ns.force, log=log)
    elif ns.model_command == "stop":
        result, text = commands.model_stop(Settings.from_env())
    else:
        from sandbox.app import tool_declarations

        result, text = commands.model_bench(ns.name, tool_declarations(Settings.from_env()), ep=ns.ep)
    return Output(result, text)


def add_commands(sub: Any) -> None:
    model = sub.add_parser("model", help="local planning models: list, pull, info, bench").add_subparsers(
        dest="model_command", metavar="SUBCOMMAND", parser_class=Parser, required=True)
    p = model.add_parser("list", help="the catalog, and which models are prepared")
    add_common(p, workspace=False)
    p.set_defaults(handler=cmd_model)
    p = model.add_parser("stop", help="stop the resident planner services (they free their memory)")
    add_common(p, workspace=False)
    p.set_defaults(handler=cmd_model)
    for name, text in (("pull", "prepare a model (offline sources first; verified by sha256)"),
                       ("info", "a model's sources, files and digests"),
                       ("bench", "load time, tokens/s and plan latency")):
        p = model.add_parser(name, help=text)
        p.add_argument("name", nargs="?" if name == "bench" else None, help="model name")
        add_common(p, workspace=False)
        if name == "pull":
            p.add_argument("--force", action="store_true", help="rebuild even if prepared")
        if name == "info":
            p.add_argument("--verify", action="store_true", help="re-hash the files against the manifest")
        if name == "bench":
            p.add_argument("--ep", default="cpu", help="execution provider")
        p.set_defaults(handler=cmd_model)
