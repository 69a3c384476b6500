"""sbx's file locks, all flock(2) on a lock file sbx owns.

`waiting(path)`: an exclusive lock that waits for its turn (starting a service, building a model
or a venv, numbering changesets: short sections another process may be in). Released when the
block ends, by an exception too.

`exclusive(path, what)`: the per-workspace lock: one sbx process (and one thread in it) changes a
workspace at a time. Non-blocking: another process gets `state.locked` at once instead of
waiting, and so does another thread of this one; the lock that lives on a moment in a child being
started (between fork and exec) after this process released it is waited for. Re-entrant within
one thread, so the app can hold it around a whole command while the store's own methods take it
again. The holder writes its pid into the file, for the message.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sandbox.errors import StateError

log = logging.getLogger(__name__)

_FLAGS = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW


@contextmanager
def waiting(path: Path) -> Iterator[int]:
    """Hold an exclusive lock on `path` (created 0600 with its folders), waiting for it; yields
    the lock file's descriptor for a caller that keeps a small value in it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, _FLAGS, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield fd
    finally:
        os.close(fd)  # closing the only descriptor releases the flock


_held: dict[tuple[str, int], tuple[int, int]] = {}  # (lock file, thread) -> (fd, depth)
_guard = threading.Lock()


@contextmanager
def exclusive(lock_file: Path, what: str) -> Iterator[None]:
    key = (str(lock_file), threading.get_ident())
    with _guard:
        fd, depth = _held.get(key, (-1, 0))
        if depth == 0:
            another_thread = any(path == key[0] for path, _ in _held)
            _held[key] = (-1, 0)  # claimed, so that another thread sees it taken while this one waits
    if depth == 0:
        try:
            fd = _acquire(lock_file, what, wait_own=not another_thread)  # waits outside the guard
        except BaseException:
            with _guard:
                _held.pop(key, None)
            raise
    with _guard:
        _held[key] = (fd, depth + 1)
    try:
        yield
    finally:
        with _guard:
            fd, depth = _held.pop(key)
            if depth > 1:
                _held[key] = (fd, depth - 1)
            else:
                os.close(fd)  # closing the last descriptor releases the flock


# How long a lock this process itself still holds is waited for (see `_flock`).
OWN_HOLD_WAIT_S = 5.0


def _acquire(lock_file: Path, what: str, *, wait_own: bool) -> int:
    fd = os.open(lock_file, _FLAGS, 0o600)
    try:
        _flock(fd, lock_file, what, wait_own=wait_own)
    except BaseException:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    return fd


def _flock(fd: int, lock_file: Path, what: str, *, wait_own: bool) -> None:
    """The lock, or `state.locked` when another process (or, unless `wait_own`, another thread)
    holds it. With `wait_own` (no thread of this process holds it), a hold by this process's pid is
    waited for, briefly: a child being started (podman, a mount helper) has a copy of the released
    descriptor between fork and exec, and the lock lives on in it for that moment."""
    deadline = time.monotonic() + (OWN_HOLD_WAIT_S if wait_own else 0.0)
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
        if holder != str(os.getpid()) or time.monotonic() > deadline:
            by = f" (pid {holder})" if holder.isdigit() else ""
            raise StateError(f"another sbx command is working on {what}{by}; try again when it has finished",
                             code="state.locked")
        log.debug("%s is still locked by this process (%s): waiting", what, lock_file)
        time.sleep(0.01)
