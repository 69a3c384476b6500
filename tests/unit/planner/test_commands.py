"""The model commands, as the CLI calls them: sandbox.planner.commands, straight (no model, no
service: an empty cache and an empty runtime folder)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sandbox.cli.main import main
from sandbox.config import Settings
from sandbox.planner import commands
from sandbox.planner.catalog import DEFAULT_MODEL
from sandbox.planner.models import ModelStore


@pytest.fixture
def empty_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SBX_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("SBX_RUNTIME_DIR", str(tmp_path / "run"))
    (tmp_path / "run").mkdir(mode=0o700)
    return tmp_path / "cache"


def test_list_and_info_read_the_store_of_the_settings_cache_folder(empty_cache: Path) -> None:
    data, text = commands.model_list()
    assert [(m["name"], m["present"], m["default"]) for m in data["models"]] == [
        ("qwen2.5-coder-0.5b", False, False), ("qwen2.5-coder-1.5b", False, True)]
    assert all(m["path"].startswith(str(empty_cache / "models")) for m in data["models"])
    assert f"{DEFAULT_MODEL} *" in text
    info, text = commands.model_info("0.5b", store=ModelStore(Settings.from_env().cache_dir, sources=()))
    assert info["name"] == "qwen2.5-coder-0.5b" and not info["present"]
    assert "present:  no" in text


def test_stop_with_no_service_running(empty_cache: Path) -> None:
    assert commands.model_stop(Settings.from_env()) == ({"stopped": []}, "no planner service was running")


def test_the_cli_calls_the_model_commands(empty_cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["model", "list", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] and out["command"] == "model list"
    assert out["result"] == commands.model_list()[0]
    assert main(["model", "stop", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["result"] == {"stopped": []}
