"""Tree walks that no tree can break: iterative, bounded, never following a link.

A change layer is written by the tool being reviewed, so its shape is hostile input: a tool can
nest directories thousands deep (`mkdir d; cd d` in a loop) or make paths longer than PATH_MAX.
Python's own walkers recurse (`shutil.rmtree` and `os.walk` in Python 3.11), and a path-based
lstat fails past PATH_MAX. So:

- `remove_tree` works from directory file descriptors, one level at a time, with an explicit
  stack: no depth is too deep, no path is too long, and it never follows a symlink. It climbs
  back up through `..` and checks that it arrived in the directory it came from.
- `Limits` is what a walk that reads a layer for review accepts: a layer deeper, with longer
  paths or with more entries than that is refused as a whole (`state.layer_refused`), with a
  message that says which limit and where.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sandbox.errors import StateError

MAX_DEPTH = 256  # directory levels below the workspace root; deep node_modules trees stay far below
MAX_ENTRIES = 1_000_000  # entries one review walks; change budgets stop real actions well before
PATH_MAX = 4096  # Linux, including the terminating NUL
NAME_MAX = 255

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_DENIED = (errno.EACCES, errno.EPERM)


@dataclass
class Limits:
    """The bounds of one walk over a layer stack whose longest root is `root_bytes` long.

    A relative path is refused when it is deeper than `max_depth` directories, or when the
    real path it becomes below any root would not fit in PATH_MAX."""

    root_bytes: int
    max_depth: int = MAX_DEPTH
    max_entries: int = MAX_ENTRIES
    what: str = "the change layer"
    entries: int = field(default=0, init=False)

    @classmethod
    def for_roots(cls, roots: Sequence[str], *, what: str = "the change layer") -> Limits:
        return cls(max(len(os.fsencode(r)) for r in roots), what=what)

    @property
    def max_path_bytes(self) -> int:
        return PATH_MAX - 1 - self.root_bytes - 1  # root + "/" + path + NUL

    def check(self, rel: str) -> None:
        """Count one more entry at `rel` (a path relative to the roots); refuse past a limit."""
        self.entries += 1
        if self.entries > self.max_entries:
            raise self._refused(f"more than {self.max_entries} entries")
        if len(os.fsencode(rel)) > self.max_path_bytes:
            raise self._refused(f"a path longer than {self.max_path_bytes} bytes ({_abbreviated(rel)})")
        if rel.count("/") >= self.max_depth:
            raise self._refused(f"directories nested deeper than {self.max_depth} levels ({_abbreviated(rel)})")

    def check_dir(self, rel: str) -> None:
        """Before listing the directory `rel`: any name in it (up to NAME_MAX) must still fit."""
        limit = self.max_path_bytes - 1 - NAME_MAX
        if rel and len(os.fsencode(rel)) > limit:
            raise self._refused(f"a path longer than {limit} bytes to a directory ({_abbreviated(rel)})")

    def _refused(self, what: str) -> StateError:
        return StateError(
            f"{self.what} holds {what}; sbx does not review or apply such a layer",
            code="state.layer_refused",
            hint="have the tool make a shallower tree (or archive it into one file)",
        )


def _abbreviated(rel: str) -> str:
    shown = rel if len(rel) <= 60 else f"{rel[:28]}...{rel[-28:]}"
    return repr(shown)[1:-1]  # escapes control characters in a hostile name


def remove_tree(path: str | Path) -> None:
    """Delete `path` and everything below it, whatever its depth; a link is removed, never
    followed. Directories the owner cannot list or write (overlayfs leaves `work/work` as mode
    000, a tool may leave 0500 dirs) are opened up first. Absent: nothing to do."""
    path = os.path.abspath(os.fspath(path))
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    parent, name = os.path.split(path)
    if not stat.S_ISDIR(st.st_mode):
        os.unlink(path)
        return
    parent_fd = os.open(parent, _DIR_FLAGS & ~os.O_NOFOLLOW)
    try:
        _remove_dir(parent_fd, name)
    finally:
        os.close(parent_fd)


@dataclass
class _Level:
    """A directory being emptied: its name in its parent, its identity, the names still to do."""

    name: str
    ident: tuple[int, int]
    todo: list[str]


def _remove_dir(top_parent_fd: int, top_name: str) -> None:
    fd = _open_dir(top_parent_fd, top_name)
    levels = [_Level(top_name, _ident(fd), _listdir(fd))]
    try:
        while levels:
            level = levels[-1]
            if level.todo:
                name = level.todo.pop()
                if _remove_entry(fd, name):
                    continue
                child = _open_dir(fd, name)
                os.close(fd)
                fd = child
                levels.append(_Level(name, _ident(fd), _listdir(fd)))
                continue
            levels.pop()
            if levels:
                parent = os.open("..", _DIR_FLAGS & ~os.O_NOFOLLOW, dir_fd=fd)
                if _ident(parent) != levels[-1].ident:
                    os.close(parent)
                    raise OSError(errno.ESTALE, f"a directory moved while sbx removed it: {level.name}")
                os.close(fd)
                fd = parent
                _remove_name(fd, level.name, os.rmdir)
            else:
                os.close(fd)
                fd = -1
                _remove_name(top_parent_fd, top_name, os.rmdir)
    finally:
        if fd >= 0:
            os.close(fd)


def _remove_entry(dir_fd: int, name: str) -> bool:
    """Unlink `name` unless it is a real directory (then False: descend into it)."""
    try:
        st = os.lstat(name, dir_fd=dir_fd)
    except FileNotFoundError:
        return True
    if stat.S_ISDIR(st.st_mode):
        return False
    with contextlib.suppress(FileNotFoundError):
        _remove_name(dir_fd, name, os.unlink)
    return True


def _open_dir(parent_fd: int, name: str) -> int:
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
    except PermissionError:
        _chmod_dir(parent_fd, name)
        return os.open(name, _DIR_FLAGS, dir_fd=parent_fd)


def _chmod_dir(parent_fd: int, name: str) -> None:
    """chmod 0700 a directory that cannot be opened for reading, without following a link: an
    O_PATH handle needs no permission on the directory itself, and its /proc entry names it."""
    handle = os.open(name, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent_fd)
    try:
        os.chmod(f"/proc/self/fd/{handle}", 0o700)
    finally:
        os.close(handle)


def _remove_name(dir_fd: int, name: str, remove: Callable[..., None]) -> None:
    try:
        remove(name, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno not in _DENIED:
            raise
        os.fchmod(dir_fd, 0o700)  # removing an entry needs write and search on its directory
        remove(name, dir_fd=dir_fd)


def _listdir(fd: int) -> list[str]:
    try:
        return os.listdir(fd)
    except PermissionError:  # search but no read permission
        os.fchmod(fd, 0o700)
        return os.listdir(fd)


def _ident(fd: int) -> tuple[int, int]:
    st = os.fstat(fd)
    return st.st_dev, st.st_ino
