"""Finding a Podman API socket, or starting sbx's own.

Order: CONTAINER_HOST (unix:// only), the user's rootless socket, the system socket. When none
answers, sbx starts `podman system service` on a private socket with its own containers.conf
(see host.py) and reuses it across invocations; it exits by itself after `IDLE_SECONDS` idle.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from sandbox.engine.host import HostFacts, containers_conf
from sandbox.errors import EngineUnavailableError
from sandbox.safedirs import private_dir

IDLE_SECONDS = 600
START_TIMEOUT_S = 20.0


def ping(socket_path: Path, timeout: float = 2.0) -> bool:
    """A bare HTTP request on the socket, so that probing costs no client library import."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(socket_path))
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: d\r\n\r\n")
            return sock.recv(64).startswith((b"HTTP/1.1 200", b"HTTP/1.0 200"))
    except OSError:
        return False


def user_sockets() -> list[Path]:
    found: list[Path] = []
    host = os.environ.get("CONTAINER_HOST", "")
    if host.startswith("unix://"):
        found.append(Path(host.removeprefix("unix://")))
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        found.append(Path(runtime) / "podman" / "podman.sock")
    if os.geteuid() == 0:
        found.append(Path("/run/podman/podman.sock"))
    return found


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _stop(pid_file: Path) -> None:
    try:
        pid = int(pid_file.read_text())
        os.kill(pid, signal.SIGTERM)
    except (OSError, ValueError):
        return
    for _ in range(50):
        try:
            os.kill(pid, 0)
        except OSError:
            return
        time.sleep(0.1)


def private_socket(runtime_dir: Path, facts: HostFacts) -> Path:
    """The socket of sbx's own service, started if it is not answering (or runs an old config)."""
    sock = runtime_dir / "podman.sock"
    conf_path, pid_file = runtime_dir / "containers.conf", runtime_dir / "podman.pid"
    conf = containers_conf(facts)
    if ping(sock) and conf_path.is_file() and conf_path.read_text() == conf:
        return sock
    if facts.podman is None:
        raise EngineUnavailableError(
            "podman is not installed", hint="run scripts/bootstrap, or: apt-get install podman runc"
        )
    with _locked(runtime_dir / "service.lock"):
        if ping(sock) and conf_path.is_file() and conf_path.read_text() == conf:
            return sock  # another sbx started it while we waited for the lock
        _stop(pid_file)
        conf_path.write_text(conf)
        sock.unlink(missing_ok=True)
        env = dict(os.environ, CONTAINERS_CONF=str(conf_path))
        log = open(runtime_dir / "podman-service.log", "ab")  # noqa: SIM115 -- handed to the child
        with log:
            child = subprocess.Popen(
                [facts.podman, "system", "service", "--time", str(IDLE_SECONDS), f"unix://{sock}"],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,  # survives this sbx process, and Ctrl-C in its terminal
                close_fds=True,
            )
        pid_file.write_text(str(child.pid))
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if ping(sock, timeout=0.5):
                return sock
            if child.poll() is not None:
                break
            time.sleep(0.05)
        tail = (runtime_dir / "podman-service.log").read_text(errors="replace").strip().splitlines()[-1:] or [""]
        raise EngineUnavailableError(
            f"could not start podman's API service: {tail[0] or 'no answer on ' + str(sock)}",
            hint=f"see {runtime_dir / 'podman-service.log'}; `sbx doctor` checks the host",
        )


def find_socket(runtime_dir: Path, facts: HostFacts) -> tuple[Path, bool]:
    """(socket, private?). SBX_PODMAN=private skips the user's sockets."""
    if os.environ.get("SBX_PODMAN") != "private":
        for candidate in user_sockets():
            if candidate.exists() and ping(candidate):
                return candidate, False
    private_dir(runtime_dir, env="SBX_RUNTIME_DIR")
    return private_socket(runtime_dir, facts), True


def stop_private(runtime_dir: Path) -> None:
    _stop(runtime_dir / "podman.pid")
    for name in ("podman.sock", "podman.pid"):
        (runtime_dir / name).unlink(missing_ok=True)
