"""The model store: the prepared models in sbx's cache folder, and `pull`, which prepares one.

Layout under the cache folder (`sandbox.config.default_cache_dir`):

    models/<name>/model/          the onnxruntime-genai model folder (genai_config.json, model.onnx, ...)
    models/<name>/manifest.json   the audit record: source, GGUF sha256, build tools, digest of every file
    model-build-venv/             the build tools (`model_build`)

A model is complete when its manifest exists: `pull` builds in a staging folder beside the final one
and renames it into place, so an interrupted pull leaves nothing that looks usable. Where the GGUF
comes from is `model_sources`; how it becomes a model, `model_build`; checksums, `model_checksums`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sandbox import safedirs
from sandbox.config import default_cache_dir
from sandbox.errors import ModelError
from sandbox.locks import waiting
from sandbox.planner.catalog import ModelSpec, catalog, get_spec
from sandbox.planner.model_build import Builder, BuildReport, BuildVenv, GgufBuilder, Log, default_build_venv, quiet
from sandbox.planner.model_checksums import dir_size, tree_digest, tree_files
from sandbox.planner.model_sources import (
    PipWheelFetcher,
    Sources,
    WheelFetcher,
    configured_source_dir,
    configured_sources,
    pip_python,
)

MANIFEST_NAME = "manifest.json"
MANIFEST_SCHEMA = 1
MODEL_SUBDIR = "model"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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
        self.log: Log = log or quiet
        self.venv = venv = BuildVenv(build_venv or default_build_venv(self.cache_dir))
        self.builder: Builder = builder or GgufBuilder(venv)
        self.sources = Sources(
            order=tuple(sources) if sources is not None else configured_sources(),
            local_dir=source_dir or configured_source_dir(),
            venv=venv,
            fetcher=fetcher or PipWheelFetcher(pip_python(venv, self.log)),
            log=self.log,
        )

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
            size_bytes=dir_size(self.model_path(spec)),
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
        with waiting(self.models_dir / f".{spec.name}.lock"):
            if self.is_present(spec) and not force:
                return self.info(spec)
            staging = Path(tempfile.mkdtemp(prefix=f".pull-{spec.name}-", dir=self.models_dir))
            try:
                return self._pull_into(spec, staging, keep_gguf=keep_gguf)
            finally:
                safedirs.remove_tree(staging)

    def _pull_into(self, spec: ModelSpec, staging: Path, *, keep_gguf: bool) -> ModelInfo:
        started = time.monotonic()
        acquired = self.sources.acquire(spec, staging)
        out = staging / MODEL_SUBDIR
        report: BuildReport | None = None
        if acquired.ready_model is not None:
            self.log(f"copying the ready model from {acquired.ready_model}")
            shutil.copytree(acquired.ready_model, out, symlinks=False)
        elif acquired.gguf is None:
            raise ModelError(f"the {acquired.kind} source delivered neither a model nor a GGUF",
                             code="model.build_failed")
        else:
            work = staging / "work"
            work.mkdir()
            self.log(f"building {spec.name} ({spec.recipe.precision}, {spec.recipe.execution_provider}) from the GGUF")
            report = self.builder.build(acquired.gguf, out, spec.recipe, work=work, log=self.log)
            safedirs.remove_tree(work)
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
            safedirs.remove_tree(old)
