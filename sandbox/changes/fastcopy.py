"""Copying a file inside the kernel and hashing the copy, in one pass.

A commit copies each file (from the change layer, or a host file into its backup) and must
prove that the copy holds the reviewed content. The bytes go from source to copy without passing
through sbx: a reflink (FICLONE) where the filesystem shares blocks (btrfs, XFS), else
copy_file_range(2) for each data segment, so that holes stay holes (SEEK_DATA/SEEK_HOLE), else
pread/pwrite. The copy itself is what is hashed: what is checked is exactly what will be renamed
into place (or restored from), whatever happens to the source meanwhile, and each byte is read
once. The copy is made a window (`WINDOW`) at a time and each window is read back and hashed at
once, while the CPU's cache still holds it: the hash then costs its arithmetic, not a second trip
through memory, and the disk starts writing each stretch (`WRITEBACK`) as soon as it is copied.

A small file (up to `SMALL`) is instead read once and written once, and the bytes written are
hashed: the system calls of the kernel copy would cost more than the copy, and a few blocks of
zeros are all that can be lost to a hole.

A large file is copied, hashed and finished (its mode, owner and mtime set) in a worker thread
(copy_file_range and hashlib release the GIL): several files copy and hash on several cores at
once. At most `_IN_FLIGHT` such jobs are queued (each holds two descriptors); the next one waits
for a slot. The caller collects the `Pending` digests and waits for them before it relies on the
copies (before the sync that precedes the renames), so a mismatch is still found before anything
is installed, and a failed commit waits for them (`wait_all`) before it rolls back.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import logging
import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor

from sandbox.changes import durable

log = logging.getLogger(__name__)

CHUNK = 1024 * 1024
WINDOW = 512 * 1024  # copied, then read back and hashed while the CPU's cache holds it (L2 >= 512 KiB)
WRITEBACK = 8 * CHUNK  # the disk is asked to start writing the copy every this many bytes
SMALL = 64 * 1024
PARALLEL_MIN = 4 * CHUNK  # below this, handing the hash to a thread costs more than it saves
_FICLONE = 0x40049409  # _IOW(0x94, 9, int): share the source's blocks (linux/fs.h)
# The filesystem (or the pair of them) cannot do this kind of copy: try the next kind.
_UNSUPPORTED = {errno.EOPNOTSUPP, errno.ENOTTY, errno.EXDEV, errno.EINVAL, errno.ENOSYS}
_ZEROS = bytes(CHUNK)

_WORKERS = max(2, os.cpu_count() or 2)
_IN_FLIGHT = 4 * _WORKERS
_buffers = threading.local()


# -- copying ---------------------------------------------------------------------------------------
Finish = Callable[[int], None]


def start_copy(src: int, dst: int, finish: Finish | None = None) -> Pending:
    """Copy all of `src` into the new, empty `dst` (see `copy_fd`), hashing the copy as it is
    made, then `finish(dst)`. Takes both descriptors and closes them. A small file is done before this returns
    (and raises here); a large one in a worker (and raises from `Pending.digest`)."""
    try:
        size = os.fstat(src).st_size
    except BaseException:
        _close(src, dst)
        raise
    if size < PARALLEL_MIN:
        try:
            return Pending(_copy_finish_hash(src, dst, size, finish))
        finally:
            _close(src, dst)
    return _submit(_copy_job, src, dst, size, finish, owned=(src, dst))


def _copy_job(src: int, dst: int, size: int, finish: Finish | None) -> str:
    try:
        return _copy_finish_hash(src, dst, size, finish)
    finally:
        _close(src, dst)


def _copy_finish_hash(src: int, dst: int, size: int, finish: Finish | None) -> str:
    written = _copy_small(src, dst, size) if 0 < size <= SMALL else None
    if written is not None:
        digest = hashlib.sha256(written).hexdigest()
    else:
        copied = _CopyHash(dst, writeback=size >= PARALLEL_MIN)
        copy_fd(src, dst, copied.upto)
        digest = copied.hexdigest()
    if finish is not None:
        finish(dst)  # after the copy: writing clears setuid/setgid bits and moves mtime
    return digest


def _copy_small(src: int, dst: int, size: int) -> bytes | None:
    """One read, one write; the bytes written, or None if the source shrank meanwhile (then
    the copy is padded to `size` and hashed as it is)."""
    data = os.pread(src, size, 0)
    _write_at(dst, data, 0)
    if len(data) == size:
        return data
    os.ftruncate(dst, size)
    return None


class _CopyHash:
    """The digest of a copy being made, hashed from the copy as each window of it is done."""

    def __init__(self, fd: int, *, writeback: bool) -> None:
        self._fd = fd
        self._digest = hashlib.sha256()
        self._hashed = 0  # [0, _hashed) of the copy is in the digest
        self._short = False  # the copy ended before its size: the digest cannot match anything
        self._writeback = writeback
        self._written_back = 0

    def upto(self, end: int) -> None:
        """[0, end) of the copy is final: hash what is not hashed yet."""
        if not self._short:
            self._short = not _hash_range(self._digest, self._fd, self._hashed, end)
        self._hashed = end
        if self._writeback and end - self._written_back >= WRITEBACK:
            durable.start_writeback(self._fd, self._written_back, end - self._written_back)
            self._written_back = end

    def hexdigest(self) -> str:
        if self._writeback:
            durable.start_writeback(self._fd, self._written_back, 0)
        return self._digest.hexdigest()


Progress = Callable[[int], None]


def copy_fd(src: int, dst: int, progress: Progress | None = None) -> None:
    """Copy all of `src` into the new, empty `dst`: a reflink, else an in-kernel copy of each
    data segment, else reads and writes; `dst` ends with the size `src` had when this started
    (a source that shrinks meanwhile leaves a copy whose digest will not match). Whenever a
    prefix [0, end) of `dst` is final, `progress(end)`; last with the whole size."""
    size = os.fstat(src).st_size
    if size == 0 or _reflink(src, dst):
        if progress is not None:
            progress(size)
        return
    offset = 0
    while offset < size:
        segment = _next_data(src, offset, size)
        if segment is None:
            break
        start, end = segment
        if not _copy_range(src, dst, start, end, progress):
            break
        offset = end
    os.ftruncate(dst, size)
    if progress is not None:
        progress(size)


def _reflink(src: int, dst: int) -> bool:
    try:
        fcntl.ioctl(dst, _FICLONE, src)
    except OSError as exc:
        if exc.errno in _UNSUPPORTED or exc.errno == errno.EPERM:
            return False
        raise
    return True


def _next_data(fd: int, offset: int, size: int) -> tuple[int, int] | None:
    """The next data segment [start, end) at or after `offset`; None when only a hole is left."""
    try:
        start = os.lseek(fd, offset, os.SEEK_DATA)
    except OSError as exc:
        if exc.errno == errno.ENXIO:
            return None
        if exc.errno in (errno.EINVAL, errno.EOPNOTSUPP):
            return offset, size  # a filesystem without hole reporting: all of it is data
        raise
    return start, min(os.lseek(fd, start, os.SEEK_HOLE), size)


def _copy_range(src: int, dst: int, start: int, end: int, progress: Progress | None) -> bool:
    """Copy [start, end) at the same offsets, a window at a time, telling `progress` as each
    one is done; False if the source ended early."""
    pos = start
    in_kernel = True
    while pos < end:
        stop = min(end, pos + WINDOW)
        if in_kernel:
            try:
                done = _copy_file_range(src, dst, pos, stop)
            except OSError as exc:
                if exc.errno not in _UNSUPPORTED:
                    raise
                in_kernel = False
                continue
        else:
            done = _rw_range(src, dst, pos, stop)
        if progress is not None:
            progress(done)
        if done < stop:
            return False
        pos = stop
    return True


def _copy_file_range(src: int, dst: int, pos: int, end: int) -> int:
    """Copy [pos, end) in the kernel; where the copy stopped (before `end`: the source ended)."""
    while pos < end:
        copied = os.copy_file_range(src, dst, end - pos, pos, pos)
        if copied == 0:
            break
        pos += copied
    return pos


def _rw_range(src: int, dst: int, pos: int, end: int) -> int:
    while pos < end:
        chunk = os.pread(src, min(CHUNK, end - pos), pos)
        if not chunk:
            break
        _write_at(dst, chunk, pos)
        pos += len(chunk)
    return pos


def _write_at(fd: int, data: bytes, pos: int) -> None:
    written = os.pwrite(fd, data, pos)
    if written == len(data):  # nearly always: one call, no view
        return
    view = memoryview(data)[written:]
    pos += written
    while view:
        written = os.pwrite(fd, view, pos)
        view = view[written:]
        pos += written


# -- hashing the copy ------------------------------------------------------------------------------
class Pending:
    """The sha256 of a copy: computed already, or being computed by a worker thread (a Future).
    A small file's digest is there at once: a Future (with its lock and condition) for each of
    thousands of small files would cost more than copying them."""

    def __init__(self, digest: Future[str] | str) -> None:
        self._digest = digest

    def digest(self) -> str:
        return self._digest if isinstance(self._digest, str) else self._digest.result()


def start_hash(fd: int) -> Pending:
    """Start hashing all of `fd` (holes as the zeros they read as); a large file in a worker
    thread, on its own duplicate of `fd`, so the caller may close `fd` at once."""
    if os.fstat(fd).st_size < PARALLEL_MIN:
        return Pending(hash_all(fd))
    own = os.dup(fd)
    return _submit(_hash_job, own, owned=(own,))


def _submit(job: Callable[..., str], *args: object, owned: tuple[int, ...]) -> Pending:
    """Run `job(*args)` in a worker once a slot is free; the job closes the descriptors it owns."""
    try:
        _workers.slots.acquire()
    except BaseException:
        _close(*owned)
        raise

    def run() -> str:
        try:
            return job(*args)
        finally:
            _workers.slots.release()

    try:
        return Pending(_workers.executor().submit(run))
    except BaseException:
        _workers.slots.release()
        _close(*owned)
        raise


def _close(*fds: int) -> None:
    for fd in fds:
        os.close(fd)


def wait_all(pending: Iterable[Pending]) -> None:
    """Let every started hash finish, whatever its outcome: a failed commit rolls back only once
    no worker still reads one of its copies."""
    for item in pending:
        try:
            item.digest()
        except OSError as exc:
            log.debug("hashing a copy failed: %s", exc)


def hash_all(fd: int) -> str:
    """sha256 of all of `fd`, read from offset 0 without moving its offset; holes are hashed as
    zeros without being read."""
    digest = hashlib.sha256()
    _hash_range(digest, fd, 0, os.fstat(fd).st_size)
    return digest.hexdigest()


def _hash_range(digest: hashlib._Hash, fd: int, offset: int, size: int) -> bool:
    """Add [offset, size) of `fd` to `digest`, holes as zeros without reading them; False if
    the file ended early (it shrank meanwhile: the digest cannot match the review)."""
    buffer = _buffer()
    while offset < size:
        segment = _next_data(fd, offset, size)
        if segment is None:
            break
        start, end = segment
        _hash_zeros(digest, start - offset)
        pos = start
        while pos < end:
            read = os.preadv(fd, [buffer[: min(CHUNK, end - pos)]], pos)
            if read == 0:
                return False
            digest.update(buffer[:read])
            pos += read
        offset = end
    _hash_zeros(digest, size - offset)
    return True


def _hash_job(fd: int) -> str:
    try:
        return hash_all(fd)
    finally:
        os.close(fd)


def _hash_zeros(digest: hashlib._Hash, count: int) -> None:
    while count > 0:
        step = min(count, CHUNK)
        digest.update(_ZEROS[:step] if step < CHUNK else _ZEROS)
        count -= step


def _buffer() -> memoryview:
    """One read buffer per thread: allocating a fresh one per small file would cost more than
    reading it."""
    buffer: memoryview | None = getattr(_buffers, "view", None)
    if buffer is None:
        buffer = memoryview(bytearray(CHUNK))
        _buffers.view = buffer
    return buffer


class _Workers:
    """The worker threads and their job slots, made on first use and shared by every commit of
    the process."""

    def __init__(self) -> None:
        self.forget()

    def forget(self) -> None:
        """Start afresh: in a forked child the parent's workers do not exist, so a job handed to
        their pool would wait forever, and the slots their jobs held would never be given back."""
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self.slots = threading.BoundedSemaphore(_IN_FLIGHT)

    def executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="sbx-copy")
            return self._pool


_workers = _Workers()
os.register_at_fork(after_in_child=_workers.forget)
