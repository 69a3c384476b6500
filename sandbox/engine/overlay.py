"""The workspace overlay, mounted by sbx and bind-mounted into the container.

sbx mounts the overlay itself rather than leaving it to the engine, because it needs several lower
layers (pending changesets stack above the host folder) and full control of the mount options:
redirects, index and metacopy are off so that the upper directory is a self-contained record of
the effect (no metadata-only copies, no redirects to lower files).

Where the mount is made depends on who runs sbx. As root, in the host's own mount namespace
(`HostMounter`, plain mount(2)). Rootless, an unprivileged user cannot mount on the host, but is
root of Podman's user namespace: the mounts are made inside Podman's user and mount namespaces
(`NamespaceMounter`, through nsenter), where the containers Podman creates can see them. The kernel
(>= 5.11) allows overlay and tmpfs there; overlay then keeps its whiteouts as 0/0 character devices
and its opaque marks as `user.overlay.opaque` (the `userxattr` option) instead of `trusted.*`.

Each mount lives in a run folder with the owner's pid; `sweep_stale` removes the mounts of owners
that died (kill -9) so nothing is left behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import logging
import os
import re
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from sandbox.engine import idmap
from sandbox.engine.idmap import IdMap
from sandbox.engine.spec import WorkspaceOverlay
from sandbox.errors import EngineError
from sandbox.procs import pid_alive
from sandbox.safedirs import remove_tree

log = logging.getLogger(__name__)

MNT_DETACH = 2
MOUNT_DATA_MAX = 4096  # mount(2) copies at most one page of options
MS_NOSUID = 2
MS_NODEV = 4
_HOST_OPTIONS = "redirect_dir=off,index=off,metacopy=off,xino=off"
# In a user namespace overlay takes its xattrs from the user.* namespace and, with them, refuses
# to follow redirects at all: nofollow is the only redirect mode it accepts.
_USERNS_OPTIONS = "userxattr,redirect_dir=nofollow,index=off,metacopy=off,xino=off"
_FORBIDDEN = frozenset(",:\\\n")
SHIFTED = "host"  # the ID-mapped bind mount of the host folder, in a run folder
NSENTER_TIMEOUT_S = 60.0

_libc = ctypes.CDLL(None, use_errno=True)


def _overlay_failed(target: str, reason: str) -> EngineError:
    return EngineError(
        f"cannot mount the workspace overlay on {target}: {reason}",
        code="engine.overlay_failed",
        hint="`sbx doctor` checks the kernel's overlayfs and, rootless, the user namespace",
    )


class Mounter(Protocol):
    """Where the overlay and its capped change layer are mounted."""

    options: str
    # Rootful with a private user namespace: the container's id map, through which the host
    # folder is seen (an ID-mapped bind mount); None where the host folder is used as it is.
    ids: IdMap | None

    def capped_layer(self, scratch: Path, cap_bytes: int, upper_mode: int, max_inodes: int = 0) -> None:
        """Mount a tmpfs of `cap_bytes` (and `max_inodes` inodes, if not 0) on `scratch` and make
        `upper` and `work` in it."""

    def overlay(self, merged: Path, data: str) -> None: ...

    def unmount(self, target: Path) -> None: ...

    def keep(self, upper: Path, destination: Path) -> None:
        """Copy a change layer to sbx's state: whiteouts, opaque xattrs, modes, links."""

    def seen_from_here(self, path: Path) -> Path:
        """The same path as sbx's own process reaches it (mounts in another namespace included)."""


def _cp_layer(prefix: list[str], upper: Path, destination: Path, *, ownership: bool) -> None:
    argv = [*prefix, "cp", "-a", *(() if ownership else ("--no-preserve=ownership",)), "--",
            f"{upper}/.", str(destination)]
    result = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=NSENTER_TIMEOUT_S * 10)
    if result.returncode != 0:
        raise EngineError(f"cannot keep the change layer: {result.stderr.strip()}", code="engine.overlay_failed")


class HostMounter:
    """Root in the host's mount namespace: mount(2) directly."""

    options = _HOST_OPTIONS

    def __init__(self, ids: IdMap | None = None) -> None:
        self.ids = ids

    @staticmethod
    def _mount(source: str, target: Path, fstype: str, flags: int, data: str) -> None:
        rc = _libc.mount(source.encode(), str(target).encode(), fstype.encode(), ctypes.c_ulong(flags), data.encode())
        if rc != 0:
            raise _overlay_failed(str(target), os.strerror(ctypes.get_errno()))

    def capped_layer(self, scratch: Path, cap_bytes: int, upper_mode: int, max_inodes: int = 0) -> None:
        self._mount("tmpfs", scratch, "tmpfs", MS_NOSUID | MS_NODEV, f"{_tmpfs_caps(cap_bytes, max_inodes)},mode=0700")
        (scratch / "upper").mkdir()
        (scratch / "work").mkdir()
        os.chmod(scratch / "upper", upper_mode)

    def overlay(self, merged: Path, data: str) -> None:
        self._mount("overlay", merged, "overlay", 0, data)

    def unmount(self, target: Path) -> None:
        path = str(target).encode()
        if _libc.umount2(path, 0) != 0:
            err = ctypes.get_errno()
            if err in (errno.EINVAL, errno.ENOENT):  # not mounted (any more)
                return
            # Busy: a process still holds it. Detach so the path frees now; the kernel finishes later.
            if _libc.umount2(path, MNT_DETACH) != 0 and ctypes.get_errno() not in (errno.EINVAL, errno.ENOENT):
                reason = os.strerror(ctypes.get_errno())
                raise EngineError(f"cannot unmount {target}: {reason}", code="engine.overlay_failed")

    def keep(self, upper: Path, destination: Path) -> None:
        _cp_layer([], upper, destination, ownership=True)

    def seen_from_here(self, path: Path) -> Path:
        return path


def _tmpfs_caps(cap_bytes: int, max_inodes: int) -> str:
    """tmpfs options for the layer's caps: inodes too when given (nr_inodes=0 would mean unlimited)."""
    return f"size={cap_bytes}" + (f",nr_inodes={max_inodes}" if max_inodes > 0 else "")


# Run inside Podman's namespaces by /bin/sh; paths come as positional arguments, never in the text.
_NS_LAYER = 'mount -t tmpfs -o "nosuid,nodev,$2,mode=0700" tmpfs "$1" && mkdir "$1/upper" "$1/work" ' \
            '&& chmod "$3" "$1/upper"'
_NS_OVERLAY = 'mount -t overlay -o "$2" overlay "$1"'
_NS_UNMOUNT = 'mountpoint -q "$1" || exit 0; umount "$1" 2>/dev/null || umount -l "$1"'


class NamespaceMounter:
    """Rootless: root of Podman's user namespace, inside its mount namespace (`ns_pid` is a process
    that lives in both, sbx's Podman service). Files the container's root makes are the user's on
    the host; a layer is kept without the container's other owners (subordinate ids the user could
    not remove again), which sbx never applies anyway."""

    options = _USERNS_OPTIONS
    ids: IdMap | None = None  # the user's own files are already the container root's in Podman's namespace

    def __init__(self, ns_pid: int) -> None:
        self.ns_pid = ns_pid

    def _prefix(self) -> list[str]:
        return ["nsenter", f"--target={self.ns_pid}", "--user", "--mount", "--preserve-credentials", "--"]

    def _sh(self, script: str, *args: str, what: str) -> None:
        try:
            result = subprocess.run([*self._prefix(), "sh", "-c", script, "sbx-mount", *args], capture_output=True,
                                    text=True, check=False, timeout=NSENTER_TIMEOUT_S)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise _overlay_failed(args[0], f"{what}: {exc}") from None
        if result.returncode != 0:
            raise _overlay_failed(args[0], f"{what}: {result.stderr.strip() or 'exit ' + str(result.returncode)}")

    def capped_layer(self, scratch: Path, cap_bytes: int, upper_mode: int, max_inodes: int = 0) -> None:
        self._sh(_NS_LAYER, str(scratch), _tmpfs_caps(cap_bytes, max_inodes), f"{upper_mode:o}",
                 what="the change layer's tmpfs")

    def overlay(self, merged: Path, data: str) -> None:
        self._sh(_NS_OVERLAY, str(merged), data, what="overlay in Podman's user namespace")

    def unmount(self, target: Path) -> None:
        self._sh(_NS_UNMOUNT, str(target), what="unmount")

    def keep(self, upper: Path, destination: Path) -> None:
        _cp_layer(self._prefix(), upper, destination, ownership=False)

    def seen_from_here(self, path: Path) -> Path:
        return Path(f"/proc/{self.ns_pid}/root") / path.relative_to("/")


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


# What overlayfs itself sets on the upper root of every mount (Linux >= 6.6: the layers' uuid);
# a tool cannot set a trusted.* attribute, and a user.overlay.* one only through a rootless mount,
# where overlayfs treats it as its own.
_OVERLAY_BOOKKEEPING = {"trusted.overlay.uuid", "user.overlay.uuid"}


class Mounted:
    """A mounted overlay. `release` ends the container's view and keeps its change layer; what
    could not be kept whole (a path longer than PATH_MAX, say) is in `unkept`: the kept layer is
    then not the effect, and must not be reviewed."""

    def __init__(self, merged: Path, scratch: Path | None, upper: Path, mounter: Mounter, mode: int) -> None:
        self.merged, self.scratch, self.upper, self.mounter = merged, scratch, upper, mounter
        self.mode = mode  # the change layer root's mode as made
        self.unkept: list[str] = []
        self.released = False
        self.saved = False
        self.keep = True  # False: the view's changes are dropped when it ends (a container never used)

    def full(self) -> bool:
        """True when the change layer reached its cap (less than 1 MiB left)."""
        if self.scratch is None:
            return False
        stats = os.statvfs(self.mounter.seen_from_here(self.scratch))
        return stats.f_bavail * stats.f_frsize < (1 << 20)

    def _empty(self) -> bool:
        """The change layer holds nothing (a read-only call): no entry, and its root as it was
        made (the tool changed neither its mode nor its extended attributes). Nothing to copy out."""
        root = self.mounter.seen_from_here(self.upper)
        try:
            with os.scandir(root) as entries:
                if next(entries, None) is not None:
                    return False
            return (stat.S_IMODE(os.stat(root).st_mode) == self.mode
                    and not set(os.listxattr(root)) - _OVERLAY_BOOKKEEPING)
        except OSError:
            return False

    def save(self, keep_in: Path | None) -> None:
        """With `keep_in`, copy a capped change layer there, once. Only after the container is gone:
        nothing writes the layer any more, and the view may stay mounted until `release`."""
        if self.saved:
            return
        self.saved = True
        if self.scratch is not None and keep_in is not None and not self._empty():
            try:
                self.mounter.keep(self.upper, keep_in)
            except EngineError as exc:  # the tool ran: its outcome stands, its layer is incomplete
                self.unkept.append(exc.message)

    def release(self, keep_in: Path | None) -> None:
        """Unmount the merged view; with `keep_in`, copy a capped change layer there unless saved."""
        if self.released:
            return
        self.released = True
        self.mounter.unmount(self.merged)
        self.save(keep_in)


@contextlib.contextmanager
def mounted(overlay: WorkspaceOverlay, run_dir: Path, mounter: Mounter, *,
            cap_bytes: int | None = None) -> Iterator[Mounted]:
    """Mount the overlay under `run_dir/merged` for the duration of the block; always unmounts.
    With `cap_bytes`, the change layer is written to a capped tmpfs, which `Mounted.release` copies
    out (to `overlay.upper` when the block ends unreleased)."""
    run_dir.mkdir(parents=True, exist_ok=False, mode=0o700)
    (run_dir / "owner.pid").write_text(str(os.getpid()))
    merged = run_dir / "merged"
    merged.mkdir()
    scratch = None
    mode = -1
    try:
        upper, work = overlay.upper, overlay.work
        if cap_bytes is not None:
            scratch = run_dir / "layer"
            scratch.mkdir()
            given = overlay.upper_mode
            mode = stat.S_IMODE(os.stat(overlay.upper).st_mode) if given is None else given
            mounter.capped_layer(scratch, cap_bytes, mode, overlay.max_inodes)
            upper, work = scratch / "upper", scratch / "work"
        lowers = overlay.lowers
        if mounter.ids is not None:
            shifted = run_dir / SHIFTED
            shifted.mkdir()
            lowers = (*lowers[:-1], _shifted_host(lowers[-1], shifted, upper, mounter.ids))
        lowerdir = _lowerdir(run_dir, lowers)
        data = f"lowerdir={lowerdir},upperdir={upper},workdir={work},{mounter.options}"
        if len(data) >= MOUNT_DATA_MAX:
            raise EngineError(
                f"too many pending changesets stacked on this workspace ({len(overlay.lowers) - 1})",
                code="engine.too_many_layers",
                hint="apply or discard some pending changesets (`sbx list`)",
            )
        mounter.overlay(merged, data)
        view = Mounted(merged, scratch, upper, mounter, mode)
        try:
            yield view
        finally:
            view.release(overlay.upper if view.keep else None)
    finally:
        if (run_dir / SHIFTED).is_dir():
            mounter.unmount(run_dir / SHIFTED)
        if scratch is not None:
            mounter.unmount(scratch)
        _remove_run_dir(run_dir)


def _shifted_host(host: Path, shifted: Path, upper: Path, ids: IdMap) -> Path:
    """The host folder as the container's ids see it, and the change layer's root owned like it
    (the merged root takes its owner from the upper one)."""
    idmap.bind(host, shifted, ids)
    st = os.stat(host)
    if st.st_uid < ids.size and st.st_gid < ids.size:
        os.chown(upper, ids.uid + st.st_uid, ids.gid + st.st_gid)
    return shifted


def _mount_points() -> set[str]:
    """This namespace's mount points (os.path.ismount misses a bind mount within one filesystem)."""
    points = set()
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        field = line.split(" ")[4]
        points.add(re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field))
    return points


def _remove_run_dir(run_dir: Path) -> None:
    """Never through a mount that is still there: the ID-mapped one is the host folder itself."""
    points = _mount_points()
    still = [p for p in (run_dir / SHIFTED, run_dir / "merged", run_dir / "layer") if str(p) in points]
    if still:
        raise EngineError(f"cannot remove {run_dir}: {still[0]} is still mounted", code="engine.overlay_failed")
    remove_tree(run_dir)


def _younger_than(path: Path, seconds: float) -> bool:
    try:
        return time.time() - path.lstat().st_mtime < seconds
    except OSError:
        return False


def sweep_stale(runs_root: Path, mounter: Mounter) -> list[Path]:
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
        for mount_point in (run_dir / "merged", run_dir / SHIFTED, run_dir / "layer"):
            if mount_point.exists():
                try:
                    mounter.unmount(mount_point)
                except EngineError as exc:  # a namespace that is gone took its mounts along
                    log.debug("stale run folder %s: not unmounted: %s", mount_point, exc.message)
        try:
            _remove_run_dir(run_dir)
        except EngineError as exc:
            log.warning("stale run folder %s left in place: %s", run_dir, exc.message)
            continue
        swept.append(run_dir)
    return swept
