"""The Podman engine, over Podman's REST API. The only module that imports `podman` (podman-py).

Container lifecycle goes through `libpod.LibpodClient` (stdlib, cheap to import); podman-py serves the
management calls (images, info, listing) and is imported only when one is made. The container spec
is sent as the libpod SpecGenerator JSON so that every hardening option is explicit and visible
here. podman-py's exceptions are translated into sbx's error tree in `_call`.

Fast path: output is read through `attach` (opened before start, so nothing is missed, and capped
as it streams); its end means the process is gone, and the exit code is then read by polling
`inspect` (~10 ms). Podman's `wait` endpoint polls every 250 ms by default and still took
100-200 ms with `interval=10ms` on Podman 4.3, most of a short action's latency.
"""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sandbox.engine import overlay, runner, service, warm
from sandbox.engine.capture import start_error
from sandbox.engine.host import HostFacts
from sandbox.engine.libpod import API_PREFIX, LibpodClient, error_message
from sandbox.engine.runner import LABEL, RunFiles
from sandbox.engine.spec import ContainerOutcome, ContainerSpec
from sandbox.errors import EngineError, EngineUnavailableError, ImageNotFoundError

if TYPE_CHECKING:
    import podman

T = TypeVar("T")
log = logging.getLogger(__name__)


def _call(what: str, fn: Callable[[], T]) -> T:
    """The one place where podman-py errors enter sbx (the hot path's are in libpod.py)."""
    import podman.errors

    try:
        return fn()
    except podman.errors.ImageNotFound as exc:
        raise ImageNotFoundError(f"image not found: {exc}", hint="run `sbx image build`") from None
    except podman.errors.APIError as exc:
        if isinstance(exc.__cause__, OSError):  # podman-py wraps transport failures in APIError
            raise EngineUnavailableError(
                f"podman's API did not answer while trying to {what}: {exc.__cause__}", hint="run `sbx doctor`"
            ) from None
        message = str(getattr(exc, "explanation", None) or exc)
        if "image not known" in message or "no such image" in message.lower():
            raise ImageNotFoundError(f"image not found ({message})", hint="run `sbx image build`") from None
        raise EngineError(f"podman could not {what}: {message}") from None
    except OSError as exc:
        raise EngineUnavailableError(
            f"podman's API did not answer while trying to {what}: {exc}", hint="run `sbx doctor`"
        ) from None


class PodmanEngine:
    def __init__(self, socket_path: Path, facts: HostFacts, runs_root: Path,
                 private: service.ServicePaths | None = None) -> None:
        self._client: podman.PodmanClient | None = None
        self._libpod = LibpodClient(socket_path)
        self.facts = facts
        self.runs_root = runs_root
        self.socket_path = socket_path
        self.private = private  # sbx's own service (restartable), or None for a user's socket
        self._mounter: overlay.Mounter | None = None
        self._uid_map = ""
        self._pool: warm.WarmPool | None = None

    @property
    def _api(self) -> Any:
        """podman-py's API client, imported on first use: management calls only."""
        if self._client is None:
            import podman

            self._client = podman.PodmanClient(base_url=f"unix://{self.socket_path}")
        return self._client.api

    # -- images -------------------------------------------------------------------------------
    def image_labels(self, name: str) -> dict[str, str] | None:
        """The image's labels, or None when it does not exist."""
        response = _call("inspect the image", lambda: self._api.get(f"/images/{name}/json"))
        if response.status_code == 404:
            return None
        _call("inspect the image", response.raise_for_status)
        labels = response.json().get("Config", {}).get("Labels") or {}
        return {str(k): str(v) for k, v in labels.items()}

    def info(self) -> dict[str, Any]:
        """The service's own view: what doctor reports next to sbx's host detection."""
        response = _call("describe itself", lambda: self._api.get("/info"))
        _call("describe itself", response.raise_for_status)
        data = response.json()
        host, store = data.get("host", {}), data.get("store", {})
        return {
            "server_version": data.get("version", {}).get("Version"),
            "storage_driver": store.get("graphDriverName"),
            "cgroup_version": host.get("cgroupVersion"),
            "cgroup_manager": host.get("cgroupManager"),
            "oci_runtime": host.get("ociRuntime", {}).get("name"),
            "rootless": host.get("security", {}).get("rootless"),
            "seccomp_enabled": host.get("security", {}).get("seccompEnabled"),
        }

    # -- the runner's primitives (runner.Backend) ---------------------------------------------------
    @property
    def runtime(self) -> str:
        return self.facts.runtime or ""

    @property
    def mounter(self) -> overlay.Mounter:
        """Rootful: the host's mount namespace. Rootless: the service's user and mount namespaces,
        found through the service process sbx started."""
        if self._mounter is None:
            if not self.facts.rootless:
                self._mounter = overlay.HostMounter(self.facts.container_ids)
            else:
                pid = service.service_pid(self.private.runtime_dir) if self.private else None
                ns_pid = service.namespace_pid(pid) if pid else None
                if ns_pid is None:
                    raise EngineUnavailableError(
                        "rootless: cannot find the user namespace of sbx's Podman service",
                        hint="`sbx doctor` restarts the service and checks subuid/subgid and newuidmap",
                    )
                self._uid_map = service.uid_map(ns_pid)
                self._mounter = overlay.NamespaceMounter(ns_pid)
        return self._mounter

    @property
    def user_namespace(self) -> str:
        if not self.facts.rootless:
            ids = self.facts.container_ids
            return f"private uid_map {ids.describe()}" if ids else "host"
        self.mounter  # noqa: B018 -- finds the namespace and its uid map
        return f"private uid_map {self._uid_map}"

    @property
    def degraded(self) -> tuple[str, ...]:
        return self.facts.degraded()

    def run(self, spec: ContainerSpec) -> ContainerOutcome:
        """In a container prepared ahead for this call's shape if there is one, else in a new one.
        A service of sbx's own that fails to start a container (its working folder deleted, a
        broken conmon) is restarted and the call made once more: the tool never ran."""
        prepared = self._pool.take(spec, self._same_image) if self._pool is not None else None
        if prepared is not None:
            log.debug("the call runs in container %s, prepared ahead", prepared.container_id[:12])
            return runner.finish(self, prepared, spec, later=self._background().dispose)
        try:
            return self._run_cold(spec)
        except EngineError as exc:
            if exc.code != "engine.start_failed" or self.private is None:
                raise
            log.warning("sbx's Podman service could not start a container (%s); restarting it", exc.message)
            self.restart()
            return self._run_cold(spec)

    def _run_cold(self, spec: ContainerSpec) -> ContainerOutcome:
        """A container made for the call. Once the call's outcome and change layer are in hand, the
        exited container, its mounts and run folder are removed in the background (`shutdown`
        waits for that), so the caller does not wait ~100 ms for Podman's removal."""
        started = time.monotonic()
        prepared = runner.prepare(self, spec, self.runs_root)
        outcome = runner.finish(self, prepared, spec, later=self._background().dispose)
        return replace(outcome, duration_s=time.monotonic() - started)

    def _background(self) -> warm.WarmPool:
        """The worker that prepares containers ahead and removes used ones (size 0: removes only)."""
        if self._pool is None:
            self._pool = warm.WarmPool(self._worker_engine, self.runs_root, 0, stamp=_stamp_image)
        return self._pool

    # -- containers prepared ahead (engine/warm.py) ------------------------------------------------
    def prepare(self, spec: ContainerSpec, pool_size: int) -> None:
        """Have a container of `spec`'s shape prepared in the background for the next call."""
        if pool_size <= 0 or spec.stdin is None or spec.egress_hosts:
            return
        pool = self._background()
        pool.size = pool_size
        pool.fill(spec)

    def shutdown(self) -> None:
        """Remove the containers prepared ahead, and finish removing used ones (at the end of the
        workspace's use)."""
        if self._pool is not None:
            self._pool.close()
            self._pool = None
        self._libpod.close()

    def prepared_counts(self) -> tuple[int, int]:
        """(containers prepared ahead, calls that ran in one): for benchmarks and tests."""
        return (self._pool.made, self._pool.used) if self._pool is not None else (0, 0)

    def _same_image(self, prepared: runner.Prepared) -> bool:
        """The prepared container runs the image its name names now (not one rebuilt since)."""
        status, body = self._libpod.request("GET", f"/images/{prepared.spec.image}/json", what="inspect the image")
        same = status == 200 and bool(body) and str(json.loads(body).get("Id")) == prepared.image_id
        if not same:
            log.debug("the image changed since container %s was prepared", prepared.container_id[:12])
        return same

    def _worker_engine(self) -> runner.Backend:
        """The preparing thread's own engine client (a client is not shared between threads)."""
        worker = PodmanEngine(self.socket_path, self.facts, self.runs_root, self.private)
        worker._mounter, worker._uid_map = self.mounter, self._uid_map
        return worker

    def restart(self) -> None:
        if self.private is None:
            return
        if self._pool is not None:
            self._pool.close()
            self._pool = None
        self._libpod.close()
        self.socket_path = service.private_socket(self.private, self.facts, restart=True)
        self._libpod = LibpodClient(self.socket_path)
        self._client = None
        self._mounter = None

    def probe(self, image: str) -> str | None:
        """Run `true` in a throwaway container of `image`: None when it worked, else the reason."""
        body: dict[str, Any] = {
            "image": image, "command": ["true"], "labels": {LABEL: "probe"}, "netns": {"nsmode": "none"},
            "cap_drop": ["ALL"], "no_new_privileges": True, "read_only_filesystem": True,
            "r_limits": [{"type": name, "hard": v, "soft": v} for name, v in self.facts.ulimits],
            "log_configuration": {"driver": "none"},
        }
        if self.facts.runtime:
            body["oci_runtime"] = self.facts.runtime
        container_id = None
        try:
            created = self._libpod.json("POST", "/containers/create", what="create a probe container", body=body)
            container_id = str(created["Id"])
            status, answer = self._libpod.request("POST", f"/containers/{container_id}/start",
                                                  what="start a probe container")
            if status >= 400:
                return error_message(answer, status)
            return runner.probe_verdict(self, container_id)
        except EngineError as exc:
            return exc.message
        finally:
            if container_id is not None:
                runner.remove_probe(self, container_id)

    def _limits(self, spec: ContainerSpec) -> dict[str, Any]:
        """Cgroup limits where Podman can set them; rlimits stand in elsewhere (host.rlimits)."""
        limits = spec.limits
        rlimits = self.facts.rlimits(limits.pids, limits.memory_bytes)
        body: dict[str, Any] = {"r_limits": [{"type": name, "hard": v, "soft": v} for name, v in rlimits]}
        if self.facts.cgroup_limits:
            body["resource_limits"] = {
                "memory": {"limit": limits.memory_bytes, "swap": limits.memory_bytes},
                "pids": {"limit": limits.pids},
                "cpu": {"quota": int(limits.cpus * 100_000), "period": 100_000},
            }
        return body

    def create(self, spec: ContainerSpec, files: RunFiles, name: str) -> str:
        limits = spec.limits
        mounts: list[dict[str, Any]] = [
            {
                "destination": "/tmp",  # the container's own /tmp, a private tmpfs
                "source": "tmpfs",
                "type": "tmpfs",
                "options": ["rw", "nosuid", "nodev", f"size={spec.tmpfs_bytes}"],
            },
            *(
                {"destination": m.target, "source": str(m.source), "type": "bind",
                 "options": ["rbind", "ro" if m.read_only else "rw", *m.options]}
                for m in files.mounts
            ),
        ]
        body: dict[str, Any] = {
            "name": name,
            "image": spec.image,
            "command": list(spec.argv),
            "work_dir": spec.workdir,
            "env": dict(spec.env),
            "labels": {LABEL: "1", **spec.labels},
            "netns": {"nsmode": spec.network},
            "cap_drop": ["ALL"],
            "cap_add": [f"CAP_{cap}" for cap in spec.capabilities],
            "no_new_privileges": True,
            "read_only_filesystem": spec.read_only_root,
            "mounts": mounts,
            **self._limits(spec),
            # conmon kills the container on its own if sbx dies before its timeout fires.
            "timeout": spec.input_wait_s + int(limits.timeout_s) + 5,
            "stdin": spec.stdin is not None,
            "log_configuration": {"driver": "none"},  # output is read through attach, capped
            "stop_timeout": 1,
        }
        if self.facts.runtime:
            body["oci_runtime"] = self.facts.runtime
        ids = self.facts.container_ids
        if ids is not None:  # rootful: the container's root is not the host's
            mapping = [{"container_id": 0, "host_id": ids.uid, "size": ids.size}]
            body["userns"] = {"nsmode": "private"}
            body["idmappings"] = {"HostUIDMapping": False, "HostGIDMapping": False, "UIDMap": mapping,
                                  "GIDMap": [{"container_id": 0, "host_id": ids.gid, "size": ids.size}]}
        if files.seccomp_path is not None:
            body["seccomp_profile_path"] = str(files.seccomp_path)
        created = self._libpod.json("POST", "/containers/create", what="create the container", body=body)
        return str(created["Id"])

    def remove(self, container_id: str) -> None:
        status, body = self._libpod.request("DELETE", f"/containers/{container_id}", what="remove the container",
                                            params={"force": "true", "v": "true", "timeout": 0})
        if status >= 400 and status != 404:
            raise EngineError(f"podman could not remove container {container_id[:12]}: {error_message(body, status)}")

    def start(self, container_id: str) -> None:
        status, body = self._libpod.request("POST", f"/containers/{container_id}/start", what="start the container")
        if status >= 400:
            raise start_error(error_message(body, status))

    def attach(self, container_id: str) -> tuple[socket.socket, bytes]:
        """Attach before start (nothing can be missed); the connection then carries raw frames.
        podman-py has no attach, so this one request is made by hand on the same socket."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(30)
            sock.connect(str(self.socket_path))
            sock.sendall(
                f"POST {API_PREFIX}/containers/{container_id}/attach?stream=true&stdout=true&stderr=true&stdin=true "
                "HTTP/1.1\r\nHost: d\r\nContent-Length: 0\r\n\r\n".encode()
            )
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = sock.recv(4096)
                if not chunk:
                    raise EngineError("podman closed the attach connection")
                head += chunk
        except OSError as exc:
            sock.close()
            raise EngineUnavailableError(f"cannot attach to the container: {exc}", hint="run `sbx doctor`") from None
        headers, _, early = head.partition(b"\r\n\r\n")
        status = headers.split(b"\r\n", 1)[0].decode(errors="replace")
        if " 200 " not in status and " 101 " not in status:
            sock.close()
            try:
                message = str(json.loads(early.decode(errors="replace")).get("message", status))
            except ValueError:
                message = status
            raise start_error(message)  # attaching initialises the container: start errors show here
        return sock, early

    def kill(self, container_id: str) -> None:
        self._libpod.request("POST", f"/containers/{container_id}/kill", what="kill the container",
                             params={"signal": "KILL"})

    def state(self, container_id: str) -> dict[str, Any]:
        data = self._libpod.json("GET", f"/containers/{container_id}/json", what="inspect the container")
        state: dict[str, Any] = data.get("State", {})
        return state

    def close(self) -> None:
        self._libpod.close()

    def labelled(self, label: str) -> list[tuple[str, dict[str, str]]]:
        listed = self._libpod.json("GET", "/containers/json", what="list containers",
                                   params={"all": "true", "filters": json.dumps({"label": [label]})})
        return [(str(c["Id"]), {str(k): str(v) for k, v in (c.get("Labels") or {}).items()}) for c in listed or []]

    def leftover_containers(self) -> list[str]:
        """Containers sbx created that still exist (for leak checks and `sbx doctor`)."""
        response = _call(
            "list containers",
            lambda: self._api.get("/containers/json", params={"all": True, "filters": json.dumps({"label": [LABEL]})}),
        )
        _call("list containers", response.raise_for_status)
        return [str(c["Id"]) for c in response.json()]


def _stamp_image(backend: runner.Backend, prepared: runner.Prepared) -> None:
    """Record the image a prepared container runs: a call made after the image was rebuilt under
    the same name does not use it."""
    if isinstance(backend, PodmanEngine):
        found = backend._libpod.json("GET", f"/containers/{prepared.container_id}/json", what="inspect the container")
        prepared.image_id = str(found["Image"]) if found else ""
