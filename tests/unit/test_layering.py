"""The rooms of the design brief, checked: who may import whom, and each third-party library in
exactly one module."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STDLIB = set(sys.stdlib_module_names) | {"__future__"}

# room -> the sandbox rooms it may import (besides itself)
ALLOWED = {
    "types": set(),
    "errors": set(),
    "config": {"errors"},  # a bad setting (SBX_WARM_POOL) is a usage error
    "procs": set(),
    "text": set(),
    "safedirs": {"errors"},
    "locks": {"errors"},  # flock: waiting, and the per-workspace exclusive lock
    "digests": set(),  # the canonical JSON encoding and its sha256 digest
    "destinations": set(),  # which network destinations egress never reaches: the compiler's and the proxy's rule
    "tools": {"types", "errors"},
    "changes": {"types", "errors", "procs", "safedirs", "text", "locks"},
    "audit": {"types", "errors", "config", "safedirs", "text", "digests"},
    "engine": {"types", "errors", "config", "procs", "safedirs", "destinations", "locks"},
    "policy": {"types", "errors", "tools", "safedirs", "destinations", "digests"},
    "planner": {"types", "errors", "config", "tools", "safedirs", "locks"},
    "app": {"types", "errors", "config", "tools", "changes", "engine", "policy", "planner", "audit", "safedirs"},
    "cli": {"types", "errors", "config", "tools", "app", "changes", "authoring", "audit", "mcp_server", "intent",
            "planner", "safedirs", "text", "hostcheck", "version"},
    "api": {"types", "errors", "config", "app"},
    "intent": {"types", "errors", "config", "app", "planner", "policy", "tools"},
    "hostcheck": {"types", "errors", "config", "engine", "planner", "safedirs"},  # doctor, image build
    "mcp_server": {"types", "errors", "config", "api", "version"},
    "version": set(),  # the installed distribution's version: `sbx --version` and the MCP handshake
    "authoring": {"types", "errors", "config", "tools", "app", "policy", "engine"},
}
# sbx's package data (launcher, profiles, Containerfile, build programs): below every room, so every
# room may read it; it imports only the error tree.
ALLOWED["resources"] = {"errors"}
for _name, _allowed in ALLOWED.items():
    if _name not in ("resources", "errors"):
        _allowed.add("resources")
# third-party top-level module -> the one file allowed to import it
THIRD_PARTY_HOME = {
    "podman": "sandbox/engine/podman.py",
    "requests": "sandbox/engine/docker.py",  # docker-py's transport errors
    "pyseccomp": "sandbox/policy/syscalls.py",
    "onnxruntime_genai": "sandbox/planner/onnx.py",
    "docker": "sandbox/engine/docker.py",
    "mcp": "sandbox/mcp_server.py",
    "mcp_types": "sandbox/mcp_server.py",  # the mcp package's own types module
}
# The model build programs run in the model-build venv, where sbx is not installed: the standard
# library and that venv's packages only, and no room imports them (they are run, not imported).
BUILD_PROGRAMS = ROOT / "sandbox" / "planner" / "buildtools"
BUILD_VENV_PACKAGES = {"torch", "transformers", "huggingface_hub"}


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    return names


def _room(path: Path) -> str:
    rel = path.relative_to(ROOT / "sandbox")
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def test_rooms_import_only_what_the_brief_allows() -> None:
    violations = []
    for path in sorted((ROOT / "sandbox").rglob("*.py")):
        room = _room(path)
        if room == "__init__":
            continue
        for name in _imports(path):
            parts = name.split(".")
            if parts[0] != "sandbox" or len(parts) < 2:
                continue
            target = parts[1]
            if target != room and target not in ALLOWED.get(room, set()):
                violations.append(f"{path.relative_to(ROOT)} imports {name}")
    assert violations == []


def test_each_third_party_library_has_one_home() -> None:
    violations = []
    for path in sorted([*(ROOT / "sandbox").rglob("*.py"), *(ROOT / "runtime").rglob("*.py")]):
        rel = str(path.relative_to(ROOT))
        if BUILD_PROGRAMS in path.parents:
            continue
        for name in _imports(path):
            top = name.split(".")[0]
            if top in STDLIB or top == "sandbox":
                continue
            if THIRD_PARTY_HOME.get(top) != rel:
                violations.append(f"{rel} imports {top}")
    assert violations == []


def test_the_launcher_is_stdlib_only() -> None:
    for path in (ROOT / "runtime").rglob("*.py"):
        for name in _imports(path):
            assert name.split(".")[0] in STDLIB, f"{path.name} imports {name}"


def test_the_build_programs_are_self_contained_and_never_imported() -> None:
    programs = sorted(BUILD_PROGRAMS.glob("*.py"))
    assert len(programs) > 1
    for path in programs:
        for name in _imports(path):
            top = name.split(".")[0]
            assert top in STDLIB or top in BUILD_VENV_PACKAGES, f"{path.name} imports {name}"
    for path in sorted((ROOT / "sandbox").rglob("*.py")):
        for name in _imports(path):
            assert not name.startswith("sandbox.planner.buildtools"), f"{path.relative_to(ROOT)} imports {name}"

def test_the_model_commands_are_the_planners_and_nothing_re_exports_them() -> None:
    # The CLI calls sandbox.planner.commands directly; the `sbx run` use case does not pass them on.
    for path in sorted((ROOT / "sandbox").rglob("*.py")):
        if _room(path) in {"planner", "cli"}:
            continue
        for name in _imports(path):
            assert name != "sandbox.planner.commands", f"{path.relative_to(ROOT)} imports {name}"
