"""Reading what a container produced: its multiplexed output stream, capped as it arrives, the
files it left in its report folder, and Podman's start errors said in the user's terms."""

from __future__ import annotations

import os
import struct
from pathlib import Path

from sandbox.errors import CommandNotRunnableError, EngineError

_NOT_RUNNABLE = ("executable file not found", "no such file or directory", "permission denied", "not a directory")


def start_error(message: str) -> EngineError:
    """Podman reports an unrunnable command as a start failure; say it in the user's terms."""
    if "executable file not found" in message:
        exe = message.split('exec: "', 1)[-1].split('"', 1)[0]
        return CommandNotRunnableError(f"command not found in the image: {exe}")
    if any(marker in message.lower() for marker in _NOT_RUNNABLE):
        return CommandNotRunnableError(f"the command cannot be executed: {message.split('exec: ', 1)[-1]}")
    return EngineError(f"podman could not start the container: {message}", code="engine.start_failed")


def read_reports(folder: Path, cap: int = 1 << 20) -> dict[str, bytes]:
    """Regular files the container left in its report folder, read without following links."""
    out: dict[str, bytes] = {}
    for entry in os.scandir(folder):
        if entry.is_file(follow_symlinks=False):
            fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            with os.fdopen(fd, "rb") as handle:
                out[entry.name] = handle.read(cap)
    return out


class Capture:
    """Demultiplexes Docker-style frames (8-byte header: stream, size) as they arrive, keeping at
    most `cap` bytes per stream and counting the rest, so an output flood costs no memory."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.streams = {1: bytearray(), 2: bytearray()}
        self.truncated = {1: False, 2: False}
        self._pending = bytearray()

    def feed(self, data: bytes) -> None:
        self._pending += data
        while len(self._pending) >= 8:
            kind, size = struct.unpack_from(">BxxxL", self._pending, 0)
            if len(self._pending) < 8 + size:
                return
            chunk = bytes(self._pending[8 : 8 + size])
            del self._pending[: 8 + size]
            kind = kind if kind in self.streams else 1
            room = self.cap - len(self.streams[kind])
            if len(chunk) > room:
                self.truncated[kind] = True
                chunk = chunk[: max(room, 0)]
            self.streams[kind] += chunk
