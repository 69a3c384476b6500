"""Network for a call reaches exactly the hosts its profile and arguments grant, through sbx's proxy,
and never this machine or a private network unless the profile opts in.

The local HTTP server these tests talk to listens on the host's 127.0.0.1: the tests that must
reach it use a copy of the profiles whose http_get opts in (`allow_private_destinations`)."""

from __future__ import annotations

import http.server
import ipaddress
import shutil
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from sandbox.app import Workspace
from sandbox.config import Settings
from sandbox.destinations import refusal
from sandbox.engine import egress
from tests.integration.conftest import sbx
from tests.integration.test_containment import ROOT, _probe_profiles

pytestmark = pytest.mark.usefixtures("engine")  # every test here runs on both engines

HITS: list[str] = []  # paths the server was asked for, by any test's server


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        HITS.append(self.path)
        body = f"hello from {self.path}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[int]:
    HITS.clear()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def opted_in(tmp_path: Path) -> Path:
    """A copy of the shipped profiles whose http_get may reach this machine and private networks."""
    folder = tmp_path / "profiles-private"
    shutil.copytree(ROOT / "profiles", folder)
    text = (folder / "http_get.toml").read_text()
    network = '[network]\nmode = "proxy"\n'
    assert network in text
    (folder / "http_get.toml").write_text(text.replace(network, network + "allow_private_destinations = true\n"))
    return folder


def test_http_get_reaches_the_urls_host_only(workspace: Path, server: int, opted_in: Path) -> None:
    ws = Workspace(workspace, replace(Settings.from_env(), profiles_dir=opted_in))
    result = ws.call_tool("http_get", {"url": f"http://127.0.0.1:{server}/page"})
    step = result.steps[0]
    assert step.exit_code == 0, step.stderr
    assert step.stdout == "hello from /page\n"
    assert step.protections.network == f"proxy:127.0.0.1:{server} (private destinations allowed)"
    assert result.changeset.changes == ()


def test_other_hosts_are_refused_and_reported(workspace: Path, server: int, tmp_path: Path) -> None:
    settings = _probe_profiles(tmp_path, f"""
name = "probe"
description = "python with egress to one host that is not the server"
argv = ["/usr/bin/python3", "-c", "{{code}}"]
[args.code]
type = "string"
[network]
mode = "proxy"
hosts = ["127.0.0.1:{server + 1}"]
allow_private_destinations = true
[syscalls]
groups = ["network"]
""")
    ws = Workspace(workspace, settings)
    code = (
        "import urllib.request, urllib.error, socket, errno\n"
        f"try:\n    urllib.request.urlopen('http://127.0.0.1:{server}/x', timeout=10)\n"
        "except urllib.error.HTTPError as e:\n    print('proxy', e.code)\n"
        "s = socket.socket()\n"
        f"try:\n    s.connect(('127.0.0.1', {server}))\n"
        "except OSError as e:\n    print('direct', errno.errorcode[e.errno])\n"
    )
    step = ws.call_tool("probe", {"code": code}).steps[0]
    # the proxy refuses the host; a direct connection is stopped by Landlock's TCP rule (ABI >= 4),
    # and would find no route anyway: the container's only interface is loopback.
    assert step.stdout.split("\n")[0] == "proxy 403", step.stderr
    assert step.stdout.split("\n")[1] in ("direct EACCES", "direct ECONNREFUSED"), step.stdout
    assert f"network: 127.0.0.1:{server}" in step.denied


def test_without_network_nothing_leaves(workspace: Path, server: int) -> None:
    ws = Workspace(workspace, Settings.from_env())
    command = f"python3 -c \"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{server}/', timeout=5)\""
    step = ws.call_tool("run_shell", {"command": command}).steps[0]
    assert step.exit_code != 0
    assert step.protections.network == "none"


def test_install_package_lives_and_dies_in_its_container(workspace: Path) -> None:
    ws = Workspace(workspace, Settings.from_env())
    step = ws.call_tool("install_package", {"name": "hello"}).steps[0]
    assert step.exit_code == 0, step.stderr[-2000:]
    assert "Setting up hello" in step.stdout
    after = ws.call_tool("run_shell", {"command": "command -v hello || echo absent"}).steps[0]
    assert after.stdout.strip() == "absent"


# Every spelling of this machine (and its neighbours) a URL can carry: the compiler refuses each
# before anything runs, whatever the resolver would make of it.
SPELLINGS = ["127.0.0.1", "localhost", "LOCALHOST.", "2130706433", "0x7f000001", "0177.0.0.1", "127.1",
             "0.0.0.0", "0", "[::1]", "[::ffff:127.0.0.1]", "169.254.169.254", "10.0.0.1", "100.64.0.1"]  # noqa: S104


@pytest.mark.parametrize("host", SPELLINGS)
def test_no_spelling_of_this_machine_runs(workspace: Path, server: int, host: str) -> None:
    run = sbx("exec", "-w", str(workspace), "--json", "--tool", "http_get", "--arg", f"url=http://{host}:{server}/secret")
    assert run.code != 0
    assert run.json["error"]["code"] == "policy.forbidden_destination", run.stdout
    assert "allow_private_destinations" in run.json["error"]["hint"]
    plain = sbx("exec", "-w", str(workspace), "--tool", "http_get", "--arg", f"url=http://{host}:{server}/secret")
    assert plain.code != 0 and len(plain.stderr.strip().splitlines()) == 1, plain.stderr
    assert HITS == []
    assert sbx("diff", "-w", str(workspace), "--json").json["error"]["code"] == "changeset.none_pending"


# the spellings the host's resolver turns into an address the server on 127.0.0.1 answers
REACHING = ["127.0.0.1", "localhost", "2130706433", "0x7f000001", "0177.0.0.1", "127.1", "0.0.0.0", "0",  # noqa: S104
            "[::ffff:127.0.0.1]"]


@pytest.mark.parametrize("host", REACHING)
def test_with_the_opt_in_each_spelling_reaches_the_server(workspace: Path, server: int, opted_in: Path,
                                                          host: str) -> None:
    run = sbx("exec", "-w", str(workspace), "--json", "--tool", "http_get", "--arg", f"url=http://{host}:{server}/s",
              env={"SBX_PROFILES": str(opted_in)})
    assert run.code == 0, run.stdout + run.stderr
    step = run.json["result"]["steps"][0]
    assert step["exit_code"] == 0, step["stderr"]
    assert step["stdout"] == "hello from /s\n"
    assert HITS == ["/s"]


def _loopback_name() -> str | None:
    """A name of this machine that its resolver maps to a forbidden address (Debian maps the host
    name to 127.0.1.1, containers to their own address); None when there is none."""
    name = socket.gethostname()
    try:
        infos = socket.getaddrinfo(name, 80, type=socket.SOCK_STREAM)
    except OSError:
        return None
    addresses = [ipaddress.ip_address(str(info[4][0]).partition("%")[0]) for info in infos]
    return name if addresses and all(refusal(a) == "a loopback address" for a in addresses) else None


def test_a_name_resolving_to_loopback_is_refused_by_the_proxy(workspace: Path, server: int) -> None:
    """The compiler cannot know what a name resolves to; the proxy resolves it on the host."""
    name = _loopback_name()
    if name is None:
        pytest.skip(f"this machine's name {socket.gethostname()!r} does not resolve to loopback")
    run = sbx("exec", "-w", str(workspace), "--json", "--tool", "http_get", "--arg", f"url=http://{name}:{server}/s")
    assert run.code == 0, run.stdout + run.stderr  # the tool ran, and failed: data, not an sbx failure
    step = run.json["result"]["steps"][0]
    assert step["exit_code"] != 0
    assert "403" in step["stderr"]
    assert any(d.startswith(f"network: {name}:{server}: {name} resolves to 127.") for d in step["denied"]), step
    assert HITS == []


def _resolver(monkeypatch: pytest.MonkeyPatch, name: str, answers: list[str]) -> list[str]:
    """The host's resolver answers `name` with the next of `answers` at each lookup (the last one
    repeats), every other name as usual; returns the log of lookups of `name`."""
    real: Callable[..., Any] = socket.getaddrinfo
    lookups: list[str] = []

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != name:
            return real(host, port, *args, **kwargs)
        address = answers[min(len(lookups), len(answers) - 1)]
        lookups.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, int(port)))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return lookups


def test_a_name_whose_record_is_loopback_is_refused(workspace: Path, server: int,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Through the Python API the proxy runs in this process, so the resolver can be scripted."""
    _resolver(monkeypatch, "intranet.sbx-test.example", ["127.0.0.1"])
    ws = Workspace(workspace, Settings.from_env())
    step = ws.call_tool("http_get", {"url": f"http://intranet.sbx-test.example:{server}/s"}).steps[0]
    assert step.exit_code != 0
    assert f"network: intranet.sbx-test.example:{server}: intranet.sbx-test.example resolves to 127.0.0.1, " \
           "a loopback address" in step.denied
    assert HITS == []


def test_a_dns_answer_that_changes_cannot_redirect_the_call(workspace: Path, server: int,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Checked: a documentation address that answers nothing; a second lookup would say 127.0.0.1."""
    lookups = _resolver(monkeypatch, "rebind.sbx-test.example", ["192.0.2.10", "127.0.0.1"])
    monkeypatch.setattr(egress, "CONNECT_TIMEOUT_S", 1.0)
    ws = Workspace(workspace, Settings.from_env())
    step = ws.call_tool("http_get", {"url": f"http://rebind.sbx-test.example:{server}/s"}).steps[0]
    assert step.exit_code != 0
    assert "502" in step.stderr, step.stderr
    assert lookups == ["rebind.sbx-test.example"]
    assert HITS == []
