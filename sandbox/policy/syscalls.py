"""Syscall names through libseccomp: the only module of sbx that imports `pyseccomp`.

pyseccomp (a ctypes binding with the API of Debian's python3-seccomp) loads libseccomp when it is
imported, so the import happens on first use and its failures become a `PolicyError` here.
"""

from __future__ import annotations

import platform
import re
from collections.abc import Iterable
from functools import cache
from typing import Any

from sandbox.errors import PolicyError

# Architectures sbx compiles for: the host's native ABI plus the compat ABIs its kernel runs.
# (s390x, ppc64le, riscv64 are left out: s390x swaps clone's argument order, the others are untested.)
ARCHITECTURES: dict[str, tuple[str, ...]] = {
    "x86_64": ("SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"),
    "aarch64": ("SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"),
}

_MACHINE_ALIASES = {"amd64": "x86_64", "x64": "x86_64", "arm64": "aarch64"}
_NAME = re.compile(r"[a-z_][a-z0-9_]{0,63}")
_SCMP_ERROR = -1  # __NR_SCMP_ERROR: the name is unknown to libseccomp on every architecture


def host_arch() -> str:
    """The host's architecture in sbx's spelling (`x86_64`, `aarch64`)."""
    machine = platform.machine().lower()
    return _MACHINE_ALIASES.get(machine, machine)


def check_arch(arch: str) -> str:
    if arch not in ARCHITECTURES:
        raise PolicyError(
            f"unsupported architecture {arch!r} for seccomp profiles (supported: {', '.join(sorted(ARCHITECTURES))})",
            code="policy.unsupported_arch",
        )
    return arch


def _pyseccomp() -> Any:
    try:
        import pyseccomp
    except (ImportError, OSError) as exc:  # OSError: libseccomp.so missing or unloadable
        raise PolicyError(
            f"libseccomp is not available: {exc}",
            code="policy.libseccomp_unavailable",
            hint="install libseccomp2 (Debian: apt-get install libseccomp2) and the pyseccomp package",
        ) from exc
    return pyseccomp


@cache
def resolve(name: str, arch: str) -> int | None:
    """The syscall number of `name` on `arch`'s native ABI; a negative pseudo-number when
    libseccomp knows the name but `arch` lacks it (e.g. `socketcall` on x86_64); None when
    libseccomp does not know the name at all."""
    check_arch(arch)
    seccomp = _pyseccomp()
    scmp_arch = {"x86_64": seccomp.Arch.X86_64, "aarch64": seccomp.Arch.AARCH64}[arch]
    try:
        number = int(seccomp.resolve_syscall(scmp_arch, name))
    except (OSError, ValueError) as exc:
        raise PolicyError(f"libseccomp failed to resolve {name!r}: {exc}", code="policy.unknown_syscall") from exc
    return None if number == _SCMP_ERROR else number


def check_syscall_names(names: Iterable[str], arch: str | None = None) -> list[str]:
    """The names libseccomp does not know for `arch` (default: the host's), in input order."""
    target = check_arch(arch or host_arch())
    unknown: list[str] = []
    for name in names:
        if name in unknown:
            continue
        if not _NAME.fullmatch(name) or resolve(name, target) is None:
            unknown.append(name)
    return unknown
