"""sbx launcher: confine this process with Landlock, then exec the tool.

The container's entrypoint. Standard library only; imports nothing from `sandbox/`.

Usage:
    python3 -I -S /sbx/launcher.py --serve IDLE_SECONDS                (what sbx runs)
    python3 -I -S /sbx/launcher.py POLICY_JSON_PATH -- ARGV...
    python3 -I -S /sbx/launcher.py --check POLICY_JSON_PATH      (validate only, exit 0 or 125)

With --serve the launcher starts before the call is known and waits on its standard input for it:
one line of JSON, `{"version": 1, "policy": {...}, "argv": [...]}`. That is how sbx keeps a
container prepared ahead of a call; a container made for a call at once gets the same line at once,
so both are confined by the same code. Without a line within IDLE_SECONDS the launcher ends (SIGALRM),
and its container with it. Once the line is read, standard input is /dev/null for the tool, as in a
container that has none. Otherwise the policy is a file (bind-mounted read-only). Either way it is
read before any restriction, so it needs no Landlock rule. Its schema is
`runtime/policy-v1.schema.json`; unknown versions and unknown keys are refused.

Order of work: read and validate the policy; open the report file (before restricting, so writing
it later needs no rule); refuse a path the call names for writing that is, or passes through, a
symlink (the grant would land on the link's target); set no_new_privs; build the Landlock ruleset
with the best ABI the kernel offers (capped by `max_abi`); open every rule's path with O_PATH
(paths with `beneath` resolve with openat2(RESOLVE_BENEATH), so a symlink cannot carry a grant out
of the workspace; missing write targets are created there when `if_missing` says so);
landlock_restrict_self; write one line of JSON to the report (schema:
`runtime/applied-v1.schema.json`); restore the signal dispositions Python changed; exec the tool
(PATH lookup, inherited environment).

Fails closed: when `require_landlock` is true and Landlock is missing, older than `min_abi`, or
any step fails, the tool does not run.

Exit status: 125 launcher or policy failure, 126 command found but not executable, 127 command
not found; otherwise the tool's own. Every launcher message is one stderr line `sbx-launcher: ...`.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import signal
import stat
import sys
import time

TYPE_CHECKING = False  # typing itself costs an import; mypy reads this name the same way

if TYPE_CHECKING:  # the launcher runs before every tool call: import nothing it does not need
    import socket
    from typing import Any, NoReturn

POLICY_VERSION = 1
REPORT_VERSION = 1
EXIT_LAUNCHER = 125
EXIT_NOT_EXECUTABLE = 126
EXIT_NOT_FOUND = 127

# Syscall numbers: the same on every architecture sbx supports (asm-generic and x86_64).
SYS_OPENAT2 = 437
SYS_LANDLOCK_CREATE_RULESET = 444
SYS_LANDLOCK_ADD_RULE = 445
SYS_LANDLOCK_RESTRICT_SELF = 446

PR_SET_NO_NEW_PRIVS = 38
PR_GET_NO_NEW_PRIVS = 39
LANDLOCK_CREATE_RULESET_VERSION = 1
LANDLOCK_RULE_PATH_BENEATH = 1
LANDLOCK_RULE_NET_PORT = 2
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_BENEATH = 0x08

MAX_KNOWN_ABI = 7  # ABI 7 adds audit-log flags only; no new access rights

# Filesystem rights: name -> (bit, first ABI that knows it).
FS_ACCESS: dict[str, tuple[int, int]] = {
    "execute": (1 << 0, 1),
    "write_file": (1 << 1, 1),
    "read_file": (1 << 2, 1),
    "read_dir": (1 << 3, 1),
    "remove_dir": (1 << 4, 1),
    "remove_file": (1 << 5, 1),
    "make_char": (1 << 6, 1),
    "make_dir": (1 << 7, 1),
    "make_reg": (1 << 8, 1),
    "make_sock": (1 << 9, 1),
    "make_fifo": (1 << 10, 1),
    "make_block": (1 << 11, 1),
    "make_sym": (1 << 12, 1),
    "refer": (1 << 13, 2),
    "truncate": (1 << 14, 3),
    "ioctl_dev": (1 << 15, 5),
}
# Rights that make sense on a non-directory (the kernel refuses the others there).
FILE_RIGHTS = ("execute", "write_file", "read_file", "truncate", "ioctl_dev")
NET_ACCESS: dict[str, tuple[int, int]] = {"bind_tcp": (1 << 0, 4), "connect_tcp": (1 << 1, 4)}
SCOPES: dict[str, tuple[int, int]] = {"abstract_unix_socket": (1 << 0, 6), "signal": (1 << 1, 6)}
# Restrictions that are *weaker* than asked when the ABI lacks them (an unhandled right is allowed).
_WEAKER_BELOW = (("truncate", 3), ("ioctl_dev", 5))

IF_MISSING = ("skip", "fail", "create_file", "create_dir")
EXPECT = ("any", "file", "dir")


class LauncherError(Exception):
    """Anything that stops the launcher: exit 125 with this one-line message."""


class _RulesetAttr(ctypes.Structure):
    _fields_ = (
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    )


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = (("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32))


class _NetPortAttr(ctypes.Structure):
    _fields_ = (("allowed_access", ctypes.c_uint64), ("port", ctypes.c_uint64))


class _OpenHow(ctypes.Structure):
    _fields_ = (("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64))


_libc: Any = None


def _lib() -> Any:
    global _libc  # noqa: PLW0603 - loaded once, lazily (--check never needs libc)
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
        _libc.syscall.restype = ctypes.c_long
        _libc.prctl.restype = ctypes.c_int
    return _libc


def _check(result: int) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return result


def _syscall(number: int, *args: Any) -> int:
    ctypes.set_errno(0)
    return _check(int(_lib().syscall(ctypes.c_long(number), *args)))


def _prctl(option: int, arg: int = 0) -> int:
    ctypes.set_errno(0)
    zero = ctypes.c_ulong(0)
    return _check(int(_lib().prctl(ctypes.c_int(option), ctypes.c_ulong(arg), zero, zero, zero)))


# --- policy validation ---------------------------------------------------------------------------


def _fail(message: str) -> NoReturn:
    raise LauncherError(message)


def _keys(obj: Any, where: str, required: tuple[str, ...], optional: tuple[str, ...] = ()) -> dict[str, Any]:
    if not isinstance(obj, dict):
        _fail(f"{where} must be an object")
    unknown = sorted(set(obj) - set(required) - set(optional))
    if unknown:
        _fail(f"{where}: unknown key {unknown[0]!r}")
    missing = [k for k in required if k not in obj]
    if missing:
        _fail(f"{where}: missing key {missing[0]!r}")
    return obj


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        _fail(f"{where} must be true or false")
    return value


def _int(value: Any, where: str, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        _fail(f"{where} must be an integer >= {low}" + (f" and <= {high}" if high is not None else ""))
    return value


def _abs_path(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.startswith("/") or "\x00" in value:
        _fail(f"{where} must be an absolute path")
    if os.path.normpath(value) != value or value.startswith("//"):
        _fail(f"{where} must be a normalised path: {value!r}")
    return value


def _names(value: Any, where: str, allowed: dict[str, tuple[int, int]], *, non_empty: bool) -> list[str]:
    if not isinstance(value, list) or (non_empty and not value):
        _fail(f"{where} must be a{' non-empty' if non_empty else 'n'} array")
    for item in value:
        if item not in allowed:
            _fail(f"{where}: unknown value {item!r}")
    if len(set(value)) != len(value):
        _fail(f"{where}: duplicate values")
    return list(value)


def _parse_fs_entry(entry: Any, where: str) -> None:
    _keys(entry, where, ("path", "access"), ("if_missing", "expect", "beneath"))
    _abs_path(entry["path"], f"{where}.path")
    _names(entry["access"], f"{where}.access", FS_ACCESS, non_empty=True)
    entry.setdefault("if_missing", "skip")
    entry.setdefault("expect", "any")
    entry.setdefault("beneath", None)
    if entry["if_missing"] not in IF_MISSING:
        _fail(f"{where}.if_missing: unknown value {entry['if_missing']!r}")
    if entry["expect"] not in EXPECT:
        _fail(f"{where}.expect: unknown value {entry['expect']!r}")
    if entry["beneath"] is not None:
        anchor = _abs_path(entry["beneath"], f"{where}.beneath")
        path = entry["path"]
        if path != anchor and not path.startswith(anchor.rstrip("/") + "/"):
            _fail(f"{where}.path is not beneath {anchor}")
    elif entry["if_missing"].startswith("create_"):
        _fail(f"{where}: if_missing {entry['if_missing']!r} needs beneath")


def _parse_landlock(value: Any) -> dict[str, Any]:
    ll = _keys(value, "landlock", ("fs",), ("min_abi", "max_abi", "net", "scope"))
    ll["min_abi"] = _int(ll.get("min_abi", 1), "landlock.min_abi", 1)
    ll["max_abi"] = ll.get("max_abi")
    if ll["max_abi"] is not None:
        _int(ll["max_abi"], "landlock.max_abi", 1)
    if not isinstance(ll["fs"], list):
        _fail("landlock.fs must be an array")
    for i, entry in enumerate(ll["fs"]):
        _parse_fs_entry(entry, f"landlock.fs[{i}]")
    net = ll["net"] = ll.get("net")
    if net is not None:
        _keys(net, "landlock.net", ("bind_tcp", "connect_tcp"))
        for key in ("bind_tcp", "connect_tcp"):
            if not isinstance(net[key], list):
                _fail(f"landlock.net.{key} must be an array")
            for port in net[key]:
                _int(port, f"landlock.net.{key}[]", 0, 65535)
    ll["scope"] = _names(ll.get("scope", []), "landlock.scope", SCOPES, non_empty=False)
    return ll


def parse_policy(raw: bytes) -> dict[str, Any]:
    """Validate a policy document; returns it with defaults filled in. Raises LauncherError."""
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        _fail(f"policy is not valid JSON: {exc}")
    if not isinstance(doc, dict):
        _fail("policy must be a JSON object")
    version = doc.get("version")
    if version != POLICY_VERSION or isinstance(version, bool):
        _fail(f"unsupported policy version {version!r} (this launcher reads version {POLICY_VERSION})")
    _keys(doc, "policy", ("version", "no_new_privs", "require_landlock", "landlock"), ("report_path", "egress_relay"))
    _bool(doc["no_new_privs"], "no_new_privs")
    _bool(doc["require_landlock"], "require_landlock")
    doc["report_path"] = doc.get("report_path")
    if doc["report_path"] is not None:
        _abs_path(doc["report_path"], "report_path")
    doc["landlock"] = _parse_landlock(doc["landlock"])
    relay = doc.get("egress_relay")
    if relay is not None:
        relay = _keys(relay, "egress_relay", ("port", "socket"))
        _int(relay["port"], "egress_relay.port", 1, 65535)
        _abs_path(relay["socket"], "egress_relay.socket")
    doc["egress_relay"] = relay
    return doc


# --- egress relay ----------------------------------------------------------------------------------
# With network access through sbx's proxy, the container has no network at all (loopback only): the
# launcher listens on 127.0.0.1:PORT before it restricts itself and forks a relay that carries each
# connection to the proxy's unix socket on the host, which enforces the host allowlist. The tool may
# only connect to that port (Landlock TCP rule) and never reaches the socket itself (no rule for it).


def _pump(source: socket.socket, sink: socket.socket) -> None:
    import socket

    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            sink.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


def _relay_connection(client: socket.socket, path: str) -> None:
    import socket
    import threading

    upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        upstream.connect(path)
    except OSError:
        client.close()
        upstream.close()
        return
    back = threading.Thread(target=_pump, args=(upstream, client), daemon=True)
    back.start()
    _pump(client, upstream)
    back.join()
    client.close()
    upstream.close()


def start_egress_relay(relay: dict[str, Any]) -> None:
    """Listen now (so the tool can connect as soon as it runs), serve from a forked child."""
    import socket
    import threading

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind(("127.0.0.1", relay["port"]))
        listener.listen(64)
    except OSError as exc:
        _fail(f"cannot listen on 127.0.0.1:{relay['port']} for the egress relay: {exc.strerror or exc}")
    if os.fork() != 0:
        listener.close()
        return
    try:  # the child: serve until the tool (the container's init) exits and the kernel ends us
        while True:
            client, _addr = listener.accept()
            threading.Thread(target=_relay_connection, args=(client, relay["socket"]), daemon=True).start()
    finally:
        os._exit(0)


# --- Landlock --------------------------------------------------------------------------------------


def kernel_abi() -> int | None:
    """The kernel's Landlock ABI version, or None when Landlock is unsupported or disabled."""
    try:
        return _syscall(
            SYS_LANDLOCK_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(LANDLOCK_CREATE_RULESET_VERSION)
        )
    except OSError as exc:
        if exc.errno in (errno.ENOSYS, errno.EOPNOTSUPP, errno.EPERM):
            return None
        raise


def mask(table: dict[str, tuple[int, int]], names: list[str] | tuple[str, ...], abi: int) -> int:
    """The bits of `names` that ABI `abi` knows."""
    bits = 0
    for name in names:
        bit, since = table[name]
        if abi >= since:
            bits |= bit
    return bits


def handled_fs(abi: int) -> int:
    return mask(FS_ACCESS, tuple(FS_ACCESS), abi)


def _open_beneath(anchor_fd: int, rel: str, flags: int) -> int:
    how = _OpenHow(flags | os.O_CLOEXEC, 0, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)
    return _syscall(
        SYS_OPENAT2, ctypes.c_int(anchor_fd), os.fsencode(rel), ctypes.byref(how), ctypes.c_size_t(ctypes.sizeof(how))
    )


def _ensure_dirs(anchor_fd: int, rel: str) -> list[str]:
    """Create the missing directories of `rel` beneath the anchor; returns the ones created."""
    created: list[str] = []
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    for depth in range(1, len(parts) + 1):
        prefix = "/".join(parts[:depth])
        try:
            os.close(_open_beneath(anchor_fd, prefix, os.O_PATH | os.O_DIRECTORY))
            continue
        except FileNotFoundError:
            pass
        parent = "/".join(parts[: depth - 1]) or "."
        parent_fd = _open_beneath(anchor_fd, parent, os.O_PATH | os.O_DIRECTORY)
        try:
            os.mkdir(parts[depth - 1], 0o777, dir_fd=parent_fd)
            created.append(prefix)
        except FileExistsError:
            pass
        finally:
            os.close(parent_fd)
    return created


def _create_file(anchor_fd: int, rel: str) -> list[str]:
    parent, _, name = rel.rpartition("/")
    created = _ensure_dirs(anchor_fd, parent) if parent else []
    parent_fd = _open_beneath(anchor_fd, parent or ".", os.O_PATH | os.O_DIRECTORY)
    try:
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666, dir_fd=parent_fd)
        os.close(fd)
        created.append(rel)
    except FileExistsError:
        pass
    finally:
        os.close(parent_fd)
    return created


def _open_missing(anchor_fd: int, entry: dict[str, Any], rel: str, created: list[str]) -> int | None:
    """`entry`'s path is missing beneath the anchor: skip it (None), or create it and open it."""
    if entry["if_missing"] in ("skip", "fail"):  # "fail" paths were checked by preflight()
        return None
    make = _create_file if entry["if_missing"] == "create_file" else _ensure_dirs
    created.extend(os.path.join(entry["beneath"], p) for p in make(anchor_fd, rel))
    return _open_beneath(anchor_fd, rel, os.O_PATH)


def open_rule_path(entry: dict[str, Any], created: list[str]) -> tuple[int | None, str | None]:
    """Open `entry`'s path with O_PATH. Returns (fd, None) or (None, why it was skipped).
    Never raises for a missing path: `fail` paths are checked by preflight()."""
    path, anchor = entry["path"], entry["beneath"]
    try:
        anchor_fd = os.open(anchor or path, os.O_PATH | os.O_CLOEXEC)
    except FileNotFoundError:
        return None, "missing"
    except OSError as exc:
        return None, exc.strerror or str(exc)
    if anchor is None:
        return anchor_fd, None
    rel = os.path.relpath(path, anchor)
    try:
        try:
            return _open_beneath(anchor_fd, rel, os.O_PATH), None
        except FileNotFoundError:
            fd = _open_missing(anchor_fd, entry, rel, created)
            return (fd, None) if fd is not None else (None, "missing")
    except OSError as exc:
        reasons = {errno.EXDEV: f"resolves outside {anchor}", errno.ELOOP: "a symlink loop or a magic link"}
        return None, reasons.get(exc.errno or 0, exc.strerror or str(exc))
    finally:
        os.close(anchor_fd)


def preflight(policy: dict[str, Any]) -> None:
    """Paths marked `if_missing: fail` must exist, and paths a call names for writing (create_*)
    must not be or pass through a symlink; with or without Landlock."""
    for entry in policy["landlock"]["fs"]:
        if entry["if_missing"] == "fail" and not os.path.exists(entry["path"]):
            _fail(f"{entry['path']}: required path is missing")
        if entry["if_missing"].startswith("create_"):
            refuse_symlinks(entry["path"], entry["beneath"])


def refuse_symlinks(path: str, anchor: str) -> None:
    """A call that may write `path` writes that path: were it (or a directory on the way to it
    below `anchor`) a symlink, the grant and the tool's own open would land on the link's target,
    say `hooklink -> .git/hooks/pre-commit`. Each component is opened without following it; the
    first symlink refuses the call. A missing component ends the check (it is created later)."""
    parts = [p for p in os.path.relpath(path, anchor).split("/") if p not in ("", ".")]
    try:
        anchor_fd = os.open(anchor, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return  # open_rule_path reports a missing or unusable anchor
    try:
        for depth in range(1, len(parts) + 1):
            prefix = "/".join(parts[:depth])
            try:
                fd = _open_beneath(anchor_fd, prefix, os.O_PATH | os.O_NOFOLLOW)
            except OSError:
                return  # missing, or not a directory on the way: nothing to follow
            try:
                is_link = stat.S_ISLNK(os.fstat(fd).st_mode)
            finally:
                os.close(fd)
            if is_link:
                where = os.path.join(anchor, prefix)
                what = "is a symlink" if depth == len(parts) else f"is below the symlink {where}"
                _fail(f"write path {path} {what}; this call may write that path only, not what a link points to")
    finally:
        os.close(anchor_fd)


def _plan(policy: dict[str, Any], report: dict[str, Any]) -> tuple[int, int, int, int]:
    """Pick the ABI and the handled rights; fills the report. Returns (abi, fs, net, scope) bits."""
    ll = policy["landlock"]
    abi = kernel_abi()
    report["landlock_abi"] = abi
    if abi is None:
        _fail("Landlock is not supported or not enabled by this kernel")
    use = min(abi, MAX_KNOWN_ABI, ll["max_abi"] or MAX_KNOWN_ABI)
    report["abi_used"] = use
    if policy["require_landlock"] and use < ll["min_abi"]:
        _fail(f"Landlock ABI {use} is below the required minimum {ll['min_abi']}")
    fs_bits = handled_fs(use)
    net_bits = mask(NET_ACCESS, tuple(NET_ACCESS), use) if ll["net"] is not None else 0
    scope_bits = mask(SCOPES, ll["scope"], use)
    report["handled_fs"] = [n for n, (bit, _) in FS_ACCESS.items() if fs_bits & bit]
    report["handled_net"] = [n for n, (bit, _) in NET_ACCESS.items() if net_bits & bit]
    report["scoped"] = [n for n, (bit, _) in SCOPES.items() if scope_bits & bit]
    unenforced = [name for name, since in _WEAKER_BELOW if use < since]
    if ll["net"] is not None and use < 4:
        unenforced.append("net")
    if ll["scope"] and use < 6:
        unenforced.append("scope")
    report["unenforced"] = unenforced
    return use, fs_bits, net_bits, scope_bits


def _add_rule(ruleset_fd: int, rule_type: int, attr: Any) -> None:
    _syscall(
        SYS_LANDLOCK_ADD_RULE, ctypes.c_int(ruleset_fd), ctypes.c_int(rule_type), ctypes.byref(attr), ctypes.c_uint32(0)
    )


def _add_fs_rule(ruleset_fd: int, entry: dict[str, Any], abi: int, fs_bits: int, report: dict[str, Any]) -> bool:
    fd, why = open_rule_path(entry, report["created"])
    if fd is None:
        report["skipped"].append({"path": entry["path"], "reason": why})
        return False
    try:
        is_dir = stat.S_ISDIR(os.fstat(fd).st_mode)
        if (entry["expect"] == "file" and is_dir) or (entry["expect"] == "dir" and not is_dir):
            why = f"not a {entry['expect']}"
        else:
            names = entry["access"] if is_dir else [a for a in entry["access"] if a in FILE_RIGHTS]
            allowed = mask(FS_ACCESS, names, abi) & fs_bits
            if allowed:
                _add_rule(ruleset_fd, LANDLOCK_RULE_PATH_BENEATH, _PathBeneathAttr(allowed, fd))
                return True
            why = "no handled right applies to it"
    finally:
        os.close(fd)
    report["skipped"].append({"path": entry["path"], "reason": why})
    return False


def apply_landlock(policy: dict[str, Any], report: dict[str, Any]) -> None:
    """Build and enforce the ruleset; fills `report`. Raises LauncherError or OSError."""
    ll = policy["landlock"]
    abi, fs_bits, net_bits, scope_bits = _plan(policy, report)
    attr = _RulesetAttr(fs_bits, net_bits, scope_bits)
    size = 8 if abi < 4 else 16 if abi < 6 else 24
    ruleset_fd = _syscall(SYS_LANDLOCK_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    try:
        rules = sum(_add_fs_rule(ruleset_fd, entry, abi, fs_bits, report) for entry in ll["fs"])
        if net_bits:
            ports: dict[int, int] = {}
            for key in ("bind_tcp", "connect_tcp"):
                for port in ll["net"][key]:
                    ports[port] = ports.get(port, 0) | NET_ACCESS[key][0]
            for port, bits in sorted(ports.items()):
                _add_rule(ruleset_fd, LANDLOCK_RULE_NET_PORT, _NetPortAttr(bits, port))
                rules += 1
        report["rules"] = rules
        _syscall(SYS_LANDLOCK_RESTRICT_SELF, ctypes.c_int(ruleset_fd), ctypes.c_uint32(0))
    finally:
        os.close(ruleset_fd)
    report["enforced"] = True
    report["status"] = "partially_enforced" if report["unenforced"] else "fully_enforced"


# --- main ------------------------------------------------------------------------------------------


def _say(message: str) -> None:
    line = " ".join(str(message).split())
    with contextlib.suppress(OSError):
        os.write(2, f"sbx-launcher: {line}\n".encode(errors="replace"))


def _new_report() -> dict[str, Any]:
    return {
        "version": REPORT_VERSION,
        "enforced": False,
        "status": "not_enforced",
        "landlock_abi": None,
        "abi_used": None,
        "no_new_privs": False,
        "handled_fs": [],
        "handled_net": [],
        "scoped": [],
        "unenforced": [],
        "rules": 0,
        "skipped": [],
        "created": [],
        "error": None,
    }


def _write_report(fd: int | None, report: dict[str, Any]) -> None:
    if fd is None:
        return
    data = (json.dumps(report, separators=(",", ":"), sort_keys=True) + "\n").encode()
    while data:  # the file was opened with O_TRUNC and is written once
        data = data[os.write(fd, data) :]


def _read_policy(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as handle:
            raw = handle.read(4 << 20)
    except OSError as exc:
        _fail(f"cannot read policy {path}: {exc.strerror or exc}")
    return parse_policy(raw)


def _exec(argv: list[str]) -> NoReturn:
    # Python ignores SIGPIPE and SIGXFSZ; an ignored disposition survives exec, a handler does not.
    for name in ("SIGPIPE", "SIGXFSZ"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_DFL)
    try:
        os.execvp(argv[0], argv)  # noqa: S606 - exec-ing the tool is the launcher's job
    except (FileNotFoundError, NotADirectoryError):
        _say(f"{argv[0]}: command not found")
        os._exit(EXIT_NOT_FOUND)
    except OSError as exc:
        _say(f"{argv[0]}: cannot execute: {exc.strerror or exc}")
        os._exit(EXIT_NOT_EXECUTABLE)


MAX_CALL_BYTES = 16 << 20


def _read_call(idle_s: int) -> bytes:
    """The call's line from standard input; SIGALRM's default action ends the wait at the deadline."""
    signal.alarm(idle_s)
    data = b""
    while b"\n" not in data:
        try:
            chunk = os.read(0, 1 << 16)
        except OSError as exc:
            _fail(f"cannot read the call: {exc.strerror or exc}")
        if not chunk:
            _fail("standard input closed before a call came")
        data += chunk
        if len(data) > MAX_CALL_BYTES:
            _fail(f"the call is larger than {MAX_CALL_BYTES} bytes")
    signal.alarm(0)
    return data.split(b"\n", 1)[0]


def parse_call(raw: bytes) -> tuple[dict[str, Any], list[str]]:
    """Validate a served call: its policy (as `parse_policy` does) and the tool's argv."""
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        _fail(f"the call is not valid JSON: {exc}")
    if not isinstance(doc, dict):
        _fail("the call must be a JSON object")
    if doc.get("version") != POLICY_VERSION or isinstance(doc.get("version"), bool):
        _fail(f"unsupported call version {doc.get('version')!r} (this launcher reads version {POLICY_VERSION})")
    _keys(doc, "call", ("version", "policy", "argv"))
    argv = doc["argv"]
    if not isinstance(argv, list) or not argv or not all(isinstance(a, str) and "\0" not in a for a in argv):
        _fail("call.argv must be a non-empty list of strings without NUL")
    return parse_policy(json.dumps(doc["policy"]).encode()), argv


def _stdin_from_null() -> None:
    fd = os.open("/dev/null", os.O_RDONLY)
    if fd != 0:
        os.dup2(fd, 0)
        os.close(fd)


def serve(idle_s: int) -> NoReturn:
    """Wait for the call on standard input, then confine and exec exactly as `run` does."""
    try:
        line = _read_call(idle_s)
        started = time.monotonic()
        policy, argv = parse_call(line)
        _stdin_from_null()
    except LauncherError as exc:
        _say(str(exc))
        os._exit(EXIT_LAUNCHER)
    confine_and_exec(policy, argv, started)


def run(policy_path: str, argv: list[str]) -> NoReturn:
    started = time.monotonic()
    try:
        policy = _read_policy(policy_path)
    except LauncherError as exc:
        _say(str(exc))
        os._exit(EXIT_LAUNCHER)
    confine_and_exec(policy, argv, started)


def confine_and_exec(policy: dict[str, Any], argv: list[str], started: float) -> NoReturn:
    report = _new_report()
    report_fd: int | None = None
    try:
        if policy["report_path"] is not None:
            try:
                report_fd = os.open(
                    policy["report_path"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644
                )
            except OSError as exc:
                _fail(f"cannot open report {policy['report_path']}: {exc.strerror or exc}")
        preflight(policy)
        if policy["egress_relay"] is not None:
            start_egress_relay(policy["egress_relay"])
        if policy["no_new_privs"]:
            try:
                _prctl(PR_SET_NO_NEW_PRIVS, 1)
            except OSError as exc:
                _fail(f"cannot set no_new_privs: {exc.strerror or exc}")
        try:
            report["no_new_privs"] = _prctl(PR_GET_NO_NEW_PRIVS) == 1
        except OSError:
            report["no_new_privs"] = False
        try:
            apply_landlock(policy, report)
        except (LauncherError, OSError) as exc:
            message = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            if policy["require_landlock"]:
                _fail(f"Landlock required but not enforced: {message}")
            report["error"] = message  # not required: run without Landlock, and say so
        report["seconds"] = round(time.monotonic() - started, 6)
        try:
            _write_report(report_fd, report)
        except OSError as exc:
            report_fd = None
            _fail(f"cannot write report: {exc.strerror or exc}")
    except LauncherError as exc:
        report["error"] = str(exc)
        if report_fd is not None:
            with contextlib.suppress(OSError):
                _write_report(report_fd, report)
        _say(str(exc))
        os._exit(EXIT_LAUNCHER)
    if report_fd is not None:
        os.close(report_fd)
    _exec(argv)


def main(args: list[str]) -> int:
    if len(args) == 2 and args[0] == "--check":
        try:
            _read_policy(args[1])
        except LauncherError as exc:
            _say(str(exc))
            return EXIT_LAUNCHER
        return 0
    if len(args) == 2 and args[0] == "--serve":
        if not args[1].isdigit() or int(args[1]) < 1:
            _say(f"--serve needs a whole number of seconds, not {args[1]!r}")
            return EXIT_LAUNCHER
        serve(int(args[1]))
    if len(args) < 3 or args[1] != "--" or args[0].startswith("-"):
        _say("usage: launcher.py --serve IDLE_SECONDS | launcher.py POLICY_JSON_PATH -- COMMAND [ARG...] | "
             "launcher.py --check POLICY_JSON_PATH")
        return EXIT_LAUNCHER
    run(args[0], args[2:])


def entrypoint() -> NoReturn:
    try:
        code = main(sys.argv[1:])
    except Exception as exc:  # noqa: BLE001 - never let a traceback's exit 1 pass for the tool's
        _say(f"internal error: {type(exc).__name__}: {exc}")
        os._exit(EXIT_LAUNCHER)
    sys.exit(code)


if __name__ == "__main__":
    entrypoint()
