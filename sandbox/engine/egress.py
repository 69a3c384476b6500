"""sbx's egress proxy: the only way out of a container that was granted network, and only to the
hosts its call was granted.

The container has no network interface but loopback; the launcher relays 127.0.0.1:PORT to this
proxy's unix socket (bind-mounted into the container, unreachable to the tool itself). The proxy
speaks plain HTTP proxying: `CONNECT host:port` (TLS, ports 443 and 80) and absolute-form requests
(`GET http://host/path`, port 80), and refuses every other host with 403, recording the refusal.
Names are resolved here, on the host; the container has no DNS at all.

The proxy connects from the host's network, so an allowed host is resolved once, refused when any
of its addresses is the host itself or a network around it (`sandbox.destinations`: loopback,
link-local, private, CGNAT, multicast, ...), and the connection goes to exactly the addresses that
were checked: a second lookup, which a rebinding DNS server could answer differently, never
happens. A grant written "host:port private" (a profile's `allow_private_destinations`) skips
that check for that endpoint only.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import socketserver
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sandbox.destinations import literal_address, refusal

log = logging.getLogger(__name__)

DEFAULT_PORTS = (80, 443)  # for an allowed "host" without ":port"
MAX_HEAD = 64 * 1024
CONNECT_TIMEOUT_S = 15.0
PRIVATE = "private"  # the grant's second word: this endpoint may be a private or local address

# (family, sockaddr) pairs, as getaddrinfo gives them; a seam for tests of rebinding answers
Resolver = Callable[[str, int], list[tuple[int, Any]]]


def resolve(host: str, port: int) -> list[tuple[int, Any]]:
    """Every address `host` has for TCP, in the resolver's order (one lookup)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys((family, sockaddr) for family, _type, _proto, _name, sockaddr in infos
                              if family in (socket.AF_INET, socket.AF_INET6)))


def grants(endpoints: Iterable[str], *, allow_private: bool) -> tuple[str, ...]:
    """The proxy's allowlist for a call's endpoints ("host", "host:port", "[v6]:port")."""
    return tuple(f"{entry} {PRIVATE}" if allow_private else entry for entry in endpoints)


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        try:
            sink.shutdown(socket.SHUT_WR)
        except OSError as exc:  # the other side is gone already
            log.debug("relay: shutdown after the copy failed: %s", exc)


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
    entry = entry.lower().split()[0] if entry.split() else ""
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        port = rest.removeprefix(":")
    elif entry.count(":") == 1:
        host, _, port = entry.partition(":")
    else:
        host, port = entry, ""
    return [(host, int(port))] if port.isdigit() else [(host, p) for p in DEFAULT_PORTS]


def _forbidden(host: str, addresses: list[tuple[int, Any]]) -> str | None:
    """Why `host`, resolved to `addresses`, may not be reached; any one forbidden address refuses
    the name (a rebinding answer may mix public and private addresses)."""
    if not addresses:
        return f"{host} has no address"
    for _family, sockaddr in addresses:
        address = literal_address(str(sockaddr[0]))
        why = refusal(address) if address is not None else "an address sbx cannot read"
        if why is not None:
            return f"{host} resolves to {sockaddr[0]}, {why}"
    return None


def _connect(addresses: list[tuple[int, Any]]) -> socket.socket:
    """A TCP connection to the first of the checked addresses that answers: by address, never by
    name, so nothing is looked up twice."""
    error: OSError = OSError("no address to connect to")
    for family, sockaddr in addresses:
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(CONNECT_TIMEOUT_S)
            sock.connect(sockaddr)
        except OSError as exc:
            sock.close()
            error = exc
            continue
        return sock
    raise error


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
        endpoint = (host.lower(), port)
        if endpoint not in self.server.allowed:
            self.server.refused.append(f"network: {host}:{port}")
            with contextlib.suppress(OSError):
                self._refuse("403 Forbidden", f"egress to {host}:{port} is not allowed for this call")
            return
        try:
            addresses = self.server.resolver(host, port)
        except (OSError, UnicodeError) as exc:
            with contextlib.suppress(OSError):
                self._refuse("502 Bad Gateway", f"cannot resolve {host}: {exc}")
            return
        why = None if endpoint in self.server.private_ok else _forbidden(host, addresses)
        if why is not None:
            self.server.refused.append(f"network: {host}:{port}: {why}")
            with contextlib.suppress(OSError):
                self._refuse("403 Forbidden", f"egress to {host}:{port} is refused: {why}")
            return
        try:
            upstream = _connect(addresses)
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

    def __init__(self, path: Path, allowed: tuple[str, ...], *, resolver: Resolver | None = None) -> None:
        self.allowed = frozenset(pair for entry in allowed for pair in _endpoints(entry))
        self.private_ok = frozenset(pair for entry in allowed if entry.split()[1:] == [PRIVATE]
                                    for pair in _endpoints(entry))
        self.resolver: Resolver = resolver or resolve
        self.refused: list[str] = []
        super().__init__(str(path), _Handler)


@contextlib.contextmanager
def serving(path: Path, allowed: tuple[str, ...], *, resolver: Resolver | None = None) -> Iterator[EgressProxy]:
    """Serve the proxy on `path` for the duration of the block."""
    proxy = EgressProxy(path, allowed, resolver=resolver)
    path.chmod(0o666)  # the container's root reaches it through the bind mount; nothing else can
    thread = threading.Thread(target=proxy.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        proxy.shutdown()
        proxy.server_close()
        thread.join(timeout=5)
