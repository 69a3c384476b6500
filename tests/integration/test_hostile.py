"""Hostile effects never land as such. FIFOs and sockets cannot even be made in the workspace
(Landlock grants no make_fifo/make_sock there; the applier's own refusal of specials is unit-tested
in tests/unit/changes); setuid bits are stripped, hard links copied, symlinks committed as inert
links and never followed."""

from __future__ import annotations

import os
import stat
import subprocess
import time
from pathlib import Path

from sandbox.app import Workspace
from sandbox.config import Settings
from tests.integration.conftest import SBX, call, sbx

HOSTILE = (
    "mkfifo pipe; python3 -c 'import socket; s = socket.socket(socket.AF_UNIX); s.bind(\"sock\")'; "
    "echo payload > suid; chmod 4755 suid; echo data > orig; ln orig hard; "
    "ln -s /etc/passwd passwd-link; ln -s ../../.. up-link; mkdir real; ln -s /etc real/etc-link"
)


def test_hostile_effects_are_refused_stripped_or_inert(workspace: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("untouched\n")
    run = sbx("exec", "-w", str(workspace), "--json", "--", "sh", "-c", HOSTILE)
    assert run.code == 0, run.stdout
    step = run.json["result"]["steps"][0]
    assert "cannot create fifo 'pipe': Permission denied" in step["stderr"]
    assert "PermissionError: [Errno 13]" in step["stderr"]  # the socket's bind
    cs = run.json["result"]["changeset"]
    by_path = {c["path"]: c for c in cs["changes"]}
    assert "pipe" not in by_path and "sock" not in by_path
    assert any("setuid" in note for note in by_path["suid"].get("notes", []))
    assert "risk.exec_bit" in by_path["suid"].get("risks", [])

    applied = sbx("apply", cs["id"], "-w", str(workspace), "--yes", "--json")
    assert applied.code == 0, applied.stdout
    mode = (workspace / "suid").stat().st_mode
    assert not mode & (stat.S_ISUID | stat.S_ISGID), "setuid/setgid are stripped"
    assert (workspace / "hard").stat().st_ino != (workspace / "orig").stat().st_ino, "hard links are copied"
    assert os.readlink(workspace / "passwd-link") == "/etc/passwd", "links are committed as links"
    assert os.readlink(workspace / "real" / "etc-link") == "/etc"
    assert outside.read_text() == "untouched\n"
    assert Path("/etc/passwd").stat().st_size > 0


def test_hostile_effects_are_the_same_in_a_container_prepared_ahead(workspace: Path) -> None:
    with Workspace(workspace, Settings.from_env(), prepare_ahead=1, allow_risky_apply=True) as ws:
        result = call(ws, "run_shell", {"command": HOSTILE})
        step = result.steps[0]
        assert "cannot create fifo 'pipe': Permission denied" in step.stderr
        assert "PermissionError: [Errno 13]" in step.stderr
        assert result.changeset is not None
        by_path = {c.path: c for c in result.changeset.changes}
        assert "pipe" not in by_path and "sock" not in by_path
        assert "risk.exec_bit" in by_path["suid"].risks
        ws.apply(result.changeset.id)
    assert not (workspace / "suid").stat().st_mode & (stat.S_ISUID | stat.S_ISGID)
    assert (workspace / "hard").stat().st_ino != (workspace / "orig").stat().st_ino
    assert os.readlink(workspace / "passwd-link") == "/etc/passwd"


def test_a_symlink_swapped_in_on_the_host_is_not_followed(workspace: Path, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.mkdir()
    cs = sbx("exec", "-w", str(workspace), "--json", "--", "sh", "-c", "echo x > src/new.py").json["result"]
    # between review and commit, the host's src/ becomes a link out of the workspace
    for child in (workspace / "src").iterdir():
        child.unlink()
    (workspace / "src").rmdir()
    (workspace / "src").symlink_to(target)
    applied = sbx("apply", cs["changeset"]["id"], "-w", str(workspace), "--yes", "--json")
    assert applied.code != 0
    assert applied.json["error"]["code"] in ("changeset.unsafe", "changeset.conflict")
    assert list(target.iterdir()) == []


def test_two_processes_never_interleave_on_a_workspace(workspace: Path) -> None:
    slow = subprocess.Popen([*SBX, "exec", "-w", str(workspace), "--", "sleep", "4"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.5)
    second = sbx("exec", "-w", str(workspace), "--json", "--", "true")
    assert second.code != 0 and second.json["error"]["code"] == "state.locked"
    assert "another sbx command is working on" in second.json["error"]["message"]
    slow.communicate(timeout=60)
    assert slow.returncode == 0
