"""Logging: a logger per module under `sandbox`, quiet unless a program asks for it, and every
swallowed cleanup failure leaves a record."""

from __future__ import annotations

import ast
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox import safedirs
from sandbox.engine import overlay

ROOT = Path(__file__).resolve().parents[2]


def test_sbx_warnings_say_nothing_unless_the_program_configures_logging() -> None:
    code = "import logging, sandbox; logging.getLogger('sandbox.engine.overlay').warning('boom')"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert proc.stderr == ""


def test_modules_log_through_their_own_logger() -> None:
    """`logging.warning(...)` would go to the root logger, past the `sandbox` switch."""
    wrong = []
    for path in sorted((ROOT / "sandbox").rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "logging"
                    and node.func.attr in {"debug", "info", "warning", "error", "exception", "critical", "log"}):
                wrong.append(f"{path.relative_to(ROOT)}:{node.lineno}")
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "getLogger"
                    and node.args and not (isinstance(node.args[0], ast.Name) and node.args[0].id == "__name__")
                    and not (isinstance(node.args[0], ast.Constant) and node.args[0].value == "sandbox")):
                wrong.append(f"{path.relative_to(ROOT)}:{node.lineno} getLogger")
    assert wrong == []


def test_a_temporary_file_left_behind_is_logged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(safedirs.os, "replace", refuse)
    monkeypatch.setattr(safedirs.os, "unlink", refuse)
    with caplog.at_level(logging.DEBUG, logger="sandbox"), pytest.raises(PermissionError):
        safedirs.write_file(tmp_path / "state.json", b"{}")
    assert any("not removed" in r.getMessage() and r.name == "sandbox.safedirs" for r in caplog.records)


def test_a_run_folder_that_cannot_be_removed_is_logged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    run_dir = tmp_path / "runs" / "r1"
    (run_dir / "layer").mkdir(parents=True)
    (run_dir / "owner.pid").write_text("999999999")  # no such process: stale
    real_rmdir = os.rmdir

    def stuck(path: object, *args: object, **kwargs: object) -> None:
        if str(path).endswith("r1"):
            raise OSError(16, "Device or resource busy")
        real_rmdir(path, *args, **kwargs)  # type: ignore[arg-type]

    class Mounter:
        def unmount(self, _path: Path) -> None:
            return None

    monkeypatch.setattr(os, "rmdir", stuck)
    with caplog.at_level(logging.DEBUG, logger="sandbox"):
        swept = overlay.sweep_stale(tmp_path / "runs", Mounter())  # type: ignore[arg-type]
    assert swept == [run_dir]
    assert any(r.levelno == logging.WARNING and "cannot remove" in r.getMessage() for r in caplog.records)


def test_remove_tree_is_silent_about_a_missing_folder_and_logs_one_it_cannot_remove(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="sandbox"):
        safedirs.remove_tree(tmp_path / "never-made")
    assert caplog.records == []
    (tmp_path / "busy").mkdir()
    monkeypatch.setattr(safedirs.shutil.os, "rmdir", lambda *_a, **_k: (_ for _ in ()).throw(OSError(16, "busy")))
    with caplog.at_level(logging.DEBUG, logger="sandbox"):
        safedirs.remove_tree(tmp_path / "busy")
    assert [r.levelno for r in caplog.records] == [logging.WARNING]


def test_no_cleanup_ignores_its_errors_unseen() -> None:
    """`shutil.rmtree(..., ignore_errors=True)` leaves no trace: cleanups go through remove_tree."""
    found = [str(p.relative_to(ROOT)) for p in sorted((ROOT / "sandbox").rglob("*.py"))
             if "ignore_errors=True" in p.read_text()]
    assert found == []
