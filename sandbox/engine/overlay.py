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
import stat
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sandbox.engine.spec import WorkspaceOverlay
from sandbox.errors import EngineError
from sandbox.procs import pid_alive

MNT_DETACH = 2
MOUNT_DATA_MAX = 4096  # mount(2) copies at most one page of options
MS_NOSUID = 2
MS_NODEV = 4
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


@dataclass(frozen=True)
class Mounted:
    merged: Path
    scratch: Path | None  # the size-capped tmpfs the change layer is written to, if capped

    def full(self) -> bool:
        """True when the change layer reached its cap (less than 1 MiB left)."""
        if self.scratch is None:
            return False
        stats = os.statvfs(self.scratch)
        return stats.f_bavail * stats.f_frsize < (1 << 20)


def _capped_layer(overlay: WorkspaceOverlay, run_dir: Path, cap_bytes: int) -> tuple[Path, Path, Path]:
    """A tmpfs of `cap_bytes` holding this action's upper and work dirs: a write past the cap gets
    ENOSPC in the container, and the host's disk never sees more than the cap."""
    scratch = run_dir / "layer"
    scratch.mkdir()
    _mount("tmpfs", str(scratch), "tmpfs", MS_NOSUID | MS_NODEV, f"size={cap_bytes},mode=0700")
    upper, work = scratch / "upper", scratch / "work"
    upper.mkdir()
    work.mkdir()
    os.chmod(upper, stat.S_IMODE(os.stat(overlay.upper).st_mode))
    return scratch, upper, work


def _keep_layer(upper: Path, destination: Path) -> None:
    """Copy the capped layer to sbx's state: whiteouts (char devices), opaque xattrs, modes, links."""
    result = subprocess.run(["cp", "-a", "--", f"{upper}/.", str(destination)], capture_output=True, text=True,
                            check=False)
    if result.returncode != 0:
        raise EngineError(f"cannot keep the change layer: {result.stderr.strip()}", code="engine.overlay_failed")


@contextlib.contextmanager
def mounted(overlay: WorkspaceOverlay, run_dir: Path, *, cap_bytes: int | None = None) -> Iterator[Mounted]:
    """Mount the overlay under `run_dir/merged` for the duration of the block; always unmounts.
    With `cap_bytes`, the change layer is written to a capped tmpfs and copied to `overlay.upper`
    when the block ends."""
    run_dir.mkdir(parents=True, exist_ok=False)
    (run_dir / "owner.pid").write_text(str(os.getpid()))
    merged = run_dir / "merged"
    merged.mkdir()
    scratch = None
    try:
        upper, work = overlay.upper, overlay.work
        if cap_bytes is not None:
            scratch, upper, work = _capped_layer(overlay, run_dir, cap_bytes)
        lowerdir = _lowerdir(run_dir, overlay.lowers)
        data = f"lowerdir={lowerdir},upperdir={upper},workdir={work},{_OPTIONS}"
        if len(data) >= MOUNT_DATA_MAX:
            raise EngineError(
                f"too many pending changesets stacked on this workspace ({len(overlay.lowers) - 1})",
                code="engine.too_many_layers",
                hint="apply or discard some pending changesets (`sbx list`)",
            )
        _mount("overlay", str(merged), "overlay", 0, data)
        try:
            yield Mounted(merged, scratch)
        finally:
            _umount(str(merged))
            if scratch is not None:
                _keep_layer(upper, overlay.upper)
    finally:
        if scratch is not None:
            _umount(str(scratch))
        shutil.rmtree(run_dir, ignore_errors=True)



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
        if pid and pid_alive(pid):
            continue
        if not pid and _younger_than(run_dir, 60.0):  # being created right now by another sbx
            continue
        for mount_point in (run_dir / "merged", run_dir / "layer"):
            if mount_point.exists():
                _umount(str(mount_point))
        shutil.rmtree(run_dir, ignore_errors=True)
        swept.append(run_dir)
    return swept
