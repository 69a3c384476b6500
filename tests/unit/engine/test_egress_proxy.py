"""The egress proxy, run for real on a unix socket, against a real listener on 127.0.0.1: nothing
reaches it unless the grant opts in, whatever the spelling, whatever a resolver answers."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from sandbox.engine import egress


@dataclass
class Listener:
    port: int
    hits: list[str] = field(default_factory=list)
    v6: bool = False  # also listening on [::1] at the same port


@pytest.fixture
def listener() -> Iterator[Listener]:
    found = Listener(port=0)

    class Secret(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            found.hits.append(self.path)
            body = b"the secret\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            pass

    class V6Server(http.server.ThreadingHTTPServer):
        address_family = socket.AF_INET6

    servers: list[http.server.ThreadingHTTPServer] = [http.server.ThreadingHTTPServer(("127.0.0.1", 0), Secret)]
    found.port = servers[0].server_address[1]
    try:
        servers.append(V6Server(("::1", found.port), Secret))
        found.v6 = True
    except OSError:
        pass  # no IPv6 loopback here: the [::1] cases then prove only the refusal
    threads = [threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
               for s in servers]
    for thread in threads:
        thread.start()
    yield found
    for server in servers:
        server.shutdown()
        server.server_close()


def _ask(proxy: Path, request: str) -> str:
    """Send one proxy request over the unix socket; the status line of the answer (and its body)."""
    with socket.socket(socket.AF_UNIX) as conn:
        conn.settimeout(20)
        conn.connect(str(proxy))
        conn.sendall(request.encode())
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    return data.decode("latin-1")


def _status(answer: str) -> int:
    return int(answer.split(" ", 2)[1]) if answer.startswith("HTTP/") else 0


def _get(proxy: Path, host: str, port: int) -> str:
    return _ask(proxy, f"GET http://{host}:{port}/secret HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n")


# host spellings of this machine that the resolver turns into a loopback or unspecified address
SPELLINGS = ["127.0.0.1", "localhost", "2130706433", "0x7f000001", "0177.0.0.1", "127.1", "0.0.0.0", "0",  # noqa: S104
             "[::1]", "[::ffff:127.0.0.1]"]


@pytest.mark.parametrize("host", SPELLINGS)
def test_no_spelling_of_this_machine_reaches_it(tmp_path: Path, listener: Listener, host: str) -> None:
    sock = tmp_path / "egress.sock"
    with egress.serving(sock, (f"{host}:{listener.port}",)) as proxy:
        answer = _get(sock, host, listener.port)
        connect = _ask(sock, f"CONNECT {host}:{listener.port} HTTP/1.1\r\n\r\n")
    assert _status(answer) == 403, answer
    assert _status(connect) == 403, connect
    assert listener.hits == []
    assert proxy.refused and all(r.startswith(f"network: {host.strip('[]')}:{listener.port}: ") for r in proxy.refused)


@pytest.mark.parametrize("host", SPELLINGS)
def test_with_the_opt_in_each_spelling_reaches_it(tmp_path: Path, listener: Listener, host: str) -> None:
    if host == "[::1]" and not listener.v6:
        pytest.skip("no IPv6 loopback on this machine")
    sock = tmp_path / "egress.sock"
    with egress.serving(sock, egress.grants((f"{host}:{listener.port}",), allow_private=True)) as proxy:
        answer = _get(sock, host, listener.port)
    assert _status(answer) == 200, answer
    assert answer.endswith("the secret\n")
    assert listener.hits == ["/secret"]
    assert proxy.refused == []


def _resolver(monkeypatch: pytest.MonkeyPatch, name: str, answers: list[list[str]]) -> list[str]:
    """socket.getaddrinfo answers `name` with the next of `answers` at each lookup (the last one
    repeats); every other name resolves as usual. Returns the log of lookups of `name`."""
    real: Callable[..., Any] = socket.getaddrinfo
    lookups: list[str] = []

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != name:
            return real(host, port, *args, **kwargs)
        addresses = answers[min(len(lookups), len(answers) - 1)]
        lookups.append(host)
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "",
                 (a, int(port)) if ":" not in a else (a, int(port), 0, 0)) for a in addresses]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return lookups


def test_a_name_resolving_to_loopback_is_refused(tmp_path: Path, listener: Listener,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    _resolver(monkeypatch, "intranet.example", [["127.0.0.1"]])
    sock = tmp_path / "egress.sock"
    with egress.serving(sock, (f"intranet.example:{listener.port}",)) as proxy:
        answer = _get(sock, "intranet.example", listener.port)
    assert _status(answer) == 403, answer
    assert "intranet.example resolves to 127.0.0.1, a loopback address" in answer
    assert listener.hits == []
    assert proxy.refused == [f"network: intranet.example:{listener.port}: intranet.example resolves to 127.0.0.1, "
                             "a loopback address"]


def test_one_private_address_among_public_ones_refuses_the_name(tmp_path: Path, listener: Listener,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    _resolver(monkeypatch, "mixed.example", [["192.0.2.10", "127.0.0.1"]])
    sock = tmp_path / "egress.sock"
    with egress.serving(sock, (f"mixed.example:{listener.port}",)):
        answer = _get(sock, "mixed.example", listener.port)
    assert _status(answer) == 403, answer
    assert listener.hits == []


def test_a_rebinding_answer_cannot_redirect_the_connection(tmp_path: Path, listener: Listener,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The first answer passes the check; a second lookup would say 127.0.0.1. The proxy looks up
    once and connects to the address it checked, which does not answer here."""
    lookups = _resolver(monkeypatch, "rebind.example", [["192.0.2.10"], ["127.0.0.1"]])
    monkeypatch.setattr(egress, "CONNECT_TIMEOUT_S", 0.5)
    sock = tmp_path / "egress.sock"
    with egress.serving(sock, (f"rebind.example:{listener.port}",)):
        answer = _get(sock, "rebind.example", listener.port)
    assert _status(answer) == 502, answer
    assert listener.hits == []
    assert lookups == ["rebind.example"]


def test_the_grant_is_per_endpoint(tmp_path: Path, listener: Listener) -> None:
    """An opt-in for one endpoint does not open another the call was also granted."""
    sock = tmp_path / "egress.sock"
    allowed = (*egress.grants((f"127.0.0.1:{listener.port}",), allow_private=True), f"localhost:{listener.port}")
    with egress.serving(sock, allowed):
        opted = _get(sock, "127.0.0.1", listener.port)
        other = _get(sock, "localhost", listener.port)
    assert _status(opted) == 200, opted
    assert _status(other) == 403, other
    assert listener.hits == ["/secret"]
