"""The host workspace, touched only through directory file descriptors.

Every directory is opened component by component from the workspace root with
O_DIRECTORY|O_NOFOLLOW, and every operation is relative to such a descriptor (`dir_fd=`), so no
symlink on the host is ever followed, whether it was there at review time or swapped in since:
a symlinked parent raises `UnsafePath`; a final component is never opened through a link
(O_NOFOLLOW), chmod'ed through one (O_PATH + type check), or chown'ed through one
(AT_SYMLINK_NOFOLLOW). Files and links are staged beside their target under a temporary name
(O_CREAT|O_EXCL), made durable (`sync`), then renamed over it (`install`). The content is copied
inside the kernel and the copy hashed once (fastcopy.py); the digests are compared before the
sync (`check_staged`, `check_copied`).
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from types import TracebackType

from sandbox.changes import durable
from sandbox.changes.digest import hash_fd, listing_digest
from sandbox.changes.fastcopy import PARALLEL_MIN, Pending, start_copy, start_hash, wait_all
from sandbox.changes.nodes import Node, entry_type_of, special_kind
from sandbox.changes.paths import display, parent_of
from sandbox.errors import ChangesetError, ConflictError, StateError
from sandbox.types import EntryType

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_CREATE_FLAGS = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class UnsafePath(Exception):
    """Reaching this path would go through a symlink on the host."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{display(path)}: {reason}")
        self.path = path
        self.reason = reason


class MissingParent(Exception):
    """Some ancestor of the path is absent or not a directory."""


Owner = tuple[int, int]


@dataclass(frozen=True)
class Copy:
    """A copy sbx made, whose digest is still to be compared with the content it must hold."""

    path: str  # the workspace path the copy is for
    expected: str | None  # the reviewed sha256 (None: nothing to compare)
    pending: Pending
    temp_name: str | None = None  # the staged name beside `path`; None for a backup


class HostTree:
    def __init__(self, root: str) -> None:
        self.root = root
        self._dirs: dict[str, int] = {"": os.open(root, _DIR_FLAGS)}
        self._prefetched: dict[str, tuple[tuple[int, ...], Pending]] = {}

    def __enter__(self) -> HostTree:
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self.drop_prefetched()
        for fd in self._dirs.values():
            os.close(fd)
        self._dirs.clear()

    # -- reaching paths ---------------------------------------------------------------------------
    def dir_fd(self, path: str) -> int:
        cached = self._dirs.get(path)
        if cached is not None:
            return cached
        parent_fd, name = self.parent(path)
        try:
            fd = os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                raise MissingParent(path) from None
            if exc.errno not in (errno.ENOTDIR, errno.ELOOP):
                raise
            if stat.S_ISLNK(os.stat(name, dir_fd=parent_fd, follow_symlinks=False).st_mode):
                raise UnsafePath(path, "a parent directory is a symlink on the host") from None
            raise MissingParent(path) from None
        self._dirs[path] = fd
        return fd

    def parent(self, path: str) -> tuple[int, str]:
        return self.dir_fd(parent_of(path)), path.rpartition("/")[2]

    def forget(self, path: str) -> None:
        """Drop cached descriptors of `path` and below (it was removed or replaced)."""
        for cached in [p for p in self._dirs if p == path or p.startswith(path + "/")]:
            if cached:
                os.close(self._dirs.pop(cached))

    def lstat(self, path: str) -> os.stat_result | None:
        """None when the path is absent; raises MissingParent / UnsafePath for its parents."""
        parent_fd, name = self.parent(path)
        try:
            return os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
        except FileNotFoundError:
            return None

    def prefetch_digests(self, paths: Iterable[str]) -> None:
        """Start hashing the large regular files at `paths` in worker threads; `node` takes such
        a digest only while the file's inode, size, mtime and ctime are still those it was
        hashed with, and hashes it again otherwise. A path that cannot be reached is left to
        `node` to report."""
        for path in paths:
            try:
                st = self.lstat(path)
            except (MissingParent, UnsafePath):
                continue
            if st is None or not stat.S_ISREG(st.st_mode) or st.st_size < PARALLEL_MIN or path in self._prefetched:
                continue
            try:
                fd = _open_regular(path, self.parent(path)[0], st)
            except ConflictError:
                continue
            try:
                self._prefetched[path] = (_identity(st), start_hash(fd))
            finally:
                os.close(fd)

    def drop_prefetched(self) -> None:
        """Wait for the digests nobody asked for, and forget them."""
        wait_all(p for _, p in self._prefetched.values())
        self._prefetched.clear()

    def node(self, path: str, *, listing: bool = False) -> Node | None:
        st = self.lstat(path)
        if st is None:
            return None
        return replace(self._content(path, st, listing), uid=st.st_uid, gid=st.st_gid, mtime_ns=st.st_mtime_ns)

    def dir_stat(self, path: str) -> os.stat_result:
        return os.fstat(self.dir_fd(path))

    def _content(self, path: str, st: os.stat_result, listing: bool) -> Node:
        parent_fd, name = self.parent(path)
        entry_type = entry_type_of(st.st_mode)
        mode = st.st_mode & 0o7777
        if entry_type == EntryType.FILE:
            prefetched = self._prefetched.pop(path, None)
            if prefetched is not None and prefetched[0] == _identity(st):
                return Node(EntryType.FILE, mode, sha256=prefetched[1].digest(), size=st.st_size)
            fd = _open_regular(path, parent_fd, st)
            try:
                sha256, size = hash_fd(fd)
            finally:
                os.close(fd)
            return Node(EntryType.FILE, mode, sha256=sha256, size=size)
        if entry_type == EntryType.SYMLINK:
            return Node(EntryType.SYMLINK, target=os.readlink(name, dir_fd=parent_fd))
        if entry_type == EntryType.DIR:
            names = listing_digest(os.listdir(self.dir_fd(path))) if listing else None
            return Node(EntryType.DIR, mode, listing=names)
        return Node(EntryType.OTHER, mode, special=special_kind(st.st_mode))

    def exists(self, path: str) -> bool:
        try:
            return self.lstat(path) is not None
        except MissingParent:
            return False

    # -- changing the host ------------------------------------------------------------------------
    def remove(self, path: str) -> None:
        """Remove a non-directory, or an empty directory (never a tree: each entry is its own step)."""
        st = self.lstat(path)
        if st is None:
            return
        parent_fd, name = self.parent(path)
        if stat.S_ISDIR(st.st_mode):
            self.forget(path)
            os.rmdir(name, dir_fd=parent_fd)
        else:
            os.unlink(name, dir_fd=parent_fd)

    def remove_temp(self, path: str, temp_name: str) -> None:
        """Remove sbx's temporary sibling of `path` if it is there (crash leftovers). Below a
        missing or symlinked parent sbx never wrote anything, so there is nothing to remove."""
        try:
            parent_fd = self.dir_fd(parent_of(path))
            os.unlink(temp_name, dir_fd=parent_fd)
        except (FileNotFoundError, MissingParent, UnsafePath):
            pass

    def mkdir(self, path: str) -> None:
        parent_fd, name = self.parent(path)
        os.mkdir(name, 0o700, dir_fd=parent_fd)  # final mode is set once its contents are in

    def stage_file(self, path: str, temp_name: str, source: str, node: Node, owner: Owner | None) -> None:
        """Copy `source` beside `path` as `temp_name`; its content must hash to `node.sha256`."""
        self.check_staged([self.start_stage_file(path, temp_name, source, node, owner)])

    def start_stage_file(self, path: str, temp_name: str, source: str, node: Node, owner: Owner | None) -> Copy:
        """Copy `source` beside `path` as `temp_name`, its digest still being computed: the
        caller passes the result to `check_staged` before it relies on the copy."""
        parent_fd, _ = self.parent(path)
        src = os.open(source, _READ_FLAGS)
        try:
            if not stat.S_ISREG(os.fstat(src).st_mode):
                raise StateError(f"source of {display(path)} is not a regular file", code="state.corrupt")
            dst = os.open(temp_name, _CREATE_FLAGS, 0o600, dir_fd=parent_fd)
        except BaseException:
            os.close(src)
            raise

        def finish(fd: int) -> None:
            _set_fd_attrs(fd, node.mode, owner)
            if node.mtime_ns is not None:
                os.utime(fd, ns=(node.mtime_ns, node.mtime_ns))

        try:
            pending = start_copy(src, dst, finish)  # closes both
        except BaseException:
            os.unlink(temp_name, dir_fd=parent_fd)
            raise
        return Copy(path, node.sha256, pending, temp_name)

    def check_staged(self, copies: Sequence[Copy]) -> None:
        """Wait for every staged copy's digest; a copy that differs from the review is removed
        and refused (`changeset.hash_mismatch`)."""
        wait_all(copies_pending(copies))
        failed: list[BaseException] = []
        wrong = []
        for copy in copies:
            try:
                if copy.expected is not None and copy.pending.digest() != copy.expected:
                    wrong.append(copy)
            except OSError as exc:  # the copy could not be made (no space, ...)
                wrong.append(copy)
                failed.append(exc)
        for copy in wrong:
            if copy.temp_name is not None:
                self.remove_temp(copy.path, copy.temp_name)
        if failed:
            raise failed[0]
        if wrong:
            raise ChangesetError(
                f"the change layer's content for {display(wrong[0].path)} differs from what was reviewed",
                code="changeset.hash_mismatch",
            )

    def stage_symlink(self, path: str, temp_name: str, link: Node, owner: Owner | None) -> None:
        """Create a link to `link.target` beside `path` as `temp_name`; the target is never looked at."""
        if link.target is None:
            raise StateError(f"sbx's record of the symlink {display(path)} has no target", code="state.corrupt")
        parent_fd, _ = self.parent(path)
        os.symlink(link.target, temp_name, dir_fd=parent_fd)
        if owner is not None:
            os.chown(temp_name, *owner, dir_fd=parent_fd, follow_symlinks=False)
        if link.mtime_ns is not None:
            os.utime(temp_name, ns=(link.mtime_ns, link.mtime_ns), dir_fd=parent_fd, follow_symlinks=False)

    def install(self, path: str, temp_name: str) -> None:
        """Rename a staged entry over `path`: it holds the old entry or the new, never half."""
        parent_fd, name = self.parent(path)
        os.rename(temp_name, name, src_dir_fd=parent_fd, dst_dir_fd=parent_fd)

    def sync(self) -> None:
        """Make everything written to the workspace's filesystem durable."""
        durable.sync_filesystem(self._dirs[""])

    def set_attrs(self, path: str, mode: int, owner: Owner | None, mtime_ns: int | None = None) -> None:
        """chown/chmod a file or directory in place, refusing anything else."""
        parent_fd, name = self.parent(path)
        fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent_fd)
        try:
            st = os.fstat(fd)
            if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
                raise _changed_meanwhile(path)
            inode = f"/proc/self/fd/{fd}"  # exactly the inode just checked, never a link
            if owner is not None and (st.st_uid, st.st_gid) != owner:
                os.chown(inode, *owner)  # before chmod: chown clears setuid/setgid bits
            if st.st_mode & 0o7777 != mode or owner is not None:
                os.chmod(inode, mode)
            if mtime_ns is not None:
                os.utime(inode, ns=(mtime_ns, mtime_ns))
        finally:
            os.close(fd)

    def copy_out(self, path: str, expected_sha256: str | None, dest: str) -> Copy:
        """Back up a host file to `dest` (sbx state); `check_copied` then proves it is still the
        reviewed content. The caller makes the copies durable, all at once."""
        parent_fd, name = self.parent(path)
        st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
        src = _open_regular(path, parent_fd, st)
        try:
            dst = os.open(dest, _CREATE_FLAGS, 0o600)
        except BaseException:
            os.close(src)
            raise
        return Copy(path, expected_sha256, start_copy(src, dst))  # closes both

    @staticmethod
    def check_copied(copies: Sequence[Copy]) -> None:
        """Wait for every backup's digest; one that differs means the host file changed."""
        wait_all(copies_pending(copies))
        for copy in copies:
            if copy.expected is not None and copy.pending.digest() != copy.expected:
                raise _changed_meanwhile(copy.path)


def copies_pending(copies: Sequence[Copy]) -> list[Pending]:
    return [c.pending for c in copies]


def _open_regular(path: str, parent_fd: int, st: os.stat_result) -> int:
    """Open the file `st` describes, or fail if the name now holds something else."""
    try:
        fd = os.open(path.rpartition("/")[2], _READ_FLAGS, dir_fd=parent_fd)
    except OSError as exc:
        raise _changed_meanwhile(path) from exc
    opened = os.fstat(fd)
    if not stat.S_ISREG(opened.st_mode) or (opened.st_dev, opened.st_ino) != (st.st_dev, st.st_ino):
        os.close(fd)
        raise _changed_meanwhile(path)
    return fd


def _identity(st: os.stat_result) -> tuple[int, ...]:
    """What changes whenever a file's content may have: a write moves ctime (and mtime, which
    a user can set back; ctime cannot be set). Where ctime ticks coarsely (kernels without
    multigrain timestamps), a write in the same tick goes unseen here; the commit still compares
    every backup it makes with the review, so such a file is a conflict then, not overwritten."""
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _changed_meanwhile(path: str) -> ConflictError:
    return ConflictError(f"{display(path)} changed on the host while sbx was committing", (path,))


def _set_fd_attrs(fd: int, mode: int, owner: Owner | None) -> None:
    if owner is not None:
        os.fchown(fd, *owner)  # before chmod: chown clears setuid/setgid bits a restore may set
    os.fchmod(fd, mode)
