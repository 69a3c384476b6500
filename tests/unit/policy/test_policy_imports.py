"""Import rules: sandbox/policy uses only the stdlib, sandbox.types, sandbox.errors, its own modules,
and pyseccomp in exactly one file; the launcher uses only the stdlib."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
POLICY = REPO / "sandbox" / "policy"
LAUNCHER = REPO / "runtime" / "sbx_launcher.py"


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import"
            found.add(node.module or "")
    return found


def is_stdlib(module: str) -> bool:
    return module.split(".", maxsplit=1)[0] in sys.stdlib_module_names or module == "__future__"


def test_policy_imports_only_what_it_may() -> None:
    importers_of_pyseccomp = []
    for path in sorted(POLICY.glob("*.py")):
        for module in imports(path):
            if module == "pyseccomp":
                importers_of_pyseccomp.append(path.name)
                continue
            allowed = (
                is_stdlib(module)
                or module in {"sandbox.types", "sandbox.errors"}
                or (module.startswith("sandbox.policy"))
            )
            assert allowed, f"{path.name} imports {module}"
    assert importers_of_pyseccomp == ["syscalls.py"]


def test_launcher_is_stdlib_only() -> None:
    for module in imports(LAUNCHER):
        assert is_stdlib(module), f"launcher imports {module}"
