"""Run runtime/sbx_launcher.py on the host, as the container would, with a tmp dir as workspace."""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[3]
LAUNCHER = REPO / "runtime" / "sbx_launcher.py"
SYSTEM_PYTHON = "/usr/bin/python3"  # what the default image runs the launcher with
MODE = "serve"  # how run_launcher hands the launcher its call; the launcher suite runs both


def kernel_landlock_abi() -> int | None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    abi = int(libc.syscall(ctypes.c_long(444), None, ctypes.c_size_t(0), ctypes.c_uint32(1)))
    return abi if abi > 0 else None


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str
    report: dict[str, Any] | None


def run_launcher(
    policy: dict[str, Any] | str,
    argv: list[str],
    *,
    tmp: Path,
    cwd: Path | None = None,
    prefix: list[str] | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 30,
) -> Result:
    """Run the launcher on `policy` (a dict, or raw text) and `argv`, the way `MODE` says: "serve"
    (what sbx runs: the call as one JSON line on standard input) or "file" (tmp/policy.json)."""
    report_path = None if isinstance(policy, str) else policy.get("report_path")
    if report_path and os.path.exists(report_path):
        os.unlink(report_path)
    text = policy if isinstance(policy, str) else json.dumps(policy)
    if MODE == "serve":
        cmd = [*(prefix or []), SYSTEM_PYTHON, "-I", "-S", str(LAUNCHER), "--serve", "30"]
        call = '{"version": 1, "policy": ' + text + ', "argv": ' + json.dumps(argv) + '}\n'
    else:
        policy_file = tmp / "policy.json"
        policy_file.write_text(text)
        cmd = [*(prefix or []), SYSTEM_PYTHON, "-I", "-S", str(LAUNCHER), str(policy_file), "--", *argv]
        call = ""
    proc = subprocess.run(
        cmd,
        cwd=cwd or tmp,
        env=env or {"PATH": "/usr/local/bin:/usr/bin:/bin", "LC_ALL": "C.UTF-8", "HOME": str(tmp)},
        capture_output=True,
        text=True,
        input=call,
        timeout=timeout,
        check=False,
    )
    report = None
    if report_path and os.path.exists(report_path):
        report = json.loads(Path(report_path).read_text())
    return Result(proc.returncode, proc.stdout, proc.stderr, report)


PROBE = r"""
import errno, os, sys
def probe(op, path, data="x"):
    try:
        if op == "read":
            with open(path) as f: f.read()
        elif op == "write":
            with open(path, "w") as f: f.write(data)
        elif op == "append":
            with open(path, "a") as f: f.write(data)
        elif op == "mkdir":
            os.mkdir(path)
        elif op == "list":
            os.listdir(path)
        elif op == "unlink":
            os.unlink(path)
        print("ok")
    except OSError as e:
        print(errno.errorcode[e.errno])
probe(sys.argv[1], sys.argv[2])
"""


def probe_argv(op: str, path: str | Path) -> list[str]:
    """argv for a python3 one-liner that prints `ok` or the errno name of `op` on `path`."""
    return ["python3", "-I", "-S", "-c", PROBE, op, str(path)]


def errno_argv(statement: str, imports: str = "os, socket") -> list[str]:
    """argv for python3 running `statement`, printing `ok` or the errno name it failed with."""
    code = (
        f"import errno, {imports}\n"
        f"try:\n {statement}\n print('ok')\n"
        "except OSError as e:\n print(errno.errorcode[e.errno])"
    )
    return ["python3", "-c", code]
