"""Rules for the product code as a whole (sandbox/ and runtime/)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _product_files() -> list[Path]:
    return sorted(p for folder in ("sandbox", "runtime") for p in (ROOT / folder).rglob("*.py")
                  if "_data" not in p.relative_to(ROOT).parts)


def test_no_assert_in_product_code() -> None:
    """`python -O` strips asserts: a check the code relies on must be an explicit error."""
    found = [f"{path.relative_to(ROOT)}:{node.lineno}" for path in _product_files()
             for node in ast.walk(ast.parse(path.read_text(), str(path))) if isinstance(node, ast.Assert)]
    assert found == []
