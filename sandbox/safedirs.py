"""sbx's own folders and files, made so that no other local user can take them over (stdlib only).

The rule, checked every time a folder is used, not only when it is made:

- **The folder itself** (the state, runtime and cache folders and every folder sbx makes in them)
  is created 0700, is a real folder (never a symlink: checked with lstat and opened O_NOFOLLOW),
  is owned by the effective user and is not writable by group or others. A folder of ours that
  is merely readable by others (made by an older sbx, or by `mkdir -p`) is tightened to 0700; one
  that others may write to, or that another uid owns, is `state.unsafe_dir`: what is in it may
  have been planted, so sbx names it and refuses instead of repairing it.
- **Every folder above it** (path resolution passes through them) is owned by root or by the
  effective user, and is not writable by group or others unless it is sticky and owned by root
  (like /tmp): whoever may rename entries in a parent can swap the folder after the check. A
  symlink on the way is followed only when root or the effective user owns it: in a sticky
  folder, anyone may plant one. Missing folders on the way are created 0700.

Files in those folders are created O_EXCL|O_NOFOLLOW and renamed into place (`write_file`), or
opened O_NOFOLLOW (`open_append`), so even a mistake in a folder's check cannot redirect a write.
"""

from __future__ import annotations

import errno
import logging
import os
import secrets
import shutil
import stat
from pathlib import Path
from typing import BinaryIO

from sandbox.errors import StateError, UnsafeDirError

log = logging.getLogger(__name__)

# sun_path holds 108 bytes with its terminating NUL.
SOCKET_PATH_MAX = 107
_MAX_LINKS = 40  # the kernel's own limit on symlinks followed while resolving one path
_FIX = ("move it aside (look at what is in it first) and run sbx again, which creates it 0700 for itself; "
        "or point {env} at a folder of your own")


def private_dir(base: Path, *parts: str, env: str = "SBX_STATE_DIR / SBX_RUNTIME_DIR / SBX_CACHE_DIR") -> Path:
    """`base`/`parts`, each created 0700 if missing and checked to be the effective user's own.

    `base` is one of sbx's top folders; its ancestors are checked by the parent rule (see the module
    docstring), `base` and each of `parts` by the strict one. `env` names the setting that moves
    `base`, for the error's fix. Returns the path, which is safe to use as it is afterwards: no
    folder on it can be changed by another user."""
    base = Path(os.path.abspath(base))
    _check_parents(base.parent, env)
    current = base
    _own_dir(current, env)
    for part in parts:
        if not part or part in (".", "..") or "/" in part:
            raise StateError(f"not a folder name: {part!r}", code="state.invalid")
        current = current / part
        _own_dir(current, env)
    return current


def trusted_dir(path: Path, *, env: str) -> Path:
    """For reading what is there, not for writing: `path` and every folder above it are owned by
    root or the effective user and not writable by others (sticky root folders excepted), so a
    folder root provisioned for everyone passes and one another user could fill does not. Nothing
    is created; a missing part is left for the reader to report."""
    path = Path(os.path.abspath(path))
    _check_parents(path, env, create=False)
    return path


def socket_path(directory: Path, name: str, *, reserve: int = 0) -> Path:
    """`directory`/`name` for a unix socket, or `state.socket_path_too_long` (the kernel's limit is
    107 bytes) naming the folder to shorten. `reserve`: bytes a staging name next to it adds."""
    path = directory / name
    if len(os.fsencode(path)) + reserve > SOCKET_PATH_MAX:
        raise StateError(
            f"the socket path {path} is too long: a unix socket's path may have {SOCKET_PATH_MAX} bytes",
            code="state.socket_path_too_long",
            hint="point SBX_RUNTIME_DIR (or XDG_RUNTIME_DIR) at a folder with a shorter path, e.g. /run/user/UID",
        )
    return path


def write_file(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Replace `path` with `data` atomically: a new file (O_EXCL, O_NOFOLLOW) next to it, renamed over it."""
    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError as exc:
            log.debug("temporary file %s not removed: %s", temp, exc)
        raise


def remove_tree(path: Path) -> None:
    """Remove a folder of sbx's own that is no longer needed (a staging or work folder, a finished
    run's): a cleanup, so what cannot be removed stays, logged, and nothing is raised."""

    def report(_function: object, failed: str, excinfo: tuple[type[BaseException], BaseException, object]) -> None:
        if not isinstance(excinfo[1], FileNotFoundError):
            log.warning("cannot remove %s: %s", failed, excinfo[1])

    shutil.rmtree(path, onerror=report)


def open_append(path: Path, *, truncate: bool = False) -> BinaryIO:
    """A log file of sbx's own, opened for appending (or truncated), never through a symlink."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | (os.O_TRUNC if truncate else os.O_APPEND)
    return os.fdopen(os.open(path, flags, 0o600), "wb")


def _unsafe(path: Path, why: str, env: str) -> UnsafeDirError:
    return UnsafeDirError(f"sbx will not use the folder {path}: {why}", hint=_FIX.format(env=env), path=str(path))


def _trusted_owners() -> set[int]:
    """Root and the effective user. Inside a user namespace (rootless Podman's `unshare`), folders
    of users outside it, root included, show the overflow uid."""
    owners = {0, os.geteuid()}
    try:
        uid_map = Path("/proc/self/uid_map").read_text().split()
        if uid_map[:3] != ["0", "0", "4294967295"]:
            owners.add(int(Path("/proc/sys/kernel/overflowuid").read_text()))
    except (OSError, ValueError):
        pass
    return owners


def _check_parents(path: Path, env: str, *, create: bool = True) -> None:
    """Walk `path` from / as the kernel resolves it, checking each folder and symlink on the way;
    create what is missing (0700, then checked like our own) unless `create` is false."""
    owners = _trusted_owners()
    pending = list(path.parts[1:])
    current = Path("/")
    _check_parent(current, os.lstat(current), owners, env)
    links = 0
    while pending:
        name = pending.pop(0)
        if name in ("", "."):
            continue
        if name == "..":
            current = current.parent
            continue
        candidate = current / name
        try:
            st = os.lstat(candidate)
        except FileNotFoundError:
            if not create:
                return
            _own_dir(candidate, env)
            current = candidate
            continue
        except OSError as exc:
            raise _unsafe(candidate, f"cannot be examined ({exc.strerror})", env) from None
        if stat.S_ISLNK(st.st_mode):
            links += 1
            if links > _MAX_LINKS:
                raise _unsafe(path, "too many symbolic links on the way", env)
            if st.st_uid not in owners:
                raise _unsafe(path, f"the symlink {candidate} on the way is owned by uid {st.st_uid}", env)
            target = Path(os.readlink(candidate))
            if target.is_absolute():
                current = Path("/")
            pending = [*target.parts[1 if target.is_absolute() else 0:], *pending]
            continue
        _check_parent(candidate, st, owners, env)
        current = candidate


def _check_parent(path: Path, st: os.stat_result, owners: set[int], env: str) -> None:
    if not stat.S_ISDIR(st.st_mode):
        raise _unsafe(path, "it is not a folder", env)
    if st.st_uid not in owners:
        raise _unsafe(path, f"it is owned by uid {st.st_uid}, who could replace what sbx keeps in it", env)
    if st.st_mode & 0o022 and not (st.st_mode & stat.S_ISVTX and st.st_uid == 0):
        raise _unsafe(path, f"others may write to it (mode {stat.S_IMODE(st.st_mode):04o}) and it is not "
                            "a sticky folder of root's like /tmp", env)


def _own_dir(path: Path, env: str) -> None:
    """Create `path` 0700 unless it exists, then require a real folder of ours that only we may write."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        raise StateError(f"cannot create sbx's folder {path}: {exc.strerror}", code="state.unwritable",
                         hint=f"check the permissions on {path.parent}, or point {env} elsewhere") from None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            what = "it is a symbolic link" if os.path.islink(path) else "it is not a folder"
            raise _unsafe(path, what, env) from None
        raise _unsafe(path, f"it cannot be opened ({exc.strerror})", env) from None
    try:
        st = os.fstat(fd)
        if st.st_uid != os.geteuid():
            raise _unsafe(path, f"it is owned by uid {st.st_uid}, not by you (uid {os.geteuid()})", env)
        if st.st_mode & 0o022:
            raise _unsafe(path, f"others may write to it (mode {stat.S_IMODE(st.st_mode):04o})", env)
        if st.st_mode & 0o077:
            os.fchmod(fd, 0o700)
    finally:
        os.close(fd)
