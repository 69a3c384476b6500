"""The Docker engine, over the Docker Engine API with the `docker` package (docker-py). The only
module that imports `docker`. Chosen with SBX_ENGINE=docker; the daemon is DOCKER_HOST as docker
users expect (default unix:///var/run/docker.sock).

It supplies the same primitives as the Podman engine to `runner.run`, so an action has the same
overlay (mounted by sbx on the host and bind-mounted: Docker has no multi-layer overlay volumes),
the same launcher, seccomp profile, limits, capped output and cleanup. Tested against Podman's
Docker-compatible API, since no Docker daemon runs on the test machines.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import docker
import docker.errors
import requests

from sandbox.engine import overlay, runner
from sandbox.engine.capture import start_error
from sandbox.engine.host import HostFacts
from sandbox.engine.runner import LABEL, RunFiles
from sandbox.engine.spec import ContainerOutcome, ContainerSpec
from sandbox.errors import EngineError, EngineUnavailableError, ImageNotFoundError

log = logging.getLogger(__name__)

T = TypeVar("T")
DEFAULT_HOST = "unix:///var/run/docker.sock"


def _call(what: str, fn: Callable[[], T]) -> T:
    """The one place where docker-py and requests errors enter sbx."""
    try:
        return fn()
    except docker.errors.ImageNotFound as exc:
        raise ImageNotFoundError(f"image not found: {exc.explanation}", hint="run `sbx image build`") from None
    except docker.errors.APIError as exc:
        message = str(exc.explanation or exc)[:500]
        if what == "start the container" or "OCI runtime" in message:
            raise start_error(message) from None
        if "image not known" in message or "No such image" in message:
            raise ImageNotFoundError(f"image not found ({message})", hint="run `sbx image build`") from None
        raise EngineError(f"docker could not {what}: {message}") from None
    except (requests.ConnectionError, docker.errors.DockerException, OSError) as exc:
        raise EngineUnavailableError(
            f"the Docker API did not answer while trying to {what}: {exc}",
            hint="is the daemon running and DOCKER_HOST right? `sbx doctor` checks the host",
        ) from None


class _Stream:
    """docker-py's attach socket as the runner's Stream (it hands out a SocketIO on unix sockets)."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw
        self._sock = getattr(raw, "_sock", raw)

    def recv(self, size: int, flags: int = 0, /) -> bytes:
        data: bytes = self._sock.recv(size, flags)
        return data

    def sendall(self, data: bytes, /) -> None:
        self._sock.sendall(data)

    def settimeout(self, value: float | None, /) -> None:
        self._sock.settimeout(value)

    def close(self) -> None:
        self._raw.close()


KILL_ANSWER_S = 2.0


class DockerEngine:
    def __init__(self, base_url: str, facts: HostFacts, runs_root: Path,
                 namespace: tuple[overlay.Mounter, str] | None = None) -> None:
        """`namespace`: rootless, the mounter into the daemon's user namespace and its uid map (sbx
        can find it only for the Podman service it started itself)."""
        self._api = _call("connect", lambda: docker.APIClient(base_url=base_url, version="auto", timeout=60))
        self.base_url = base_url
        self.facts = facts
        self.runs_root = runs_root
        self.socket_path = Path(base_url.removeprefix("unix://"))
        self._is_podman: bool | None = None
        self._namespace = namespace

    @property
    def mounter(self) -> overlay.Mounter:
        if self._namespace is not None:
            return self._namespace[0]
        if self.facts.rootless:
            raise EngineUnavailableError(
                "rootless: the Docker engine works only against sbx's own Podman service",
                hint="unset SBX_ENGINE (Podman is the default), or run sbx as root",
            )
        return overlay.HostMounter()

    @property
    def user_namespace(self) -> str:
        return f"private uid_map {self._namespace[1]}" if self._namespace else "host"

    @property
    def degraded(self) -> tuple[str, ...]:
        if self.facts.cgroup_limits:
            return ()
        # Podman's Docker-compatible API drops a container's ulimits rootless: the rlimits that
        # stand in for the missing cgroups elsewhere do not apply here either.
        return (
            f"memory: not limited ({self.facts.cgroups} cgroups, rootless, Docker-compatible API: no memory "
            "cgroup, and the API drops rlimits)",
            f"pids: not limited ({self.facts.cgroups} cgroups, rootless, Docker-compatible API)",
            *(line for line in self.facts.degraded() if line.startswith("cpu:")),
        )

    def _podman_compat(self) -> bool:
        if self._is_podman is None:
            components = _call("read its version", self._api.version).get("Components") or []
            self._is_podman = any("podman" in str(c.get("Name", "")).lower() for c in components)
        return self._is_podman

    @property
    def runtime(self) -> str:
        return self.facts.runtime or ""

    # -- management ------------------------------------------------------------------------------
    def image_labels(self, name: str) -> dict[str, str] | None:
        try:
            data = self._api.inspect_image(name)
        except docker.errors.ImageNotFound:
            return None
        except docker.errors.APIError as exc:
            if exc.status_code == 404:
                return None
            raise EngineError(f"docker could not inspect the image: {exc.explanation}") from None
        labels = (data.get("Config") or {}).get("Labels") or {}
        return {str(k): str(v) for k, v in labels.items()}

    def info(self) -> dict[str, Any]:
        data = _call("describe itself", self._api.info)
        version = _call("describe itself", self._api.version)
        return {
            "server_version": version.get("Version"),
            "storage_driver": data.get("Driver"),
            "cgroup_version": data.get("CgroupVersion"),
            "oci_runtime": data.get("DefaultRuntime"),
            "engine": "docker-api",
        }

    def labelled(self, label: str) -> list[tuple[str, dict[str, str]]]:
        found = _call("list containers", lambda: self._api.containers(all=True, filters={"label": label}))
        return [(str(c["Id"]), {str(k): str(v) for k, v in (c.get("Labels") or {}).items()}) for c in found]

    def leftover_containers(self) -> list[str]:
        found = _call("list containers", lambda: self._api.containers(all=True, filters={"label": LABEL}))
        return [str(c["Id"]) for c in found]

    def restart(self) -> None:
        """The daemon is not sbx's to restart."""

    def prepare(self, spec: ContainerSpec, pool_size: int) -> None:
        """Docker's engine makes every container for its call (no containers prepared ahead)."""

    def shutdown(self) -> None:
        self.close()

    def prepared_counts(self) -> tuple[int, int]:
        return (0, 0)

    def probe(self, image: str) -> str | None:
        """Run `true` in a throwaway container of `image`: None when it worked, else the reason."""
        container_id = None
        try:
            created = _call("create a probe container", lambda: self._api.create_container(
                image=image, command=["true"], labels={LABEL: "probe"}, network_disabled=True,
                host_config=self._api.create_host_config(cap_drop=["ALL"], read_only=True, network_mode="none",
                                                         log_config=docker.types.LogConfig(type="none"))))
            container_id = str(created["Id"])
            _call("start a probe container", lambda: self._api.start(container_id))
            return runner.probe_verdict(self, container_id)
        except EngineError as exc:
            return exc.message
        finally:
            if container_id is not None:
                runner.remove_probe(self, container_id)

    # -- the runner's primitives (runner.Backend) ------------------------------------------------
    def run(self, spec: ContainerSpec) -> ContainerOutcome:
        return runner.run(self, spec, self.runs_root)

    def create(self, spec: ContainerSpec, files: RunFiles, name: str) -> str:
        limits = spec.limits
        security = ["no-new-privileges"]
        if files.seccomp_path is not None:
            # Docker's API takes the profile's content; Podman's compatible API takes a path (its
            # service runs on this host and reads the file itself).
            profile = str(files.seccomp_path) if self._podman_compat() else files.seccomp_path.read_text()
            security.append(f"seccomp={profile}")
        cgroup_limits: dict[str, Any] = {}
        if self.facts.cgroup_limits:
            cgroup_limits = {"mem_limit": limits.memory_bytes, "memswap_limit": limits.memory_bytes,
                             "pids_limit": limits.pids, "nano_cpus": int(limits.cpus * 1e9)}
        host_config = self._api.create_host_config(
            binds=[f"{m.source}:{m.target}:{'ro' if m.read_only else 'rw'}" for m in files.mounts],
            tmpfs={"/tmp": f"rw,nosuid,nodev,size={spec.tmpfs_bytes}"},
            cap_drop=["ALL"],
            cap_add=[f"CAP_{cap}" for cap in spec.capabilities] or None,
            security_opt=security,
            read_only=spec.read_only_root,
            network_mode=spec.network,
            **cgroup_limits,
            ulimits=[docker.types.Ulimit(name=name, soft=v, hard=v)
                     for name, v in self.facts.rlimits(limits.pids, limits.memory_bytes)],
            log_config=docker.types.LogConfig(type="none"),
        )
        created = _call("create the container", lambda: self._api.create_container(
            image=spec.image,
            command=list(spec.argv),
            working_dir=spec.workdir,
            environment=dict(spec.env),
            labels={LABEL: "1", **spec.labels},
            host_config=host_config,
            network_disabled=spec.network == "none",
            name=name,
            stdin_open=spec.stdin is not None,
        ))
        return str(created["Id"])

    def attach(self, container_id: str) -> tuple[_Stream, bytes]:
        raw = _call("attach to the container", lambda: self._api.attach_socket(
            container_id, params={"stdout": 1, "stderr": 1, "stream": 1, "stdin": 1}))
        return _Stream(raw), b""

    def start(self, container_id: str) -> None:
        _call("start the container", lambda: self._api.start(container_id))

    def kill(self, container_id: str) -> None:
        """Podman's compatible API answers a SIGKILL only once the container is gone (20 s rootless
        here); the closing output stream already tells sbx that, so the answer is not awaited."""
        quick = docker.APIClient(base_url=self.base_url, version=self._api.api_version, timeout=KILL_ANSWER_S)

        def send() -> None:
            with contextlib.suppress(requests.exceptions.ReadTimeout):
                quick.kill(container_id, signal="SIGKILL")

        try:
            _call("kill the container", send)
        finally:
            quick.close()

    def state(self, container_id: str) -> dict[str, Any]:
        data = _call("inspect the container", lambda: self._api.inspect_container(container_id))
        state: dict[str, Any] = data.get("State", {})
        return state

    def remove(self, container_id: str) -> None:
        with contextlib.suppress(docker.errors.NotFound):  # gone already: what removal wants
            self._api.remove_container(container_id, force=True, v=True)

    def close(self) -> None:
        """Nothing to release between actions: docker-py pools its own connections."""
