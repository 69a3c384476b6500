"""The command line's boundary without podman or a model: the version, logging, usage errors of
`sbx exec --args`, and `sbx profile show` without arguments."""

from __future__ import annotations

import ast
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox import cli
from sandbox.cli.main import configure_logging
from sandbox.version import version

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def quiet_again() -> Iterator[None]:
    yield
    configure_logging(0, None)


def _json(capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    out = capsys.readouterr().out
    assert out.count("\n") == 1, out  # exactly one JSON object
    envelope: dict[str, object] = json.loads(out)
    return envelope


def test_version_comes_from_the_package_metadata(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib import metadata

    assert version() == metadata.version("sandbox")
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out == f"sbx {version()}\n"
    assert cli.main(["--version", "--json"]) == 0
    assert _json(capsys) == {"ok": True, "command": "version", "result": {"version": version()}}


def test_the_mcp_server_reports_the_same_version() -> None:
    tree = ast.parse((ROOT / "sandbox" / "mcp_server.py").read_text())
    versions = [kw.value for node in ast.walk(tree) if isinstance(node, ast.Call)
                for kw in node.keywords if kw.arg == "version"]
    assert versions and all(isinstance(v, ast.Call) and getattr(v.func, "id", "") == "version" for v in versions)


@pytest.mark.parametrize("args", ["[1]", "null", '"x"', "3"])
def test_tool_arguments_that_are_not_an_object_are_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: str
) -> None:
    argv = ["exec", "--tool", "read_file", "--args", args, "-w", str(tmp_path)]
    assert cli.main([*argv, "--json"]) == 2
    envelope = _json(capsys)
    assert envelope["ok"] is False and envelope["command"] == "exec"
    assert envelope["error"] == {"code": "usage.invalid_arg",  # not sbx.internal, exit 70
                                 "message": envelope["error"]["message"]}  # type: ignore[index]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("sbx: error: --args must be a JSON object")


def test_profile_show_without_args_uses_placeholders_and_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["profile", "show", "run_shell", "--seccomp"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["defaultAction"]  # the seccomp profile itself, ready to pipe
    assert captured.err.startswith("sbx: no --args given: the parts that depend on the arguments are computed")
    assert '{"command": ' in captured.err

    assert cli.main(["profile", "show", "run_shell", "--json"]) == 0
    result = _json(capsys)["result"]
    assert isinstance(result, dict) and isinstance(result["placeholder_args"], dict)
    assert list(result["argv"][-1:]) == [result["placeholder_args"]["command"]]

    assert cli.main(["profile", "show", "run_shell", "--seccomp", "--json"]) == 0
    assert "placeholder_args" in _json(capsys)["result"]  # type: ignore[operator]


def test_profile_show_with_args_is_that_call_and_no_placeholder(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["profile", "show", "run_shell", "--args", '{"command": "ls"}', "--json"]) == 0
    result = _json(capsys)["result"]
    assert isinstance(result, dict) and "placeholder_args" not in result and result["argv"][-1] == "ls"
    assert capsys.readouterr().err == ""
    # given arguments are the caller's: a missing one is still an error, not a placeholder
    assert cli.main(["profile", "show", "run_shell", "--args", "{}", "--json"]) == 2
    assert _json(capsys)["error"]["code"] == "tool.invalid_args"  # type: ignore[index]


def test_a_tool_whose_arguments_all_have_defaults_needs_no_placeholder(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["profile", "show", "list_dir", "--json"]) == 0
    result = _json(capsys)["result"]
    assert isinstance(result, dict) and "placeholder_args" not in result and result["argv"][-1] == "."
    assert capsys.readouterr().err == ""


def test_every_profile_shows_without_args(capsys: pytest.CaptureFixture[str]) -> None:
    from sandbox.config import Settings
    from sandbox.policy.profiles import load_profiles

    for name in load_profiles(Settings.from_env().profiles_dir).tools:
        assert cli.main(["profile", "show", name, "--json"]) == 0, capsys.readouterr()
        assert _json(capsys)["ok"] is True


def test_logging_is_quiet_by_default(capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    configure_logging(0, None)
    logging.getLogger("sandbox.somewhere").warning("not shown")
    assert capsys.readouterr().err == ""
    # quiet by a handler, not by levels: a program embedding sbx (or a test) still sees the records
    assert [r.getMessage() for r in caplog.records] == ["not shown"]


@pytest.mark.parametrize(
    ("verbosity", "env", "level"),
    [(1, None, logging.INFO), (2, None, logging.DEBUG), (0, "debug", logging.DEBUG), (0, "WARNING", logging.WARNING),
     (1, "debug", logging.DEBUG)],
)
def test_v_and_sbx_log_send_the_sandbox_loggers_to_stderr(
    capsys: pytest.CaptureFixture[str], verbosity: int, env: str | None, level: int
) -> None:
    configure_logging(verbosity, env)
    assert logging.getLogger("sandbox").getEffectiveLevel() == level
    logging.getLogger("sandbox.engine.podman").log(level, "shown")
    captured = capsys.readouterr()
    assert captured.err == f"sbx: {logging.getLevelName(level)} sandbox.engine.podman: shown\n"
    assert captured.out == ""  # stdout is the tools' output and the --json object
    configure_logging(verbosity, env)  # a second main() in one process does not double the lines
    logging.getLogger("sandbox.x").log(level, "once")
    assert capsys.readouterr().err.count("once") == 1


def test_v_works_before_and_after_the_command_and_a_bad_sbx_log_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for argv in (["-v", "list"], ["list", "-v"], ["-v", "list", "-v"]):
        assert cli.main([*argv, "-w", str(tmp_path)]) == 0
        assert logging.getLogger("sandbox").getEffectiveLevel() <= logging.INFO
        capsys.readouterr()
    monkeypatch.setenv("SBX_LOG", "loud")
    assert cli.main(["list", "-w", str(tmp_path), "--json"]) == 2
    assert _json(capsys)["error"]["code"] == "usage.invalid"  # type: ignore[index]


def test_run_status_and_progress_kinds_keep_their_json_values() -> None:
    from sandbox.types import ProgressKind, RunStatus

    assert [str(s) for s in RunStatus] == ["planned", "refused", "cancelled", "failed", "done", "pending", "applied",
                                           "undecided"]
    assert [str(k) for k in ProgressKind] == ["load", "loaded", "planning", "planned", "step", "step.done", "repair",
                                              "commit", "verify"]
    assert json.dumps({"status": RunStatus.APPLIED}) == '{"status": "applied"}'
