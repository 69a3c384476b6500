"""The README stays true: every error code the code can emit is listed there."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_error_code_is_documented() -> None:
    source = "\n".join(p.read_text() for p in (ROOT / "sandbox").rglob("*.py"))
    codes = set(re.findall(r'code(?:=| = )"([a-z_]+\.[a-z_]+)"', source))
    readme = (ROOT / "README.md").read_text()
    missing = sorted(code for code in codes if f"`{code}`" not in readme)
    assert codes and missing == []
