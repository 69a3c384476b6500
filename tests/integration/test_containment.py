"""Containment, proved in real containers: escape attempts fail with the errno the confinement
gives, everyday work in the workspace still works. Uses the Python API (in-process, real Podman).
Each case runs on Podman cold (a container made for the call), on Podman warm (the call given to a
container prepared ahead of it, engine/warm.py) and on the Docker-compatible engine."""

from __future__ import annotations

import platform
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from sandbox.app import Workspace
from sandbox.config import Settings
from sandbox.types import StepResult
from tests.integration.conftest import call, select_engine

pytestmark = pytest.mark.usefixtures("engine")

ROOT = Path(__file__).resolve().parents[2]

# Each probe prints "errno N" (or "ok") for one attempt, from inside the container.
PROBE = """
import ctypes, errno, os, socket, sys
libc = ctypes.CDLL(None, use_errno=True)
def report(rc):
    print("ok" if rc >= 0 else f"errno {errno.errorcode[ctypes.get_errno()]}")
def attempt(fn):
    try:
        fn()
        print("ok")
    except OSError as exc:
        print(f"errno {errno.errorcode[exc.errno]}")
case = sys.argv[1]
if case == "mount": report(libc.mount(b"none", b"/tmp", b"tmpfs", 0, None))
elif case == "unshare_user": report(libc.unshare(0x10000000))
elif case == "unshare_mnt": report(libc.unshare(0x00020000))
elif case == "ptrace": report(libc.ptrace(0, 0, None, None))
elif case == "keyctl": report(libc.syscall(250, 0, 0, 0, 0))
elif case == "bpf": report(libc.syscall(321, 0, 0, 0))
elif case == "inet": attempt(lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM))
elif case == "inet6": attempt(lambda: socket.socket(socket.AF_INET6, socket.SOCK_DGRAM))
elif case == "unix": attempt(lambda: socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
elif case == "sysrq": attempt(lambda: open("/proc/sysrq-trigger", "w").write("h"))
elif case == "rootfs": attempt(lambda: open("/usr/bin/evil", "w"))
elif case == "launcher": attempt(lambda: open("/sbx/launcher.py").read())
elif case == "report": attempt(lambda: open("/sbx-run/applied.json").read())
elif case == "tmp": attempt(lambda: open("/tmp/scratch", "w").write("x"))
"""

X86_ONLY = {"keyctl", "bpf"}


@pytest.fixture(params=["podman", "podman-warm", "docker"])
def engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, podman_ready: None) -> str:
    name = str(request.param)
    select_engine(name.removesuffix("-warm"), monkeypatch)
    return name


@pytest.fixture
def ws(workspace: Path, engine: str) -> Iterator[Workspace]:
    with Workspace(workspace, Settings.from_env(), prepare_ahead=1 if engine.endswith("-warm") else 0) as ws:
        yield ws


def _probe(ws: Workspace, case: str) -> StepResult:
    command = f"python3 -c '{PROBE}' {case}"
    return call(ws, "run_shell", {"command": command}).steps[0]


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("mount", "errno EPERM"),
        ("unshare_user", "errno EPERM"),
        ("unshare_mnt", "errno EPERM"),
        ("ptrace", "errno EPERM"),
        ("keyctl", "errno EPERM"),
        ("bpf", "errno EPERM"),
        ("inet", "errno EPERM"),  # seccomp: socket() only for AF_UNIX without the network group
        ("inet6", "errno EPERM"),
        ("sysrq", "errno EROFS|errno EACCES|errno ENOENT"),  # ENOENT: kernels without magic SysRq
        ("rootfs", "errno EROFS"),
        ("launcher", "errno EACCES"),  # Landlock: the launcher's own files are outside every rule
        ("report", "errno EACCES"),
        ("unix", "ok"),
        ("tmp", "ok"),
    ],
)
def test_escape_attempts_fail_with_their_errno(ws: Workspace, case: str, expected: str) -> None:
    if case in X86_ONLY and platform.machine() != "x86_64":
        pytest.skip("syscall numbers in this probe are x86_64's")
    step = _probe(ws, case)
    assert step.stdout.strip() in expected.split("|"), step.stderr
    assert step.protections.landlock_enforced is True
    assert step.protections.seccomp and step.protections.seccomp.startswith("sha256:")


def test_everyday_commands_work_in_the_workspace(ws: Workspace, workspace: Path) -> None:
    script = (
        "set -e; find . -name '*.py' | sort; grep -rn hello .; sed -i 's/hello/howdy/' hello.txt; "
        "tar czf src.tgz src; git init -q repo; cd repo; git config user.email a@b; git config user.name a; "
        "echo x > f; git add f; git commit -qm one; git log --oneline | wc -l; cd ..; "
        "python3 -c 'import json,sys; print(json.dumps({\"ok\": 1}))'"
    )
    result = call(ws, "run_shell", {"command": script})
    step = result.steps[0]
    assert step.exit_code == 0, step.stderr
    assert "./src/main.py" in step.stdout and '{"ok": 1}' in step.stdout
    changed = {c.path for c in result.changeset.changes}
    assert {"hello.txt", "src.tgz", "repo/f"} <= changed
    assert (workspace / "hello.txt").read_text() == "hello\n", "nothing reaches the host before approval"


def _probe_profiles(tmp_path: Path, body: str) -> Settings:
    """A copy of the shipped profiles plus a `probe` tool, as a policy author would write one."""
    folder = tmp_path / "profiles"
    shutil.copytree(ROOT / "profiles", folder)
    (folder / "probe.toml").write_text(body)
    return replace(Settings.from_env(), profiles_dir=folder)


def test_read_only_workspace_tool_cannot_write_it(workspace: Path, tmp_path: Path) -> None:
    settings = _probe_profiles(tmp_path, """
name = "probe"
description = "runs python with the workspace read-only"
argv = ["/usr/bin/python3", "-c", "{code}"]
[args.code]
type = "string"
[filesystem]
workspace = "read"
""")
    ws = Workspace(workspace, settings)
    code = (
        "import errno\nprint(open('hello.txt').read().strip())\n"
        "try:\n    open('hello.txt', 'a').write('x')\nexcept OSError as e:\n    print(errno.errorcode[e.errno])\n"
        "try:\n    open('new.txt', 'w')\nexcept OSError as e:\n    print(errno.errorcode[e.errno])\n"
    )
    result = ws.call_tool("probe", {"code": code})
    assert result.steps[0].stdout.split() == ["hello", "EACCES", "EACCES"], result.steps[0].stderr
    assert result.changeset.changes == ()


def test_call_arguments_narrow_writes_to_one_file(ws: Workspace, workspace: Path) -> None:
    result = call(ws, "write_file", {"path": "notes/todo.txt", "content": "milk\n"})
    assert result.steps[0].exit_code == 0, result.steps[0].stderr
    changes = [(c.path, str(c.kind)) for c in result.changeset.changes]
    assert changes == [("notes", "added"), ("notes/todo.txt", "added")]
    listing = call(ws, "read_file", {"path": "hello.txt"})
    assert listing.steps[0].stdout == "hello\n"
    denied = call(ws, "read_file", {"path": "src"})  # a directory: the grant is for a file read only
    assert denied.steps[0].exit_code != 0


READ_OTHER = (
    "import errno, sys\ntry:\n    print(open(sys.argv[2]).read().strip())\n"
    "except OSError as e:\n    print(errno.errorcode[e.errno])"
)


def test_landlock_narrowing_blocks_other_workspace_files(workspace: Path, tmp_path: Path) -> None:
    settings = _probe_profiles(tmp_path, """
name = "probe"
description = "python that may read one path argument"
argv = ["/usr/bin/python3", "-c", '''{READ_OTHER}''', "{path}", "{other}"]
[args.path]
type = "string"
access = "read"
[args.other]
type = "string"
""".replace("{READ_OTHER}", READ_OTHER))
    ws = Workspace(workspace, settings)
    granted = ws.call_tool("probe", {"path": "hello.txt", "other": "/workspace/hello.txt"})
    assert granted.steps[0].stdout.strip() == "hello"
    other = ws.call_tool("probe", {"path": "hello.txt", "other": "/workspace/src/main.py"})
    assert other.steps[0].stdout.strip() == "EACCES"
