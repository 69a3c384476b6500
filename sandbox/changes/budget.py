"""Change budgets: what applying a change layer would cost the host, counted before it is read.

The change layer's tmpfs caps allocated blocks, which is not what a commit writes: a sparse file
(`truncate -s 3G`) allocates nothing, and ten hard links to one file allocate it once, yet a
commit writes every byte of every name (links are copied, holes are kept as holes by hostfs but
the review hashes them). So a layer is measured by what it would become on the host:

- bytes: the apparent size (st_size) of every regular file and symlink, once per name;
- inodes: every entry (file, directory, link, whiteout), once per name.

`measure` only stats entries (nothing is read), stops as soon as a limit is passed, and is
iterative over directory descriptors, so a 15 TB sparse file or a deep tree costs what its
metadata costs. Budgets hold per changeset and across all pending changesets of a workspace
(their measured usage is kept beside each layer, `usage.json`).

Reading a layer for review (hashing, diffs) runs under a `deadline`: a layer that takes longer
than that is refused rather than holding the workspace lock for as long as it takes.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import stat
import time
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

from sandbox.changes.statefiles import write_json
from sandbox.errors import StateError
from sandbox.types import Limits

log = logging.getLogger(__name__)

USAGE_FILE = "usage.json"  # beside a changeset's upper/: its measured usage
MAX_DEPTH = 256  # directory levels measured; a deeper layer is refused (the review refuses it too)
INODE_HEADROOM = 64  # inodes of the layer's tmpfs beyond the budget: its root, upper, work, overlay's own
# The review reads a layer at least this fast, or is stopped: a generous floor for a slow disk.
REVIEW_BYTES_PER_S = 32 << 20
REVIEW_BASE_S = 30.0

DENIAL = "change budget: "  # how a step's denial from a budget begins

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass(frozen=True)
class Usage:
    bytes: int = 0
    inodes: int = 0
    complete: bool = True  # False: the walk stopped early (a limit was passed); the real usage is larger
    too_deep: bool = False  # directories nest deeper than MAX_DEPTH: not measured below, refused

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.bytes + other.bytes, self.inodes + other.inodes, self.complete and other.complete,
                     self.too_deep or other.too_deep)


@dataclass(frozen=True)
class Budget:
    change_bytes: int
    change_inodes: int
    pending_bytes: int
    pending_inodes: int

    @classmethod
    def of(cls, limits: Limits) -> Budget:
        return cls(limits.change_bytes, limits.change_inodes, limits.pending_bytes, limits.pending_inodes)

    def room(self, pending: Usage) -> Usage:
        """What one more changeset may still use, given the pending ones."""
        return Usage(
            max(0, min(self.change_bytes, self.pending_bytes - pending.bytes)),
            max(0, min(self.change_inodes, self.pending_inodes - pending.inodes)),
        )

    def review_seconds(self) -> float:
        """How long reading a layer within budget may take before it is refused."""
        return REVIEW_BASE_S + 2 * self.change_bytes / REVIEW_BYTES_PER_S

    def verdict(self, usage: Usage, pending: Usage, pending_count: int) -> str | None:
        """Why a layer with `usage` breaks the budget (the step's denial), or None when it fits."""
        more = "" if usage.complete else "more than "
        if usage.too_deep:
            return (f"{DENIAL}the changes nest directories deeper than {MAX_DEPTH} levels; "
                    "they were discarded")
        if usage.inodes > self.change_inodes:
            return (f"{DENIAL}the changes hold {more}{usage.inodes} entries, over the "
                    f"{self.change_inodes} one changeset may hold ([limits] change_inodes); they were discarded")
        if usage.bytes > self.change_bytes:
            return (f"{DENIAL}applying the changes would write {more}{_size(usage.bytes)}, over the "
                    f"{_size(self.change_bytes)} one changeset may write ([limits] change_bytes; a sparse file "
                    "counts its full size, a hard link counts once per name); they were discarded")
        total = usage + pending
        waiting = f"with the {pending_count} pending changeset(s) of this workspace"
        if total.inodes > self.pending_inodes:
            return (f"{DENIAL}{waiting}, {more}{total.inodes} entries would wait for review, over the "
                    f"{self.pending_inodes} allowed ([limits] pending_inodes; apply or discard some, `sbx list`); "
                    "the changes were discarded")
        if total.bytes > self.pending_bytes:
            return (f"{DENIAL}{waiting}, {more}{_size(total.bytes)} would wait for review, over the "
                    f"{_size(self.pending_bytes)} allowed ([limits] pending_bytes; apply or discard some, "
                    "`sbx list`); the changes were discarded")
        return None


def measure(upper: Path, stop_above: Usage | None = None) -> Usage:
    """What committing `upper` would write. With `stop_above`, the walk stops (complete=False) as
    soon as either count passes it; a tree deeper than MAX_DEPTH is not measured below (too_deep)."""
    total_bytes = inodes = 0
    stack: list[tuple[int, Iterator[os.DirEntry[str]]]] = []

    def enter(fd: int) -> None:
        try:
            stack.append((fd, os.scandir(fd)))
        except BaseException:
            os.close(fd)
            raise

    enter(os.open(upper, _DIR_FLAGS))
    try:
        while stack:
            fd, entries = stack[-1]
            entry = next(entries, None)
            if entry is None:
                _close(*stack.pop())
                continue
            st = entry.stat(follow_symlinks=False)
            inodes += 1
            if stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode):
                total_bytes += st.st_size
            if stop_above is not None and (total_bytes > stop_above.bytes or inodes > stop_above.inodes):
                return Usage(total_bytes, inodes, complete=False)
            if stat.S_ISDIR(st.st_mode):
                if len(stack) >= MAX_DEPTH:
                    return Usage(total_bytes, inodes, complete=False, too_deep=True)
                enter(os.open(entry.name, _DIR_FLAGS, dir_fd=fd))
        return Usage(total_bytes, inodes)
    finally:
        while stack:
            _close(*stack.pop())


def _close(fd: int, entries: Iterator[os.DirEntry[str]]) -> None:
    close = getattr(entries, "close", None)
    if close is not None:
        close()
    os.close(fd)


def save_usage(changeset_dir: Path, usage: Usage) -> None:
    """A cache (`usage_of` measures again what it cannot read back), so not made durable."""
    write_json(changeset_dir / USAGE_FILE, {"bytes": usage.bytes, "inodes": usage.inodes}, durable=False)


def usage_of(upper: Path) -> Usage:
    """A pending layer's usage: as measured when it was made, else measured now (and kept)."""
    saved = upper.parent / USAGE_FILE
    try:
        data = json.loads(saved.read_bytes())
        if isinstance(data, dict) and isinstance(data.get("bytes"), int) and isinstance(data.get("inodes"), int):
            return Usage(data["bytes"], data["inodes"])
    except (OSError, ValueError):
        pass
    try:
        usage = measure(upper)
    except FileNotFoundError:
        return Usage()  # its folders are gone (quarantined): nothing of it waits for review
    try:
        save_usage(upper.parent, usage)
    except OSError as exc:  # measured again next time
        log.debug("usage of %s not saved: %s", upper, exc)
    return usage


def pending_usage(uppers: Iterable[Path]) -> tuple[Usage, int]:
    """The usage of the pending layers `uppers` together, and how many there are."""
    total, count = Usage(), 0
    for upper in uppers:
        total, count = total + usage_of(upper), count + 1
    return total, count


# -- the review's deadline -------------------------------------------------------------------------
class ReviewTooSlow(StateError):
    """Reading a change layer for review passed its deadline: the store discards the layer."""

    def __init__(self, seconds: float) -> None:
        super().__init__(
            f"reading its changes for review took longer than {seconds:.0f} s",
            code="state.review_deadline",
            hint="lower the change budgets ([limits] change_bytes) or make the state folder's disk faster",
        )
        self.seconds = seconds


_DEADLINE: ContextVar[tuple[float, float] | None] = ContextVar("sbx_review_deadline", default=None)


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Readers of the layer in this block call `check_deadline`; past `seconds` it raises."""
    token = _DEADLINE.set((time.monotonic() + seconds, seconds))
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def check_deadline() -> None:
    current = _DEADLINE.get()
    if current is not None and time.monotonic() > current[0]:
        raise ReviewTooSlow(current[1])


def _size(n: int) -> str:
    for unit, shift in (("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift:
            return f"{n / (1 << shift):.1f} {unit} ({n} bytes)"
    return f"{n} bytes"
