"""Containers: the engine runs a `ContainerSpec` and reports a `ContainerOutcome`.

`connect` picks the engine (SBX_ENGINE: podman, the default, or docker) after detecting the host's
quirks. podman-py and docker-py are imported only when an engine needs them, so commands that run
no container stay fast.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Protocol

from sandbox.config import Settings
from sandbox.engine import host, service
from sandbox.engine.overlay import Mounter, NamespaceMounter
from sandbox.engine.spec import BindMount, ContainerOutcome, ContainerSpec, WorkspaceOverlay
from sandbox.errors import EngineUnavailableError

__all__ = ["BindMount", "ContainerOutcome", "ContainerSpec", "Engine", "WorkspaceOverlay", "connect"]


class Engine(Protocol):
    socket_path: Path

    def run(self, spec: ContainerSpec) -> ContainerOutcome: ...
    def image_labels(self, name: str) -> dict[str, str] | None: ...
    def info(self) -> dict[str, Any]: ...
    def leftover_containers(self) -> list[str]: ...
    def probe(self, image: str) -> str | None: ...
    def restart(self) -> None: ...
    def prepare(self, spec: ContainerSpec, pool_size: int) -> None: ...
    def shutdown(self) -> None: ...
    def prepared_counts(self) -> tuple[int, int]: ...


def connect(settings: Settings) -> Engine:
    facts = host.detect()
    # With Docker, podman and the OCI runtime are the daemon's business, not this host's.
    engine_own = ("podman", "OCI runtime")
    fatal = [p for p in facts.problems()
             if p.fatal and (settings.engine == "podman" or not any(word in p.what for word in engine_own))]
    if fatal:
        raise EngineUnavailableError(fatal[0].what, hint=fatal[0].fix, code="engine.host_unsupported")
    runs = settings.runtime_dir / "runs"
    if settings.engine == "docker":
        from sandbox.engine.docker import DEFAULT_HOST, DockerEngine

        base_url = os.environ.get("DOCKER_HOST", DEFAULT_HOST)
        return DockerEngine(base_url, facts, runs, _private_namespace(settings, facts, base_url))
    if settings.engine != "podman":
        raise EngineUnavailableError(f"unknown engine {settings.engine!r}", hint="SBX_ENGINE=podman or docker")
    paths = service_paths(settings)
    socket_path, private = service.find_socket(paths, facts)
    from sandbox.engine.podman import PodmanEngine

    return PodmanEngine(socket_path, facts, runs, paths if private else None)


def _private_namespace(settings: Settings, facts: host.HostFacts, base_url: str) -> tuple[Mounter, str] | None:
    """Rootless, a Docker-compatible socket that is sbx's own Podman service: its namespace."""
    paths = service_paths(settings)
    if not facts.rootless or base_url.removeprefix("unix://") != str(paths.socket):
        return None
    pid = service.service_pid(paths.runtime_dir)
    ns_pid = service.namespace_pid(pid) if pid else None
    if ns_pid is None:
        return None
    return NamespaceMounter(ns_pid), service.uid_map(ns_pid)


def service_paths(settings: Settings) -> service.ServicePaths:
    """sbx's private Podman service: its runtime files, and (rootless) its own image storage."""
    return service.ServicePaths(settings.runtime_dir, settings.cache_dir / "podman")
