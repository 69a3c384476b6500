"""The model build programs: real modules, run by source in another interpreter (here sbx's own,
standing in for the build venv's)."""

from __future__ import annotations

import ast
import json
import sys
from importlib import metadata
from pathlib import Path

import pytest

from sandbox.errors import ModelError
from sandbox.planner import buildtools
from sandbox.planner.model_build import program, quiet, run_tool

PROGRAMS = ("gguf_to_checkpoint", "hub_download", "tool_versions")


@pytest.mark.parametrize("name", PROGRAMS)
def test_a_program_runs_by_its_source_without_the_working_folder_on_its_path(name: str) -> None:
    argv = program(name)
    assert argv[:2] == ["-P", "-c"]
    tree = ast.parse(argv[2])
    assert "main" in {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    assert argv[2] == (Path(buildtools.__file__).parent / f"{name}.py").read_text()


def test_tool_versions_reports_what_is_installed_and_leaves_out_the_rest() -> None:
    out = run_tool([sys.executable, *program("tool_versions"), "pytest", "no-such-distribution-sbx"],
                   log=quiet, what="versions")
    assert json.loads(out) == {"pytest": metadata.version("pytest")}


def test_a_failing_program_is_a_build_failure_with_the_tail_of_its_output(tmp_path: Path) -> None:
    # sbx's own venv has no torch: the program gets as far as importing it.
    with pytest.raises(ModelError) as caught:
        run_tool([sys.executable, *program("gguf_to_checkpoint"), tmp_path / "x.gguf", tmp_path / "out", "float16"],
                 log=quiet, what="GGUF -> checkpoint")
    assert caught.value.code == "model.build_failed"
    assert "No module named 'torch'" in caught.value.message
