"""What the audit log records: the closed set of event kinds and the payload of each.

An action's entries share its `action` id (`action` -> `plan` -> `step`... -> `changeset`);
everything after review (`approval`, `commit`, `undo`, `discard`) names the `changeset` id and
its `sha256`, which may come from another process (`sbx apply ID` later). Payloads are plain
JSON built by the functions here, so they are tested without a database; `AuditLog`'s typed
helpers call them.

Long strings (a `write_file` content, say) are not stored whole: `compact` replaces any string
longer than `MAX_STRING` characters with `{"sha256": ..., "chars": N, "head": first 120}`, which
still proves what ran without copying every file into the log. Path lists are cut at
`MAX_PATHS` (with the total). A step's stdout and stderr are not recorded, only their sha256,
size and truncation flags: the log proves what a tool printed without keeping what it printed.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum
from typing import Any

from sandbox.digests import digest
from sandbox.errors import SbxError
from sandbox.types import Changeset, CommitResult, StepResult

MAX_STRING = 1024
MAX_PATHS = 1000
_HEAD = 120


class EventKind(StrEnum):
    ACTION = "action"  # an intent, or a direct tool call / exec command, arrived
    PLAN = "plan"  # the model's plan for an intent, with the model's identity and digest
    STEP = "step"  # one tool call ran: tool, args, confinement digests, protections, denials, exit
    CHANGESET = "changeset"  # the action's effect: changeset id, sha256, changes, risk flags
    APPROVAL = "approval"  # who approved (or declined) which changeset, how, which paths
    COMMIT = "commit"  # what a commit did: applied, conflicts, refused (or why it failed)
    UNDO = "undo"  # a commit undone
    DISCARD = "discard"  # a pending changeset thrown away
    FAILURE = "failure"  # an action or commit that ended in an sbx error
    RECOVERY = "recovery"  # a commit a dead process left unfinished, rolled back or completed


class Via(StrEnum):
    """How an approval (or a refusal) was given."""

    YES_FLAG = "--yes"  # `sbx exec/run/apply --yes`
    TERMINAL_ALL = "terminal all"
    TERMINAL_PER_FILE = "terminal per-file"
    TERMINAL_NONE = "terminal none"  # the person declined: approved=False
    API = "api"  # the Python API; with the sha256 the caller approved
    MCP = "mcp"  # an MCP client


def new_action_id() -> str:
    return secrets.token_hex(8)


def action_payload(
    *,
    action_id: str,
    intent: str | None = None,
    command: Sequence[str] | None = None,
    tool: str | None = None,
    args: Mapping[str, Any] | None = None,
    via: str = "cli",
    parent: str | None = None,
    step: int | None = None,
) -> dict[str, Any]:
    """An intent (`sbx run`), or a command / tool call (`sbx exec`), as it arrived. A tool call
    made for a plan names the intent's action as `parent` and its plan step (0-based) as `step`."""
    out: dict[str, Any] = {"action": action_id, "via": via}
    if parent is not None:
        out["parent"] = parent
        out["step"] = step
    if intent is not None:
        out["intent"] = compact(intent)
    if command is not None:
        out["command"] = compact(list(command))
    if tool is not None:
        out["tool"] = tool
    if args is not None:
        out["args"] = compact(dict(args))
    return out


def plan_payload(
    *,
    action_id: str,
    steps: Sequence[Mapping[str, Any]],
    model: str | None,
    model_digest: str | None,
    provider: str | None = None,
    verification: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The plan a model made: its tool calls, the plan's digest, and the model that made it; in a
    verified `sbx run`, `verification` says which candidate it is, or what was chosen and why."""
    full = [dict(s) for s in steps]
    payload = {
        "action": action_id,
        "model": {"name": model, "digest": model_digest, "provider": provider},
        "digest": digest(full),
        "steps": compact(full),
    }
    if verification:
        payload["verification"] = compact(dict(verification))
    return payload


def step_payload(
    *, action_id: str, index: int, step: StepResult, landlock_digest: str | None = None
) -> dict[str, Any]:
    """One tool call as it ran. `landlock_digest` is the compiled ruleset's digest
    (`CompiledCall.landlock_digest`); the seccomp digest is in `step.protections`."""
    return {
        "action": action_id,
        "index": index,
        "tool": step.tool,
        "args": compact(dict(step.args)),
        "exit_code": step.exit_code,
        "timed_out": step.timed_out,
        "oom_killed": step.oom_killed,
        "stdout_truncated": step.stdout_truncated,
        "stderr_truncated": step.stderr_truncated,
        "output": {"stdout": _digest_of(step.stdout), "stderr": _digest_of(step.stderr)},
        "duration_s": round(step.duration_s, 4),
        "denied": list(step.denied),
        "seccomp": step.protections.seccomp,
        "landlock": landlock_digest,
        "protections": step.protections.to_json(),
    }


def changeset_payload(*, action_id: str | None, changeset: Changeset) -> dict[str, Any]:
    """The effect an action left: what changed, with refusals and risk flags per path."""
    changes = []
    for c in changeset.changes[:MAX_PATHS]:
        item: dict[str, Any] = {"path": c.path, "kind": str(c.kind)}
        if c.risks:
            item["risks"] = list(c.risks)
        if c.refused is not None:
            item["refused"] = c.refused
        changes.append(item)
    return {
        "action": action_id,
        "changeset": changeset.id,
        "sha256": changeset.sha256,
        "status": str(changeset.status),
        "source": compact(changeset.source),
        "counts": dict(sorted(Counter(str(c.kind) for c in changeset.changes).items())),
        "risks": sorted({r for c in changeset.changes for r in c.risks}),
        "changes": changes,
        "changes_total": len(changeset.changes),
    }


def approval_payload(
    *,
    changeset_id: str,
    sha256: str,
    via: Via | str,
    approved: bool = True,
    paths: Iterable[str] | None = None,
    by: str | None = None,
    risks: Iterable[str] = (),
) -> dict[str, Any]:
    """Who approved (or declined) which changeset, how, and which paths (None: all of them);
    `risks`: the risk flags among the approved changes, so a flagged approval stands out."""
    out: dict[str, Any] = {
        "changeset": changeset_id,
        "sha256": sha256,
        "via": str(via),
        "approved": approved,
        "paths": None if paths is None else _paths(paths),
        "by": by if by is not None else who(),
    }
    flags = sorted(set(risks))
    if flags:
        out["risks"] = flags
    return out


def commit_payload(
    *,
    changeset_id: str,
    sha256: str | None,
    result: CommitResult | None = None,
    error: BaseException | None = None,
) -> dict[str, Any]:
    """What a commit did (`result`), or the error that stopped it (nothing was applied then)."""
    out: dict[str, Any] = {"changeset": changeset_id, "sha256": sha256}
    if result is not None:
        out.update(
            commit=result.commit_id,
            outcome=commit_outcome(result),
            applied=_paths(result.applied),
            applied_total=len(result.applied),
            conflicts=_paths(result.conflicts),
            refused=_paths(result.refused),
        )
    else:
        out.update(commit=None, outcome="failed", applied=[], applied_total=0, conflicts=[], refused=[])
    if error is not None:
        out["error"] = _error(error)
        conflicts = getattr(error, "paths", None)
        if isinstance(conflicts, tuple):
            out["conflicts"] = _paths(str(p) for p in conflicts)
    return out


def commit_outcome(result: CommitResult) -> str:
    """`applied` (everything), `partial`, `conflicts` or `refused` (nothing applied), `nothing`."""
    blocked = result.conflicts or result.refused
    if result.applied:
        return "partial" if blocked else "applied"
    if result.conflicts:
        return "conflicts"
    return "refused" if result.refused else "nothing"


def undo_payload(*, result: CommitResult, undid: str | None = None) -> dict[str, Any]:
    """An undo: the changeset it concerned, the undo's own commit id, the paths restored."""
    return {
        "changeset": result.changeset_id,
        "commit": result.commit_id,
        "undid": undid,
        "restored": _paths(result.applied),
        "restored_total": len(result.applied),
    }


def discard_payload(*, changeset: Changeset) -> dict[str, Any]:
    return {"changeset": changeset.id, "sha256": changeset.sha256, "changes_total": len(changeset.changes)}


def recovery_payload(*, commit_id: str, kind: str, changeset_id: str, outcome: str, paths: int) -> dict[str, Any]:
    """An interrupted commit (`kind` apply or undo) that the next sbx command found: `outcome`
    `rolled_back` (the host is as before it) or `committed` (it had reached the host)."""
    return {"changeset": changeset_id, "commit": commit_id, "kind": kind, "outcome": outcome, "paths": paths}


def failure_payload(
    *, error: BaseException, action_id: str | None = None, changeset_id: str | None = None
) -> dict[str, Any]:
    return {"action": action_id, "changeset": changeset_id, "error": _error(error)}


def _digest_of(text: str) -> dict[str, Any]:
    data = text.encode("utf-8", "surrogatepass")
    return {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


def compact(value: Any) -> Any:
    """`value` with every string longer than MAX_STRING replaced by its digest, size and head."""
    if isinstance(value, str):
        if len(value) <= MAX_STRING:
            return value
        digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
        return {"sha256": digest, "chars": len(value), "head": value[:_HEAD]}
    if isinstance(value, Mapping):
        return {str(k): compact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [compact(v) for v in value]
    return value


def who() -> str:
    """The person behind this process, as far as the OS tells: `alice`, or `root (sudo from alice)`."""
    uid = os.getuid()
    try:
        import pwd

        name = pwd.getpwuid(uid).pw_name
    except (KeyError, ImportError):
        name = f"uid {uid}"
    sudo = os.environ.get("SUDO_USER")
    return f"{name} (sudo from {sudo})" if sudo and sudo != name else name


def _paths(paths: Iterable[str]) -> list[str]:
    out = []
    for i, path in enumerate(paths):
        if i == MAX_PATHS:
            break
        out.append(path)
    return out


def _error(error: BaseException) -> dict[str, Any]:
    if isinstance(error, SbxError):
        return {"code": error.code, "message": compact(error.message)}
    return {"code": "sbx.internal", "message": compact(f"{type(error).__name__}: {error}")}
