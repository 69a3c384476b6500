"""Compile named syscall groups into an OCI seccomp profile (pure, golden-tested).

The output is the `linux.seccomp` object of the OCI runtime spec, which is also the file format of
`podman run --security-opt seccomp=FILE`: default action `SCMP_ACT_ERRNO` (EPERM), the host's
architectures, then

1. one unconditional `SCMP_ACT_ALLOW` entry with every plain name of the requested groups,
2. one `SCMP_ACT_ALLOW` entry per argument filter (clone without namespace flags, socket by
   address family, personality query, ioctl except TIOCSTI),
3. `clone3` -> `SCMP_ACT_ERRNO` with ENOSYS, so libc falls back to the filterable clone(2).

Names from `ALWAYS_DENIED` are removed whatever asked for them (reported in `dropped`). Every name
is checked with libseccomp for the target architecture; an unknown one is a `PolicyError`
(`policy.unknown_syscall`). Syscalls newer than the newest one named here get ENOSYS from runc
(its filter patch), not EPERM, so libc fallbacks for new syscalls keep working.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sandbox.digests import digest
from sandbox.errors import PolicyError
from sandbox.policy import syscalls
from sandbox.policy.syscall_groups import (
    ALWAYS_DENIED,
    CONDITIONAL,
    CONDITIONAL_DEFAULT_GROUP,
    EPERM,
    ERRNO_RULES,
    GROUPS,
    REQUIRED_GROUPS,
    ArgRule,
)

JsonDict = dict[str, Any]

ACT_ALLOW = "SCMP_ACT_ALLOW"
ACT_ERRNO = "SCMP_ACT_ERRNO"


@dataclass(frozen=True)
class SeccompProfile:
    """A compiled profile. `profile` is the OCI JSON object; `digest` is `sha256:` + the hex
    digest of its canonical JSON (sorted keys, no whitespace), for the `protections` record."""

    arch: str
    groups: tuple[str, ...]  # effective groups, required ones included, sorted
    allowed: tuple[str, ...]  # every name allowed in some form (plain or filtered), sorted
    dropped: tuple[str, ...]  # always-denied names that were asked for and removed, sorted
    profile: JsonDict
    digest: str

    def to_json(self) -> str:
        """The profile as a file for `podman --security-opt seccomp=FILE` (stable formatting)."""
        return json.dumps(self.profile, indent=2, sort_keys=False) + "\n"


def check_syscall_names(names: Iterable[str], arch: str | None = None) -> list[str]:
    """The names libseccomp does not know for `arch` (default: the host's), in input order."""
    return syscalls.check_syscall_names(names, arch)


def _rule_json(rule: ArgRule) -> JsonDict:
    return {
        "names": [rule.name],
        "action": ACT_ALLOW,
        "args": [{"index": a.index, "value": a.value, "valueTwo": a.value_two, "op": a.op} for a in rule.args],
    }


def compile_seccomp(
    groups: Iterable[str],
    *,
    extra_syscalls: Iterable[str] = (),
    arch: str | None = None,
) -> SeccompProfile:
    """Compile `groups` (plus the required ones) and `extra_syscalls` into an OCI profile for
    `arch` (default: the host's architecture).

    Raises `PolicyError` with code `policy.unknown_syscall_group`, `policy.unknown_syscall` or
    `policy.unsupported_arch`.
    """
    target = syscalls.check_arch(arch or syscalls.host_arch())
    requested = list(dict.fromkeys([*REQUIRED_GROUPS, *groups]))
    unknown_groups = [g for g in requested if g not in GROUPS]
    if unknown_groups:
        raise PolicyError(
            f"unknown syscall group {unknown_groups[0]!r} (known: {', '.join(GROUPS)})",
            code="policy.unknown_syscall_group",
        )
    extras = list(dict.fromkeys(extra_syscalls))
    unknown = syscalls.check_syscall_names(extras, target)
    if unknown:
        raise PolicyError(
            f"unknown syscall {unknown[0]!r}: libseccomp does not know it for {target}",
            code="policy.unknown_syscall",
        )

    effective = set(requested)
    plain: set[str] = set()
    rules: set[ArgRule] = set()
    for name in extras:
        if name in CONDITIONAL:
            # A plain request gets the filtered form, never an unconditional allow.
            effective.add(CONDITIONAL_DEFAULT_GROUP[name])
        else:
            plain.add(name)
    for group_name in sorted(effective):
        group = GROUPS[group_name]
        plain |= group.names
        rules.update(group.rules)

    # Group contents are data: validate them too (catches an older libseccomp on the host).
    unknown = syscalls.check_syscall_names(sorted(plain | {r.name for r in rules}), target)
    if unknown:
        raise PolicyError(
            f"unknown syscall {unknown[0]!r} in the syscall groups: libseccomp on this host does not know it",
            code="policy.unknown_syscall",
        )

    dropped = sorted((plain | {r.name for r in rules}) & ALWAYS_DENIED)
    plain -= ALWAYS_DENIED
    plain -= CONDITIONAL  # defensive: groups never list them plainly
    kept_rules = sorted(r for r in rules if r.name not in ALWAYS_DENIED)

    entries: list[JsonDict] = [{"names": sorted(plain), "action": ACT_ALLOW}]
    entries.extend(_rule_json(r) for r in kept_rules)
    entries.extend({"names": [name], "action": ACT_ERRNO, "errnoRet": errno_ret} for name, errno_ret in ERRNO_RULES)
    profile: JsonDict = {
        "defaultAction": ACT_ERRNO,
        "defaultErrnoRet": EPERM,
        "architectures": list(syscalls.ARCHITECTURES[target]),
        "syscalls": entries,
    }
    allowed = sorted(plain | {r.name for r in kept_rules})
    return SeccompProfile(
        arch=target,
        groups=tuple(sorted(effective)),
        allowed=tuple(allowed),
        dropped=tuple(dropped),
        profile=profile,
        digest=digest(profile),
    )
