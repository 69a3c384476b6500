"""The use-case logic around the engine, without podman: degraded hosts, denials, exec's command."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from sandbox.app import Workspace, denials
from sandbox.config import Settings
from sandbox.engine import host
from sandbox.errors import PolicyError


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    (tmp_path / "ws").mkdir()
    return Workspace(tmp_path / "ws", replace(Settings.from_env(), state_dir=tmp_path / "state"))


def test_missing_landlock_refuses_unless_degraded_is_allowed(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    without_landlock = replace(host.detect(), landlock_abi=None)
    monkeypatch.setattr(host, "detect", lambda: without_landlock)
    call = ws.compile("run_shell", {"command": "true"})
    with pytest.raises(PolicyError) as caught:
        ws._degraded(call, allow_degraded=False)
    assert caught.value.code == "policy.protection_unavailable"
    relaxed, degraded = ws._degraded(call, allow_degraded=True)
    assert degraded == ("landlock",)
    assert relaxed.landlock["require_landlock"] is False
    assert call.landlock["require_landlock"] is True


def test_denials_name_the_path_or_the_errno() -> None:
    stderr = (
        "sh: 1: cannot create /etc/hosts: Read-only file system\n"
        "touch: cannot touch '/usr/x': Permission denied\n"
        "PermissionError: [Errno 13] Permission denied: '/workspace/secret'\n"
        "PermissionError: [Errno 1] Operation not permitted\n"
        "all good here\n"
    )
    assert denials(stderr, 1) == (
        "read-only file system: /etc/hosts",
        "permission denied: /usr/x",
        "permission denied: /workspace/secret",
        "operation not permitted (PermissionError: [Errno 1] Operation not permitted)",
    )
    assert denials("sbx-launcher: Landlock required but not enforced: no kernel support\n", 125) == (
        "Landlock required but not enforced: no kernel support",
    )


def test_timeouts_are_bounded(ws: Workspace) -> None:
    from sandbox.errors import UsageError

    for bad in (0, -1, 10**9):
        with pytest.raises(UsageError):
            ws.compile("run_shell", {"command": "true"}, timeout_s=bad)
    assert ws.compile("run_shell", {"command": "true"}, timeout_s=5).limits.timeout_s == 5
