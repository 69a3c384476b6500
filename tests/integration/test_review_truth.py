"""The review cannot be fooled (issue 16, items 5-7): risky changes are flagged however they are
spelled, and what a terminal shows is what the layer holds. Real containers, real CLI."""

from __future__ import annotations

import os
import re
import select
import stat
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import SBX, sbx


def exec_json(workspace: Path, script: str) -> dict[str, Any]:
    return exec_argv(workspace, "sh", "-c", script)


def exec_argv(workspace: Path, *argv: str) -> dict[str, Any]:
    run = sbx("exec", "-w", str(workspace), "--json", "--", *argv)
    assert run.code == 0, run.stdout + run.stderr
    result: dict[str, Any] = run.json["result"]
    assert result["steps"][0]["exit_code"] == 0, result["steps"][0]["stderr"]
    return result


def risks_of(result: dict[str, Any]) -> dict[str, list[str]]:
    return {c["path"]: c.get("risks", []) for c in result["changeset"]["changes"]}


def write_bytes(workspace: Path, path: str, expression: str) -> dict[str, Any]:
    """Write exact bytes (BOMs, backslashes, megabytes) from the container: `expression` is a
    Python bytes expression, evaluated there."""
    return exec_argv(workspace, "python3", "-c", f"open({path!r}, 'wb').write({expression})")


GIT_CONFIGS = {  # each a Python expression of the file's bytes
    "bom": r"b'\xef\xbb\xbf[core]\n\tfsmonitor = ./watch.sh\n'",
    "continuation": r"b'[core]\n\tbare = false \\\n[user]\n\tfsmonitor = ./watch.sh\n'",
    "after-1MiB": r"b'[core]\n' + b'# padding padding padding padding\n' * 40000 + b'\tfsmonitor = ./watch.sh\n'",
}


@pytest.mark.parametrize("trick", sorted(GIT_CONFIGS))
def test_git_config_tricks_are_flagged(workspace: Path, trick: str) -> None:
    (workspace / ".git").mkdir()
    (workspace / ".git" / "config").write_text("[core]\n\trepositoryformatversion = 0\n")
    result = write_bytes(workspace, ".git/config", GIT_CONFIGS[trick])
    assert "risk.git_config" in risks_of(result)[".git/config"]
    data = eval(GIT_CONFIGS[trick])  # noqa: S307 -- the test's own literal
    # and git itself does read the command from it: the flag is about a real setting
    git = subprocess.run(["git", "config", "--file", "-", "--get", "core.fsmonitor"], input=data,
                         capture_output=True, check=False)
    assert git.stdout.strip() == b"./watch.sh"


def test_a_package_install_script_after_the_first_mib_is_flagged(workspace: Path) -> None:
    (workspace / "package.json").write_text('{"name": "app", "scripts": {"test": "jest"}}\n')
    data = ("""b'{"name": "app", "description": "' + b'x' * (1100 * 1024) + b'",'"""
            """ + b' "scripts": {"test": "jest", "postinstall": "node evil.js"}}'""")
    result = write_bytes(workspace, "package.json", data)
    assert risks_of(result)["package.json"] == ["risk.package_scripts"]


def test_weakened_permissions_and_outward_links_are_flagged(workspace: Path) -> None:
    (workspace / ".bashrc").write_text("alias ll='ls -l'\n")
    (workspace / ".ssh").mkdir(mode=0o700)
    (workspace / ".ssh" / "authorized_keys").write_text("")
    (workspace / ".ssh" / "authorized_keys").chmod(0o600)
    (workspace / ".git" / "hooks").mkdir(parents=True)
    (workspace / ".git" / "hooks").chmod(0o755)
    result = exec_json(workspace, "chmod 666 .bashrc .ssh/authorized_keys && chmod 777 .git/hooks && "
                                  "ln -s /root/.ssh/id_rsa key && ln -s ../../etc/shadow up && ln -s src/main.py ok")
    risks = risks_of(result)
    assert "risk.weakened_permissions" in risks[".bashrc"] and "risk.shell_startup" in risks[".bashrc"]
    assert "risk.weakened_permissions" in risks[".ssh/authorized_keys"]
    assert "risk.weakened_permissions" in risks[".git/hooks"]
    assert risks["key"] == ["risk.outward_link"]
    assert risks["up"] == ["risk.outward_link"]
    assert risks["ok"] == []


def test_a_sticky_folder_is_applied_sticky(workspace: Path) -> None:
    result = exec_json(workspace, "mkdir shared && chmod 1777 shared && mkdir plain && chmod 2775 plain")
    applied = sbx("apply", result["changeset"]["id"], "-w", str(workspace), "--yes", "--json")
    assert applied.code == 0, applied.stdout
    assert stat.S_IMODE((workspace / "shared").stat().st_mode) == 0o1777
    assert stat.S_IMODE((workspace / "plain").stat().st_mode) == 0o775  # setgid stripped still


# -- the review on a real terminal ---------------------------------------------------------------
HOSTILE = (
    "mkdir -p .git/hooks && printf '#!/bin/sh\\nid\\n' > .git/hooks/pre-commit && chmod +x .git/hooks/pre-commit && "
    # content that clears the screen and draws a harmless-looking review
    "printf 'hello\\n\\033[2J\\033[H\\033[3J  M  hello.txt  (+1 -1)\\n\\033]0;title\\007\\r\\033[K' > hello.txt && "
    # a name with a newline and an escape, forging a summary line
    "touch \"$(printf 'evil\\n  M  fake.py  (+1 -1)\\033[1A')\" && "
    "printf '\\033[2J' >&2"
)
OUR_SGR = re.compile(rb"\x1b\[[0-9;]*m")  # sbx's own colours; nothing else may reach the screen


def read_until(fd: int, wanted: bytes, timeout_s: float) -> bytes:
    out = b""
    deadline = time.monotonic() + timeout_s
    while wanted not in out and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
    return out


def test_a_hostile_review_on_a_terminal_shows_the_truth(workspace: Path) -> None:
    main, secondary = os.openpty()
    env = {**os.environ, "TERM": "xterm"}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen([*SBX, "exec", "-w", str(workspace), "--", "sh", "-c", HOSTILE],
                            stdin=secondary, stdout=secondary, stderr=secondary, env=env, close_fds=True)
    os.close(secondary)
    try:
        screen = read_until(main, b"[N]one: ", 120)
        assert b"[N]one: " in screen, screen
        os.write(main, b"a\n")
        screen += read_until(main, b"Type 'yes'", 30)
        os.write(main, b"no\n")
        screen += read_until(main, b"\x00never", 30)  # until the process closes the terminal
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(main)
    review = screen.split(b"[N]one: ")[0]
    plain = OUR_SGR.sub(b"", screen)
    assert b"\x1b" not in plain, "only sbx's colours reach the terminal"
    assert b"\x07" not in plain and b"\x9b" not in plain
    # the risk summary is the last thing before the question, naming the hook
    tail = OUR_SGR.sub(b"", review).rstrip(b"\r\n").split(b"\r\n")
    assert tail[-3].startswith(b"RISK: 1 flagged change(s)"), tail[-4:]
    assert tail[-2] == b"  .git/hooks/pre-commit: risk.git_hook, risk.exec_bit"
    assert tail[-1].startswith(b"Apply these changes (1 flagged)?")
    # the forged name is one line, escaped; the content's escapes are shown, not run
    assert b"evil\\n  M  fake.py  (+1 -1)\\x1b[1A" in plain
    assert b"+\\x1b[2J\\x1b[H\\x1b[3J  M  hello.txt  (+1 -1)" in plain
    # "all" without a typed yes applied only the unflagged changes
    assert not (workspace / ".git" / "hooks" / "pre-commit").exists()
    assert (workspace / "hello.txt").read_bytes().startswith(b"hello\n\x1b[2J")
