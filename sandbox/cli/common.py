"""What every command family of the command line shares: the command's output, the parser class,
the workspace a command names, and rendering for a terminal."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

from sandbox.config import Settings
from sandbox.errors import UsageError
from sandbox.text import printable
from sandbox.types import ActionResult, Change, Changeset, ChangesetStatus, CommitResult, Recovered

if TYPE_CHECKING:
    from sandbox.app import Workspace


@dataclass(frozen=True)
class Output:
    result: dict[str, Any]
    text: str = ""  # stdout, for a person
    err: str = ""  # stderr, for a person
    exit_code: int = 0


class Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing usage and exiting, so errors pass the one boundary."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see `{self.prog} --help`)", code="usage.invalid")


class Notices:
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


notices = Notices()


def add_common(parser: argparse.ArgumentParser, *, workspace: bool = True) -> None:
    if workspace:
        parser.add_argument("-w", "--workspace", metavar="DIR", help="workspace folder (default: current)")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    add_verbose(parser)


def add_verbose(parser: argparse.ArgumentParser) -> None:
    """-v after the command too (`sbx run -v ...`); a dest of its own, as a subcommand's default
    would otherwise overwrite what `sbx -v run` counted."""
    parser.add_argument("-v", "--verbose", dest="sub_verbose", action="count", default=0,
                        help="log what sbx does to stderr: -v info, -vv debug (or SBX_LOG=debug|info|warning)")


def open_workspace(path: str | None, *, prepare_ahead: bool = False) -> Workspace:
    """The workspace a command names (or the current folder); opening it recovers first. The
    command line is the person's own, so it may commit flagged changes once they approve. A
    command that makes one call and ends prepares no container for a next one."""
    from sandbox.app import Workspace, resolve_workspace

    return Workspace(resolve_workspace(path), Settings.from_env(), via="cli", allow_risky_apply=True,
                     on_recovered=notices.on_recovered, prepare_ahead=None if prepare_ahead else 0)


def color() -> bool:
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ


def render(changeset: Changeset) -> str:
    from sandbox.changes import render_changeset

    return render_changeset(changeset, color=color())


def risk_summary(changes: Collection[Change]) -> str:
    from sandbox.changes import render_risks

    return render_risks(changes, color=color())


def for_terminal(text: str, stream: Any) -> str:
    """A tool's own output, as it is when piped; on a terminal each line is made printable, so
    the tool cannot move the cursor over, hide or recolour what sbx says around it."""
    if not text or not stream.isatty():
        return text
    return "\n".join(printable(line, keep_tabs=True) for line in text.split("\n"))


def interactive(as_json: bool) -> bool:
    return not as_json and sys.stdin.isatty() and sys.stdout.isatty()


def commit_text(commit: CommitResult) -> str:
    text = f"applied {len(commit.applied)} change(s) from changeset {commit.changeset_id}"
    if commit.conflicts:
        text += f"; conflicts, not applied: {', '.join(commit.conflicts)}"
    if commit.refused:
        text += f"; refused: {', '.join(commit.refused)}"
    return printable(text)


def action_output(result: ActionResult) -> Output:
    """stdout is only the tools' own stdout, so `sbx exec -- CMD | ...` pipes like CMD would;
    the tools' stderr and sbx's account of each step go to stderr."""
    lines: list[str] = []
    for step in result.steps:
        if step.stderr:
            lines.append(for_terminal(step.stderr.rstrip("\n"), sys.stderr))
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
        lines.append("sbx: " + commit_text(result.commit))
    elif cs.status is ChangesetStatus.PENDING:
        lines.append(f"sbx: changeset {cs.id} pending: {len(cs.changes)} change(s); review with `sbx diff {cs.id}`, "
                     f"commit with `sbx apply {cs.id} --yes`")
    stdout = for_terminal("".join(s.stdout for s in result.steps), sys.stdout)
    return Output(result.to_json(), stdout, "\n".join(lines))
