"""Content digests: of one file, of a directory's names, and of a whole change layer.

`layer_digest` is the changeset's sha256: a canonical serialisation of the upper directory as it
stands on disk (sorted paths, type, permission bits, content digest or link target, whiteout and
opaque markers). It depends on the upper only, so it can be recomputed at commit time to prove
that what is applied is what was reviewed.

At commit time the files' content digests are taken from the review's records (`reviewed`)
instead of being read again: the commit hashes every copy it stages and refuses one that differs
from its record (`changeset.hash_mismatch`), so each committed byte is read once, and a file that
is not committed cannot matter. Everything else (the set of paths, types, modes, link targets,
whiteouts, opaque markers) is read from the upper as it stands.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterable, Iterator, Mapping

from sandbox.changes import overlay
from sandbox.changes.budget import check_deadline
from sandbox.changes.walk import Limits

CHUNK = 1024 * 1024
_LAYER_DIGEST_VERSION = b"sbx-changeset-v1\n"


def hash_fd(fd: int) -> tuple[str, int]:
    """sha256 and size of what can be read from `fd` from its current offset."""
    h = hashlib.sha256()
    size = 0
    while chunk := os.read(fd, CHUNK):
        check_deadline()  # a review reads within its deadline, never for as long as a file is
        h.update(chunk)
        size += len(chunk)
    return h.hexdigest(), size


def hash_file(real_path: str) -> tuple[str, int]:
    """sha256 and size of a regular file, opened without following a final symlink."""
    fd = os.open(real_path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{real_path} is not a regular file")
        return hash_fd(fd)
    finally:
        os.close(fd)


def listing_digest(names: Iterable[str]) -> str:
    """Digest of a directory's child names, to notice entries added after review."""
    h = hashlib.sha256()
    for name in sorted(os.fsencode(n) for n in names):
        h.update(_field(name))
    return h.hexdigest()


def layer_digest(upper: str, reviewed: Mapping[str, str] | None = None) -> str:
    """The changeset digest of `upper`; a regular file whose path is in `reviewed` counts with
    that content digest, unread (the commit checks the copies it makes against the same)."""
    h = hashlib.sha256(_LAYER_DIGEST_VERSION)
    for record in _layer_records(upper, reviewed or {}):
        h.update(record)
    return h.hexdigest()


def _layer_records(upper: str, reviewed: Mapping[str, str]) -> Iterator[bytes]:
    """One record per entry, in pre-order (a directory, then its subtree, then its next
    sibling), walked with an explicit stack so that no depth can exhaust the interpreter's."""
    limits = Limits.for_roots([upper])
    stack = [_sorted_entries(upper, "")]
    while stack:
        item = next(stack[-1], None)
        if item is None:
            stack.pop()
            continue
        rel, entry = item
        limits.check(rel)
        st = entry.stat(follow_symlinks=False)
        known = reviewed.get(rel) if stat.S_ISREG(st.st_mode) else None
        kind, payload = (b"file", known.encode()) if known is not None else _describe(entry.path, st)
        fields = (os.fsencode(rel), kind, b"%o" % (st.st_mode & 0o7777), payload)
        yield b"".join(_field(f) for f in fields) + b"\n"
        if kind == b"dir":
            limits.check_dir(rel)
            stack.append(_sorted_entries(entry.path, rel))


def _sorted_entries(real_dir: str, rel_dir: str) -> Iterator[tuple[str, os.DirEntry[str]]]:
    with os.scandir(real_dir) as it:
        entries = sorted(it, key=lambda e: os.fsencode(e.name))
    for entry in entries:
        yield (f"{rel_dir}/{entry.name}" if rel_dir else entry.name), entry


def _describe(real_path: str, st: os.stat_result) -> tuple[bytes, bytes]:
    if stat.S_ISREG(st.st_mode):
        return b"file", hash_file(real_path)[0].encode()
    if stat.S_ISDIR(st.st_mode):
        return b"dir", b"opaque" if overlay.is_opaque(real_path) else b""
    if stat.S_ISLNK(st.st_mode):
        return b"symlink", os.fsencode(os.readlink(real_path))
    if overlay.is_whiteout(st):
        return b"whiteout", b""
    return b"other", b"%o:%d:%d" % (stat.S_IFMT(st.st_mode), os.major(st.st_rdev), os.minor(st.st_rdev))


def _field(data: bytes) -> bytes:
    return b"%d:%s," % (len(data), data)
