"""sbx's package data: read through importlib.resources, the same files as the repository's top-level
runtime/, profiles/ and Containerfile, all of them in the wheel, and no checkout assumed anywhere."""

from __future__ import annotations

import ast
import fnmatch
import os
import tomllib
from pathlib import Path

import pytest

from sandbox import resources
from sandbox.config import Settings
from sandbox.engine.image import DIGEST_LABEL, build, parse_containerfile
from sandbox.errors import SbxError

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "sandbox" / "_data"


def test_the_data_links_point_at_the_top_level_layout() -> None:
    # Relative links: a copy of the checkout (scripts/test-user's tar) keeps them working.
    assert {p.name: os.readlink(p) for p in DATA.iterdir()} == {
        "Containerfile": "../../Containerfile",
        "profiles": "../../profiles",
        "runtime": "../../runtime",
    }


def test_files_read_through_the_package_are_the_repository_files() -> None:
    assert resources.launcher_source() == (ROOT / "runtime" / "sbx_launcher.py").read_text()
    assert resources.containerfile_text() == (ROOT / "Containerfile").read_text()
    assert resources.profiles_dir().resolve() == (ROOT / "profiles").resolve()


def test_settings_default_to_the_shipped_profiles(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SBX_PROFILES", raising=False)
    assert Settings.from_env().profiles_dir == resources.profiles_dir()
    monkeypatch.setenv("SBX_PROFILES", str(tmp_path))
    assert Settings.from_env().profiles_dir == tmp_path


def test_every_data_file_is_in_the_wheel() -> None:
    """A profile or schema added at the top level must not be left out of the wheel."""
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    files = [("sandbox._data", "Containerfile")] + [
        (f"sandbox._data.{top}", path.name)
        for top in ("profiles", "runtime")
        for path in (DATA / top).iterdir()
        if path.is_file() and not path.name.startswith(".")
    ]
    missing = [f"{package}: {name}" for package, name in files
               if not any(fnmatch.fnmatch(name, pattern) for pattern in package_data.get(package, ()))]
    assert len(files) > 10 and missing == []


def test_build_program_reads_a_module_of_sbx_as_text() -> None:
    assert resources.build_program("sandbox.resources") == (ROOT / "sandbox" / "resources.py").read_text()
    with pytest.raises(ValueError, match="not a module of sbx"):
        resources.build_program("os.path")
    with pytest.raises(SbxError) as caught:
        resources.build_program("sandbox.planner.no_such_program")
    assert caught.value.code == "sbx.incomplete_install"


def _file_relative_repository_roots(path: Path) -> list[str]:
    """`Path(__file__)...parent.parent` or `.parents[N]`: a folder above the package, i.e. a checkout."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, (ast.Attribute, ast.Subscript)):
            continue
        text = ast.unparse(node)
        if "__file__" in text and (".parent.parent" in text or ".parents[" in text):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_nothing_in_sandbox_looks_for_a_checkout() -> None:
    found = []
    for path in sorted((ROOT / "sandbox").rglob("*.py")):
        found += _file_relative_repository_roots(path)
        if "PYTHONPATH" in path.read_text():
            found.append(f"{path.relative_to(ROOT)}: PYTHONPATH")
    assert found == []


def test_package_data_is_read_in_one_module() -> None:
    """Only sandbox.resources knows how the data travels (importlib.resources, sandbox/_data)."""
    readers = []
    for path in sorted((ROOT / "sandbox").rglob("*.py")):
        rel = str(path.relative_to(ROOT))
        if rel == "sandbox/resources.py":
            continue
        text = path.read_text()
        if "importlib.resources" in text or "from importlib import resources" in text:
            readers.append(rel)
        for node in ast.walk(ast.parse(text, rel)):
            if isinstance(node, ast.Constant) and node.value == "_data":
                readers.append(rel)
    assert readers == []


def test_the_image_is_built_from_the_shipped_text_in_an_empty_context(tmp_path: Path) -> None:
    """No checkout folder as the build context: the Containerfile's text, alone in a private folder."""
    record = tmp_path / "record.txt"
    podman = tmp_path / "podman"
    podman.write_text(
        "#!/bin/sh\n"
        f"printf '%s\\n' \"$@\" > {record}\n"
        'for last; do :; done\n'
        f'ls -A "$last" >> {record}\n'
        f'cat "$last/Containerfile" >> {record}\n'
    )
    podman.chmod(0o755)
    text = resources.containerfile_text()
    route = build(text, "localhost/sbx/test:latest", podman=str(podman), env=dict(os.environ), offline=False)
    assert route == "podman build"
    lines = record.read_text().splitlines()
    assert lines[:5] == ["build", "--label", f"{DIGEST_LABEL}={parse_containerfile(text).digest}", "-t",
                         "localhost/sbx/test:latest"]
    context = lines[7]
    assert lines[5:7] == ["-f", f"{context}/Containerfile"]
    assert lines[8] == "Containerfile"  # the whole context
    assert "\n".join(lines[9:]) == text.rstrip("\n")
    assert not context.startswith(str(ROOT)) and not Path(context).exists()  # private, and gone afterwards
