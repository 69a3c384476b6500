"""A minimal libpod REST client on the standard library, for the per-action hot path.

Why not podman-py here: importing it (requests, urllib3, every domain manager) costs ~0.2 s, a third
of a whole short action from a cold CLI; these five calls (create, attach, start, inspect, delete)
need none of it. podman-py remains the client for everything else (engine/podman.py).
Transport failures and HTTP errors are translated into sbx's error tree here.
"""

from __future__ import annotations

import http.client
import json
import socket
import urllib.parse
from pathlib import Path
from typing import Any

from sandbox.errors import EngineError, EngineUnavailableError, ImageNotFoundError

API_PREFIX = "/v4.0.0/libpod"


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, socket_path: Path, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._socket_path = str(socket_path)

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._socket_path)
        self.sock = sock


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
        self._conn: _UnixConnection | None = None

    def _send(self, method: str, url: str, body: bytes | None) -> tuple[int, bytes]:
        if self._conn is None:
            self._conn = _UnixConnection(self.socket_path, self.timeout)
        headers = {"Content-Type": "application/json"} if body is not None else {}
        self._conn.request(method, url, body=body, headers=headers)
        response = self._conn.getresponse()
        return response.status, response.read()

    def request(self, method: str, path: str, *, what: str, params: dict[str, Any] | None = None,
                body: Any = None) -> tuple[int, bytes]:
        url = _url(path, params)
        payload = json.dumps(body).encode() if body is not None else None
        try:
            try:
                return self._send(method, url, payload)
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.close()  # a kept-alive connection the server had closed: one fresh try
                return self._send(method, url, payload)
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise EngineUnavailableError(
                f"podman's API did not answer while trying to {what}: {exc}", hint="run `sbx doctor`"
            ) from None

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
        if self._conn is not None:
            self._conn.close()
            self._conn = None
