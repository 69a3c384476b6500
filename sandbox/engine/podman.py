"""The Podman engine, over Podman's REST API. The only module that imports `podman` (podman-py).

podman-py is used as the transport (unix socket, error parsing); the container spec is sent as the
libpod SpecGenerator JSON so that every hardening option is explicit and visible here. Every
podman-py or requests exception is translated into sbx's error tree in `_call`.

Fast path: Podman's `wait` polls the container state every 250 ms by default, which is most of an
action's latency for a short command; sbx asks for a 10 ms interval (`interval=10ms`).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import struct
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import podman
import podman.errors
import requests

from sandbox.engine import overlay
from sandbox.engine.host import HostFacts
from sandbox.engine.spec import ContainerOutcome, ContainerSpec
from sandbox.errors import (
    CommandNotRunnableError,
    EngineError,
    EngineUnavailableError,
    ImageNotFoundError,
)

T = TypeVar("T")
WAIT_INTERVAL = "10ms"
LABEL = "io.sbx.action"
_NOT_RUNNABLE = ("executable file not found", "no such file or directory", "permission denied", "not a directory")


def _call(what: str, fn: Callable[[], T]) -> T:
    """The one place where podman-py and requests errors enter sbx."""
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


def _start_error(message: str) -> EngineError:
    """Podman reports an unrunnable command as a start failure; say it in the user's terms."""
    if "executable file not found" in message:
        exe = message.split('exec: "', 1)[-1].split('"', 1)[0]
        return CommandNotRunnableError(f"command not found in the image: {exe}")
    if any(marker in message.lower() for marker in _NOT_RUNNABLE):
        return CommandNotRunnableError(f"the command cannot be executed: {message.split('exec: ', 1)[-1]}")
    return EngineError(f"podman could not start the container: {message}")


def _read_reports(folder: Path, cap: int = 1 << 20) -> dict[str, bytes]:
    """Regular files the container left in its report folder, read without following links."""
    out: dict[str, bytes] = {}
    for entry in os.scandir(folder):
        if entry.is_file(follow_symlinks=False):
            fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            with os.fdopen(fd, "rb") as handle:
                out[entry.name] = handle.read(cap)
    return out


class _Capture:
    """Demultiplexes Docker-style frames (8-byte header: stream, size) as they arrive, keeping at
    most `cap` bytes per stream and counting the rest, so an output flood costs no memory."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.streams = {1: bytearray(), 2: bytearray()}
        self.truncated = {1: False, 2: False}
        self._pending = bytearray()

    def feed(self, data: bytes) -> None:
        self._pending += data
        while len(self._pending) >= 8:
            kind, size = struct.unpack_from(">BxxxL", self._pending, 0)
            if len(self._pending) < 8 + size:
                return
            chunk = bytes(self._pending[8 : 8 + size])
            del self._pending[: 8 + size]
            kind = kind if kind in self.streams else 1
            room = self.cap - len(self.streams[kind])
            if len(chunk) > room:
                self.truncated[kind] = True
                chunk = chunk[: max(room, 0)]
            self.streams[kind] += chunk


class PodmanEngine:
    def __init__(self, socket_path: Path, facts: HostFacts, runs_root: Path) -> None:
        self._client = podman.PodmanClient(base_url=f"unix://{socket_path}")
        self._api = self._client.api
        self.facts = facts
        self.runs_root = runs_root
        self.socket_path = socket_path

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

    # -- containers ---------------------------------------------------------------------------
    def _create_body(self, spec: ContainerSpec, merged: Path, run_dir: Path) -> dict[str, Any]:
        limits = spec.limits
        mounts: list[dict[str, Any]] = [
            {"destination": spec.workspace.target, "source": str(merged), "type": "bind", "options": ["rbind", "rw"]},
            {
                "destination": "/tmp",
                "source": "tmpfs",
                "type": "tmpfs",
                "options": ["rw", "nosuid", "nodev", f"size={spec.tmpfs_bytes}"],
            },
        ]
        for index, inline in enumerate(spec.files):
            source = run_dir / f"file{index}"
            source.write_text(inline.content)
            mounts.append({"destination": inline.target, "source": str(source), "type": "bind",
                           "options": ["rbind", "ro"]})
        if spec.report_dir is not None:
            (run_dir / "report").mkdir()
            mounts.append({"destination": spec.report_dir, "source": str(run_dir / "report"), "type": "bind",
                           "options": ["rbind", "rw", "nosuid", "nodev", "noexec"]})
        for bind in spec.binds:
            mounts.append(
                {
                    "destination": bind.target,
                    "source": str(bind.source),
                    "type": "bind",
                    "options": ["rbind", "ro" if bind.read_only else "rw"],
                }
            )
        body: dict[str, Any] = {
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
            "resource_limits": {
                "memory": {"limit": limits.memory_bytes, "swap": limits.memory_bytes},
                "pids": {"limit": limits.pids},
                "cpu": {"quota": int(limits.cpus * 100_000), "period": 100_000},
            },
            "r_limits": [{"type": name, "hard": v, "soft": v} for name, v in self.facts.ulimits],
            # conmon kills the container on its own if sbx dies before its timeout fires.
            "timeout": int(limits.timeout_s) + 5,
            "log_configuration": {"driver": "none"},  # output is read through attach, capped
            "stop_timeout": 1,
        }
        if self.facts.runtime:
            body["oci_runtime"] = self.facts.runtime
        if spec.seccomp_profile is not None:
            seccomp_path = run_dir / "seccomp.json"
            seccomp_path.write_text(spec.seccomp_profile)
            body["seccomp_profile_path"] = str(seccomp_path)
        return body

    @contextlib.contextmanager
    def _container(self, body: dict[str, Any]) -> Iterator[str]:
        response = _call("create the container", lambda: self._api.post("/containers/create", data=json.dumps(body)))
        _call("create the container", response.raise_for_status)
        container_id = str(response.json()["Id"])
        try:
            yield container_id
        finally:
            # Removal must happen even on Ctrl-C: retry once if the first attempt is interrupted.
            for _ in range(2):
                try:
                    self._api.delete(f"/containers/{container_id}", params={"force": True, "v": True, "timeout": 0})
                    break
                except KeyboardInterrupt:
                    continue
                except Exception:  # noqa: BLE001 -- cleanup must not mask the original error
                    break

    def _start(self, container_id: str) -> None:
        response = _call("start the container", lambda: self._api.post(f"/containers/{container_id}/start"))
        if response.status_code >= 400:
            raise _start_error(str(response.json().get("message", response.text)))

    def _attach(self, container_id: str) -> tuple[socket.socket, bytes]:
        """Attach before start (nothing can be missed); the connection then carries raw frames.
        podman-py has no attach, so this one request is made by hand on the same socket."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(30)
            sock.connect(str(self.socket_path))
            sock.sendall(
                f"POST /v4.0.0/libpod/containers/{container_id}/attach?stream=true&stdout=true&stderr=true "
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
            raise _start_error(message)
        return sock, early

    def _collect(self, sock: socket.socket, container_id: str, capture: _Capture, timeout_s: float) -> bool:
        """Read output until the container closes it; kill it at the deadline. True if it timed out."""
        deadline = time.monotonic() + timeout_s
        timed_out = False
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 and not timed_out:
                timed_out = True
                self._kill(container_id)
            sock.settimeout(10.0 if timed_out else max(remaining, 0.001))
            try:
                chunk = sock.recv(1 << 16)
            except TimeoutError:
                if timed_out:
                    return True  # killed, but the stream did not close: give up on the rest
                continue
            if not chunk:
                return timed_out
            capture.feed(chunk)

    def _kill(self, container_id: str) -> None:
        _call("kill the container", lambda: self._api.post(f"/containers/{container_id}/kill", params={"signal": "KILL"}))

    def _wait(self, container_id: str) -> int:
        """The exit code. The container has closed its output by now, so this returns at once
        given a short polling interval (Podman's default of 250 ms would dominate short actions)."""
        response = _call(
            "wait for the container",
            lambda: self._api.post(
                f"/containers/{container_id}/wait",
                params={"condition": ["exited", "stopped"], "interval": WAIT_INTERVAL},
                timeout=60,
            ),
        )
        _call("wait for the container", response.raise_for_status)
        return int(response.json())

    def run(self, spec: ContainerSpec) -> ContainerOutcome:
        """Run one action in a throwaway container; the overlay and the container never outlive it."""
        self.runs_root.mkdir(parents=True, exist_ok=True, mode=0o700)
        overlay.sweep_stale(self.runs_root)
        run_dir = self.runs_root / uuid.uuid4().hex[:12]
        started = time.monotonic()
        capture = _Capture(spec.limits.output_bytes)
        with overlay.mounted(spec.workspace, run_dir) as merged:
            with self._container(self._create_body(spec, merged, run_dir)) as container_id:
                stream, early = self._attach(container_id)
                with contextlib.closing(stream):
                    capture.feed(early)
                    self._start(container_id)
                    timed_out = self._collect(stream, container_id, capture, spec.limits.timeout_s)
                exit_code = self._wait(container_id)
                oom = exit_code == 137 and bool(self._inspect_state(container_id).get("OOMKilled", False))
            reports = _read_reports(run_dir / "report") if spec.report_dir is not None else {}
        return ContainerOutcome(
            exit_code=None if timed_out else exit_code,
            stdout=bytes(capture.streams[1]),
            stderr=bytes(capture.streams[2]),
            stdout_truncated=capture.truncated[1],
            stderr_truncated=capture.truncated[2],
            timed_out=timed_out,
            oom_killed=oom,
            duration_s=time.monotonic() - started,
            runtime=self.facts.runtime or "",
            seccomp="custom" if spec.seccomp_profile else "podman-default",
            user_namespace="host",
            reports=reports,
        )

    def _inspect_state(self, container_id: str) -> dict[str, Any]:
        response = _call("inspect the container", lambda: self._api.get(f"/containers/{container_id}/json"))
        _call("inspect the container", response.raise_for_status)
        state: dict[str, Any] = response.json().get("State", {})
        return state

    def leftover_containers(self) -> list[str]:
        """Containers sbx created that still exist (for leak checks and `sbx doctor`)."""
        response = _call(
            "list containers",
            lambda: self._api.get("/containers/json", params={"all": True, "filters": json.dumps({"label": [LABEL]})}),
        )
        _call("list containers", response.raise_for_status)
        return [str(c["Id"]) for c in response.json()]
