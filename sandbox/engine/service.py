"""Finding a Podman API socket, or starting sbx's own.

Order: CONTAINER_HOST (unix:// only), the user's rootless socket, the system socket. When none
answers, sbx starts `podman system service` on a private socket with its own containers.conf
(see host.py) and reuses it across invocations; it exits by itself after `IDLE_SECONDS` idle.

Rootless, sbx always uses its own service: it needs the service's storage to be `overlay` (not the
user's `vfs`) and it mounts each workspace overlay inside the service's user and mount namespaces
(`namespace_pid`), which it can find only for a process it started.

The service outlives the command that started it, so it is started standing on its own: in sbx's
runtime folder (never the caller's working directory, which may be deleted later: conmon then fails
every container with "Failed to get working directory"), with a clean environment.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from sandbox.engine.host import RUNROOT_MAX, HostFacts, Problem, containers_conf, runroot_of, storage_conf
from sandbox.errors import EngineUnavailableError
from sandbox.locks import waiting
from sandbox.safedirs import private_dir, remove_tree

log = logging.getLogger(__name__)

IDLE_SECONDS = 600
BOOT_ID = "/proc/sys/kernel/random/boot_id"
# What libpod says when its database pins folders that are gone or differ (one made by an older sbx,
# or under another runtime folder).
_STALE_DATABASE = ("database configuration mismatch", "creating events dirs", "does not match our")
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


@dataclass(frozen=True)
class ServicePaths:
    """Where sbx's private Podman service keeps its socket, configuration and (rootless) storage."""

    runtime_dir: Path
    storage_dir: Path  # rootless: images and containers of sbx's own (overlay driver)

    @property
    def socket(self) -> Path:
        return self.runtime_dir / "podman.sock"

    @property
    def containers_conf(self) -> Path:
        return self.runtime_dir / "containers.conf"

    @property
    def storage_conf(self) -> Path:
        return self.runtime_dir / "storage.conf"

    @property
    def podman_runtime(self) -> Path:
        """XDG_RUNTIME_DIR of the rootless service (its pause process, locks, runroot): one per
        storage, whichever runtime folder the service was started from, because the storage's
        database pins it. Emptied after a reboot (BOOT_ID), as a tmpfs would be."""
        return self.storage_dir / "run"

    def problems(self, facts: HostFacts) -> list[Problem]:
        runroot = runroot_of(self.podman_runtime)
        if facts.rootless and len(str(runroot)) > RUNROOT_MAX:
            return [Problem(f"the rootless runroot {runroot} is longer than {RUNROOT_MAX} characters: Podman's "
                            "cleanup refuses it, so `podman run` and `podman wait` stall 20 s (sbx itself does not)",
                            "set SBX_RUNTIME_DIR to a shorter folder of your own", fatal=False)]
        return []

    def configuration(self, facts: HostFacts) -> dict[Path, str]:
        conmon_env = {name: value for name, value in self.environment(facts).items()
                      if name in ("PATH", "CONTAINERS_CONF", "CONTAINERS_STORAGE_CONF", "XDG_RUNTIME_DIR")}
        files = {self.containers_conf: containers_conf(facts, self.podman_runtime, conmon_env)}
        if facts.rootless:
            files[self.storage_conf] = storage_conf(self.storage_dir, self.podman_runtime)
        return files

    def environment(self, facts: HostFacts) -> dict[str, str]:
        """The whole environment of podman processes sbx starts: nothing of the caller's leaks in."""
        env = {name: os.environ[name] for name in _KEPT_ENV if os.environ.get(name)}
        env.setdefault("PATH", DEFAULT_PATH)
        env["CONTAINERS_CONF"] = str(self.containers_conf)
        if facts.rootless:
            env["CONTAINERS_STORAGE_CONF"] = str(self.storage_conf)
            env["XDG_RUNTIME_DIR"] = str(self.podman_runtime)
        return env


_KEPT_ENV = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TZ")
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _write_private(path: Path, text: str) -> None:
    """Written beside, then renamed into place: never through a link someone left at `path`."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)


def _configured(paths: ServicePaths, facts: HostFacts) -> bool:
    for path, text in paths.configuration(facts).items():
        try:
            if path.read_text() != text:
                return False
        except OSError:
            return False
    return True


def namespace_pid(pid: int) -> int | None:
    """A process in the service's user namespace: the service itself, or (when it had to create the
    namespace) the child it re-executed into it. None when neither is in another namespace."""
    try:
        own = os.readlink("/proc/self/ns/user")
    except OSError:
        return None
    pending, seen = [pid], 0
    while pending and seen < 16:
        current = pending.pop(0)
        seen += 1
        try:
            if os.readlink(f"/proc/{current}/ns/user") != own:
                return current
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
    return None


def uid_map(pid: int) -> str:
    """`inside:outside:count` rows of a process's user namespace, comma-joined."""
    try:
        rows = Path(f"/proc/{pid}/uid_map").read_text().split("\n")
    except OSError:
        return "?"
    return ",".join(":".join(row.split()) for row in rows if row.strip())


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


def service_pid(runtime_dir: Path) -> int | None:
    try:
        return int((runtime_dir / "podman.pid").read_text())
    except (OSError, ValueError):
        return None


def private_socket(paths: ServicePaths, facts: HostFacts, *, restart: bool = False) -> Path:
    """The socket of sbx's own service, started if it is not answering (or runs an old config);
    `restart` replaces a service that answers but cannot run containers."""
    runtime_dir, sock, pid_file = paths.runtime_dir, paths.socket, paths.runtime_dir / "podman.pid"
    if not restart and ping(sock) and _configured(paths, facts):
        return sock
    if facts.podman is None:
        raise EngineUnavailableError(
            "podman is not installed", hint="run scripts/bootstrap, or: apt-get install podman runc"
        )
    with waiting(runtime_dir / "service.lock"):
        if not restart and ping(sock) and _configured(paths, facts):
            return sock  # another sbx started it while we waited for the lock
        _stop(pid_file)
        for path, text in paths.configuration(facts).items():
            _write_private(path, text)
        if facts.rootless:
            _prepare_rootless(paths)
        failure = _start(paths, facts)
        if failure is not None and facts.rootless and any(sign in failure for sign in _STALE_DATABASE):
            # sbx's own database records only its throwaway containers: start it afresh
            log.warning("sbx's Podman database was made for other folders (%s); starting a new one", failure)
            (paths.storage_dir / "storage" / "libpod" / "bolt_state.db").unlink(missing_ok=True)
            failure = _start(paths, facts)
        if failure is None:
            return sock
        raise EngineUnavailableError(
            f"could not start podman's API service: {failure}",
            hint=f"see {runtime_dir / 'podman-service.log'}; `sbx doctor` checks the host",
        )


def _prepare_rootless(paths: ServicePaths) -> None:
    """sbx's own storage, and its runtime folder emptied after a reboot as a tmpfs would be (a
    pause process pid from before would name some other process now)."""
    private_dir(paths.storage_dir.parent, paths.storage_dir.name, env="SBX_CACHE_DIR")  # no one else fills it
    run = private_dir(paths.storage_dir, paths.podman_runtime.name, env="SBX_CACHE_DIR")
    boot = Path(BOOT_ID).read_text().strip() if Path(BOOT_ID).exists() else ""
    marker = run / "boot_id"
    if marker.exists() and marker.read_text().strip() == boot:
        return
    for entry in list(run.iterdir()):
        if entry.is_dir() and not entry.is_symlink():
            remove_tree(entry)
        else:
            entry.unlink()
    _write_private(marker, boot + "\n")


def _start(paths: ServicePaths, facts: HostFacts) -> str | None:
    """Start the service; None once it answers, else the reason it did not."""
    runtime_dir, sock = paths.runtime_dir, paths.socket
    sock.unlink(missing_ok=True)
    with open(runtime_dir / "podman-service.log", "ab") as service_log:
        child = subprocess.Popen(
            [str(facts.podman), "system", "service", "--time", str(IDLE_SECONDS), f"unix://{sock}"],
            env=paths.environment(facts),
            cwd=runtime_dir,
            stdin=subprocess.DEVNULL,
            stdout=service_log,
            stderr=service_log,
            start_new_session=True,  # survives this sbx process, and Ctrl-C in its terminal
            close_fds=True,
            umask=0o077,
        )
    _write_private(runtime_dir / "podman.pid", str(child.pid))
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if ping(sock, timeout=0.5):
            return None
        if child.poll() is not None:
            break
        time.sleep(0.05)
    tail = (runtime_dir / "podman-service.log").read_text(errors="replace").strip().splitlines()[-1:] or [""]
    return tail[0] or f"no answer on {sock}"


def find_socket(paths: ServicePaths, facts: HostFacts) -> tuple[Path, bool]:
    """(socket, private?). SBX_PODMAN=private skips the user's sockets; rootless always does."""
    if os.environ.get("SBX_PODMAN") != "private" and not facts.rootless:
        for candidate in user_sockets():
            if candidate.exists() and ping(candidate):
                return candidate, False
    private_dir(paths.runtime_dir, env="SBX_RUNTIME_DIR")
    return private_socket(paths, facts), True
