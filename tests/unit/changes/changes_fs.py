"""Helpers for the change-layer tests: build trees and overlay-shaped folders, snapshot them,
mount a real kernel overlay."""

from __future__ import annotations

import os
import stat
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

# A tree spec: name -> bytes (file 0644) | (bytes, mode) file | ("link", target) | dict (dir 0755)
# | ("dir", mode, dict).
Spec = Mapping[str, object]
Entry = tuple[str, int, bytes] | tuple[str, int] | tuple[str, str]


def build(root: Path, spec: Spec) -> None:
    root.mkdir(parents=True, exist_ok=True)
    dir_modes: list[tuple[Path, int]] = []
    _build(root, spec, dir_modes)
    for path, mode in reversed(dir_modes):  # read-only dirs get their mode once filled
        os.chmod(path, mode)


def _build(root: Path, spec: Spec, dir_modes: list[tuple[Path, int]]) -> None:
    for name, value in spec.items():
        path = root / name
        if isinstance(value, bytes):
            path.write_bytes(value)
            os.chmod(path, 0o644)
        elif isinstance(value, dict):
            path.mkdir()
            _build(path, value, dir_modes)
        elif isinstance(value, tuple) and value[0] == "link":
            os.symlink(value[1], path)
        elif isinstance(value, tuple) and value[0] == "dir":
            path.mkdir()
            _build(path, value[2], dir_modes)
            dir_modes.append((path, value[1]))
        elif isinstance(value, tuple) and isinstance(value[0], bytes):
            path.write_bytes(value[0])
            os.chmod(path, value[1])
        else:
            raise ValueError(f"bad spec for {name}: {value!r}")


def whiteout(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mknod(path, stat.S_IFCHR | 0o000, os.makedev(0, 0))


def opaque_dir(path: Path, namespace: str = "trusted") -> None:
    path.mkdir(parents=True, exist_ok=True)
    os.setxattr(path, f"{namespace}.overlay.opaque", b"y")


def exact_snapshot(root: Path) -> dict[str, tuple[object, ...]]:
    """snapshot() plus owners, and mtimes of files and links (directories' change with their
    contents, so they are left out)."""
    out: dict[str, tuple[object, ...]] = {}
    for rel, entry in snapshot(root).items():
        st = os.lstat(root / rel)
        mtime = None if entry[0] == "dir" else st.st_mtime_ns
        out[rel] = (*entry, st.st_uid, st.st_gid, mtime)
    return out


def snapshot(root: Path) -> dict[str, Entry]:
    """Everything under root as (type, mode, content) / (type, mode) / (type, target)."""
    out: dict[str, Entry] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            st = os.lstat(path)
            mode = stat.S_IMODE(st.st_mode)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.readlink(path))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", mode)
            elif stat.S_ISREG(st.st_mode):
                out[rel] = ("file", mode, Path(path).read_bytes())
            else:
                out[rel] = ("other", mode)
    return out


def kinds(changes: Sequence[object]) -> dict[str, str]:
    return {c.path: str(c.kind) for c in changes}  # type: ignore[attr-defined]


def fast_tempdir() -> tempfile.TemporaryDirectory[str]:
    """A temporary folder on tmpfs when there is one (much faster on a busy disk)."""
    shm = "/dev/shm"
    usable = os.path.isdir(shm) and os.access(shm, os.W_OK)
    return tempfile.TemporaryDirectory(prefix="sbx-changes-", dir=shm if usable else None)


def is_root() -> bool:
    return os.geteuid() == 0


@contextmanager
def overlay_mount(lowers: Sequence[Path], upper: Path, work: Path, mountpoint: Path) -> Iterator[Path]:
    """A real kernel overlay, mounted the way the engine does; always unmounted."""
    mountpoint.mkdir(parents=True, exist_ok=True)
    lowerdir = ":".join(str(p) for p in lowers)
    options = f"lowerdir={lowerdir},upperdir={upper},workdir={work},redirect_dir=off,index=off,metacopy=off"
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", options, str(mountpoint)], check=True)
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", str(mountpoint)], check=True)


def overlay_works(tmp: Path) -> bool:
    if not is_root():
        return False
    for name in ("l", "u", "w", "m"):
        (tmp / name).mkdir(parents=True, exist_ok=True)
    try:
        with overlay_mount([tmp / "l"], tmp / "u", tmp / "w", tmp / "m"):
            return True
    except (subprocess.CalledProcessError, OSError):
        return False
