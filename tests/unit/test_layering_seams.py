"""Seams between the app-level modules: who writes the audit trail, and what app.py holds."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _attributes(path: Path) -> set[str]:
    return {node.attr for node in ast.walk(ast.parse(path.read_text(), str(path))) if isinstance(node, ast.Attribute)}


def _top_level_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    return {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))}


def test_only_the_workspace_writes_the_audit_trail() -> None:
    """Front ends and the intent loop record through `Workspace` (record_intent, record_plan, ...),
    never through its audit log, so every entry carries the workspace's path and front end."""
    writers = []
    for path in sorted((ROOT / "sandbox").rglob("*.py")):
        rel = path.relative_to(ROOT)
        if rel.parts[1] in {"audit", "app.py"}:  # the log itself and its one owner
            continue
        if "audit" in _attributes(path):
            writers.append(str(rel))
    assert writers == []


def test_host_diagnosis_and_image_building_live_outside_app() -> None:
    moved = {"doctor", "build_image", "_probe", "_planner_report"}
    assert moved & _top_level_names(ROOT / "sandbox" / "app.py") == set()
    assert moved <= _top_level_names(ROOT / "sandbox" / "hostcheck.py")
