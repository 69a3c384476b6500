"""Building a model: the cached build venv and the GGUF -> onnxruntime-genai builder.

The build tools never enter sbx's own environment: they live in a separate, cached virtual
environment (`BUILD_REQUIREMENTS`, `$SBX_MODEL_BUILD_VENV` or `model-build-venv/` in the cache
folder) and run as subprocesses. The programs run there are `sandbox.planner.buildtools`, read as
package data (sbx is not installed in that venv).
"""

from __future__ import annotations

import json
import os
import resource
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from sandbox import resources, safedirs
from sandbox.config import default_cache_dir
from sandbox.errors import ModelError
from sandbox.locks import waiting
from sandbox.planner.catalog import BuildRecipe

ENV_BUILD_VENV = "SBX_MODEL_BUILD_VENV"
ENV_BUILD_PIP_ARGS = "SBX_MODEL_BUILD_PIP_ARGS"  # extra `pip install` arguments for the build venv

# The build environment, pinned. torch 2.13.0 CPU installs from a local file on the test machines;
# elsewhere PyPI's Linux x86_64 torch is the CUDA build (several GB): point pip at the CPU wheels with
# SBX_MODEL_BUILD_PIP_ARGS="--extra-index-url https://download.pytorch.org/whl/cpu".
BUILD_REQUIREMENTS = (
    "torch==2.13.0",
    "transformers==5.23.0",
    "accelerate==1.15.0",
    "gguf==0.19.0",
    "onnxruntime-genai==0.18.0",
    "onnx==1.23.2",
    "onnx-ir==1.1.0",
    "safetensors==0.8.0",
)
BUILD_TOOL_NAMES = ("torch", "transformers", "gguf", "onnxruntime-genai", "onnxruntime", "onnx", "onnx-ir")

Log = Callable[[str], None]


def quiet(_: str) -> None:
    return None


def default_build_venv(cache_dir: Path | None = None) -> Path:
    value = os.environ.get(ENV_BUILD_VENV)
    if value:
        return Path(value)
    return (cache_dir or default_cache_dir()) / "model-build-venv"


def program(name: str) -> list[str]:
    """The argv prefix that runs the build program `name` (a module of `sandbox.planner.buildtools`)
    with the build venv's python: its source through `-c`, and `-P` so that the working folder
    never lends it a module."""
    return ["-P", "-c", resources.build_program(f"sandbox.planner.buildtools.{name}")]


def run_tool(argv: Sequence[str | Path], *, log: Log, what: str, env: Mapping[str, str] | None = None,
             timeout: float | None = None) -> str:
    """Run a build tool; on failure raise `model.build_failed` with the tail of its output."""
    shown = ["<program>" if len(str(a)) > 200 else str(a) for a in argv[:6]]
    log(f"{what}: {' '.join(shown)}{' ...' if len(argv) > 6 else ''}")
    full_env = {**os.environ, **(env or {})}
    try:
        done = subprocess.run(
            [str(a) for a in argv], capture_output=True, text=True, env=full_env, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        raise ModelError(f"{what} took longer than {timeout:.0f} s", code="model.build_failed") from None
    except OSError as exc:
        raise ModelError(f"{what}: cannot run {argv[0]}: {exc}", code="model.build_failed") from None
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
        raise ModelError(f"{what} failed (exit {done.returncode}):\n{tail}", code="model.build_failed")
    return done.stdout


def _offline_env() -> dict[str, str]:
    # The build never needs the hub: everything comes from the GGUF. Keep transformers from trying.
    return {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
            "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1"}


@dataclass(frozen=True)
class BuildReport:
    seconds: float
    peak_rss_bytes: int  # the largest child process (getrusage RUSAGE_CHILDREN)
    tools: Mapping[str, str] = field(default_factory=dict)  # package -> version in the build venv
    steps: tuple[tuple[str, float], ...] = ()  # (step, seconds)


class Builder(Protocol):
    """Turns a verified GGUF into an onnxruntime-genai model folder."""

    def build(self, gguf: Path, out: Path, recipe: BuildRecipe, *, work: Path, log: Log) -> BuildReport: ...


@dataclass(frozen=True)
class BuildVenv:
    """The cached virtual environment that holds the model build tools."""

    path: Path
    requirements: tuple[str, ...] = BUILD_REQUIREMENTS
    base_python: str = field(default_factory=lambda: getattr(sys, "_base_executable", sys.executable))

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    @property
    def _stamp(self) -> Path:
        return self.path / ".sbx-requirements"

    def ready(self) -> bool:
        try:
            return self.python.exists() and self._stamp.read_text() == "\n".join(self.requirements) + "\n"
        except OSError:
            return False

    def ensure(self, *, log: Log = quiet) -> Path:
        """Create or update the venv (idempotent). Returns its python."""
        # Its python is run: a venv planted in a folder another user controls must not be.
        safedirs.private_dir(self.path.parent, env="SBX_CACHE_DIR")
        if self.ready():
            return self.python
        log(f"creating the model build environment in {self.path} (torch CPU, transformers, ...; a few minutes)")
        with waiting(self.path.parent / ".model-build-venv.lock"):
            if self.ready():
                return self.python
            if not self.python.exists():
                run_tool([self.base_python, "-m", "venv", str(self.path)], log=log, what="python -m venv")
            requirements = self.path / "requirements.txt"
            requirements.write_text("\n".join(self.requirements) + "\n")
            run_tool(
                [self.python, "-m", "pip", "install", "--disable-pip-version-check", "--no-input", "-q",
                 *shlex.split(os.environ.get(ENV_BUILD_PIP_ARGS, "")), "-r", requirements],
                log=log,
                what="pip install (model build tools)",
            )
            self._stamp.write_text("\n".join(self.requirements) + "\n")
        return self.python

    def versions(self, names: Sequence[str] = BUILD_TOOL_NAMES) -> dict[str, str]:
        out = run_tool([self.python, *program("tool_versions"), *names], log=quiet, what="build tool versions")
        loaded: dict[str, str] = json.loads(out)
        return loaded


@dataclass(frozen=True)
class GgufBuilder:
    """GGUF -> transformers checkpoint (dequantized, `recipe.checkpoint_dtype`) -> onnxruntime-genai.

    Both steps run in the build venv. The checkpoint is fp16 by default: half the memory of fp32 for
    the builder, and the builder re-quantizes to int4 anyway.
    """

    venv: BuildVenv

    def build(self, gguf: Path, out: Path, recipe: BuildRecipe, *, work: Path, log: Log) -> BuildReport:
        python = self.venv.ensure(log=log)
        started = time.monotonic()
        steps: list[tuple[str, float]] = []
        checkpoint = work / "checkpoint"
        t0 = time.monotonic()
        run_tool([python, *program("gguf_to_checkpoint"), gguf, checkpoint, recipe.checkpoint_dtype], log=log,
                 what="GGUF -> checkpoint", env=_offline_env())
        steps.append(("checkpoint", time.monotonic() - t0))
        t0 = time.monotonic()
        argv: list[str | Path] = [
            python, "-m", "onnxruntime_genai.models.builder", "-i", checkpoint, "-o", out,
            "-p", recipe.precision, "-e", recipe.execution_provider, "-c", work / "builder-cache",
        ]
        options = [f"{key}={value}" for key, value in (("hf_token", "false"), *recipe.extra_options)]
        argv += ["--extra_options", *options]
        run_tool(argv, log=log, what="onnxruntime-genai model builder", env=_offline_env())
        steps.append(("onnx", time.monotonic() - t0))
        safedirs.remove_tree(checkpoint)
        safedirs.remove_tree(work / "builder-cache")
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
        return BuildReport(
            seconds=time.monotonic() - started, peak_rss_bytes=peak, tools=self.venv.versions(), steps=tuple(steps)
        )
