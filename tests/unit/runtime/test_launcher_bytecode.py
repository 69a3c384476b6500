"""The launcher starts from the bytecode sbx compiled when the container's python shares its magic
number, and from its source otherwise (app.LAUNCHER_STUB, with the paths of a temporary folder)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from launcher_harness import SYSTEM_PYTHON

from sandbox.app import LAUNCHER_STUB
from sandbox.resources import LAUNCHER_PATH, launcher_bytecode


def _start(tmp_path: Path, source: str, bytecode: bytes) -> subprocess.CompletedProcess[str]:
    (tmp_path / "launcher.py").write_text(source)
    (tmp_path / "launcher.pyc").write_bytes(bytecode)
    stub = LAUNCHER_STUB.replace(LAUNCHER_PATH, str(tmp_path / "launcher.py"))
    return subprocess.run([SYSTEM_PYTHON, "-I", "-S", "-c", stub, "--serve", "5"], input="", capture_output=True,
                          text=True, timeout=30, check=False)


def test_the_bytecode_runs_when_its_magic_number_matches(tmp_path: Path) -> None:
    result = _start(tmp_path, "raise SystemExit(99)\n", launcher_bytecode())  # the source is not read
    assert result.returncode == 125
    assert result.stderr == "sbx-launcher: standard input closed before a call came\n"


def test_the_source_runs_when_the_magic_number_differs(tmp_path: Path) -> None:
    other_python = b"\0\0\r\n" + launcher_bytecode()[4:]
    assert _start(tmp_path, "raise SystemExit(99)\n", other_python).returncode == 99
