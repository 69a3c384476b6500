"""sbx's file locks: `waiting` releases on every way out and waits for another holder;
`exclusive` refuses a second holder at once and is re-entrant in one thread."""

from __future__ import annotations

import fcntl
import os
import threading
import time
from pathlib import Path

import pytest

from sandbox.errors import StateError
from sandbox.locks import exclusive, waiting


def _free(path: Path) -> bool:
    """Whether another open file description could take the lock now."""
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True


def test_waiting_holds_the_lock_inside_and_releases_it_after(tmp_path: Path) -> None:
    lock = tmp_path / "deeper" / "x.lock"
    with waiting(lock):
        assert not _free(lock)
    assert _free(lock)
    assert lock.stat().st_mode & 0o777 == 0o600


def test_waiting_releases_the_lock_when_the_block_raises(tmp_path: Path) -> None:
    lock = tmp_path / "x.lock"
    with pytest.raises(RuntimeError), waiting(lock):
        raise RuntimeError("boom")
    assert _free(lock)


def test_waiting_waits_for_the_holder(tmp_path: Path) -> None:
    lock = tmp_path / "x.lock"
    order: list[str] = []
    entered = threading.Event()

    def second() -> None:
        with waiting(lock):
            order.append("second")

    with waiting(lock):
        thread = threading.Thread(target=second)
        thread.start()
        entered.wait(0.3)  # gives the thread time to block on the lock
        order.append("first")
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert order == ["first", "second"]


def test_waiting_refuses_a_symlinked_lock_file(tmp_path: Path) -> None:
    (tmp_path / "target").write_text("")
    (tmp_path / "x.lock").symlink_to(tmp_path / "target")
    with pytest.raises(OSError), waiting(tmp_path / "x.lock"):
        pass


def test_exclusive_is_reentrant_in_a_thread_and_refuses_another_at_once(tmp_path: Path) -> None:
    lock = tmp_path / "lock"
    errors: list[StateError] = []

    def other() -> None:
        try:
            with exclusive(lock, "the workspace"):
                pass
        except StateError as exc:
            errors.append(exc)

    with exclusive(lock, "the workspace"), exclusive(lock, "the workspace"):
        started = time.monotonic()
        thread = threading.Thread(target=other)
        thread.start()
        thread.join(timeout=10)
        assert time.monotonic() - started < 5
    assert [e.code for e in errors] == ["state.locked"]
    assert f"pid {os.getpid()}" in errors[0].message
    assert _free(lock)


def test_a_lock_that_lives_on_in_a_child_being_started_is_waited_for(tmp_path: Path) -> None:
    """A child forked while the lock was held keeps a copy of its descriptor until it execs (here:
    exits), and with it the lock: this process's next `exclusive` waits for that, it is its own."""
    lock = tmp_path / "lock"
    with exclusive(lock, "the workspace"):
        child = os.fork()
        if child == 0:  # the copy of the descriptor holds the lock for 0.3 s after the parent let go
            time.sleep(0.3)
            os._exit(0)
    started = time.monotonic()
    with exclusive(lock, "the workspace"):
        waited = time.monotonic() - started
    os.waitpid(child, 0)
    assert 0.1 < waited < 5
    assert _free(lock)
