"""The launcher's serve mode (how sbx runs it, cold or prepared ahead): it waits on standard input
for one JSON line holding the call, refuses a malformed one with one line and exit 125 before
anything runs, ends on its own when no call comes, and gives the tool no standard input."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from launcher_harness import LAUNCHER, SYSTEM_PYTHON

from sandbox.policy.landlock import DEVICE_PATHS, LandlockSpec, build_policy


def _policy(ws: Path) -> dict[str, Any]:
    return build_policy(LandlockSpec(workspace=str(ws), exec_roots=("/usr", "/bin", "/lib", "/lib64"),
                                     read_roots=("/etc", "/proc"), device_paths=DEVICE_PATHS,
                                     report_path=None, require=False))


def _serve(ws: Path, data: bytes, idle_s: str = "30", timeout: float = 30) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([SYSTEM_PYTHON, "-I", "-S", str(LAUNCHER), "--serve", idle_s], input=data, cwd=ws,
                          env={"PATH": "/usr/bin:/bin"}, capture_output=True, timeout=timeout, check=False)


def _line(doc: Any) -> bytes:
    return json.dumps(doc).encode() + b"\n"


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    return ws


def test_the_call_runs_and_what_follows_its_line_is_not_the_tools_input(ws: Path) -> None:
    call = _line({"version": 1, "policy": _policy(ws), "argv": ["sh", "-c", "cat; echo done"]})
    result = _serve(ws, call + b"not for the tool\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"done\n"


def test_a_call_split_over_several_writes_is_read_whole(ws: Path) -> None:
    call = _line({"version": 1, "policy": _policy(ws), "argv": ["echo", "whole"]})
    proc = subprocess.Popen([SYSTEM_PYTHON, "-I", "-S", str(LAUNCHER), "--serve", "30"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ws, env={"PATH": "/usr/bin:/bin"})
    assert proc.stdin is not None
    for start in range(0, len(call), 7):
        proc.stdin.write(call[start:start + 7])
        proc.stdin.flush()
    out, err = proc.communicate(timeout=30)
    assert (proc.returncode, out) == (0, b"whole\n"), err


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"{not json\n", "the call is not valid JSON"),
        (b"[1]\n", "the call must be a JSON object"),
        (_line({"version": 2, "policy": {}, "argv": ["true"]}), "unsupported call version 2"),
        (_line({"version": True, "policy": {}, "argv": ["true"]}), "unsupported call version True"),
        (_line({"version": 1, "policy": {}, "argv": ["true"], "more": 1}), "unknown key 'more'"),
        (_line({"version": 1, "policy": {}, "argv": []}), "call.argv must be a non-empty list"),
        (_line({"version": 1, "policy": {}, "argv": ["a\0b"]}), "without NUL"),
        (_line({"version": 1, "policy": {"version": 1}, "argv": ["true"]}), "missing key"),
        (b"", "standard input closed before a call came"),
        (b'{"version": 1', "standard input closed before a call came"),
    ],
)
def test_a_bad_call_is_refused_with_one_line_and_nothing_runs(ws: Path, data: bytes, message: str) -> None:
    result = _serve(ws, data)
    assert result.returncode == 125
    stderr = result.stderr.decode()
    assert stderr.startswith("sbx-launcher: ") and len(stderr.splitlines()) == 1, stderr
    assert message in stderr
    assert result.stdout == b""


def test_an_oversized_call_is_refused_before_it_is_all_read(ws: Path) -> None:
    result = _serve(ws, b"x" * ((16 << 20) + (1 << 17)))
    assert result.returncode == 125
    assert b"larger than" in result.stderr


def test_without_a_call_the_launcher_ends_at_its_idle_deadline(ws: Path) -> None:
    proc = subprocess.Popen([SYSTEM_PYTHON, "-I", "-S", str(LAUNCHER), "--serve", "1"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ws)
    started = time.monotonic()
    try:
        proc.wait(timeout=20)  # its input stays open: only the deadline can end it
    finally:
        proc.kill()
        proc.communicate()
    assert proc.returncode == -signal.SIGALRM
    assert time.monotonic() - started < 10


@pytest.mark.parametrize("idle", ["0", "-1", "soon", ""])
def test_a_bad_idle_deadline_is_refused(ws: Path, idle: str) -> None:
    result = _serve(ws, b"", idle_s=idle)
    assert result.returncode == 125
    assert b"--serve needs a whole number of seconds" in result.stderr
