"""`ChangeRecord`: a reviewed `Change` plus what a commit needs to apply it safely.

`base` is what the lower view held at the path when the action ran (None = absent); a commit
applies the change only if the host still holds exactly that. `after` is what the commit writes
(None = delete); its mode is already stripped of setuid/setgid. Records are persisted in
the changeset's meta file, so they carry their own strict JSON form.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sandbox.changes.nodes import Node, corrupt, optional_node_from_json, optional_node_to_json
from sandbox.changes.paths import is_valid_relpath
from sandbox.types import Change, ChangeKind, EntryType


@dataclass(frozen=True)
class ChangeRecord:
    change: Change
    base: Node | None
    after: Node | None

    @property
    def path(self) -> str:
        return self.change.path

    @property
    def refused(self) -> str | None:
        return self.change.refused

    def removes_dir(self) -> bool:
        return _is_dir(self.base) and not _is_dir(self.after)

    def creates_dir(self) -> bool:
        return _is_dir(self.after) and not _is_dir(self.base)

    def to_json(self) -> dict[str, Any]:
        c = self.change
        return {
            "path": c.path,
            "kind": str(c.kind),
            "old_type": None if c.old_type is None else str(c.old_type),
            "new_type": None if c.new_type is None else str(c.new_type),
            "old_mode": c.old_mode,
            "new_mode": c.new_mode,
            "old_target": c.old_target,
            "new_target": c.new_target,
            "old_size": c.old_size,
            "new_size": c.new_size,
            "binary": c.binary,
            "diff": c.diff,
            "refused": c.refused,
            "notes": list(c.notes),
            "risks": list(c.risks),
            "base": optional_node_to_json(self.base),
            "after": optional_node_to_json(self.after),
        }

    @classmethod
    def from_json(cls, data: object, source: str) -> ChangeRecord:
        if not isinstance(data, dict):
            raise corrupt(source, "a change is not an object")
        try:
            change = Change(
                path=_str(data["path"]),
                kind=ChangeKind(data["kind"]),
                old_type=_opt_type(data["old_type"]),
                new_type=_opt_type(data["new_type"]),
                old_mode=_opt(data["old_mode"], int),
                new_mode=_opt(data["new_mode"], int),
                old_target=_opt(data["old_target"], str),
                new_target=_opt(data["new_target"], str),
                old_size=_opt(data["old_size"], int),
                new_size=_opt(data["new_size"], int),
                binary=bool(data["binary"]),
                diff=_opt(data["diff"], str),
                refused=_opt(data["refused"], str),
                notes=tuple(_str(n) for n in data["notes"]),
                risks=tuple(_str(r) for r in data.get("risks", ())),  # absent in files written before risks
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise corrupt(source, f"bad change {data.get('path')!r:.80}") from exc
        # A path that could reach the host must be one sbx would have produced itself.
        if change.refused is None and not is_valid_relpath(change.path):
            raise corrupt(source, f"invalid path {change.path!r:.80}")
        base = optional_node_from_json(data.get("base"), source)
        after = optional_node_from_json(data.get("after"), source)
        return cls(change, base, after)


def _is_dir(node: Node | None) -> bool:
    return node is not None and node.type == EntryType.DIR


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError("expected a string")
    return value


def _opt_type(value: object) -> EntryType | None:
    return None if value is None else EntryType(_str(value))


def _opt(value: object, kind: type) -> Any:
    if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
        raise TypeError(f"expected {kind.__name__}")
    return value
