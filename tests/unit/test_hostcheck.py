"""Host diagnosis: the planner part of `sbx doctor` looks for the model where sbx's settings say."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from sandbox import hostcheck
from sandbox.config import Settings
from sandbox.planner.models import ModelStore


def test_the_planner_report_looks_in_the_settings_cache_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[Path] = []

    def is_present(store: ModelStore, _spec: object) -> bool:
        asked.append(store.cache_dir)
        return False

    monkeypatch.setattr(ModelStore, "is_present", is_present)
    settings = replace(Settings.from_env(), cache_dir=tmp_path / "elsewhere", runtime_dir=tmp_path / "run")
    problems: list[dict[str, object]] = []
    report = hostcheck._planner_report(settings, problems)
    assert asked == [tmp_path / "elsewhere"]
    assert report["prepared"] is False
    assert [p["fatal"] for p in problems] == [False]
