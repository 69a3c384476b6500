"""Build the launcher's policy document (Landlock rules) from a tool's needs and a call's paths.

Pure: no filesystem access, no kernel query. The output is the versioned JSON document that
`runtime/sbx_launcher.py` reads (schema: `runtime/policy-v1.schema.json`); the launcher decides at
run time what the kernel can enforce and reports it.

Paths here are *container* paths. Profile roots are absolute; a call's path arguments may be
workspace-relative (`src/a.py`) or absolute inside the workspace, and are refused with
`policy.path_outside_workspace` when they escape it (`..`, another absolute path).

Narrowing by a call's arguments: a write path grants the named object only. Landlock cannot grant
a file that does not exist yet, so the document asks the launcher to *create* it (empty, with any
missing parent directories, strictly beneath the workspace, before restricting itself) and then
grants that one file; granting the parent directory instead would hand out write access to every
file beneath it. The residual: an empty file (or directory) stays in the change layer when the tool
then fails; the launcher lists what it created in its report (`created`).
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sandbox.errors import PolicyError

JsonDict = dict[str, Any]

POLICY_VERSION = 1

# Landlock filesystem rights, in the kernel's bit order (the launcher maps them to bits and drops
# those the kernel's ABI does not know: refer < v2, truncate < v3, ioctl_dev < v5).
FS_ACCESS: tuple[str, ...] = (
    "execute",
    "write_file",
    "read_file",
    "read_dir",
    "remove_dir",
    "remove_file",
    "make_char",
    "make_dir",
    "make_reg",
    "make_sock",
    "make_fifo",
    "make_block",
    "make_sym",
    "refer",
    "truncate",
    "ioctl_dev",
)
SCOPES: tuple[str, ...] = ("abstract_unix_socket", "signal")

READ: frozenset[str] = frozenset({"read_file", "read_dir"})
EXEC: frozenset[str] = READ | {"execute"}
WRITE_TREE: frozenset[str] = READ | {
    "write_file",
    "truncate",
    "make_reg",
    "make_dir",
    "make_sym",
    "remove_file",
    "remove_dir",
    "refer",
}
SCRATCH: frozenset[str] = WRITE_TREE | {"make_fifo", "make_sock"}
WRITE_ONE_FILE: frozenset[str] = frozenset({"read_file", "write_file", "truncate"})
DEVICE: frozenset[str] = frozenset({"read_file", "write_file"})  # no ioctl_dev: TIOCSTI & co stay denied

# Sensible container defaults a base profile can use (missing ones are skipped by the launcher).
SYSTEM_EXEC_ROOTS: tuple[str, ...] = ("/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32")
SYSTEM_READ_ROOTS: tuple[str, ...] = ("/etc", "/proc", "/sys/devices/system/cpu", "/dev/urandom", "/dev/random")
SCRATCH_ROOTS: tuple[str, ...] = ("/tmp", "/var/tmp", "/dev/shm")
DEVICE_PATHS: tuple[str, ...] = ("/dev/null", "/dev/zero", "/dev/full")

_IF_MISSING_STRENGTH = {"skip": 0, "fail": 1, "create_dir": 2, "create_file": 2}
_FORBIDDEN_SCRATCH = ("/proc", "/sys")


@dataclass(frozen=True)
class LandlockSpec:
    """What one call may touch. Every field's default is the strictest sensible value."""

    workspace: str = "/workspace"  # container path of the workspace mount
    read_roots: tuple[str, ...] = ()  # absolute; read files, list directories
    exec_roots: tuple[str, ...] = ()  # absolute; as read_roots, plus execute
    write_roots: tuple[str, ...] = ()  # absolute, inside the workspace; full write of the tree
    scratch_roots: tuple[str, ...] = ()  # absolute, container-local (tmpfs, the container's own layer)
    device_paths: tuple[str, ...] = ()  # absolute device files: read + write, never ioctl
    read_paths: tuple[str, ...] = ()  # the call's read path arguments (workspace-relative or absolute)
    write_paths: tuple[str, ...] = ()  # the call's write path arguments naming files
    write_dir_paths: tuple[str, ...] = ()  # the call's write path arguments naming directories
    connect_tcp: tuple[int, ...] | None = ()  # None: Landlock leaves TCP alone; () no TCP connect
    bind_tcp: tuple[int, ...] = ()  # with connect_tcp not None: ports the tool may bind
    scope_signal: bool = True  # no signals to processes outside the sandbox (ABI >= 6)
    scope_abstract_unix: bool = True  # no abstract unix sockets outside the sandbox (ABI >= 6)
    require: bool = True  # fail closed when Landlock cannot be enforced
    min_abi: int = 1  # with require: the lowest Landlock ABI accepted
    max_abi: int | None = None  # cap the ABI used (tests, compatibility pinning); None: best
    no_new_privs: bool = True
    report_path: str | None = "/sbx-run/applied.json"  # where the launcher writes what it enforced
    egress_relay_port: int | None = None  # relay 127.0.0.1:PORT to egress_socket (sbx's proxy); None: none
    egress_socket: str = "/sbx-run/egress.sock"


@dataclass
class _Entry:
    access: set[str]
    if_missing: str
    expect: str
    beneath: str | None


class _Entries:
    """Rules keyed by path; a path asked for twice gets the union of the rights."""

    def __init__(self, workspace: str) -> None:
        self.workspace = workspace
        self.by_path: dict[str, _Entry] = {}

    def add(self, path: str, access: Iterable[str], *, if_missing: str = "skip", expect: str = "any") -> None:
        beneath = self.workspace if _inside(path, self.workspace) else None
        if path == self.workspace and if_missing == "skip":
            if_missing = "fail"  # the workspace mount itself must be there
        entry = self.by_path.get(path)
        if entry is None:
            self.by_path[path] = _Entry(set(access), if_missing, expect, beneath)
            return
        if entry.expect != expect and "any" not in (entry.expect, expect):
            raise PolicyError(f"{path} is asked for both as a file and as a directory", code="policy.contradiction")
        entry.access |= set(access)
        if expect != "any":
            entry.expect = expect
        if _IF_MISSING_STRENGTH[if_missing] > _IF_MISSING_STRENGTH[entry.if_missing]:
            entry.if_missing = if_missing

    def to_json(self) -> list[JsonDict]:
        return [
            {
                "path": path,
                "access": _access_list(e.access),
                "if_missing": e.if_missing,
                "expect": e.expect,
                "beneath": e.beneath,
            }
            for path, e in sorted(self.by_path.items())
        ]


def _clean_absolute(path: str, what: str) -> str:
    if not isinstance(path, str) or not path or "\x00" in path:
        raise PolicyError(f"invalid {what} path {path!r}", code="policy.invalid_path")
    if not path.startswith("/"):
        raise PolicyError(f"{what} path {path!r} must be absolute", code="policy.invalid_path")
    return posixpath.normpath("/" + path.lstrip("/"))


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def workspace_path(arg: str, workspace: str = "/workspace") -> str:
    """The container path a call's path argument names, normalised; refuses paths that escape the
    workspace with `PolicyError("policy.path_outside_workspace")`."""
    ws = _clean_absolute(workspace, "workspace")
    if not isinstance(arg, str) or arg == "" or "\x00" in arg:
        raise PolicyError(f"invalid path argument {arg!r}", code="policy.invalid_path")
    joined = arg if arg.startswith("/") else posixpath.join(ws, arg)
    normal = posixpath.normpath(joined)
    if normal.startswith("//"):
        normal = "/" + normal.lstrip("/")
    if not _inside(normal, ws):
        raise PolicyError(
            f"path {arg!r} is outside the workspace {ws}",
            code="policy.path_outside_workspace",
            hint="tools may only name paths inside the workspace",
        )
    return normal


def _check_port(port: int) -> int:
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise PolicyError(f"invalid TCP port {port!r}", code="policy.invalid_port")
    return port


def _access_list(access: Iterable[str]) -> list[str]:
    return [a for a in FS_ACCESS if a in set(access)]


def _fs_rules(spec: LandlockSpec, ws: str) -> list[JsonDict]:
    entries = _Entries(ws)
    for root in spec.exec_roots:
        entries.add(_clean_absolute(root, "exec root"), EXEC)
    for root in spec.read_roots:
        entries.add(_clean_absolute(root, "read root"), READ)
    for root in spec.device_paths:
        entries.add(_clean_absolute(root, "device"), DEVICE)
    for root in spec.write_roots:
        path = _clean_absolute(root, "write root")
        if not _inside(path, ws):
            raise PolicyError(
                f"write root {root!r} is outside the workspace {ws}",
                code="policy.path_outside_workspace",
                hint="container-local writable places (like /tmp) go in scratch_roots",
            )
        entries.add(path, WRITE_TREE)
    for root in spec.scratch_roots:
        path = _clean_absolute(root, "scratch root")
        if path == "/" or _inside(ws, path) or _inside(path, ws) or any(_inside(path, f) for f in _FORBIDDEN_SCRATCH):
            raise PolicyError(
                f"scratch root {root!r} is not allowed (not /, /proc, /sys, the workspace or an ancestor of it)",
                code="policy.invalid_path",
            )
        entries.add(path, SCRATCH)
    for arg in spec.read_paths:
        entries.add(workspace_path(arg, ws), READ)
    for arg in spec.write_paths:
        path = workspace_path(arg, ws)
        if path == ws:
            raise PolicyError(f"write path {arg!r} names the workspace itself, not a file", code="policy.invalid_path")
        entries.add(path, WRITE_ONE_FILE, if_missing="create_file", expect="file")
    for arg in spec.write_dir_paths:
        entries.add(workspace_path(arg, ws), WRITE_TREE, if_missing="create_dir", expect="dir")
    return entries.to_json()


def _net_rules(spec: LandlockSpec) -> JsonDict | None:
    if spec.connect_tcp is None:
        if spec.bind_tcp:
            raise PolicyError("bind_tcp needs connect_tcp to be restricted too (not None)", code="policy.contradiction")
        return None
    return {
        "bind_tcp": sorted({_check_port(p) for p in spec.bind_tcp}),
        "connect_tcp": sorted({_check_port(p) for p in spec.connect_tcp}),
    }


def build_policy(spec: LandlockSpec) -> JsonDict:
    """The launcher's policy document (version 1) for `spec`. Deterministic: entries sorted by path,
    rights in the kernel's bit order."""
    ws = _clean_absolute(spec.workspace, "workspace")
    if ws == "/":
        raise PolicyError("the workspace cannot be /", code="policy.invalid_path")
    if spec.min_abi < 1 or (spec.max_abi is not None and spec.max_abi < 1):
        raise PolicyError("Landlock ABI bounds must be >= 1", code="policy.invalid")
    scope = [s for s, on in (("abstract_unix_socket", spec.scope_abstract_unix), ("signal", spec.scope_signal)) if on]
    report_path = None if spec.report_path is None else _clean_absolute(spec.report_path, "report")
    landlock: JsonDict = {
        "min_abi": spec.min_abi,
        "max_abi": spec.max_abi,
        "fs": _fs_rules(spec, ws),
        "net": _net_rules(spec),
        "scope": scope,
    }
    document: JsonDict = {
        "version": POLICY_VERSION,
        "no_new_privs": spec.no_new_privs,
        "require_landlock": spec.require,
        "landlock": landlock,
        "report_path": report_path,
    }
    if spec.egress_relay_port is not None:
        if spec.connect_tcp is None or spec.egress_relay_port not in spec.connect_tcp:
            raise PolicyError("the egress relay's port must be the one TCP port the tool may connect to",
                              code="policy.contradiction")
        document["egress_relay"] = {"port": _check_port(spec.egress_relay_port),
                                    "socket": _clean_absolute(spec.egress_socket, "egress socket")}
    return document


def policy_json(document: Mapping[str, Any]) -> str:
    """The document as the file the engine mounts for the launcher (stable formatting)."""
    return json.dumps(document, indent=2) + "\n"
