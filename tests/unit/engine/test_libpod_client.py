"""The hot-path libpod client: an exchange interrupted midway does not poison the next request."""

from __future__ import annotations

import contextlib
import socket
import threading
from pathlib import Path

import pytest

from sandbox.engine import libpod
from sandbox.engine.libpod import LibpodClient


def _serve(path: Path, answers: dict[bytes, bytes]) -> threading.Thread:
    """A server that answers each request by its method (`answers`: method -> response, each used
    once), on whatever connection: connections are handled in threads, in no fixed order."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen()

    def handle(conn: socket.socket) -> None:
        buffer = b""
        with conn, contextlib.suppress(OSError):  # the interrupted client hangs up before its answer
            while answers:
                while b"\r\n\r\n" not in buffer:
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    buffer += chunk
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                conn.sendall(answers.pop(head.split(b" ", 1)[0]))

    def accept() -> None:
        with server:
            while answers:
                conn, _ = server.accept()
                threading.Thread(target=handle, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    return thread


def _answer(status: int, body: bytes) -> bytes:
    return b"HTTP/1.1 %d X\r\nContent-Length: %d\r\n\r\n%s" % (status, len(body), body)


def test_an_interrupted_request_closes_its_connection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "api.sock"
    _serve(path, {b"POST": _answer(204, b""), b"DELETE": _answer(500, b'{"message": "still running"}')})
    client = LibpodClient(path, timeout=5)
    real_read = libpod._Response.read
    calls = []

    def interrupted_once(self: libpod._Response) -> tuple[int, bytes, bool]:
        calls.append(1)
        if len(calls) == 1:
            raise KeyboardInterrupt
        return real_read(self)

    monkeypatch.setattr(libpod._Response, "read", interrupted_once)
    with pytest.raises(KeyboardInterrupt):
        client.request("POST", "/containers/x/start", what="start the container")
    # the removal that follows must read its own answer, not the start's 204 left on the wire
    status, body = client.request("DELETE", "/containers/x", what="remove the container")
    assert status == 500 and b"still running" in body
    client.close()
