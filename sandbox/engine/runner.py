"""One action, whatever the engine: overlay, run folder, egress proxy, container, capped output,
timeout, cleanup. Engines (podman.py, docker.py) supply only the container primitives, as a
`Backend`; they share this orchestration by composition, not by inheriting from each other.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from sandbox.engine import egress, oom, overlay
from sandbox.engine.capture import Capture, read_reports
from sandbox.engine.idmap import IdMap
from sandbox.engine.spec import ContainerOutcome, ContainerSpec
from sandbox.errors import EngineError
from sandbox.safedirs import private_dir

LABEL = "io.sbx.action"
RUNS_LABEL = "io.sbx.runs"  # which sbx runtime folder made the container (leak checks, sweeping)
EGRESS_SOCKET = "egress.sock"
PROBE_LIMIT_S = 10.0

log = logging.getLogger(__name__)  # in the report folder, where the launcher's relay finds it


@dataclass(frozen=True)
class Mount:
    source: Path
    target: str
    read_only: bool
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class RunFiles:
    """What the run folder holds for the container: every host path it mounts, and the seccomp file."""

    mounts: tuple[Mount, ...]
    seccomp_path: Path | None
    report_dir: Path | None


class Stream(Protocol):
    def recv(self, size: int, /) -> bytes: ...
    def settimeout(self, value: float | None, /) -> None: ...
    def close(self) -> None: ...


class Backend(Protocol):
    @property
    def runtime(self) -> str: ...
    @property
    def user_namespace(self) -> str: ...
    @property
    def mounter(self) -> overlay.Mounter: ...
    @property
    def degraded(self) -> tuple[str, ...]: ...

    def create(self, spec: ContainerSpec, files: RunFiles, name: str) -> str: ...
    def attach(self, container_id: str) -> tuple[Stream, bytes]: ...
    def start(self, container_id: str) -> None: ...
    def kill(self, container_id: str) -> None: ...
    def state(self, container_id: str) -> dict[str, Any]: ...
    def remove(self, container_id: str) -> None: ...
    def close(self) -> None: ...


def prepare(spec: ContainerSpec, merged: Path, run_dir: Path, ids: IdMap | None = None) -> RunFiles:
    """The run folder's files for the container; with `ids`, the report folder is its root's."""
    mounts = [Mount(merged, spec.workspace.target, read_only=False)]
    for index, inline in enumerate(spec.files):
        source = run_dir / f"file{index}"
        source.write_text(inline.content)
        mounts.append(Mount(source, inline.target, read_only=True))
    report = None
    if spec.report_dir is not None:
        report = run_dir / "report"
        report.mkdir()
        if ids is not None:
            os.chown(report, ids.uid, ids.gid)
        mounts.append(Mount(report, spec.report_dir, read_only=False, options=("nosuid", "nodev", "noexec")))
    mounts += [Mount(b.source, b.target, b.read_only) for b in spec.binds]
    seccomp_path = None
    if spec.seccomp_profile is not None:
        seccomp_path = run_dir / "seccomp.json"
        seccomp_path.write_text(spec.seccomp_profile)
    return RunFiles(tuple(mounts), seccomp_path, report)


def _remove(backend: Backend, container: str) -> None:
    for _ in range(2):  # removal must happen even when Ctrl-C lands during the first attempt
        try:
            backend.remove(container)
            break
        except KeyboardInterrupt:
            continue
        except Exception:  # noqa: BLE001 -- cleanup must not mask the original error
            break


@contextlib.contextmanager
def _container(backend: Backend, spec: ContainerSpec, files: RunFiles) -> Iterator[str]:
    # A name chosen here, so that a container whose creation was interrupted (Ctrl-C after the
    # engine made it, before its id came back) can still be found and removed.
    name = f"sbx-{secrets.token_hex(8)}"
    try:
        container_id = backend.create(spec, files, name)
    except BaseException:
        _remove(backend, name)
        raise
    try:
        yield container_id
    finally:
        _remove(backend, container_id)


def _collect(backend: Backend, stream: Stream, container_id: str, capture: Capture, timeout_s: float) -> bool:
    """Read output until the container closes it; kill it at the deadline. True if it timed out."""
    deadline = time.monotonic() + timeout_s
    timed_out = False
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0 and not timed_out:
            timed_out = True
            backend.kill(container_id)
        stream.settimeout(10.0 if timed_out else max(remaining, 0.001))
        try:
            chunk = stream.recv(1 << 16)
        except TimeoutError:
            if timed_out:
                return True  # killed, but the stream did not close: give up on the rest
            continue
        if not chunk:
            return timed_out
        capture.feed(chunk)


def final_state(backend: Backend, container_id: str, limit_s: float = 60.0) -> dict[str, Any]:
    """The exit state, polled: the output has closed, so this takes a few ms (Podman 4.3's `wait`
    endpoint took 100-200 ms here whatever `interval` asked; see docs/engine.md)."""
    deadline = time.monotonic() + limit_s
    while True:
        state = backend.state(container_id)
        if state.get("Status") in ("exited", "stopped", "dead") or time.monotonic() > deadline:
            return state
        time.sleep(0.005)


def probe_verdict(backend: Backend, container_id: str) -> str | None:
    """A started probe container's verdict, polled like an action's end (an engine's own `wait`
    can lag: Podman's compatible one by 20 s rootless): None when `true` exited 0."""
    state = final_state(backend, container_id, limit_s=PROBE_LIMIT_S)
    if state.get("Status") not in ("exited", "stopped", "dead"):
        return f"the probe container did not finish in {PROBE_LIMIT_S:.0f} s"
    code = int(state.get("ExitCode", -1))
    return None if code == 0 else f"the probe container exited {code}"


def remove_probe(backend: Backend, container_id: str) -> None:
    try:
        backend.remove(container_id)
    except EngineError as exc:
        log.warning("cannot remove the probe container %s: %s", container_id, exc.message)


def run(backend: Backend, spec: ContainerSpec, runs_root: Path) -> ContainerOutcome:
    """Run one action in a throwaway container; the overlay and the container never outlive it."""
    private_dir(runs_root.parent, runs_root.name, env="SBX_RUNTIME_DIR")
    overlay.sweep_stale(runs_root, backend.mounter)
    run_dir = runs_root / os.urandom(6).hex()
    spec = replace(spec, labels={**spec.labels, RUNS_LABEL: str(runs_root)})
    started = time.monotonic()
    capture = Capture(spec.limits.output_bytes)
    refused: list[str] = []
    with contextlib.ExitStack() as stack:
        stack.callback(backend.close)
        mounted = stack.enter_context(overlay.mounted(spec.workspace, run_dir, backend.mounter,
                                                           cap_bytes=spec.limits.changes_bytes))
        files = prepare(spec, mounted.merged, run_dir, backend.mounter.ids)
        if spec.egress_hosts and files.report_dir is not None:
            proxy = stack.enter_context(egress.serving(files.report_dir / EGRESS_SOCKET, spec.egress_hosts))
            refused = proxy.refused
        container_id = stack.enter_context(_container(backend, spec, files))
        stream, early = backend.attach(container_id)
        with contextlib.closing(stream):
            capture.feed(early)
            backend.start(container_id)
            timed_out = _collect(backend, stream, container_id, capture, spec.limits.timeout_s)
        state = final_state(backend, container_id)
        reports = read_reports(files.report_dir) if files.report_dir is not None else {}
        layer_full = mounted.full()
    return ContainerOutcome(
        exit_code=None if timed_out else int(state.get("ExitCode", -1)),
        stdout=bytes(capture.streams[1]),
        stderr=bytes(capture.streams[2]),
        stdout_truncated=capture.truncated[1],
        stderr_truncated=capture.truncated[2],
        timed_out=timed_out,
        oom_killed=bool(state.get("OOMKilled", False)) or oom.killed_by_oom(container_id),
        duration_s=time.monotonic() - started,
        runtime=backend.runtime,
        seccomp="custom" if spec.seccomp_profile else "engine-default",
        user_namespace=backend.user_namespace,
        reports=reports,
        egress_refused=tuple(dict.fromkeys(refused)),
        layer_full=layer_full,
        degraded=backend.degraded,
        layer_error=mounted.unkept[0] if mounted.unkept else None,
    )
