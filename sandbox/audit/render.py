"""The audit log for people: one line per entry, and the verdict of `verify`."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sandbox.audit.chain import Verification
from sandbox.audit.events import EventKind
from sandbox.audit.log import Entry
from sandbox.text import printable

_WIDTH = 72  # characters of an intent, command or argument shown


def render_log(entries: Sequence[Entry]) -> str:
    """`SEQ TIME KIND [ACTION] SUMMARY`, oldest first; the workspace is shown only when the
    entries span several. Intents, commands, paths and messages came from actions: each line is
    made printable, so an entry is one line and cannot drive the terminal."""
    if not entries:
        return "no audit entries"
    several = len({e.workspace for e in entries}) > 1
    lines = []
    for entry in entries:
        stamp = entry.time[:19].replace("T", " ")
        action = entry.action_id
        link = f"[{action[:8]}] " if action else ""
        line = f"{entry.seq:>6}  {stamp}  {entry.kind:<9}  {link}{summary(entry.kind, entry.payload)}"
        if several:
            line += f"  ({entry.workspace or '-'})"
        lines.append(printable(line))
    return "\n".join(lines)


def render_verification(result: Verification) -> str:
    if result.ok:
        if result.head is None:
            return "audit log: no entries"
        return f"audit log intact: {result.checked} entries, head {result.head}"
    return (
        f"audit log BROKEN at entry {result.broken_seq}: {printable(str(result.reason))}\n"
        f"{result.checked} entries before it verified"
        + (f" (the last one's hash: {result.head})" if result.head else "")
    )


def summary(kind: EventKind, p: Mapping[str, Any]) -> str:
    """One line describing a payload."""
    return _SUMMARIES[kind](p)


def _plan(p: Mapping[str, Any]) -> str:
    model = p.get("model") or {}
    steps = p.get("steps") or []
    name = model.get("name") or "?"
    return f"plan of {len(steps)} step(s) {_short(p.get('digest'))} by model {name} {_short(model.get('digest'))}"


def _step(p: Mapping[str, Any]) -> str:
    denied = p.get("denied") or []
    status = "timed out" if p.get("timed_out") else f"exit {p.get('exit_code')}"
    text = (
        f"step {p.get('index')}: {p.get('tool')} {_clip(_json(p.get('args')))}: {status}; "
        f"seccomp {_short(p.get('seccomp'))}, landlock {_short(p.get('landlock'))}"
    )
    return text + (f"; denied {len(denied)}: {_clip('; '.join(map(str, denied)))}" if denied else "")


def _changeset(p: Mapping[str, Any]) -> str:
    counts = p.get("counts") or {}
    what = ", ".join(f"{n} {k}" for k, n in counts.items()) or "no changes"
    risks = p.get("risks") or []
    text = f"changeset {p.get('changeset')} {p.get('status')}: {what}; sha256 {str(p.get('sha256'))[:16]}"
    return text + (f"; RISKS {', '.join(risks)}" if risks else "")


def _approval(p: Mapping[str, Any]) -> str:
    verb = "approved" if p.get("approved") else "declined"
    paths = p.get("paths")
    scope = "all paths" if paths is None else f"{len(paths)} path(s)"
    text = f"{verb} changeset {p.get('changeset')} ({scope}) via {p.get('via')} by {p.get('by')}"
    risks = p.get("risks") or []
    return text + (f"; RISKS {', '.join(map(str, risks))}" if risks else "")


def _recovery(p: Mapping[str, Any]) -> str:
    done = "rolled back" if p.get("outcome") == "rolled_back" else "completed"
    return (f"recovered an interrupted {p.get('kind')} of changeset {p.get('changeset')}: {done} "
            f"({p.get('paths')} path(s), commit {p.get('commit')})")


def _undo(p: Mapping[str, Any]) -> str:
    return f"undo of changeset {p.get('changeset')}: {p.get('restored_total')} path(s) restored"


def _discard(p: Mapping[str, Any]) -> str:
    return f"discarded changeset {p.get('changeset')} ({p.get('changes_total')} change(s))"


def _failure(p: Mapping[str, Any]) -> str:
    error = p.get("error") or {}
    where = f" changeset {p['changeset']}" if p.get("changeset") else ""
    return f"failed{where}: {error.get('code')}: {_clip(str(error.get('message')))}"


def _action(p: Mapping[str, Any]) -> str:
    via = p.get("via")
    if p.get("intent") is not None:
        return f"intent via {via}: {_clip(_text(p['intent']))}"
    if p.get("command") is not None:
        return f"exec via {via}: {_clip(' '.join(_text(c) for c in p['command']))}"
    return f"tool call via {via}: {p.get('tool')} {_clip(_json(p.get('args')))}"


def _commit(p: Mapping[str, Any]) -> str:
    outcome = p.get("outcome")
    cs = p.get("changeset")
    if outcome == "failed":
        error = p.get("error") or {}
        return f"commit of changeset {cs} failed, nothing applied: {error.get('code')}"
    conflicts, refused = len(p.get("conflicts") or []), len(p.get("refused") or [])
    return (
        f"commit of changeset {cs}: {outcome}; applied {p.get('applied_total')}, "
        f"conflicts {conflicts}, refused {refused} (commit {p.get('commit')})"
    )


def _short(digest: object) -> str:
    if not isinstance(digest, str) or not digest:
        return "-"
    prefix, _, rest = digest.rpartition(":")
    return f"{prefix}:{rest[:12]}" if prefix else digest[:12]


def _text(value: object) -> str:
    if isinstance(value, dict) and "sha256" in value:  # a compacted long string
        return f"{value.get('head', '')}... ({value.get('chars')} chars)"
    return str(value)


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True) if value is not None else ""


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _WIDTH else text[: _WIDTH - 3] + "..."


_SUMMARIES: dict[EventKind, Callable[[Mapping[str, Any]], str]] = {
    EventKind.ACTION: _action,
    EventKind.PLAN: _plan,
    EventKind.STEP: _step,
    EventKind.CHANGESET: _changeset,
    EventKind.APPROVAL: _approval,
    EventKind.COMMIT: _commit,
    EventKind.UNDO: _undo,
    EventKind.DISCARD: _discard,
    EventKind.FAILURE: _failure,
    EventKind.RECOVERY: _recovery,
}
