"""Reviewing and committing changesets: `sbx diff | apply | discard | undo | list | rebase`."""

from __future__ import annotations

import argparse
from collections.abc import Collection
from typing import Any

from sandbox.cli.common import (
    Output,
    action_output,
    add_common,
    commit_text,
    interactive,
    open_workspace,
    render,
    risk_summary,
)
from sandbox.cli.dialogue import review
from sandbox.errors import UsageError
from sandbox.text import printable


def cmd_diff(ns: argparse.Namespace) -> Output:
    cs = open_workspace(ns.workspace).changeset(ns.changeset)
    risks = risk_summary(cs.changes)
    return Output({"changeset": cs.to_json()}, render(cs) + (f"\n{risks}" if risks else ""))


def cmd_apply(ns: argparse.Namespace) -> Output:
    from sandbox.app import flagged_changes

    ws = open_workspace(ns.workspace)
    cs = ws.changeset(ns.changeset)
    paths: Collection[str] | None = None
    if not ns.yes:
        if not interactive(ns.json):
            raise UsageError(f"not applied: pass --yes to apply changeset {cs.id} without a terminal",
                             code="usage.approval_required")
        decision = review([cs])
        if not decision.approve:
            return Output({"changeset": cs.to_json(), "applied": False}, "nothing applied")
        paths = decision.paths
    how = "--yes" if ns.yes else "terminal"
    commit = ws.apply(cs.id, sha256=ns.sha256 or cs.sha256, paths=paths, skip_conflicts=ns.skip_conflicts, how=how)
    # --yes is the person's own word, also for flagged changes; say which ones it covered.
    flagged = flagged_changes(cs, paths) if ns.yes else ()
    err = "\n".join(f"sbx: RISK applied on --yes: {c.path}: {', '.join(c.risks)}" for c in flagged)
    return Output(commit.to_json(), commit_text(commit), err)


def cmd_rebase(ns: argparse.Namespace) -> Output:
    return action_output(open_workspace(ns.workspace).rebase(ns.changeset, timeout_s=ns.timeout))


def cmd_discard(ns: argparse.Namespace) -> Output:
    cs = open_workspace(ns.workspace).discard(ns.changeset)
    return Output({"changeset": cs.to_json()}, f"discarded changeset {cs.id}")


def cmd_undo(ns: argparse.Namespace) -> Output:
    commit = open_workspace(ns.workspace).undo()
    return Output(commit.to_json(), f"undid the commit of changeset {commit.changeset_id}: "
                  f"{len(commit.applied)} path(s) restored")


def cmd_list(ns: argparse.Namespace) -> Output:
    sets = open_workspace(ns.workspace).changesets()
    text = "\n".join(f"{cs.id}  {cs.status:<9}  {len(cs.changes):>4} change(s)  {printable(cs.source[:100])}"
                     for cs in sets)
    return Output({"changesets": [cs.to_json() for cs in sets]}, text or "no changesets")


def add_commands(sub: Any) -> None:
    for name, handler, text in (("diff", cmd_diff, "show a changeset's diff"),
                                ("discard", cmd_discard, "drop a pending changeset; the host is not touched")):
        p = sub.add_parser(name, help=text)
        p.add_argument("changeset", nargs="?", help="changeset id or prefix (default: the newest pending)")
        add_common(p)
        p.set_defaults(handler=handler)

    p = sub.add_parser("apply", help="commit a pending changeset to the host")
    p.add_argument("changeset", nargs="?", help="changeset id or prefix (default: the newest pending)")
    add_common(p)
    p.add_argument("-y", "--yes", action="store_true", help="apply without asking")
    p.add_argument("--sha256", help="refuse unless the changeset still has this hash")
    p.add_argument("--skip-conflicts", action="store_true", help="apply what does not conflict, report the rest")
    p.set_defaults(handler=cmd_apply)

    p = sub.add_parser("rebase", help="re-run a pending changeset's call on the workspace as it is now")
    p.add_argument("changeset", nargs="?", help="changeset id or prefix (default: the newest pending)")
    p.add_argument("--timeout", type=float, metavar="S", help="wall-clock limit in seconds")
    add_common(p)
    p.set_defaults(handler=cmd_rebase)

    p = sub.add_parser("undo", help="restore exactly what the last commit replaced")
    add_common(p)
    p.set_defaults(handler=cmd_undo)

    p = sub.add_parser("list", help="list the workspace's changesets")
    add_common(p)
    p.set_defaults(handler=cmd_list)
