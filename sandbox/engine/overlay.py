"""The workspace overlay, mounted on the host and bind-mounted into the container.

sbx mounts the overlay itself rather than leaving it to the engine, because it needs several lower
layers (pending changesets stack above the host folder) and full control of the mount options:
redirect_dir, index and metacopy are off so that the upper directory is a self-contained record of
the effect (no metadata-only copies, no redirects to lower files).

Each mount lives in a run folder with the owner's pid; `sweep_stale` removes the mounts of owners
that died (kill -9) so nothing is left behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

from sandbox.engine.spec import WorkspaceOverlay
from sandbox.errors import EngineError

MNT_DETACH = 2
_OPTIONS = "redirect_dir=off,index=off,metacopy=off,xino=off"
_FORBIDDEN = frozenset(",:\\\n")

_libc = ctypes.CDLL(None, use_errno=True)


def _mount(source: str, target: str, fstype: str, flags: int, data: str) -> None:
    rc = _libc.mount(source.encode(), target.encode(), fstype.encode(), ctypes.c_ulong(flags), data.encode())
    if rc != 0:
        err = ctypes.get_errno()
        raise EngineError(
            f"cannot mount the workspace overlay on {target}: {os.strerror(err)}",
            code="engine.overlay_failed",
            hint="sbx needs root and a kernel with overlayfs; `sbx doctor` checks both",
        )


def _umount(target: str) -> None:
    if _libc.umount2(target.encode(), 0) != 0:
        err = ctypes.get_errno()
        if err in (errno.EINVAL, errno.ENOENT):  # not mounted (any more)
            return
        # Busy: a process still holds it. Detach so the path frees now; the kernel finishes later.
        if _libc.umount2(target.encode(), MNT_DETACH) != 0 and ctypes.get_errno() not in (errno.EINVAL, errno.ENOENT):
            reason = os.strerror(ctypes.get_errno())
            raise EngineError(f"cannot unmount {target}: {reason}", code="engine.overlay_failed")


def _lowerdir(run_dir: Path, lowers: tuple[Path, ...]) -> str:
    """Mount options cannot carry ',' or ':' in a path; the host workspace may have them, so each
    lower is reached through a symlink in the run folder, which the kernel resolves at mount time."""
    parts = []
    for index, lower in enumerate(lowers):
        link = run_dir / f"l{index}"
        os.symlink(lower, link)
        parts.append(str(link))
    if any(ch in _FORBIDDEN for part in parts for ch in part):
        raise EngineError(f"sbx's runtime folder {run_dir} contains ',' or ':'", code="engine.overlay_failed",
                          hint="set SBX_RUNTIME_DIR to a plain path")
    return ":".join(parts)


@contextlib.contextmanager
def mounted(overlay: WorkspaceOverlay, run_dir: Path) -> Iterator[Path]:
    """Mount the overlay under `run_dir/merged` for the duration of the block; always unmounts."""
    run_dir.mkdir(parents=True, exist_ok=False)
    (run_dir / "owner.pid").write_text(str(os.getpid()))
    merged = run_dir / "merged"
    merged.mkdir()
    try:
        lowerdir = _lowerdir(run_dir, overlay.lowers)
        data = f"lowerdir={lowerdir},upperdir={overlay.upper},workdir={overlay.work},{_OPTIONS}"
        _mount("overlay", str(merged), "overlay", 0, data)
        try:
            yield merged
        finally:
            _umount(str(merged))
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _younger_than(path: Path, seconds: float) -> bool:
    try:
        return time.time() - path.lstat().st_mtime < seconds
    except OSError:
        return False


def sweep_stale(runs_root: Path) -> list[Path]:
    """Unmount and delete the run folders whose owner process is gone."""
    swept: list[Path] = []
    if not runs_root.is_dir():
        return swept
    for run_dir in runs_root.iterdir():
        try:
            pid = int((run_dir / "owner.pid").read_text())
        except (OSError, ValueError):
            pid = 0
        if pid and _alive(pid):
            continue
        if not pid and _younger_than(run_dir, 60.0):  # being created right now by another sbx
            continue
        merged = run_dir / "merged"
        if merged.exists():
            _umount(str(merged))
        shutil.rmtree(run_dir, ignore_errors=True)
        swept.append(run_dir)
    return swept
