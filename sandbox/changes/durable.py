"""Making many writes durable at once.

A commit writes thousands of files; one fsync each would cost a journal commit each. Instead
every file is written under a temporary name first, then one `syncfs` makes all of them durable
before any of them replaces its target, and one more makes the renames durable. The guarantee
per file is the same as write-fsync-rename: a target is never replaced by data that is not on
disk yet.

A large file's writeback is started a stretch at a time as it is copied (`start_writeback`), so
the disk writes it while the rest is copied and hashed, and the one `syncfs` has less to wait for.
"""

from __future__ import annotations

import ctypes
import os

_libc = ctypes.CDLL(None, use_errno=True)
_syncfs = getattr(_libc, "syncfs", None)
_sync_file_range = getattr(_libc, "sync_file_range", None)
if _sync_file_range is not None:
    _sync_file_range.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)
_SYNC_FILE_RANGE_WRITE = 2  # start writing the dirty pages out; do not wait for them


def sync_filesystem(fd: int) -> None:
    """Flush everything written to the filesystem holding `fd` (syncfs(2); sync(2) without it)."""
    if _syncfs is None:
        os.sync()
        return
    if _syncfs(fd) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno))


def sync_filesystem_of(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        sync_filesystem(fd)
    finally:
        os.close(fd)


def start_writeback(fd: int, offset: int = 0, nbytes: int = 0) -> None:
    """Start writing the dirty pages of [offset, offset + nbytes) of `fd` (nbytes 0: to the end)
    to disk without waiting: a hint; durability still comes from `sync_filesystem`, so a
    filesystem that refuses it loses nothing."""
    if _sync_file_range is not None:
        _sync_file_range(fd, offset, nbytes, _SYNC_FILE_RANGE_WRITE)
