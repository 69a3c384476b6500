"""What the engine is asked to run, and what it reports back.

The engine never sees a policy object: only these compiled artefacts. Everything here is plain data.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sandbox.types import Limits


@dataclass(frozen=True)
class WorkspaceOverlay:
    """The workspace as an overlay: `lowers` top-first (pending change layers, then the host
    folder last), `upper`/`work` the change layer this action writes to."""

    lowers: tuple[Path, ...]
    upper: Path
    work: Path
    target: str = "/workspace"
    max_inodes: int = 0  # inodes the change layer may hold while the tool runs (its tmpfs); 0: no cap
    # The change layer root's mode, which the overlay shows as the workspace's (None: `upper`'s own).
    upper_mode: int | None = None
    # Changes whenever what the lowers show may have changed other than through `lowers` itself (a
    # commit onto the host folder): a container prepared before it is not used after it.
    generation: str = ""


@dataclass(frozen=True)
class BindMount:
    source: Path
    target: str
    read_only: bool = True


@dataclass(frozen=True)
class InlineFile:
    """A file sbx writes for this run and mounts read-only (the launcher's policy, say)."""

    target: str
    content: str | bytes


@dataclass(frozen=True)
class ContainerSpec:
    image: str
    argv: tuple[str, ...]
    workspace: WorkspaceOverlay
    limits: Limits = field(default_factory=Limits)
    workdir: str = "/workspace"
    env: Mapping[str, str] = field(default_factory=dict)
    binds: tuple[BindMount, ...] = ()
    network: str = "none"
    tmpfs_bytes: int = 64 << 20
    seccomp_profile: str | None = None  # OCI profile JSON; None keeps the engine's default profile
    labels: Mapping[str, str] = field(default_factory=dict)
    files: tuple[InlineFile, ...] = ()
    report_dir: str | None = None  # a writable host-backed folder at this path; its files come back
    capabilities: tuple[str, ...] = ()  # kept; every other capability is dropped
    read_only_root: bool = True
    egress_hosts: tuple[str, ...] = ()  # served by sbx's proxy at report_dir/egress.sock; () = no network
    # Written to the container's standard input once it runs: the call a launcher started ahead of it
    # waits for. None: the container has no input.
    stdin: bytes | None = None
    input_wait_s: int = 0  # how long the container may wait for its input before its time limit starts


def _digest(content: str | bytes) -> str:
    return hashlib.sha256(content.encode() if isinstance(content, str) else content).hexdigest()


def shape(spec: ContainerSpec) -> str:
    """What a container is made from, without the call it is given: two specs of the same shape can
    use one prepared container. The change layer's destination and the labels are not part of it."""
    ws = spec.workspace
    parts = [spec.image, list(spec.argv), [str(p) for p in ws.lowers], ws.target, ws.max_inodes, ws.upper_mode,
             ws.generation, repr(spec.limits), spec.workdir, sorted(spec.env.items()),
             [(str(b.source), b.target, b.read_only) for b in spec.binds], spec.network, spec.tmpfs_bytes,
             spec.seccomp_profile, [(f.target, _digest(f.content)) for f in spec.files], spec.report_dir,
             list(spec.capabilities), spec.read_only_root, list(spec.egress_hosts), spec.stdin is not None,
             spec.input_wait_s]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


@dataclass(frozen=True)
class ContainerOutcome:
    exit_code: int | None  # None when the container was killed before it exited by itself
    stdout: bytes
    stderr: bytes
    stdout_truncated: bool
    stderr_truncated: bool
    timed_out: bool
    oom_killed: bool
    duration_s: float
    runtime: str
    seccomp: str | None
    user_namespace: str
    reports: Mapping[str, bytes] = field(default_factory=dict)  # files left in report_dir
    egress_refused: tuple[str, ...] = ()  # "network: host:port" the proxy refused
    layer_full: bool = False  # the change layer reached its size cap (writes got ENOSPC)
    degraded: tuple[str, ...] = ()  # protections the engine could not give on this host, and what stands in
    layer_error: str | None = None  # the change layer could not be kept whole; it is not the effect
