"""Frozen result types shared by every room of sbx.

These are plain data: no behaviour beyond conversion to the JSON form of the CLI contract
(`to_json`), so that the CLI, the Python API and the MCP server all speak the same shapes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

JsonDict = dict[str, Any]


class EntryType(StrEnum):
    """What a path is, read without following links."""

    FILE = "file"
    DIR = "dir"
    SYMLINK = "symlink"
    OTHER = "other"  # device node, FIFO, socket: never committed to the host


class ChangeKind(StrEnum):
    ADDED = "added"
    MODIFIED = "modified"  # content of a regular file changed (mode may too)
    DELETED = "deleted"
    MODE = "mode"  # only the permission bits changed
    SYMLINK = "symlink"  # a symlink's target changed
    TYPE = "type"  # file <-> dir <-> link


class ChangesetStatus(StrEnum):
    PENDING = "pending"
    APPLIED = "applied"
    DISCARDED = "discarded"
    EMPTY = "empty"


class RunStatus(StrEnum):
    """How `sbx run` ended (sandbox/intent.py's RunResult)."""

    PLANNED = "planned"  # dry run
    REFUSED = "refused"  # the plan is empty: the model's judgement that commands cannot do it
    CANCELLED = "cancelled"  # the person said no to the plan
    FAILED = "failed"  # a step still failed after its repairs
    DONE = "done"  # every step ran, nothing changed
    PENDING = "pending"  # changes wait for approval
    APPLIED = "applied"
    UNDECIDED = "undecided"  # verified candidates disagree and nothing separated them: a person chooses


class ProgressKind(StrEnum):
    """The events `sbx run` reports to a front end while it works (sandbox/intent.py's Progress)."""

    LOAD = "load"
    LOADED = "loaded"
    PLANNING = "planning"
    PLANNED = "planned"
    STEP = "step"
    STEP_DONE = "step.done"
    REPAIR = "repair"
    COMMIT = "commit"
    VERIFY = "verify"  # a verified run: a candidate made or judged, the choice


@dataclass(frozen=True)
class Change:
    """One path's effect. `path` is workspace-relative, POSIX, never absolute, never `..`."""

    path: str
    kind: ChangeKind
    old_type: EntryType | None = None
    new_type: EntryType | None = None
    old_mode: int | None = None  # permission bits (& 0o7777)
    new_mode: int | None = None
    old_target: str | None = None  # symlink targets
    new_target: str | None = None
    old_size: int | None = None
    new_size: int | None = None
    binary: bool = False
    diff: str | None = None  # unified diff for text files that fit the display limit
    refused: str | None = None  # why this change can never reach the host, if it cannot
    notes: tuple[str, ...] = ()  # what a commit will do differently from the layer (e.g. strip setuid)
    risks: tuple[str, ...] = ()  # review flags, e.g. "risk.git_hook" (sandbox/changes/risk.py)

    def to_json(self) -> JsonDict:
        out: JsonDict = {"path": self.path, "kind": str(self.kind)}
        for name in (
            "old_type",
            "new_type",
            "old_mode",
            "new_mode",
            "old_target",
            "new_target",
            "old_size",
            "new_size",
        ):
            value = getattr(self, name)
            if value is None:
                continue
            if name.endswith("_mode"):
                out[name] = oct(value)
            else:
                out[name] = str(value) if isinstance(value, StrEnum) else value
        out["binary"] = self.binary
        if self.diff is not None:
            out["diff"] = self.diff
        if self.refused is not None:
            out["refused"] = self.refused
        if self.notes:
            out["notes"] = list(self.notes)
        if self.risks:
            out["risks"] = list(self.risks)
        return out


@dataclass(frozen=True)
class Changeset:
    """The effect of one action on one workspace, as it waits for review."""

    id: str
    workspace: str
    status: ChangesetStatus
    sha256: str
    created_at: float
    changes: tuple[Change, ...]
    source: str = ""  # what produced it: the command or intent, for humans

    def to_json(self) -> JsonDict:
        return {
            "id": self.id,
            "workspace": self.workspace,
            "status": str(self.status),
            "sha256": self.sha256,
            "created_at": self.created_at,
            "source": self.source,
            "changes": [c.to_json() for c in self.changes],
        }


@dataclass(frozen=True)
class Recovered:
    """What recovery did with a commit that an earlier process left unfinished."""

    commit_id: str
    kind: str  # "apply" or "undo"
    changeset_id: str
    outcome: str  # "rolled_back": the host holds what it held before; "committed": what was approved
    paths: int  # how many paths the commit covered

    def to_json(self) -> JsonDict:
        return {"commit": self.commit_id, "kind": self.kind, "changeset": self.changeset_id,
                "outcome": self.outcome, "paths": self.paths}

    def describe(self) -> str:
        what = f"an interrupted {self.kind} of changeset {self.changeset_id} ({self.paths} path(s))"
        if self.outcome == "rolled_back":
            return f"{what} was rolled back: the workspace is as it was before it"
        return f"{what} had reached the host and was completed"


@dataclass(frozen=True)
class CommitResult:
    """What a commit (or undo) did to the host."""

    changeset_id: str
    applied: tuple[str, ...]
    conflicts: tuple[str, ...] = ()
    refused: tuple[str, ...] = ()
    commit_id: str | None = None

    def to_json(self) -> JsonDict:
        return {
            "changeset": self.changeset_id,
            "commit": self.commit_id,
            "applied": list(self.applied),
            "conflicts": list(self.conflicts),
            "refused": list(self.refused),
        }


@dataclass(frozen=True)
class Limits:
    memory_bytes: int = 512 * 1024 * 1024
    pids: int = 256
    cpus: float = 1.0
    timeout_s: float = 60.0
    output_bytes: int = 1024 * 1024  # per stream
    changes_bytes: int = 1 << 30  # the change layer's size cap (allocated blocks, while the tool runs)
    # Budgets count what a commit would write: apparent bytes (st_size, holes included, each hard
    # link as its own copy) and entries (inodes on the host), per changeset and across all the
    # pending changesets of a workspace. A call whose layer breaks one is refused and discarded.
    change_bytes: int = 1 << 30
    change_inodes: int = 100_000
    pending_bytes: int = 4 << 30
    pending_inodes: int = 250_000

    def to_json(self) -> JsonDict:
        return {
            "memory_bytes": self.memory_bytes,
            "pids": self.pids,
            "cpus": self.cpus,
            "timeout_s": self.timeout_s,
            "output_bytes": self.output_bytes,
            "changes_bytes": self.changes_bytes,
            "change_bytes": self.change_bytes,
            "change_inodes": self.change_inodes,
            "pending_bytes": self.pending_bytes,
            "pending_inodes": self.pending_inodes,
        }


@dataclass(frozen=True)
class Protections:
    """What really applied to a step, as the engine set it up (not what was asked for)."""

    seccomp: str | None  # profile name or digest; None when no seccomp filter applied
    landlock_abi: int | None
    landlock_enforced: bool
    network: str
    user_namespace: str
    capabilities: tuple[str, ...]
    no_new_privileges: bool
    read_only_root: bool
    limits: Limits
    runtime: str = ""
    degraded: tuple[str, ...] = ()

    def to_json(self) -> JsonDict:
        return {
            "seccomp": self.seccomp,
            "landlock_abi": self.landlock_abi,
            "landlock_enforced": self.landlock_enforced,
            "network": self.network,
            "user_namespace": self.user_namespace,
            "capabilities": list(self.capabilities),
            "no_new_privileges": self.no_new_privileges,
            "read_only_root": self.read_only_root,
            "limits": self.limits.to_json(),
            "runtime": self.runtime,
            "degraded": list(self.degraded),
        }


@dataclass(frozen=True)
class StepResult:
    tool: str
    args: Mapping[str, Any]
    exit_code: int | None
    stdout: str
    stderr: str
    timed_out: bool
    protections: Protections
    duration_s: float
    denied: tuple[str, ...] = ()
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    oom_killed: bool = False

    def to_json(self) -> JsonDict:
        return {
            "tool": self.tool,
            "args": dict(self.args),
            "exit_code": self.exit_code,
            "stdout": self.stdout,
            "stderr": self.stderr,
            "stdout_truncated": self.stdout_truncated,
            "stderr_truncated": self.stderr_truncated,
            "timed_out": self.timed_out,
            "oom_killed": self.oom_killed,
            "denied": list(self.denied),
            "duration_s": round(self.duration_s, 4),
            "protections": self.protections.to_json(),
        }


@dataclass(frozen=True)
class ActionResult:
    """One `exec` or `run`: the steps that ran and the changeset they left."""

    steps: tuple[StepResult, ...]
    changeset: Changeset
    commit: CommitResult | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> JsonDict:
        out: JsonDict = {
            "changeset": self.changeset.to_json(),
            "steps": [s.to_json() for s in self.steps],
        }
        if self.commit is not None:
            out["commit"] = self.commit.to_json()
        out.update(self.extra)
        return out
