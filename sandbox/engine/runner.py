"""One action, whatever the engine: overlay, run folder, egress proxy, container, capped output,
timeout, cleanup. Engines (podman.py, docker.py) supply only the container primitives, as a
`Backend`; they share this orchestration by composition, not by inheriting from each other.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from sandbox.engine import egress, oom, overlay
from sandbox.engine.capture import Capture, read_reports
from sandbox.engine.idmap import IdMap
from sandbox.engine.spec import ContainerOutcome, ContainerSpec, shape
from sandbox.errors import EngineError
from sandbox.procs import pid_alive
from sandbox.safedirs import private_dir

LABEL = "io.sbx.action"
RUNS_LABEL = "io.sbx.runs"  # which sbx runtime folder made the container (leak checks, sweeping)
OWNER_LABEL = "io.sbx.owner"  # the pid of the sbx process that made it: gone, the container is an orphan
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
    def recv(self, size: int, flags: int = 0, /) -> bytes: ...
    def sendall(self, data: bytes, /) -> None: ...
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
    def labelled(self, label: str) -> list[tuple[str, dict[str, str]]]: ...
    def close(self) -> None: ...


def prepare_files(spec: ContainerSpec, merged: Path, run_dir: Path, ids: IdMap | None = None) -> RunFiles:
    """The run folder's files for the container; with `ids`, the report folder is its root's."""
    mounts = [Mount(merged, spec.workspace.target, read_only=False)]
    for index, inline in enumerate(spec.files):
        source = run_dir / f"file{index}"
        if isinstance(inline.content, bytes):
            source.write_bytes(inline.content)
        else:
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
    # Removal must happen even when Ctrl-C lands during an attempt, and a container that is
    # exiting or being killed right then makes Podman refuse it for a while ("container state
    # improper"): a few tries, further apart, over about 3 s.
    for attempt in range(6):
        try:
            backend.remove(container)
            return
        except KeyboardInterrupt:
            continue
        except Exception as exc:  # noqa: BLE001 -- cleanup must not mask the original error
            if attempt == 5:
                log.warning("container %s was not removed: %s", container[:12], getattr(exc, "message", exc))
                return
            time.sleep(0.1 * 2 ** attempt)


def _create(backend: Backend, spec: ContainerSpec, files: RunFiles) -> str:
    # A name chosen here, so that a container whose creation was interrupted (Ctrl-C after the
    # engine made it, before its id came back) can still be found and removed.
    name = f"sbx-{secrets.token_hex(8)}"
    try:
        return backend.create(spec, files, name)
    except BaseException:
        _remove(backend, name)
        raise


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


@dataclass(eq=False)
class Prepared:
    """A container made, started and attached, its launcher waiting on standard input for the call;
    it holds its overlay, run folder and (if any) egress proxy until `finish` or `discard`. Not
    frozen: it is a live resource, and `owner` says which engine client removes it."""

    spec: ContainerSpec
    stack: contextlib.ExitStack
    view: overlay.Mounted
    files: RunFiles
    container_id: str
    stream: Stream
    capture: Capture
    refused: list[str]
    owner: list[Backend]
    shape: str = field(init=False)
    made: float = field(default_factory=time.monotonic)
    image_id: str = ""  # the image the container was made from, where the engine says it

    def __post_init__(self) -> None:
        self.shape = shape(self.spec)

    def waiting(self) -> bool:
        """The container still waits for its call: its output is open and empty (a launcher that
        waits says nothing; anything it said is its end)."""
        try:
            self.stream.settimeout(0.0)
            self.stream.recv(1, socket.MSG_PEEK)
        except (BlockingIOError, TimeoutError):
            return True
        except OSError:
            return False
        return False


def prepare(backend: Backend, spec: ContainerSpec, runs_root: Path) -> Prepared:
    """Mount the overlay and make, attach and start the container; the call comes later (`finish`)."""
    private_dir(runs_root.parent, runs_root.name, env="SBX_RUNTIME_DIR")
    if overlay.sweep_stale(runs_root, backend.mounter):
        sweep_orphans(backend, runs_root)
    run_dir = runs_root / os.urandom(6).hex()
    spec = replace(spec, labels={**spec.labels, RUNS_LABEL: str(runs_root), OWNER_LABEL: str(os.getpid())})
    capture = Capture(spec.limits.output_bytes)
    refused: list[str] = []
    with contextlib.ExitStack() as stack:
        view = stack.enter_context(overlay.mounted(spec.workspace, run_dir, backend.mounter,
                                                   cap_bytes=spec.limits.changes_bytes))
        files = prepare_files(spec, view.merged, run_dir, backend.mounter.ids)
        if spec.egress_hosts and files.report_dir is not None:
            proxy = stack.enter_context(egress.serving(files.report_dir / EGRESS_SOCKET, spec.egress_hosts))
            refused = proxy.refused
        owner = [backend]  # who removes the container: the one that finishes (or discards) it
        container_id = _create(backend, spec, files)
        try:
            stream, early = backend.attach(container_id)
        except BaseException:
            _remove(backend, container_id)
            raise
        stack.callback(stream.close)
        # Removed before its input closes: a waiting launcher ends at the close, and a container
        # exiting on its own while Podman kills it is one Podman may refuse to remove.
        stack.callback(lambda: _remove(owner[0], container_id))
        capture.feed(early)
        backend.start(container_id)
        prepared = Prepared(spec=spec, stack=stack.pop_all(), view=view, files=files, container_id=container_id,
                            stream=stream, capture=capture, refused=refused, owner=owner)
    return prepared


def finish(backend: Backend, prepared: Prepared, spec: ContainerSpec,
           later: Callable[[Prepared], None] | None = None) -> ContainerOutcome:
    """Give a prepared container its call (`spec.stdin`), collect its outcome, keep its change layer
    in `spec.workspace.upper`, and remove it all; with `later`, the removal of what is left once the
    layer is kept (the exited container, its mounts and run folder) is handed to it instead of
    making the caller wait. `spec` must have the prepared one's shape."""
    if shape(spec) != prepared.shape:
        discard(prepared)
        raise EngineError("internal: a prepared container was given a call of another shape")
    started = time.monotonic()
    prepared.owner[0] = backend
    prepared.view.keep = False  # its layer is kept by `save` below, into this call's upper, or not at all
    handed_over = False
    try:
        capture = prepared.capture
        try:
            if spec.stdin is not None:
                prepared.stream.sendall(spec.stdin)
        except OSError as exc:
            log.debug("the prepared container %s took no input: %s", prepared.container_id, exc)
        timed_out = _collect(backend, prepared.stream, prepared.container_id, capture, spec.limits.timeout_s)
        state = final_state(backend, prepared.container_id)
        reports = read_reports(prepared.files.report_dir) if prepared.files.report_dir is not None else {}
        layer_full = prepared.view.full()
        prepared.view.save(spec.workspace.upper)  # the unmount can wait: `later`, or the stack below
        # A killed container (timed out) is removed here and now: Podman may refuse its removal
        # for a while after the kill, and a caller that exits right after must not leave it.
        if later is not None and not timed_out and state.get("Status") in ("exited", "stopped", "dead"):
            later(prepared)
            handed_over = True
    finally:
        if not handed_over:
            prepared.stack.close()
    view = prepared.view
    return ContainerOutcome(
        exit_code=None if timed_out else int(state.get("ExitCode", -1)),
        stdout=bytes(capture.streams[1]),
        stderr=bytes(capture.streams[2]),
        stdout_truncated=capture.truncated[1],
        stderr_truncated=capture.truncated[2],
        timed_out=timed_out,
        oom_killed=bool(state.get("OOMKilled", False)) or oom.killed_by_oom(prepared.container_id),
        duration_s=time.monotonic() - started,
        runtime=backend.runtime,
        seccomp="custom" if spec.seccomp_profile else "engine-default",
        user_namespace=backend.user_namespace,
        reports=reports,
        egress_refused=tuple(dict.fromkeys(prepared.refused)),
        layer_full=layer_full,
        degraded=backend.degraded,
        layer_error=view.unkept[0] if view.unkept else None,
    )


def sweep_orphans(backend: Backend, runs_root: Path) -> None:
    """Remove the containers of this runtime folder whose sbx process is gone (killed with -9,
    often while a container waited, prepared ahead): `sweep_stale` took their run folders."""
    for container_id, labels in backend.labelled(OWNER_LABEL):
        owner = labels.get(OWNER_LABEL, "")
        if labels.get(RUNS_LABEL) != str(runs_root) or not owner.isdigit() or pid_alive(int(owner)):
            continue
        log.info("removing container %s of sbx process %s, which is gone", container_id[:12], owner)
        _remove(backend, container_id)


def discard(prepared: Prepared) -> None:
    """Remove a prepared container that will not be used, then its overlay (nothing is kept)."""
    prepared.view.keep = False
    prepared.stack.close()


def run(backend: Backend, spec: ContainerSpec, runs_root: Path) -> ContainerOutcome:
    """Run one action in a throwaway container; the overlay and the container never outlive it."""
    started = time.monotonic()
    try:
        outcome = finish(backend, prepare(backend, spec, runs_root), spec)
    finally:
        backend.close()
    return replace(outcome, duration_s=time.monotonic() - started)
