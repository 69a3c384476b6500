"""sbx's own state files: written atomically and durably, read strictly.

A state file is replaced as a whole (temporary sibling, fsync, rename, fsync of the directory),
so a reader sees the old or the new version, never half of one. Reading anything that is not
the JSON object sbx wrote is `state.corrupt`, naming the file, never a traceback.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from sandbox.changes import walk
from sandbox.changes.nodes import corrupt


def write_json(path: Path, data: dict[str, Any], *, durable: bool = True) -> None:
    """Replace `path` atomically; `durable`: on disk before this returns (fsync of the file, then
    of its folder). Not durable is for what a crash may lose: a cache, or a record that recovery
    rebuilds or drops (an empty changeset's)."""
    tmp = path.with_name(f".{path.name}.tmp")
    payload = json.dumps(data, separators=(",", ":"), sort_keys=True).encode()  # compact: C encoder
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    try:
        view = memoryview(payload)
        while view:
            view = view[os.write(fd, view) :]
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    if durable:
        fsync_dir(path.parent)


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise corrupt(str(path), f"cannot be read as JSON ({exc.__class__.__name__})") from exc
    if not isinstance(data, dict):
        raise corrupt(str(path), "not a JSON object")
    return data


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_tree(path: Path) -> None:
    """Delete a folder of sbx's own (a layer, a backup); never follows links inside it, and no
    depth a tool can build stops it (see walk.py)."""
    walk.remove_tree(path)


def field(data: dict[str, Any], name: str, kind: type | tuple[type, ...], source: Path) -> Any:
    """data[name], which must be an instance of `kind` (a bool never passes for a number)."""
    value = data.get(name)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise corrupt(str(source), f"field {name!r} is missing or not a {names}")
    return value


def opt_field(data: dict[str, Any], name: str, kind: type | tuple[type, ...], source: Path) -> Any:
    if data.get(name) is None:
        return None
    return field(data, name, kind, source)


def str_list(data: dict[str, Any], name: str, source: Path) -> tuple[str, ...]:
    value = data.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise corrupt(str(source), f"field {name!r} is not a list of strings")
    return tuple(value)
