"""Network for a call reaches exactly the hosts its profile and arguments grant, through sbx's proxy."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.app import Workspace
from sandbox.config import Settings
from tests.integration.test_containment import _probe_profiles

pytestmark = pytest.mark.usefixtures("engine")  # every test here runs on both engines


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = f"hello from {self.path}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[int]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


def test_http_get_reaches_the_urls_host_only(workspace: Path, server: int) -> None:
    ws = Workspace(workspace, Settings.from_env())
    result = ws.call_tool("http_get", {"url": f"http://127.0.0.1:{server}/page"})
    step = result.steps[0]
    assert step.exit_code == 0, step.stderr
    assert step.stdout == "hello from /page\n"
    assert step.protections.network == f"proxy:127.0.0.1:{server}"
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
