"""The write-ahead journal of one commit (an apply or an undo).

It lives in `commits/<commit_id>/journal.json`, beside `backup/` (copies of every host file the
commit replaces or deletes). It is written, with its backups, before the host is touched, and
lists for every path what was there (`before`, with owner and mtime), what will be there
(`after`), where the new content comes from, and the temporary name used beside the target.
The steps are written once; each later state goes to the small `state.json` beside it, which
overrides the state recorded in journal.json.

States, each written durably before the next step:
  prepared   the host may be half-changed: recovery rolls back to every `before`
  done       the host holds every `after`: recovery only finishes sbx's bookkeeping
  committed  bookkeeping finished; for an apply, the record `undo` restores from
  undone     an apply whose effect an undo has reversed
  rolled_back  the host is back to `before`: the commit folder is garbage
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sandbox.changes.nodes import Node, corrupt, optional_node_from_json, optional_node_to_json
from sandbox.changes.paths import is_valid_relpath
from sandbox.changes.statefiles import field, opt_field, read_json, str_list, write_json
from sandbox.errors import SbxError

JOURNAL_VERSION = 1
PREPARED = "prepared"
DONE = "done"
COMMITTED = "committed"
UNDONE = "undone"
ROLLED_BACK = "rolled_back"
_STATES = (PREPARED, DONE, COMMITTED, UNDONE, ROLLED_BACK)
APPLY = "apply"
UNDO = "undo"


@dataclass(frozen=True)
class JournalStep:
    path: str
    before: Node | None  # what the host held, restored on rollback or undo
    after: Node | None  # what the commit writes; uid/gid set only where sbx chowns
    backup: str | None  # name under backup/ of the copy of a file `before`
    source: str | None  # where a file `after`'s content is read from
    temp: str  # the temporary sibling name this step writes through

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "before": optional_node_to_json(self.before),
            "after": optional_node_to_json(self.after),
            "backup": self.backup,
            "source": self.source,
            "temp": self.temp,
        }


@dataclass(frozen=True)
class Journal:
    commit_id: str
    kind: str  # APPLY or UNDO
    changeset_id: str
    seq: int  # orders commits: undo takes the newest committed apply
    created_at: float
    state: str
    steps: tuple[JournalStep, ...]
    undoes: str | None = None  # for an undo: the apply it reverses
    conflicts: tuple[str, ...] = ()
    refused: tuple[str, ...] = ()

    @property
    def applied(self) -> tuple[str, ...]:
        return tuple(s.path for s in self.steps)


    def to_json(self) -> dict[str, Any]:
        return {
            "version": JOURNAL_VERSION,
            "commit_id": self.commit_id,
            "kind": self.kind,
            "changeset_id": self.changeset_id,
            "seq": self.seq,
            "created_at": self.created_at,
            "state": self.state,
            "undoes": self.undoes,
            "conflicts": list(self.conflicts),
            "refused": list(self.refused),
            "steps": [s.to_json() for s in self.steps],
        }


def journal_path(commit_dir: Path) -> Path:
    return commit_dir / "journal.json"


def save(commit_dir: Path, journal: Journal) -> None:
    write_json(journal_path(commit_dir), journal.to_json())


def set_state(commit_dir: Path, journal: Journal, state: str) -> Journal:
    """Move the journal to `state`, durably, without rewriting its steps."""
    write_json(commit_dir / "state.json", {"commit_id": journal.commit_id, "state": state})
    return replace(journal, state=state)


def settled(commit_dir: Path) -> bool:
    """Whether the commit reached a final state (committed or undone), from its small state file
    alone: a commit that is not settled, or cannot be read, is for `recover` to look at."""
    try:
        return read_json(commit_dir / "state.json").get("state") in (COMMITTED, UNDONE)
    except (OSError, SbxError):
        return False


def load(commit_dir: Path) -> Journal:
    source = journal_path(commit_dir)
    data = read_json(source)
    if data.get("version") != JOURNAL_VERSION:
        raise corrupt(str(source), f"unknown journal version {data.get('version')!r}")
    state = field(data, "state", str, source)
    state_file = commit_dir / "state.json"
    if state_file.exists():
        state = field(read_json(state_file), "state", str, state_file)
    kind = field(data, "kind", str, source)
    if state not in _STATES or kind not in (APPLY, UNDO):
        raise corrupt(str(source), f"unknown state {state!r} or kind {kind!r}")
    raw_steps = field(data, "steps", list, source)
    return Journal(
        commit_id=field(data, "commit_id", str, source),
        kind=kind,
        changeset_id=field(data, "changeset_id", str, source),
        seq=field(data, "seq", int, source),
        created_at=float(field(data, "created_at", (int, float), source)),
        state=state,
        steps=tuple(_step_from_json(s, source) for s in raw_steps),
        undoes=opt_field(data, "undoes", str, source),
        conflicts=str_list(data, "conflicts", source),
        refused=str_list(data, "refused", source),
    )


def _step_from_json(data: object, source: Path) -> JournalStep:
    if not isinstance(data, dict):
        raise corrupt(str(source), "a step is not an object")
    path = field(data, "path", str, source)
    temp = field(data, "temp", str, source)
    # Paths and names from disk are used on the host: accept only what sbx itself writes.
    if not is_valid_relpath(path) or not temp.startswith(".sbx-") or "/" in temp:
        raise corrupt(str(source), f"invalid step path {path!r:.80}")
    backup = opt_field(data, "backup", str, source)
    if backup is not None and (not backup.isdigit()):
        raise corrupt(str(source), f"invalid backup name {backup!r:.40}")
    return JournalStep(
        path=path,
        before=optional_node_from_json(data.get("before"), str(source)),
        after=optional_node_from_json(data.get("after"), str(source)),
        backup=backup,
        source=opt_field(data, "source", str, source),
        temp=temp,
    )
