"""Checksums of model files: one file against the catalog's pin, a folder's files and its digest."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sandbox.errors import ModelError

CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify_file(path: Path, *, size: int, sha256: str, what: str) -> None:
    """Refuse a file whose size or sha256 differs from the catalog's (size first: it is free)."""
    actual_size = path.stat().st_size
    if actual_size != size:
        raise ModelError(
            f"{what}: {path} is {actual_size} bytes, the catalog says {size}",
            code="model.checksum_mismatch",
            hint="the file is incomplete or not the catalogued one; delete it and pull again",
        )
    actual = sha256_file(path)
    if actual != sha256:
        raise ModelError(
            f"{what}: sha256 of {path} is {actual}, the catalog says {sha256}",
            code="model.checksum_mismatch",
            hint="refusing to use it: the file was altered or corrupted",
        )


def tree_files(root: Path) -> list[dict[str, Any]]:
    """Every regular file under `root`: relative POSIX path, size, sha256 (sorted by path)."""
    entries = []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
        entries.append(
            {"path": path.relative_to(root).as_posix(), "size": path.stat().st_size, "sha256": sha256_file(path)}
        )
    return entries


def tree_digest(files: Sequence[Mapping[str, Any]]) -> str:
    """One digest for a folder: sha256 over `<sha256>  <path>\\n` lines, as `sha256sum` prints them."""
    lines = "".join(f"{entry['sha256']}  {entry['path']}\n" for entry in sorted(files, key=lambda e: e["path"]))
    return "sha256:" + hashlib.sha256(lines.encode()).hexdigest()


def dir_size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())
