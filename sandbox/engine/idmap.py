"""ID-mapped bind mounts (Linux >= 5.12): the host workspace as a container in a private user
namespace sees it, without changing one owner on disk.

A rootful container with a user namespace maps its uids 0..N-1 to host uids BASE..BASE+N-1, so the
host's files (owned by 0, 1000, ...) would appear as `nobody` and nothing in the workspace would be
writable. The workspace is therefore bind-mounted with an ID mapping (on-disk uid u appears as
BASE+u) and used as the overlay's lowest layer: the container's root then owns what root owns.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from sandbox.errors import EngineError

SYS_OPEN_TREE = 428  # the same number on every architecture (unified syscall table)
SYS_MOVE_MOUNT = 429
SYS_MOUNT_SETATTR = 442
OPEN_TREE_CLONE = 1
AT_FDCWD = -100
AT_EMPTY_PATH = 0x1000
MOVE_MOUNT_F_EMPTY_PATH = 0x4
MOUNT_ATTR_IDMAP = 0x00100000
NAMESPACE_WAIT_S = 5.0

_libc = ctypes.CDLL(None, use_errno=True)


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


@dataclass(frozen=True)
class IdMap:
    """Container ids 0..size-1 are host ids uid/gid..+size-1."""

    uid: int
    gid: int
    size: int

    def describe(self) -> str:
        return f"0:{self.uid}:{self.size}"


def _failed(what: str, target: Path) -> EngineError:
    return EngineError(f"cannot make the ID-mapped workspace mount on {target}: {what}: "
                       f"{os.strerror(ctypes.get_errno())}", code="engine.overlay_failed",
                       hint="`sbx doctor` checks the kernel (ID-mapped mounts need Linux >= 5.12)")


def _namespace_fd(ids: IdMap) -> int:
    """A user namespace with the mapping, held by a short-lived child: its fd outlives the child."""
    child = subprocess.Popen(["unshare", "--user", "--", "sleep", "60"], stdin=subprocess.DEVNULL)
    try:
        own = os.readlink("/proc/self/ns/user")
        deadline = time.monotonic() + NAMESPACE_WAIT_S
        while os.readlink(f"/proc/{child.pid}/ns/user") == own:  # until unshare has made it
            if time.monotonic() > deadline or child.poll() is not None:
                raise EngineError("cannot make a user namespace for the ID-mapped mount (unshare)",
                                  code="engine.overlay_failed")
            time.sleep(0.001)
        Path(f"/proc/{child.pid}/uid_map").write_text(f"0 {ids.uid} {ids.size}\n")
        Path(f"/proc/{child.pid}/setgroups").write_text("deny")
        Path(f"/proc/{child.pid}/gid_map").write_text(f"0 {ids.gid} {ids.size}\n")
        return os.open(f"/proc/{child.pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    finally:
        child.kill()
        child.wait()


def bind(source: Path, target: Path, ids: IdMap) -> None:
    """Bind-mount `source` on `target` (an empty folder) with on-disk ids shifted by `ids`."""
    userns = _namespace_fd(ids)
    try:
        tree = _libc.syscall(SYS_OPEN_TREE, AT_FDCWD, os.fsencode(source), OPEN_TREE_CLONE | os.O_CLOEXEC)
        if tree < 0:
            raise _failed("open_tree", target)
        try:
            attr = _MountAttr(MOUNT_ATTR_IDMAP, 0, 0, userns)
            if _libc.syscall(SYS_MOUNT_SETATTR, tree, b"", AT_EMPTY_PATH, ctypes.byref(attr), ctypes.sizeof(attr)):
                raise _failed("mount_setattr", target)
            if _libc.syscall(SYS_MOVE_MOUNT, tree, b"", AT_FDCWD, os.fsencode(target), MOVE_MOUNT_F_EMPTY_PATH):
                raise _failed("move_mount", target)
        finally:
            os.close(tree)
    finally:
        with contextlib.suppress(OSError):
            os.close(userns)
