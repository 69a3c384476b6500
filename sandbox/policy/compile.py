"""One tool call -> its confinement: seccomp profile, launcher (Landlock) document, container options.

Pure: the same profile and arguments always give the same artefacts (golden-tested). The call's
own path arguments narrow Landlock: `read_file(path="a.txt")` may read a.txt and nothing else of
the workspace; `write_file(path="src/a.py")` may write that one file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import platform
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sandbox.destinations import static_refusal
from sandbox.digests import digest
from sandbox.errors import PolicyError, StateError, UnsafeDirError
from sandbox.policy.landlock import LandlockSpec, build_policy, policy_json
from sandbox.policy.profiles import ToolProfile, endpoint_host
from sandbox.policy.seccomp import compile_seccomp
from sandbox.safedirs import private_dir, write_file
from sandbox.types import Limits

log = logging.getLogger(__name__)

WORKSPACE = "/workspace"
PROXY_PORT = 3128  # inside the container: the launcher's relay to sbx's egress proxy


@dataclass(frozen=True)
class CompiledCall:
    tool: str
    args: Mapping[str, Any]
    argv: tuple[str, ...]
    image: str
    seccomp_json: str
    seccomp_digest: str
    landlock: Mapping[str, Any]  # the launcher's policy document (runtime/policy-v1.schema.json)
    landlock_digest: str
    limits: Limits
    read_only_root: bool
    tmpfs_bytes: int
    capabilities: tuple[str, ...]
    proxy_hosts: tuple[str, ...]  # empty: no network at all
    private_destinations: bool  # the proxy may reach this machine and private networks (a profile's opt-in)
    groups: tuple[str, ...]

    @property
    def landlock_json(self) -> str:
        return policy_json(self.landlock)

    def summary(self) -> str:
        """One line a person can read before approving a plan step."""
        fs = [rule for rule in self.landlock["landlock"]["fs"] if str(rule["path"]).startswith(WORKSPACE)]
        grants = []
        for rule in fs:
            rel = str(rule["path"])[len(WORKSPACE):].lstrip("/") or "."
            grants.append(f"{'write' if 'write_file' in rule['access'] else 'read'} {rel}")
        workspace = ", ".join(grants) or "no workspace access"
        net = f"egress to {', '.join(self.proxy_hosts)} only" if self.proxy_hosts else "no network"
        net += " (private destinations allowed)" if self.proxy_hosts and self.private_destinations else ""
        caps = f", caps {','.join(self.capabilities)}" if self.capabilities else ""
        return (f"{workspace}; {net}; seccomp {self.seccomp_digest[:19]}; "
                f"{self.limits.memory_bytes >> 20}MiB, {self.limits.pids} pids, {self.limits.timeout_s:g}s{caps}")

    def to_json(self) -> dict[str, Any]:
        return {
            "tool": self.tool,
            "argv": list(self.argv),
            "image": self.image,
            "seccomp_digest": self.seccomp_digest,
            "landlock_digest": self.landlock_digest,
            "landlock": self.landlock,
            "limits": self.limits.to_json(),
            "read_only_root": self.read_only_root,
            "capabilities": list(self.capabilities),
            "network": {"mode": "proxy", "hosts": list(self.proxy_hosts),
                        "private_destinations": self.private_destinations} if self.proxy_hosts else {"mode": "none"},
            "syscall_groups": list(self.groups),
            "summary": self.summary(),
        }


def _url_endpoint(tool: str, arg: str, value: Any) -> str:
    """"host:port" of a URL argument: the one place that call may reach."""
    url = urlsplit(str(value))
    try:
        port = url.port or {"http": 80, "https": 443}.get(url.scheme)
    except ValueError:
        port = None
    if not url.hostname or port is None:
        raise PolicyError(f"tool {tool}: argument {arg!r} is not an http(s) URL with a host", code="tool.invalid_args")
    host = f"[{url.hostname}]" if ":" in url.hostname else url.hostname
    return f"{host}:{port}"


def _check_destination(tool: str, where: str, host: str) -> None:
    """Refuse, before anything runs, a destination that is this machine or a private network in any
    spelling; names are resolved and checked again by the egress proxy when the call connects."""
    why = static_refusal(host)
    if why:
        raise PolicyError(f"tool {tool}: {where}: {why}; egress never reaches this machine or private networks",
                          code="policy.forbidden_destination",
                          hint="a profile may opt in with `allow_private_destinations = true` under [network]")


_POLICY_SOURCES = ("seccomp.py", "syscall_groups.py", "syscalls.py")


SeccompArtefact = tuple[str, str, tuple[str, ...]]


def _seccomp_cache(cache_dir: Path | None) -> Path | None:
    """The cache's folder, checked to be the user's own: a profile planted there would be what the
    container runs under. An unsafe folder is refused (`state.unsafe_dir`); one that cannot be
    created only means no cache."""
    if cache_dir is None:
        return None
    try:
        return private_dir(cache_dir, "seccomp", env="SBX_CACHE_DIR")
    except UnsafeDirError:
        raise
    except (StateError, OSError):
        return None


def _cached_seccomp(groups: tuple[str, ...], extra: tuple[str, ...], cache_dir: Path | None) -> SeccompArtefact:
    """(profile JSON, digest, effective groups). Compiling validates every name with libseccomp,
    which costs ~25 ms in a fresh process (most of a cold CLI call's policy work); the result
    depends only on the groups, the extra names, the architecture and the compiler's own code,
    so it is kept in sbx's cache keyed by all of those."""
    hasher = hashlib.sha256(json.dumps([groups, extra, platform.machine()]).encode())
    for name in _POLICY_SOURCES:
        hasher.update((Path(__file__).parent / name).read_bytes())
    key = hasher.hexdigest()[:32]
    folder = _seccomp_cache(cache_dir)
    path = folder / f"{key}.json" if folder else None
    if path is not None and path.is_file():
        try:
            cached = json.loads(path.read_text())
            return str(cached["profile"]), str(cached["digest"]), tuple(cached["groups"])
        except (OSError, ValueError, KeyError, TypeError) as exc:  # recompiled and rewritten
            log.debug("seccomp cache entry %s unreadable: %s", path, exc)
    seccomp = compile_seccomp(groups, extra_syscalls=extra)
    result = (seccomp.to_json(), seccomp.digest, tuple(seccomp.groups))
    if path is not None:
        entry = {"profile": result[0], "digest": result[1], "groups": list(result[2])}
        try:
            write_file(path, json.dumps(entry).encode())
        except OSError as exc:  # no cache: compile again next time
            log.debug("seccomp cache entry %s not written: %s", path, exc)
    return result


def compile_call(
    profile: ToolProfile,
    args: Mapping[str, Any],
    *,
    timeout_s: float | None = None,
    cache_dir: Path | None = None,
) -> CompiledCall:
    tool, needs = profile.tool, profile.needs
    checked = tool.validate(args)
    reads: list[str] = []
    writes: list[str] = []
    write_dirs: list[str] = []
    for name, access in tool.path_access().items():
        target = {"read": reads, "write": writes, "write_dir": write_dirs}[access]
        target.append(str(checked[name]))
    hosts = [*needs.hosts, *(_url_endpoint(tool.name, a, checked[a]) for a in needs.hosts_from_args)]
    proxy_hosts = tuple(dict.fromkeys(hosts)) if needs.network == "proxy" else ()
    private = bool(proxy_hosts) and needs.allow_private_destinations
    if not private:
        for arg in needs.hosts_from_args if proxy_hosts else ():
            _check_destination(tool.name, f"argument {arg!r} ({str(checked[arg])[:200]})",
                               urlsplit(str(checked[arg])).hostname or "")
        for entry in proxy_hosts:
            _check_destination(tool.name, "egress host", endpoint_host(entry))
    landlock = build_policy(
        LandlockSpec(
            workspace=WORKSPACE,
            exec_roots=needs.exec_roots,
            read_roots=(*needs.read_roots, *((WORKSPACE,) if needs.workspace == "read" else ())),
            write_roots=(*needs.write_roots, *((WORKSPACE,) if needs.workspace == "write" else ())),
            scratch_roots=needs.scratch_roots,
            device_paths=needs.devices,
            read_paths=tuple(reads),
            write_paths=tuple(writes),
            write_dir_paths=tuple(write_dirs),
            connect_tcp=(PROXY_PORT,) if proxy_hosts else (),
            egress_relay_port=PROXY_PORT if proxy_hosts else None,
            require=needs.landlock == "required",
        )
    )
    groups = needs.groups if proxy_hosts else tuple(g for g in needs.groups if g != "network")
    seccomp_json, seccomp_digest, effective_groups = _cached_seccomp(
        tuple(groups), tuple(needs.extra_syscalls), cache_dir
    )
    limits = Limits(
        memory_bytes=needs.memory,
        pids=needs.pids,
        cpus=needs.cpus,
        timeout_s=timeout_s if timeout_s is not None else needs.timeout,
        output_bytes=needs.output,
        changes_bytes=needs.changes,
        change_bytes=needs.change_bytes,
        change_inodes=needs.change_inodes,
        pending_bytes=needs.pending_bytes,
        pending_inodes=needs.pending_inodes,
    )
    return CompiledCall(
        tool=tool.name,
        args=checked,
        argv=tool.argv(checked),
        image=tool.image,
        seccomp_json=seccomp_json,
        seccomp_digest=seccomp_digest,
        landlock=landlock,
        landlock_digest=digest(landlock),
        limits=limits,
        read_only_root=needs.read_only_root,
        tmpfs_bytes=needs.tmpfs,
        capabilities=needs.capabilities,
        proxy_hosts=proxy_hosts,
        private_destinations=private,
        groups=effective_groups,
    )
