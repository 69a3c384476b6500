"""Facts about the host that decide how Podman must be configured, and the configuration itself.

Some hosts break Podman's defaults: on cgroup v1+v2 hybrids crun refuses to start containers
(runc works), and where root lacks CAP_SYS_RESOURCE the default ulimits (nofile=1048576) exceed
the hard limits, so every container fails in setrlimit. sbx detects these and writes its own
containers.conf for its private Podman service, and also passes the same choices per container so
that a user's own service works too. Nothing under /etc is touched.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from sandbox.engine.idmap import IdMap
from sandbox.types import JsonDict

CAP_SYS_RESOURCE = 24
CONTAINER_IDS = 65536  # ids a container's user namespace maps: uid 0 up to nobody (65534)
MIN_CONTAINER_IDS = 65536
LANDLOCK_CREATE_RULESET = 444  # same number on every architecture (unified syscall table)
LANDLOCK_CREATE_RULESET_VERSION = 1


@dataclass(frozen=True)
class Problem:
    what: str
    fix: str
    fatal: bool = True


@dataclass(frozen=True)
class HostFacts:
    rootless: bool
    cgroups: str  # "v2", "hybrid", "v1"
    systemd: bool
    cap_sys_resource: bool
    nofile_hard: int
    nproc_hard: int
    podman: str | None  # path
    runc: str | None
    crun: str | None
    overlay: bool
    landlock_abi: int | None
    seccomp: bool
    runtime: str | None  # the OCI runtime sbx will use
    ulimits: tuple[tuple[str, int], ...]  # what sbx sets instead of Podman's defaults
    configured: tuple[str, ...] = field(default=())  # what sbx did about the host's quirks
    user: str = ""
    subuids: tuple[int, int] | None = None  # (first, count) of the user's subordinate uids, rootless
    subgids: tuple[int, int] | None = None
    newuidmap: bool = True
    nsenter: bool = True

    @property
    def container_ids(self) -> IdMap | None:
        """Rootful: the host ids a container's user namespace maps to (root's subordinate range),
        or None where root has none and containers share the host's ids."""
        if self.rootless or self.subuids is None or self.subgids is None:
            return None
        size = min(self.subuids[1], self.subgids[1], CONTAINER_IDS)
        return IdMap(self.subuids[0], self.subgids[0], size) if size >= MIN_CONTAINER_IDS else None

    @property
    def cgroup_limits(self) -> bool:
        """Whether Podman can set memory, pids and cpu limits: rootless, only on cgroups v2 (with
        the controllers delegated); on v1 it ignores them."""
        return not self.rootless or self.cgroups == "v2"

    def rlimits(self, pids: int, memory_bytes: int) -> tuple[tuple[str, int], ...]:
        """The container's rlimits. Where no cgroup can bound processes and memory, per-process
        limits stand in: the container's root is the user's own uid, so RLIMIT_NPROC binds."""
        if self.cgroup_limits:
            return self.ulimits
        ulimits = dict(self.ulimits)
        ulimits["nproc"] = min(ulimits.get("nproc", pids), pids)
        ulimits["data"] = memory_bytes
        return tuple(ulimits.items())

    def degraded(self) -> tuple[str, ...]:
        """The protections this host cannot give, each with what stands in for it."""
        if self.cgroup_limits:
            return ()
        return (
            f"memory: no memory cgroup ({self.cgroups} cgroups, rootless); "
            "RLIMIT_DATA caps each process's data instead, not the container's total",
            f"pids: no pids cgroup ({self.cgroups} cgroups, rootless); RLIMIT_NPROC caps the processes "
            "of the container's uid",
            f"cpu: no cpu cgroup ({self.cgroups} cgroups, rootless); only the wall-clock timeout bounds CPU time",
        )

    def problems(self) -> list[Problem]:
        out: list[Problem] = []
        if self.podman is None:
            out.append(Problem("podman is not installed", "run scripts/bootstrap, or: apt-get install podman runc"))
        if self.runtime is None:
            need = "runc (crun cannot start containers on hybrid cgroups)" if self.cgroups != "v2" else "crun or runc"
            out.append(Problem(f"no usable OCI runtime: need {need}", "apt-get install runc"))
        if self.rootless:
            user = self.user or "$USER"
            if self.subuids is None or self.subgids is None:
                which = " and ".join(n for n, r in (("/etc/subuid", self.subuids), ("/etc/subgid", self.subgids))
                                     if r is None)
                out.append(Problem(f"rootless: no subordinate id range for {user} in {which}",
                                   f"sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 {user}"))
            if not self.newuidmap:
                out.append(Problem("rootless: newuidmap/newgidmap are not installed", "sudo apt-get install uidmap"))
            if not self.nsenter:
                out.append(Problem("rootless: nsenter is not installed", "sudo apt-get install util-linux"))
            if not self.cgroup_limits:
                out.append(Problem(
                    f"rootless on {self.cgroups} cgroups: memory, pids and cpu limits are per-process rlimits "
                    "and the timeout (recorded in protections.degraded)",
                    "boot with cgroups v2 (systemd.unified_cgroup_hierarchy=1) and delegate the controllers "
                    "to users", fatal=False))
        if not self.rootless and self.container_ids is None:
            out.append(Problem(
                "rootful: root has no subordinate id range, so containers run without a user namespace "
                "(their root is the host's uid 0, every capability dropped)",
                "sudo usermod --add-subuids 1000000-1065535 --add-subgids 1000000-1065535 root "
                "(any range no user has), or scripts/bootstrap", fatal=False))
        if not self.overlay:
            out.append(Problem("the kernel has no overlayfs", "modprobe overlay"))
        if self.landlock_abi is None:
            out.append(
                Problem("the kernel does not offer Landlock", "boot a kernel >= 5.13 with lsm=landlock", fatal=False)
            )
        if not self.seccomp:
            out.append(Problem("the kernel does not offer seccomp filters", "use a kernel with CONFIG_SECCOMP_FILTER"))
        return out

    def to_json(self) -> JsonDict:
        return {
            "rootless": self.rootless,
            "cgroups": self.cgroups,
            "systemd": self.systemd,
            "cap_sys_resource": self.cap_sys_resource,
            "nofile_hard": self.nofile_hard,
            "nproc_hard": self.nproc_hard,
            "podman": self.podman,
            "runc": self.runc,
            "crun": self.crun,
            "runtime": self.runtime,
            "overlay": self.overlay,
            "landlock_abi": self.landlock_abi,
            "seccomp": self.seccomp,
            "ulimits": {name: value for name, value in self.ulimits},
            "configured": list(self.configured),
            "mode": "rootless" if self.rootless else "rootful",
            "user": self.user,
            "subuids": list(self.subuids) if self.subuids else None,
            "subgids": list(self.subgids) if self.subgids else None,
            "cgroup_limits": self.cgroup_limits,
            "container_ids": self.container_ids.describe() if self.container_ids else None,
            "degraded": list(self.degraded()),
        }


def _cgroup_mode() -> str:
    if Path("/sys/fs/cgroup/cgroup.controllers").exists():
        return "v2"
    if Path("/sys/fs/cgroup/unified/cgroup.controllers").exists():
        return "hybrid"
    return "v1"


def _cap_effective(bit: int) -> bool:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapEff:"):
            return bool(int(line.split()[1], 16) >> bit & 1)
    return False


def _seccomp_supported() -> bool:
    return any(line.startswith("Seccomp:") for line in Path("/proc/self/status").read_text().splitlines())


def landlock_abi() -> int | None:
    libc = ctypes.CDLL(None, use_errno=True)
    abi = int(libc.syscall(LANDLOCK_CREATE_RULESET, None, ctypes.c_size_t(0), LANDLOCK_CREATE_RULESET_VERSION))
    return abi if abi > 0 else None


def _subordinate(path: str, user: str, uid: int) -> tuple[int, int] | None:
    """The user's first range in /etc/subuid or /etc/subgid (by name or by number)."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        parts = line.strip().split(":")
        if (len(parts) == 3 and parts[0] in (user, str(uid)) and parts[1].isdigit() and parts[2].isdigit()
                and int(parts[2]) > 0):
            return int(parts[1]), int(parts[2])
    return None


def _user_name(uid: int) -> str:
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _hard_limit(which: int) -> int:
    hard = resource.getrlimit(which)[1]
    return 1 << 20 if hard == resource.RLIM_INFINITY else int(hard)


@cache
def detect() -> HostFacts:
    cgroups = _cgroup_mode()
    runc, crun = shutil.which("runc"), shutil.which("crun")
    configured: list[str] = []
    # crun (1.8, Debian 12) refuses cgroup hybrids; runc handles them.
    if cgroups != "v2":
        runtime = "runc" if runc else None
        if runc and crun:
            configured.append(f"OCI runtime runc instead of crun ({cgroups} cgroups)")
    else:
        runtime = "crun" if crun else "runc" if runc else None
    cap_res = _cap_effective(CAP_SYS_RESOURCE)
    nofile, nproc = _hard_limit(resource.RLIMIT_NOFILE), _hard_limit(resource.RLIMIT_NPROC)
    # Podman's default nofile of 1048576 fails in setrlimit where the hard limit is lower and root
    # cannot raise it; the host's own hard limit always works. For nproc, Podman lowers its
    # own hard nproc to 32768 and then asks runc for more (EPERM). Root in the initial user namespace
    # is exempt from RLIMIT_NPROC anyway: the pids cgroup limit is what bounds processes.
    ulimits = (("nofile", min(nofile, 1 << 20)), ("nproc", min(nproc, 32768)))
    if not cap_res:
        configured.append(f"ulimits nofile={ulimits[0][1]} nproc={ulimits[1][1]} (no CAP_SYS_RESOURCE)")
    uid = os.geteuid()
    user = _user_name(uid)
    return HostFacts(
        rootless=uid != 0,
        cgroups=cgroups,
        systemd=Path("/run/systemd/system").is_dir(),
        cap_sys_resource=cap_res,
        nofile_hard=nofile,
        nproc_hard=nproc,
        podman=shutil.which("podman"),
        runc=runc,
        crun=crun,
        overlay="overlay" in Path("/proc/filesystems").read_text(),
        landlock_abi=landlock_abi(),
        seccomp=_seccomp_supported(),
        runtime=runtime,
        ulimits=ulimits,
        configured=tuple(configured),
        user=user,
        subuids=_subordinate("/etc/subuid", user, uid),
        subgids=_subordinate("/etc/subgid", user, uid),
        newuidmap=shutil.which("newuidmap") is not None and shutil.which("newgidmap") is not None,
        nsenter=shutil.which("nsenter") is not None,
    )


def containers_conf(facts: HostFacts, runroot: Path | None = None,
                    conmon_env: Mapping[str, str] | None = None) -> str:
    """The containers.conf of sbx's private Podman service. Rootless, the service has its own image
    storage and database (see `storage_conf`) and runtime files under `runroot`, so that the user's
    own Podman settings (often the slow `vfs` driver) and sbx's never meet."""
    ulimits = ", ".join(f'"{name}={value}:{value}"' for name, value in facts.ulimits)
    lines = [
        "# Written by sbx for its private Podman service; regenerated on every start.",
        "[containers]",
        f"default_ulimits = [{ulimits}]",
        'log_driver = "k8s-file"',
        "[engine]",
        f'cgroup_manager = "{"systemd" if facts.systemd and not facts.rootless else "cgroupfs"}"',
        'events_logger = "file"',
    ]
    if facts.runtime:
        lines.append(f'runtime = "{facts.runtime}"')
    if facts.rootless and runroot is not None:
        # The database stays where `podman container cleanup` (run by conmon with `--root`) looks
        # for it, graphroot/libpod; it pins the runroot and tmp_dir it was made with, so those
        # are the storage's own too (ServicePaths.podman_runtime), never a folder that moves.
        lines += [f"tmp_dir = {_toml(runroot / 'tmp')}"]
    if conmon_env:
        # conmon passes only these to the cleanup it runs when a container exits.
        pairs = ", ".join(_toml(f"{name}={value}") for name, value in conmon_env.items())
        lines.append(f"conmon_env_vars = [{pairs}]")
    return "\n".join(lines) + "\n"


def runroot_of(runtime: Path) -> Path:
    """The rootless service's runroot. `podman container cleanup`, which conmon runs when a
    container exits, refuses one longer than RUNROOT_MAX characters; the exit then goes unrecorded
    and Podman's own wait stalls 20 s (sbx polls the runtime and does not wait on it)."""
    return runtime / "s"


RUNROOT_MAX = 50


def storage_conf(storage: Path, runroot: Path) -> str:
    """Rootless storage of sbx's own: the native overlay driver (kernel >= 5.13 in a user namespace);
    Podman's rootless default, `vfs`, copies the whole image for every container (seconds)."""
    return "\n".join([
        "# Written by sbx for its private rootless Podman service; regenerated on every start.",
        "[storage]",
        'driver = "overlay"',
        f"graphroot = {_toml(storage / 'storage')}",
        f"rootless_storage_path = {_toml(storage / 'storage')}",
        f"runroot = {_toml(runroot_of(runroot))}",
    ]) + "\n"


def _toml(value: Path | str) -> str:
    return json.dumps(str(value))  # a TOML basic string is a JSON string for these characters


def podman_version(podman: str) -> JsonDict:
    try:
        out = subprocess.run(
            [podman, "version", "--format", "json"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
        data: JsonDict = json.loads(out)
        return data
    except (OSError, subprocess.SubprocessError, ValueError):
        return {}
