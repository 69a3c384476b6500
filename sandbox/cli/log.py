"""The audit trail: `sbx log` and `sbx log verify`."""

from __future__ import annotations

import argparse
from typing import Any

from sandbox.cli.common import Output, add_common, open_workspace
from sandbox.config import Settings


def cmd_log(ns: argparse.Namespace) -> Output:
    from sandbox.audit import AuditLog, default_path, render_log, render_verification

    if ns.verify:
        verification = AuditLog(default_path(Settings.from_env())).verify()
        return Output(verification.to_json(), render_verification(verification),
                      exit_code=0 if verification.ok else 1)
    entries = open_workspace(ns.workspace).log(limit=ns.limit)
    return Output({"entries": [e.to_json() for e in entries]}, render_log(entries) or "no entries")


def add_commands(sub: Any) -> None:
    p = sub.add_parser("log", help="the audit trail: intents, steps, changesets, approvals, commits")
    p.add_argument("verify", nargs="?", choices=("verify",), help="check the hash chain for tampering")
    p.add_argument("--limit", type=int, default=50, help="newest N entries (default 50)")
    add_common(p)
    p.set_defaults(handler=cmd_log)
