"""The launcher, run for real on the host (root, a tmp dir as workspace): assert by errno and exit status.

Documents come from the real compiler (`sandbox.policy.landlock.build_policy`), so these tests also
exercise the JSON contract from the compiler's side.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import launcher_harness
import pytest
from launcher_harness import LAUNCHER, SYSTEM_PYTHON, errno_argv, kernel_landlock_abi, probe_argv, run_launcher

from sandbox.policy.landlock import DEVICE_PATHS, LandlockSpec, build_policy

ABI = kernel_landlock_abi()
pytestmark = [
    pytest.mark.skipif(sys.platform != "linux", reason="Linux only"),
    pytest.mark.skipif(not os.path.exists(SYSTEM_PYTHON), reason=f"needs {SYSTEM_PYTHON}"),
]
needs_landlock = pytest.mark.skipif(ABI is None, reason="kernel without Landlock")


def needs_abi(n: int) -> pytest.MarkDecorator:
    return pytest.mark.skipif(ABI is None or n > ABI, reason=f"kernel Landlock ABI < {n}")


@pytest.fixture(autouse=True, params=["serve", "file"])
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every case runs with the call on standard input (as sbx runs it, cold or prepared ahead)
    and from a policy file: the launcher confines both the same way."""
    monkeypatch.setattr(launcher_harness, "MODE", request.param)
    return str(request.param)


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    (ws / "src").mkdir(parents=True)
    (ws / "a.txt").write_text("hello\n")
    (ws / "src" / "a.py").write_text("print('a')\n")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_text("secret\n")
    (tmp_path / "run").mkdir()
    return ws


def spec(ws: Path, **changes: Any) -> LandlockSpec:
    base = LandlockSpec(
        workspace=str(ws),
        exec_roots=("/usr", "/bin", "/lib", "/lib64"),
        read_roots=("/etc", "/proc"),
        device_paths=DEVICE_PATHS,
        report_path=str(ws.parent / "run" / "applied.json"),
    )
    return dataclasses.replace(base, **changes)


def policy(ws: Path, **changes: Any) -> dict[str, Any]:
    return build_policy(spec(ws, **changes))


def probe(ws: Path, op: str, path: Path | str, **changes: Any) -> str:
    result = run_launcher(policy(ws, **changes), probe_argv(op, path), tmp=ws.parent, cwd=ws)
    assert result.code == 0, result.stderr
    return str(result.stdout.strip())


@needs_landlock
def test_allowed_reads_and_writes_work_in_a_write_root(ws: Path) -> None:
    assert probe(ws, "read", ws / "a.txt", write_roots=(str(ws),)) == "ok"
    assert probe(ws, "write", ws / "new.txt", write_roots=(str(ws),)) == "ok"
    assert probe(ws, "mkdir", ws / "d", write_roots=(str(ws),)) == "ok"
    assert (ws / "new.txt").read_text() == "x"


@needs_landlock
def test_write_outside_the_write_roots_is_eacces(ws: Path) -> None:
    readonly = {"read_roots": ("/etc", "/proc", str(ws))}
    assert probe(ws, "append", ws / "a.txt", **readonly) == "EACCES"
    assert probe(ws, "write", ws / "new.txt", **readonly) == "EACCES"
    assert probe(ws, "write", ws.parent / "outside" / "x.txt", write_roots=(str(ws),)) == "EACCES"
    assert (ws / "a.txt").read_text() == "hello\n"
    assert not (ws / "new.txt").exists()
    assert not (ws.parent / "outside" / "x.txt").exists()


@needs_landlock
def test_reading_outside_the_read_roots_is_denied(ws: Path) -> None:
    assert probe(ws, "read", ws.parent / "outside" / "secret.txt", write_roots=(str(ws),)) == "EACCES"
    assert probe(ws, "list", ws.parent, write_roots=(str(ws),)) == "EACCES"
    assert probe(ws, "read", "/root/.bashrc", write_roots=(str(ws),)) in {"EACCES", "ENOENT"}


@needs_landlock
def test_a_write_path_grants_that_file_only(ws: Path) -> None:
    narrow = {"read_roots": ("/etc", "/proc", str(ws)), "write_paths": ("src/a.py",)}
    assert probe(ws, "write", ws / "src" / "a.py", **narrow) == "ok"
    assert probe(ws, "write", ws / "src" / "b.py", **narrow) == "EACCES"
    assert probe(ws, "append", ws / "a.txt", **narrow) == "EACCES"
    assert probe(ws, "unlink", ws / "src" / "a.py", **narrow) == "EACCES"


@needs_landlock
def test_a_missing_write_path_is_created_then_granted_alone(ws: Path) -> None:
    doc = policy(ws, write_paths=("new/dir/c.py",))
    result = run_launcher(doc, probe_argv("write", ws / "new" / "dir" / "c.py"), tmp=ws.parent, cwd=ws)
    assert result.stdout.strip() == "ok", result.stderr
    assert (ws / "new" / "dir" / "c.py").read_text() == "x"
    assert result.report is not None
    assert result.report["created"] == [str(ws / "new"), str(ws / "new" / "dir"), str(ws / "new" / "dir" / "c.py")]
    sibling = run_launcher(doc, probe_argv("write", ws / "new" / "dir" / "d.py"), tmp=ws.parent, cwd=ws)
    assert sibling.stdout.strip() == "EACCES"


def test_a_symlink_cannot_carry_a_write_grant_out_of_the_workspace(ws: Path) -> None:
    (ws / "link").symlink_to(ws.parent / "outside")
    doc = policy(ws, write_paths=("link/x.txt", "link/secret.txt"))
    result = run_launcher(doc, probe_argv("append", ws / "link" / "secret.txt"), tmp=ws.parent, cwd=ws)
    assert result.code == 125 and result.stdout == "", result.stderr
    assert f"write path {ws / 'link' / 'secret.txt'} is below the symlink {ws / 'link'}" in result.stderr
    assert not (ws.parent / "outside" / "x.txt").exists()
    assert (ws.parent / "outside" / "secret.txt").read_text() == "secret\n"


@pytest.mark.parametrize("named", ["hooklink", "hooks/pre-commit", "hooks/new-hook", "deep/x/pre-commit"])
def test_a_write_path_through_a_symlink_in_the_workspace_is_refused(ws: Path, named: str) -> None:
    """`write_file hooklink` must not write .git/hooks/pre-commit through `hooklink -> ...`, nor
    through a symlinked directory on the way, whether the file exists or would be created."""
    (ws / ".git" / "hooks").mkdir(parents=True)
    (ws / ".git" / "hooks" / "pre-commit").write_text("#!/bin/sh\nexit 0\n")
    (ws / "hooklink").symlink_to(".git/hooks/pre-commit")
    (ws / "hooks").symlink_to(".git/hooks")
    (ws / "deep").mkdir()
    (ws / "deep" / "x").symlink_to("../.git/hooks")
    doc = policy(ws, read_roots=("/etc", "/proc", str(ws)), write_paths=(named,))
    result = run_launcher(doc, probe_argv("write", ws / named), tmp=ws.parent, cwd=ws)
    assert result.code == 125 and result.stdout == "", result.stderr
    assert result.stderr.startswith("sbx-launcher: write path ") and "symlink" in result.stderr
    assert (ws / ".git" / "hooks" / "pre-commit").read_text() == "#!/bin/sh\nexit 0\n"
    assert sorted(os.listdir(ws / ".git" / "hooks")) == ["pre-commit"]


def test_a_write_dir_path_that_is_a_symlink_is_refused(ws: Path) -> None:
    (ws / ".git" / "hooks").mkdir(parents=True)
    (ws / "out").symlink_to(".git/hooks")
    doc = policy(ws, write_dir_paths=("out",))
    result = run_launcher(doc, probe_argv("write", ws / "out" / "pre-commit"), tmp=ws.parent, cwd=ws)
    assert result.code == 125 and "is a symlink" in result.stderr
    assert os.listdir(ws / ".git" / "hooks") == []


@needs_landlock
def test_a_plain_write_path_next_to_symlinks_still_works(ws: Path) -> None:
    (ws / "hooklink").symlink_to("a.txt")
    doc = policy(ws, read_roots=("/etc", "/proc", str(ws)), write_paths=("src/new.py",))
    result = run_launcher(doc, probe_argv("write", ws / "src" / "new.py"), tmp=ws.parent, cwd=ws)
    assert result.stdout.strip() == "ok", result.stderr
    assert (ws / "src" / "new.py").read_text() == "x"


@needs_landlock
def test_a_write_path_of_the_wrong_kind_is_skipped_not_widened(ws: Path) -> None:
    doc = policy(ws, write_paths=("src",))  # a directory, named where a file was expected
    result = run_launcher(doc, probe_argv("write", ws / "src" / "a.py"), tmp=ws.parent, cwd=ws)
    assert result.stdout.strip() == "EACCES"
    assert result.report is not None
    assert {"path": str(ws / "src"), "reason": "not a file"} in result.report["skipped"]


@needs_landlock
def test_python_runs_with_no_new_privs_and_default_signals(ws: Path) -> None:
    py = run_launcher(policy(ws), ["python3", "-c", "print(6 * 7)"], tmp=ws.parent, cwd=ws)
    assert (py.code, py.stdout) == (0, "42\n"), py.stderr
    result = run_launcher(policy(ws), ["cat", "/proc/self/status"], tmp=ws.parent, cwd=ws)  # cat: not python
    assert result.code == 0, result.stderr
    status = dict(line.split(":\t", 1) for line in result.stdout.splitlines() if ":\t" in line)
    assert status["NoNewPrivs"].strip() == "1"
    ignored = int(status["SigIgn"].strip(), 16)
    assert not ignored & (1 << (signal.SIGPIPE - 1)), "SIGPIPE must not stay ignored across exec"


@needs_landlock
def test_the_report_says_what_was_enforced(ws: Path) -> None:
    result = run_launcher(policy(ws), ["true"], tmp=ws.parent, cwd=ws)
    assert result.code == 0, result.stderr
    report = result.report
    assert report is not None
    assert report["enforced"] is True
    assert report["landlock_abi"] == ABI
    assert report["abi_used"] == min(ABI or 0, 7)
    assert report["no_new_privs"] is True
    assert report["status"] == ("fully_enforced" if (ABI or 0) >= 6 else "partially_enforced")
    assert "read_file" in report["handled_fs"]
    assert report["rules"] >= 5
    assert report["error"] is None


@needs_landlock
def test_fail_closed_when_the_required_abi_is_impossible(ws: Path) -> None:
    marker = ws / "marker"
    doc = policy(ws, min_abi=99, write_roots=(str(ws),))
    result = run_launcher(doc, ["sh", "-c", f"touch {marker}"], tmp=ws.parent, cwd=ws)
    assert result.code == 125
    assert result.stderr.startswith("sbx-launcher: ")
    assert len(result.stderr.strip().splitlines()) == 1
    assert "below the required minimum 99" in result.stderr
    assert not marker.exists()
    assert result.report is not None
    assert result.report["enforced"] is False
    assert "99" in result.report["error"]


def _run_without_kernel_landlock(doc: dict[str, Any], argv: list[str], tmp: Path) -> tuple[int, str]:
    """Run the launcher with `kernel_abi` patched to report no Landlock (a kernel without it)."""
    (tmp / "policy.json").write_text(json.dumps(doc))
    shim = (
        "import runpy, sys\n"
        f"ns = runpy.run_path({str(LAUNCHER)!r}, run_name='sbx_launcher')\n"
        "ns['kernel_abi'].__globals__['kernel_abi'] = lambda: None\n"
        "sys.exit(ns['main'](sys.argv[1:]))\n"
    )
    import subprocess

    proc = subprocess.run(
        [SYSTEM_PYTHON, "-I", "-S", "-c", shim, str(tmp / "policy.json"), "--", *argv],
        cwd=tmp,
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.returncode, proc.stderr


def test_fail_closed_when_the_kernel_has_no_landlock(ws: Path) -> None:
    marker = ws / "marker"
    code, stderr = _run_without_kernel_landlock(policy(ws), ["sh", "-c", f"touch {marker}"], ws.parent)
    assert code == 125
    assert stderr.startswith("sbx-launcher: Landlock required but not enforced")
    assert not marker.exists()


def test_without_require_the_tool_runs_unconfined_and_the_report_says_so(ws: Path) -> None:
    marker = ws / "marker"
    doc = policy(ws, require=False)
    code, stderr = _run_without_kernel_landlock(doc, ["sh", "-c", f"touch {marker}"], ws.parent)
    assert code == 0, stderr
    assert marker.exists()
    report = json.loads((ws.parent / "run" / "applied.json").read_text())
    assert report["enforced"] is False
    assert report["status"] == "not_enforced"
    assert "not supported" in report["error"]


def test_an_unknown_version_is_refused(ws: Path) -> None:
    doc = policy(ws)
    doc["version"] = 2
    marker = ws / "marker"
    result = run_launcher(doc, ["sh", "-c", f"touch {marker}"], tmp=ws.parent, cwd=ws)
    assert result.code == 125
    assert result.stderr == "sbx-launcher: unsupported policy version 2 (this launcher reads version 1)\n"
    assert not marker.exists()


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(extra=1), "unknown key 'extra'"),
        (lambda d: d["landlock"]["fs"][0].update(access=["fly"]), "unknown value 'fly'"),
        (lambda d: d["landlock"]["fs"][0].update(path="rel/path"), "must be an absolute path"),
        (lambda d: d["landlock"]["fs"][0].update(path="/a/../b"), "normalised"),
        (lambda d: d["landlock"].update(net={"bind_tcp": [], "connect_tcp": [70000]}), "<= 65535"),
        (lambda d: d.pop("no_new_privs"), "missing key 'no_new_privs'"),
        (lambda d: d["landlock"]["fs"][0].update(if_missing="create_file", beneath=None), "needs beneath"),
    ],
)
def test_a_malformed_policy_is_refused_with_one_line(ws: Path, mutate: Any, message: str) -> None:
    doc = policy(ws)
    mutate(doc)
    result = run_launcher(doc, ["true"], tmp=ws.parent, cwd=ws)
    assert result.code == 125
    assert result.stderr.startswith("sbx-launcher: ")
    assert len(result.stderr.splitlines()) == 1
    assert message in result.stderr


def test_not_json_and_bad_usage_exit_125(ws: Path) -> None:
    assert run_launcher("{not json", ["true"], tmp=ws.parent).code == 125
    import subprocess

    proc = subprocess.run([SYSTEM_PYTHON, "-I", "-S", str(LAUNCHER)], capture_output=True, text=True, check=False)
    assert proc.returncode == 125
    assert proc.stderr.startswith("sbx-launcher: usage:")


def test_a_missing_workspace_fails_closed(ws: Path) -> None:
    doc = policy(ws, write_roots=(str(ws),))
    gone = ws.parent / "gone"
    doc["landlock"]["fs"] = [
        dict(e, path=str(gone), beneath=str(gone)) if e["path"] == str(ws) else e for e in doc["landlock"]["fs"]
    ]
    result = run_launcher(doc, ["true"], tmp=ws.parent, cwd=ws)
    assert result.code == 125
    assert "required path is missing" in result.stderr


@needs_landlock
def test_command_not_found_is_127_and_not_executable_is_126(ws: Path) -> None:
    missing = run_launcher(policy(ws), ["no-such-command-sbx"], tmp=ws.parent, cwd=ws)
    assert missing.code == 127
    assert missing.stderr == "sbx-launcher: no-such-command-sbx: command not found\n"

    script = ws / "tool.sh"
    script.write_text("#!/bin/sh\necho ran\n")
    script.chmod(0o644)
    not_exec = run_launcher(
        policy(ws, exec_roots=("/usr", "/bin", "/lib", "/lib64", str(ws))), [str(script)], tmp=ws.parent, cwd=ws
    )
    assert not_exec.code == 126
    assert not_exec.stderr.startswith("sbx-launcher: ")

    script.chmod(0o755)  # executable, but the workspace is no exec root: Landlock says no
    denied = run_launcher(policy(ws, read_roots=("/etc", "/proc", str(ws))), [str(script)], tmp=ws.parent, cwd=ws)
    assert denied.code == 126
    assert "ran" not in denied.stdout


def test_check_mode_validates_without_running(ws: Path, tmp_path: Path) -> None:
    import subprocess

    good = tmp_path / "good.json"
    good.write_text(json.dumps(policy(ws)))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"version": 1}))
    run = [SYSTEM_PYTHON, "-I", "-S", str(LAUNCHER), "--check"]
    assert subprocess.run([*run, str(good)], capture_output=True, check=False).returncode == 0
    refused = subprocess.run([*run, str(bad)], capture_output=True, text=True, check=False)
    assert refused.returncode == 125
    assert "missing key" in refused.stderr


@needs_abi(3)
def test_abi_gating_is_real_truncate_is_unrestricted_below_v3(ws: Path) -> None:
    readonly = {"read_roots": ("/etc", "/proc", str(ws))}
    argv = errno_argv(f"os.truncate({str(ws / 'a.txt')!r}, 0)")
    at_v3 = run_launcher(policy(ws, **readonly), argv, tmp=ws.parent, cwd=ws)
    assert at_v3.stdout.strip() == "EACCES"
    assert (ws / "a.txt").read_text() == "hello\n"
    at_v2 = run_launcher(policy(ws, max_abi=2, **readonly), argv, tmp=ws.parent, cwd=ws)
    assert at_v2.stdout.strip() == "ok"
    assert at_v2.report is not None
    assert at_v2.report["abi_used"] == 2
    assert "truncate" in at_v2.report["unenforced"]
    assert at_v2.report["status"] == "partially_enforced"


@needs_abi(4)
def test_tcp_connect_and_bind_follow_the_port_rules(ws: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(4)
        port = server.getsockname()[1]
        code = (
            "import socket, errno, sys\n"
            "def t(f):\n"
            "  try: f(); return 'ok'\n"
            "  except OSError as e: return errno.errorcode[e.errno]\n"
            f"c = t(lambda: socket.create_connection(('127.0.0.1', {port}), timeout=5))\n"
            "b = t(lambda: socket.socket().bind(('127.0.0.1', 0)))\n"
            "print(c, b)\n"
        )
        closed = run_launcher(policy(ws), ["python3", "-c", code], tmp=ws.parent, cwd=ws)
        assert closed.stdout.split() == ["EACCES", "EACCES"], closed.stderr
        opened = run_launcher(
            policy(ws, connect_tcp=(port,), bind_tcp=(0,)), ["python3", "-c", code], tmp=ws.parent, cwd=ws
        )
        assert opened.stdout.split() == ["ok", "ok"], opened.stderr
        free = run_launcher(policy(ws, connect_tcp=None), ["python3", "-c", code], tmp=ws.parent, cwd=ws)
        assert free.stdout.split() == ["ok", "ok"], free.stderr
        assert free.report is not None
        assert free.report["handled_net"] == []


@needs_abi(6)
def test_signal_scope_keeps_signals_inside_the_sandbox(ws: Path) -> None:
    argv = errno_argv("os.kill(os.getppid(), 0)")
    scoped = run_launcher(policy(ws), argv, tmp=ws.parent, cwd=ws)
    assert scoped.stdout.strip() == "EPERM"
    unscoped = run_launcher(policy(ws, scope_signal=False), argv, tmp=ws.parent, cwd=ws)
    assert unscoped.stdout.strip() == "ok"
