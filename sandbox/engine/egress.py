"""sbx's egress proxy: the only way out of a container that was granted network, and only to the
hosts its call was granted.

The container has no network interface but loopback; the launcher relays 127.0.0.1:PORT to this
proxy's unix socket (bind-mounted into the container, unreachable to the tool itself). The proxy
speaks plain HTTP proxying: `CONNECT host:port` (TLS, ports 443 and 80) and absolute-form requests
(`GET http://host/path`, port 80), and refuses every other host with 403, recording the refusal.
Names are resolved here, on the host; the container has no DNS at all.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

DEFAULT_PORTS = (80, 443)  # for an allowed "host" without ":port"
MAX_HEAD = 64 * 1024
CONNECT_TIMEOUT_S = 15.0


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


def _splice(a: socket.socket, b: socket.socket) -> None:
    back = threading.Thread(target=_pump, args=(b, a), daemon=True)
    back.start()
    _pump(a, b)
    back.join(timeout=300)


def _read_head(conn: socket.socket) -> tuple[bytes, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk or len(data) > MAX_HEAD:
            raise ValueError("incomplete request head")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def _target(request_line: str) -> tuple[str, str, int, str]:
    """(method, host, port, origin-form path) of a proxy request line."""
    method, target, _version = request_line.split(" ", 2)
    if method == "CONNECT":
        host, _, port = target.rpartition(":")
        return method, host.strip("[]"), int(port), ""
    url = urlsplit(target)
    if url.scheme != "http" or not url.hostname:
        raise ValueError(f"not a proxy request: {target[:100]}")
    path = url.path or "/"
    return method, url.hostname, url.port or 80, path + (f"?{url.query}" if url.query else "")


def _endpoints(entry: str) -> list[tuple[str, int]]:
    """"host" allows ports 80 and 443; "host:port" (or "[v6]:port") allows that port only."""
    entry = entry.lower()
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        port = rest.removeprefix(":")
    elif entry.count(":") == 1:
        host, _, port = entry.partition(":")
    else:
        host, port = entry, ""
    return [(host, int(port))] if port.isdigit() else [(host, p) for p in DEFAULT_PORTS]


class _Handler(socketserver.BaseRequestHandler):
    server: EgressProxy

    def _refuse(self, status: str, why: str) -> None:
        body = f"sbx: {why}\n".encode()
        self.request.sendall(f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                             + body)

    def handle(self) -> None:
        conn: socket.socket = self.request
        conn.settimeout(60)
        try:
            head, rest = _read_head(conn)
            lines = head.decode("latin-1").split("\r\n")
            method, host, port, path = _target(lines[0])
        except (ValueError, OSError):
            with contextlib.suppress(OSError):
                self._refuse("400 Bad Request", "malformed proxy request")
            return
        if (host.lower(), port) not in self.server.allowed:
            self.server.refused.append(f"network: {host}:{port}")
            with contextlib.suppress(OSError):
                self._refuse("403 Forbidden", f"egress to {host}:{port} is not allowed for this call")
            return
        try:
            upstream = socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S)
        except OSError as exc:
            with contextlib.suppress(OSError):
                self._refuse("502 Bad Gateway", f"cannot reach {host}:{port}: {exc}")
            return
        with upstream:
            upstream.settimeout(300)
            if method == "CONNECT":
                conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            else:
                headers = [h for h in lines[1:] if not h.lower().startswith(("proxy-", "connection:"))]
                request = "\r\n".join([f"{method} {path} HTTP/1.1", *headers, "Connection: close", "", ""])
                upstream.sendall(request.encode("latin-1") + rest)
            _splice(conn, upstream)


class EgressProxy(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def __init__(self, path: Path, allowed: tuple[str, ...]) -> None:
        self.allowed = frozenset(pair for entry in allowed for pair in _endpoints(entry))
        self.refused: list[str] = []
        super().__init__(str(path), _Handler)


@contextlib.contextmanager
def serving(path: Path, allowed: tuple[str, ...]) -> Iterator[EgressProxy]:
    """Serve the proxy on `path` for the duration of the block."""
    proxy = EgressProxy(path, allowed)
    path.chmod(0o666)  # the container's root reaches it through the bind mount; nothing else can
    thread = threading.Thread(target=proxy.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        proxy.shutdown()
        proxy.server_close()
        thread.join(timeout=5)
