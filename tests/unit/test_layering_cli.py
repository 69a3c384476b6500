"""The command line's own seams: one error boundary, command families that do not lean on each
other, and no import circles (in the command line, and between the modules of sandbox)."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLI = ROOT / "sandbox" / "cli"
FOUNDATION = {"common", "dialogue", "alternatives", "ticker"}  # what every command family may use
FAMILIES = {"actions", "changes", "log", "profile", "models", "host"}


def _module(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _runtime_imports(path: Path, modules: set[str] | frozenset[str] = frozenset()) -> set[str]:
    """What a module imports when it is loaded: top-level statements, not those inside functions
    (deferred on purpose) or under `if TYPE_CHECKING:`. `from pkg import sub` names `pkg.sub` when
    that is one of `modules`, else `pkg`."""
    tree = ast.parse(path.read_text(), str(path))
    names: set[str] = set()

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    names.add(sub if sub in modules else node.module)
            elif isinstance(node, ast.If) and "TYPE_CHECKING" not in ast.unparse(node.test):
                visit(node.body + node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body + node.orelse + node.finalbody)

    visit(tree.body)
    return names


def _graph() -> dict[str, set[str]]:
    modules = {_module(p): p for p in (ROOT / "sandbox").rglob("*.py")}
    return {name: {n for n in _runtime_imports(path, set(modules)) if n in modules and n != name}
            for name, path in modules.items()}


def test_the_console_script_is_the_packages_main() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["sbx"] == "sandbox.cli:main"
    assert (CLI / "__main__.py").exists()  # python -m sandbox.cli, as the tests and benchmarks call it
    assert {p.stem for p in CLI.glob("*.py")} == FOUNDATION | FAMILIES | {"__init__", "__main__", "main"}


def test_command_families_use_only_the_foundation_and_the_foundation_no_family() -> None:
    violations = []
    modules = {_module(p) for p in CLI.glob("*.py")}
    for path in CLI.glob("*.py"):
        uses = {name.split(".")[2] for name in _runtime_imports(path, modules) if name.startswith("sandbox.cli.")}
        if path.stem in FAMILIES:
            allowed = FOUNDATION
        elif path.stem == "dialogue":
            allowed = {"common"}
        elif path.stem == "alternatives":  # the choice between candidate plans, asked like an approval
            allowed = {"common", "dialogue"}
        elif path.stem in FOUNDATION:
            allowed = set()
        else:  # main, and the package's entry points
            allowed = FOUNDATION | FAMILIES | {"main"}
        violations += [f"{path.name} imports sandbox.cli.{used}" for used in uses - allowed - {path.stem}]
    assert violations == []


def test_only_the_boundary_prints_errors() -> None:
    sources = (ROOT / "sandbox").rglob("*.py")
    printers = sorted(str(p.relative_to(ROOT)) for p in sources if "sbx: error" in p.read_text())
    assert printers == ["sandbox/cli/main.py"]
    catchers = sorted(p.name for p in CLI.glob("*.py") if "except SbxError" in p.read_text())
    assert catchers == ["main.py"]


def test_no_import_circles() -> None:
    graph = _graph()
    circles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                circles.append([*path[path.index(target):], target])
            elif target not in state:
                visit(target, [*path, target])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert circles == []
