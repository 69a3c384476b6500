"""What the store keeps about one changeset.

`meta.json` is small and read often (listing, stacking, id lookup); `changes.json` holds the
records (changes with their diffs, bases and targets) and is read only when a changeset's
content is needed. The meta file is the commit point: a changeset is PENDING once its meta says
so, and its changes file is always written first.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sandbox.changes.nodes import corrupt
from sandbox.changes.records import ChangeRecord
from sandbox.changes.statefiles import field, opt_field, read_json, str_list, write_json
from sandbox.types import Changeset, ChangesetStatus

META_VERSION = 1
OPEN = "open"  # a layer allocated for an action that has not finished yet
_STATUSES = (OPEN, *(s.value for s in ChangesetStatus))


@dataclass(frozen=True)
class Meta:
    id: str
    seq: int  # creation order within the workspace
    created_at: float
    source: str
    status: str  # OPEN or a ChangesetStatus value
    pid: int | None = None  # the process that owns an OPEN layer
    sha256: str = ""
    commit_id: str | None = None  # the last apply of this changeset
    applied: tuple[str, ...] = ()
    conflicts: tuple[str, ...] = ()
    refused: tuple[str, ...] = ()
    undone: bool = False  # its last apply was undone (it is pending again)

    def with_status(self, status: ChangesetStatus | str, **changes: Any) -> Meta:
        return replace(self, status=str(status), **changes)

    def changeset(self, workspace: str, records: tuple[ChangeRecord, ...]) -> Changeset:
        return Changeset(
            id=self.id,
            workspace=workspace,
            status=ChangesetStatus(self.status),
            sha256=self.sha256,
            created_at=self.created_at,
            changes=tuple(r.change for r in records),
            source=self.source,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "version": META_VERSION,
            "id": self.id,
            "seq": self.seq,
            "created_at": self.created_at,
            "source": self.source,
            "status": self.status,
            "pid": self.pid,
            "sha256": self.sha256,
            "commit_id": self.commit_id,
            "applied": list(self.applied),
            "conflicts": list(self.conflicts),
            "refused": list(self.refused),
            "undone": self.undone,
        }


def save_meta(changeset_dir: Path, meta: Meta, *, durable: bool = True) -> None:
    write_json(changeset_dir / "meta.json", meta.to_json(), durable=durable)


def load_meta(changeset_dir: Path) -> Meta:
    source = changeset_dir / "meta.json"
    data = read_json(source)
    if data.get("version") != META_VERSION:
        raise corrupt(str(source), f"unknown meta version {data.get('version')!r}")
    status = field(data, "status", str, source)
    meta_id = field(data, "id", str, source)
    if status not in _STATUSES or meta_id != changeset_dir.name:
        raise corrupt(str(source), f"bad status {status!r} or id {meta_id!r}")
    return Meta(
        id=meta_id,
        seq=field(data, "seq", int, source),
        created_at=float(field(data, "created_at", (int, float), source)),
        source=field(data, "source", str, source),
        status=status,
        pid=opt_field(data, "pid", int, source),
        sha256=field(data, "sha256", str, source),
        commit_id=opt_field(data, "commit_id", str, source),
        applied=str_list(data, "applied", source),
        conflicts=str_list(data, "conflicts", source),
        refused=str_list(data, "refused", source),
        undone=bool(data.get("undone", False)),
    )


def save_records(changeset_dir: Path, records: list[ChangeRecord], *, durable: bool = True) -> None:
    write_json(changeset_dir / "changes.json", {"version": META_VERSION, "changes": [r.to_json() for r in records]},
               durable=durable)


def load_records(changeset_dir: Path) -> tuple[ChangeRecord, ...]:
    source = changeset_dir / "changes.json"
    data = read_json(source)
    changes = field(data, "changes", list, source)
    return tuple(ChangeRecord.from_json(c, str(source)) for c in changes)
