"""A minimal libpod REST client on a bare unix socket, for the per-action hot path.

Why not podman-py here: importing it (requests, urllib3, every domain manager) costs ~0.2 s, a third
of a whole short action from a cold CLI; these five calls (create, attach, start, inspect, delete)
need none of it (nor http.client, whose email/ssl imports cost another 30 ms). podman-py remains
the client for everything else (engine/podman.py).
Transport failures and HTTP errors are translated into sbx's error tree here.
"""

from __future__ import annotations

import json
import socket
import urllib.parse
from pathlib import Path
from typing import Any

from sandbox.errors import EngineError, EngineUnavailableError, ImageNotFoundError

API_PREFIX = "/v4.0.0/libpod"


class _Response:
    """Reads one HTTP/1.1 response from a socket: status, headers, a Content-Length or chunked body."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buffer = b""

    def _fill(self) -> None:
        chunk = self._sock.recv(65536)
        if not chunk:
            raise ConnectionResetError("podman closed the connection")
        self._buffer += chunk

    def _line(self) -> bytes:
        while b"\r\n" not in self._buffer:
            self._fill()
        line, _, self._buffer = self._buffer.partition(b"\r\n")
        return line

    def _exactly(self, size: int) -> bytes:
        while len(self._buffer) < size:
            self._fill()
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    def read(self) -> tuple[int, bytes, bool]:
        """(status, body, keep-alive)."""
        status = int(self._line().split(b" ", 2)[1])
        headers: dict[bytes, bytes] = {}
        while line := self._line():
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        if status in (204, 304) or 100 <= status < 200:
            body = b""
        elif headers.get(b"transfer-encoding", b"").lower() == b"chunked":
            body = b""
            while size := int(self._line().split(b";")[0], 16):
                body += self._exactly(size)
                self._line()
            while self._line():  # trailers
                pass
        elif b"content-length" in headers:
            body = self._exactly(int(headers[b"content-length"]))
        else:
            while True:
                try:
                    self._fill()
                except ConnectionResetError:
                    break
            body, self._buffer = self._buffer, b""
            return status, body, False
        return status, body, headers.get(b"connection", b"").lower() != b"close"


def _url(path: str, params: dict[str, Any] | None) -> str:
    query = urllib.parse.urlencode(params or {}, doseq=True)
    return f"{API_PREFIX}{path}" + (f"?{query}" if query else "")


def error_message(body: bytes, status: int) -> str:
    try:
        data = json.loads(body)
        return str(data.get("message") or data.get("cause") or body.decode(errors="replace"))
    except (ValueError, AttributeError):
        return body.decode(errors="replace").strip() or f"HTTP {status}"


class LibpodClient:
    """One keep-alive connection, reopened when Podman closes it; not shared between threads."""

    def __init__(self, socket_path: Path, timeout: float = 60.0) -> None:
        self.socket_path = socket_path
        self.timeout = timeout
        self._sock: socket.socket | None = None

    def _send(self, method: str, url: str, body: bytes | None) -> tuple[int, bytes]:
        if self._sock is None:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self._sock.settimeout(self.timeout)
            self._sock.connect(str(self.socket_path))
        head = f"{method} {url} HTTP/1.1\r\nHost: d\r\nContent-Length: {len(body or b'')}\r\n"
        if body is not None:
            head += "Content-Type: application/json\r\n"
        self._sock.sendall(head.encode() + b"\r\n" + (body or b""))
        status, data, keep_alive = _Response(self._sock).read()
        if not keep_alive:
            self.close()
        return status, data

    def request(self, method: str, path: str, *, what: str, params: dict[str, Any] | None = None,
                body: Any = None) -> tuple[int, bytes]:
        url = _url(path, params)
        payload = json.dumps(body).encode() if body is not None else None
        try:
            try:
                return self._send(method, url, payload)
            except (BrokenPipeError, ConnectionResetError):
                self.close()  # a kept-alive connection the server had closed: one fresh try
                return self._send(method, url, payload)
        except (OSError, ValueError, IndexError) as exc:
            self.close()
            raise EngineUnavailableError(
                f"podman's API did not answer while trying to {what}: {exc}", hint="run `sbx doctor`"
            ) from None
        except BaseException:
            # Interrupted mid-exchange (Ctrl-C): the connection may still carry this request's
            # answer, which the next request (the cleanup's removal) would read as its own.
            self.close()
            raise

    def json(self, method: str, path: str, *, what: str, params: dict[str, Any] | None = None,
             body: Any = None) -> Any:
        status, data = self.request(method, path, what=what, params=params, body=body)
        if status >= 400:
            message = error_message(data, status)
            if status == 404 and ("image" in message or "no such image" in message.lower()):
                raise ImageNotFoundError(f"image not found ({message})", hint="run `sbx image build`")
            if "image not known" in message:
                raise ImageNotFoundError(f"image not found ({message})", hint="run `sbx image build`")
            raise EngineError(f"podman could not {what}: {message}")
        return json.loads(data) if data else None

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
