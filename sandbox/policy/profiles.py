"""Loading `profiles/`: the base policy and one TOML file per tool, checked key by key.

Errors name the file, the line and the key (tomllib gives no positions, so the line is found by
looking for the key under its table in the text). Lists in a tool file extend the base's lists;
scalars replace them. The result is plain frozen data: `Needs` (what a tool may do) and a `Tool`.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox.destinations import static_refusal
from sandbox.errors import PolicyError
from sandbox.tools import ACCESS_MODES, SCHEMA_KEYS, Tool

UNITS = {"": 1, "B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}

# table -> key -> expected python type(s). `None` table = top level.
SECTIONS: dict[str, dict[str, tuple[type, ...]]] = {
    "limits": {"memory": (str, int), "pids": (int,), "cpus": (float, int), "timeout": (int, float),
               "output": (str, int), "changes": (str, int), "change_bytes": (str, int), "change_inodes": (int,),
               "pending_bytes": (str, int), "pending_inodes": (int,)},
    "filesystem": {"exec": (list,), "read": (list,), "write": (list,), "scratch": (list,), "devices": (list,),
                   "workspace": (str,)},
    "syscalls": {"groups": (list,), "extra": (list,)},
    "network": {"mode": (str,), "hosts": (list,), "hosts_from_args": (list,), "allow_private_destinations": (bool,)},
    "container": {"read_only_root": (bool,), "tmpfs": (str, int), "capabilities": (list,), "landlock": (str,)},
}
TOP_KEYS = {"version": (int,), "name": (str,), "description": (str,), "image": (str,), "argv": (list,),
        "args": (dict,), "examples": (list,)}
_CHOICES = {
    ("filesystem", "workspace"): ("none", "read", "write"),
    ("network", "mode"): ("none", "proxy"),
    ("container", "landlock"): ("required", "best_effort"),
}
CAPABILITIES = frozenset({"CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID",
                          "SETUID", "SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "AUDIT_WRITE"})


@dataclass(frozen=True)
class Needs:
    """Everything a tool may do, merged from base + tool. Sizes in bytes, times in seconds."""

    memory: int = 512 << 20
    pids: int = 256
    cpus: float = 1.0
    timeout: float = 60.0
    output: int = 1 << 20
    changes: int = 1 << 30
    change_bytes: int = 1 << 30
    change_inodes: int = 100_000
    pending_bytes: int = 4 << 30
    pending_inodes: int = 250_000
    exec_roots: tuple[str, ...] = ()
    read_roots: tuple[str, ...] = ()
    write_roots: tuple[str, ...] = ()
    scratch_roots: tuple[str, ...] = ()
    devices: tuple[str, ...] = ()
    workspace: str = "none"
    groups: tuple[str, ...] = ()
    extra_syscalls: tuple[str, ...] = ()
    network: str = "none"
    hosts: tuple[str, ...] = ()
    hosts_from_args: tuple[str, ...] = ()
    allow_private_destinations: bool = False  # may reach the host itself and private networks
    read_only_root: bool = True
    tmpfs: int = 64 << 20
    capabilities: tuple[str, ...] = ()
    landlock: str = "required"


@dataclass(frozen=True)
class Example:
    args: Mapping[str, Any]
    expect: str  # "allow" | "deny"


@dataclass(frozen=True)
class ToolProfile:
    tool: Tool
    needs: Needs
    source: Path
    examples: tuple[Example, ...] = ()
    warnings: tuple[str, ...] = field(default=())

    def summary(self) -> str:
        """One line: what a call of this tool may touch."""
        paths = ", ".join(f"{access} {arg}" for arg, access in self.tool.path_access().items())
        where = {"write": "read+write workspace", "read": "read workspace"}.get(self.needs.workspace)
        net = "no network" if self.needs.network == "none" else "egress via proxy"
        if self.needs.network != "none" and self.needs.allow_private_destinations:
            net += " (private destinations allowed)"
        return f"{where or paths or 'no workspace'}; {net}"


def _line_of(text: str, table: str | None, key: str) -> int:
    """Best-effort line number of `key` under `[table]` (1-based; 0 when not found)."""
    lines = text.splitlines()
    start = 0
    if table:
        header = re.compile(r"^\s*\[+\s*" + re.escape(table) + r"\s*\]+")
        start = next((i for i, line in enumerate(lines) if header.match(line)), 0)
    pattern = re.compile(r"^\s*" + re.escape(key) + r"\s*=")
    for index in range(start, len(lines)):
        if pattern.match(lines[index]) or (index > start and re.match(r"^\s*\[+\s*" + re.escape(key), lines[index])):
            return index + 1
    return start + 1 if table else 0


class _Reader:
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.text = path.read_text()
        except OSError as exc:
            raise PolicyError(f"{path}: cannot read: {exc.strerror}", code="policy.unreadable") from None
        try:
            self.data = tomllib.loads(self.text)
        except tomllib.TOMLDecodeError as exc:
            raise PolicyError(f"{path}: {exc}", code="policy.syntax") from None

    def error(self, table: str | None, key: str, message: str, code: str) -> PolicyError:
        where = f"[{table}] " if table else ""
        return PolicyError(f"{self.path}:{_line_of(self.text, table, key)}: {where}{key}: {message}", code=code)

    def check_shape(self, *, is_base: bool) -> None:
        for key, value in self.data.items():
            if key in SECTIONS:
                if not isinstance(value, dict):
                    raise self.error(None, key, "must be a table", "policy.invalid_value")
                self._check_section(key, value)
            elif key not in TOP_KEYS or (is_base and key not in ("version",)):
                raise self.error(None, key, "unknown key", "policy.unknown_key")
            elif not isinstance(value, TOP_KEYS[key]):
                raise self.error(None, key, f"must be a {TOP_KEYS[key][0].__name__}", "policy.invalid_value")
        if self.data.get("version", 1) != 1:
            raise self.error(None, "version", "only version 1 exists", "policy.invalid_value")

    def _check_section(self, table: str, values: Mapping[str, Any]) -> None:
        for key, value in values.items():
            expected = SECTIONS[table].get(key)
            if expected is None:
                raise self.error(table, key, "unknown key", "policy.unknown_key")
            if (isinstance(value, bool) and bool not in expected) or not isinstance(value, expected):
                raise self.error(table, key, f"must be a {expected[0].__name__}", "policy.invalid_value")
            if isinstance(value, list) and not all(isinstance(item, str) for item in value):
                raise self.error(table, key, "must be a list of strings", "policy.invalid_value")
            choices = _CHOICES.get((table, key))
            if choices and value not in choices:
                raise self.error(table, key, f"must be one of {', '.join(choices)}", "policy.invalid_value")


def parse_size(value: str | int, where: str) -> int:
    if isinstance(value, int):
        return value
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMG]i?B?|B)?\s*", value)
    unit = (match.group(2) or "") if match else ""
    if not match or unit not in UNITS:
        raise PolicyError(f"{where}: {value!r} is not a size (use e.g. 512MiB)", code="policy.invalid_value")
    return int(float(match.group(1)) * UNITS[unit])


def _merge(base: Mapping[str, Any], tool: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    merged: dict[str, dict[str, Any]] = {}
    for table in SECTIONS:
        out = dict(base.get(table, {}))
        for key, value in tool.get(table, {}).items():
            out[key] = [*out.get(key, []), *value] if isinstance(value, list) else value
        merged[table] = out
    return merged


def _uniq(items: Any) -> tuple[str, ...]:
    return tuple(dict.fromkeys(str(item) for item in items))


# Sane bounds for limits: a value outside them is a mistake, not a policy (name -> (low, high)).
LIMIT_BOUNDS: dict[str, tuple[float, float]] = {
    "memory": (16 << 20, 64 << 30),
    "pids": (8, 1 << 20),
    "cpus": (0.01, 1024),
    "timeout": (0.1, 24 * 3600),
    "output": (1 << 10, 1 << 30),
    "changes": (1 << 20, 1 << 40),
    "change_bytes": (0, 1 << 50),
    "change_inodes": (0, 1 << 32),
    "pending_bytes": (0, 1 << 50),
    "pending_inodes": (0, 1 << 32),
    "tmpfs": (1 << 20, 16 << 30),
}


def _check_limits(reader: _Reader, needs: Needs) -> None:
    for name, (low, high) in LIMIT_BOUNDS.items():
        value = needs.tmpfs if name == "tmpfs" else getattr(needs, name)
        if not low <= value <= high:
            table = "container" if name == "tmpfs" else "limits"
            raise reader.error(table, name, f"{value:g} is out of range ({low:g} to {high:g})",
                               "policy.invalid_value")


def _needs(reader: _Reader, merged: Mapping[str, Mapping[str, Any]]) -> Needs:
    lim, fs, sc = merged["limits"], merged["filesystem"], merged["syscalls"]
    net, ctr = merged["network"], merged["container"]
    caps = _uniq(str(c).upper().removeprefix("CAP_") for c in ctr.get("capabilities", []))
    unknown_caps = [c for c in caps if c not in CAPABILITIES]
    if unknown_caps:
        raise reader.error("container", "capabilities", f"unknown or never-granted capability {unknown_caps[0]}",
                           "policy.invalid_value")
    return Needs(
        memory=parse_size(lim.get("memory", "512MiB"), f"{reader.path}: [limits] memory"),
        pids=int(lim.get("pids", 256)),
        cpus=float(lim.get("cpus", 1.0)),
        timeout=float(lim.get("timeout", 60)),
        output=parse_size(lim.get("output", "1MiB"), f"{reader.path}: [limits] output"),
        changes=parse_size(lim.get("changes", "1GiB"), f"{reader.path}: [limits] changes"),
        change_bytes=parse_size(lim.get("change_bytes", "1GiB"), f"{reader.path}: [limits] change_bytes"),
        change_inodes=int(lim.get("change_inodes", 100_000)),
        pending_bytes=parse_size(lim.get("pending_bytes", "4GiB"), f"{reader.path}: [limits] pending_bytes"),
        pending_inodes=int(lim.get("pending_inodes", 250_000)),
        exec_roots=_uniq(fs.get("exec", [])),
        read_roots=_uniq(fs.get("read", [])),
        write_roots=_uniq(fs.get("write", [])),
        scratch_roots=_uniq(fs.get("scratch", [])),
        devices=_uniq(fs.get("devices", [])),
        workspace=str(fs.get("workspace", "none")),
        groups=_uniq(sc.get("groups", [])),
        extra_syscalls=_uniq(sc.get("extra", [])),
        network=str(net.get("mode", "none")),
        hosts=_uniq(net.get("hosts", [])),
        hosts_from_args=_uniq(net.get("hosts_from_args", [])),
        allow_private_destinations=bool(net.get("allow_private_destinations", False)),
        read_only_root=bool(ctr.get("read_only_root", True)),
        tmpfs=parse_size(ctr.get("tmpfs", "64MiB"), f"{reader.path}: [container] tmpfs"),
        capabilities=caps,
        landlock=str(ctr.get("landlock", "required")),
    )


def _tool(reader: _Reader) -> Tool:
    data = reader.data
    for key in ("name", "description", "argv"):
        if key not in data:
            raise reader.error(None, key, "is required", "policy.missing_key")
    name = str(data["name"])
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,63}", name):
        raise reader.error(None, "name", "must be lowercase letters, digits and _", "policy.invalid_value")
    if reader.path.stem != name:
        raise reader.error(None, "name", f"must match the file name ({reader.path.stem})", "policy.invalid_value")
    args: dict[str, dict[str, Any]] = {}
    for arg, spec in data.get("args", {}).items():
        table = f"args.{arg}"
        if not isinstance(spec, dict):
            raise reader.error(None, arg, "must be a table", "policy.invalid_value")
        for key in spec:
            if key not in SCHEMA_KEYS and key != "access":
                raise reader.error(table, key, "unknown key", "policy.unknown_key")
        if spec.get("type", "string") not in ("string", "integer", "number", "boolean"):
            raise reader.error(table, "type", "must be string, integer, number or boolean", "policy.invalid_value")
        if "access" in spec and spec["access"] not in ACCESS_MODES:
            raise reader.error(table, "access", f"must be one of {', '.join(ACCESS_MODES)}", "policy.invalid_value")
        args[arg] = dict(spec)
    argv = [str(a) for a in data["argv"]]
    for element in argv:
        if "{" in element and not (element.startswith("{") and element.endswith("}") and element[1:-1] in args):
            raise reader.error(None, "argv", f"{element!r}: placeholders must be a whole element naming an argument",
                               "policy.invalid_value")
    return Tool(name=name, description=str(data["description"]), image=str(data.get("image", "default")),
                argv_template=tuple(argv), args=args)


def _examples(reader: _Reader, tool: Tool) -> tuple[Example, ...]:
    out = []
    for example in reader.data.get("examples", []):
        if not isinstance(example, dict) or set(example) - {"args", "expect"} or example.get("expect") not in (
            "allow",
            "deny",
        ):
            raise reader.error(None, "examples", 'each needs args = {...} and expect = "allow" | "deny"',
                               "policy.invalid_value")
        out.append(Example(args=dict(example.get("args", {})), expect=str(example["expect"])))
    return tuple(out)


def _warnings(tool: Tool, needs: Needs) -> tuple[str, ...]:
    found = []
    if needs.workspace == "write" and needs.network != "none":
        found.append("writes the whole workspace AND reaches the network: a path to exfiltration")
    if not needs.read_only_root:
        found.append("the root filesystem is writable (thrown away with the container)")
    if needs.capabilities:
        found.append(f"keeps capabilities: {', '.join(needs.capabilities)}")
    if needs.allow_private_destinations and needs.network != "none":
        found.append("allow_private_destinations: its egress may reach this machine's own services (localhost), "
                     "cloud metadata (169.254.169.254) and private networks")
    if needs.landlock != "required":
        found.append("Landlock is best-effort: the tool runs even where Landlock is unavailable")
    if needs.workspace == "write" and tool.path_access():
        found.append("grants the whole workspace although it has path arguments that could narrow it")
    return tuple(found)


def endpoint_host(entry: str) -> str:
    """The host of an allowlist entry: "host", "host:port" or "[v6]:port" (a bare v6 address too)."""
    if entry.startswith("["):
        return entry[1:].partition("]")[0]
    return entry.partition(":")[0] if entry.count(":") == 1 else entry


def _validate_hosts(reader: _Reader, tool: Tool, needs: Needs) -> None:
    if needs.network == "none" and (needs.hosts or needs.hosts_from_args):
        raise reader.error("network", "hosts", 'hosts given but mode = "none"', "policy.contradiction")
    for host in needs.hosts if not needs.allow_private_destinations else ():
        why = static_refusal(endpoint_host(host))
        if why:
            raise reader.error("network", "hosts", f"{why}: egress never reaches this machine or private networks "
                               "(opt in with allow_private_destinations = true)", "policy.forbidden_destination")
    for arg in needs.hosts_from_args:
        if arg not in tool.args:
            raise reader.error("network", "hosts_from_args", f"no argument named {arg!r}", "policy.invalid_value")
    for root in needs.write_roots:
        if not (root == "/workspace" or root.startswith("/workspace/")):
            raise reader.error("filesystem", "write", f"{root} is outside the workspace (use scratch for "
                               "container-local dirs)", "policy.write_outside_workspace")


@dataclass(frozen=True)
class Profiles:
    directory: Path
    tools: Mapping[str, ToolProfile]

    def get(self, name: str) -> ToolProfile:
        try:
            return self.tools[name]
        except KeyError:
            raise PolicyError(f"unknown tool {name!r} (known: {', '.join(sorted(self.tools))})",
                              code="tool.unknown") from None


def load_profile(path: Path, base: _Reader) -> ToolProfile:
    reader = _Reader(path)
    reader.check_shape(is_base=False)
    tool = _tool(reader)
    needs = _needs(reader, _merge(base.data, reader.data))
    _check_limits(reader, needs)
    _validate_hosts(reader, tool, needs)
    return ToolProfile(tool=tool, needs=needs, source=path, examples=_examples(reader, tool),
                       warnings=_warnings(tool, needs))


def load_base(directory: Path) -> _Reader:
    base = _Reader(directory / "base.toml")
    base.check_shape(is_base=True)
    return base


def load_profiles(directory: Path, files: list[Path] | None = None) -> Profiles:
    """Every tool file in `directory` (or just `files`), each merged over base.toml."""
    if not (directory / "base.toml").is_file():
        raise PolicyError(f"{directory}: no base.toml (is this a profiles folder?)", code="policy.not_found")
    base = load_base(directory)
    paths = files if files is not None else sorted(p for p in directory.glob("*.toml") if p.name != "base.toml")
    tools: dict[str, ToolProfile] = {}
    for path in paths:
        if path.name == "base.toml":
            continue
        profile = load_profile(path, base)
        tools[profile.tool.name] = profile
    return Profiles(directory=directory, tools=tools)
