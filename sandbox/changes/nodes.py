"""`Node`: what one path holds, as far as sbx compares, applies and restores it.

The same shape describes the lower view before an action (the base a commit must still find on
the host), the state a commit will write, and the state a backup restores. Comparison
(`Node.matches`) looks only at what a user would call the content: type, permission bits, file
digest, link target, and for a directory about to be removed the names inside it. Ownership and
mtime ride along for restoring, never for conflict detection.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass, replace
from typing import Any

from sandbox.errors import StateError
from sandbox.types import EntryType

SAFE_PERMISSION_BITS = 0o1777  # what a commit may set: no setuid or setgid; a sticky folder stays sticky


@dataclass(frozen=True)
class Node:
    type: EntryType
    mode: int = 0  # permission bits; 0 for symlinks, whose bits mean nothing on Linux
    sha256: str | None = None  # regular files
    size: int | None = None  # regular files
    target: str | None = None  # symlinks
    listing: str | None = None  # directories about to be removed: digest of their child names
    special: str | None = None  # OTHER: "device node", "fifo" or "socket"
    uid: int | None = None
    gid: int | None = None
    mtime_ns: int | None = None

    def matches(self, actual: Node) -> bool:
        """Does `actual` (read from the host) hold what this expected node describes?"""
        if self.type != actual.type or self.special != actual.special:
            return False
        if self.type != EntryType.SYMLINK and self.mode != actual.mode:
            return False
        if self.type == EntryType.FILE:
            return self.sha256 == actual.sha256
        if self.type == EntryType.SYMLINK:
            return self.target == actual.target
        if self.type == EntryType.DIR and self.listing is not None:
            return self.listing == actual.listing
        return True

    def without_owner(self) -> Node:
        return replace(self, uid=None, gid=None, mtime_ns=None)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": str(self.type), "mode": self.mode}
        for name in ("sha256", "size", "target", "listing", "special", "uid", "gid", "mtime_ns"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out

    @classmethod
    def from_json(cls, data: object, source: str) -> Node:
        """Parse a node from a state file; anything malformed is `state.corrupt` naming `source`."""
        if not isinstance(data, dict):
            raise corrupt(source, "a node is not an object")
        try:
            node = cls(
                type=EntryType(data["type"]),
                mode=_int(data["mode"]),
                sha256=_opt_str(data.get("sha256")),
                size=_opt_int(data.get("size")),
                target=_opt_str(data.get("target")),
                listing=_opt_str(data.get("listing")),
                special=_opt_str(data.get("special")),
                uid=_opt_int(data.get("uid")),
                gid=_opt_int(data.get("gid")),
                mtime_ns=_opt_int(data.get("mtime_ns")),
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise corrupt(source, f"bad node {data!r:.80}") from exc
        if node.type == EntryType.FILE and node.sha256 is None:
            raise corrupt(source, "a file node has no sha256")
        if node.type == EntryType.SYMLINK and node.target is None:
            raise corrupt(source, "a symlink node has no target")
        return node


def optional_node_to_json(node: Node | None) -> dict[str, Any] | None:
    return None if node is None else node.to_json()


def optional_node_from_json(data: object, source: str) -> Node | None:
    return None if data is None else Node.from_json(data, source)


def entry_type_of(st_mode: int) -> EntryType:
    if stat.S_ISREG(st_mode):
        return EntryType.FILE
    if stat.S_ISDIR(st_mode):
        return EntryType.DIR
    if stat.S_ISLNK(st_mode):
        return EntryType.SYMLINK
    return EntryType.OTHER


def special_kind(st_mode: int) -> str | None:
    """Why an entry of this type can never be committed, or None for files, dirs and links."""
    if stat.S_ISCHR(st_mode) or stat.S_ISBLK(st_mode):
        return "device node"
    if stat.S_ISFIFO(st_mode):
        return "fifo"
    if stat.S_ISSOCK(st_mode):
        return "socket"
    return None


def corrupt(source: str, detail: str) -> StateError:
    return StateError(
        f"sbx state file {source} is corrupt: {detail}",
        code="state.corrupt",
        hint=f"move {source} aside (sbx will then ignore it) and retry",
    )


def _int(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"expected an integer, got {value!r:.40}")
    return value


def _opt_int(value: object) -> int | None:
    return None if value is None else _int(value)


def _opt_str(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {value!r:.40}")
    return value
