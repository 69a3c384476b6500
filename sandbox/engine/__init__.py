"""Containers: the engine runs a `ContainerSpec` and reports a `ContainerOutcome`.

`connect` picks the Podman socket (the user's, or sbx's private service) after detecting the host's
quirks; the podman-py import happens only here, lazily, so commands that need no container stay fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.config import Settings
from sandbox.engine import host, service
from sandbox.engine.spec import BindMount, ContainerOutcome, ContainerSpec, WorkspaceOverlay
from sandbox.errors import EngineUnavailableError

if TYPE_CHECKING:
    from sandbox.engine.podman import PodmanEngine

__all__ = ["BindMount", "ContainerOutcome", "ContainerSpec", "WorkspaceOverlay", "connect"]


def connect(settings: Settings) -> PodmanEngine:
    if settings.engine != "podman":
        raise EngineUnavailableError(
            f"unknown engine {settings.engine!r}", hint="SBX_ENGINE=podman (docker support is planned)"
        )
    facts = host.detect()
    fatal = [p for p in facts.problems() if p.fatal]
    if fatal:
        raise EngineUnavailableError(fatal[0].what, hint=fatal[0].fix, code="engine.host_unsupported")
    socket_path, _private = service.find_socket(settings.runtime_dir, facts)
    from sandbox.engine.podman import PodmanEngine

    return PodmanEngine(socket_path, facts, settings.runtime_dir / "runs")
