"""Test helper: load an OCI seccomp profile the way runc does, then exec a command.

    python oci_seccomp_loader.py PROFILE.json -- COMMAND [ARG...]

Mirrors runc's libcontainer/seccomp: names libseccomp does not know are skipped, rules whose
action equals the default action are skipped, each `args` comparison list is one conditional rule.
Not part of sbx: it only lets unit tests prove a compiled profile loads and what it allows,
without podman. (runc also returns ENOSYS for syscalls newer than any named in the profile;
this loader does not, which only makes it stricter.)
"""

from __future__ import annotations

import errno
import json
import os
import sys
from typing import Any

import pyseccomp as seccomp

ARCHES = {
    "SCMP_ARCH_X86_64": seccomp.Arch.X86_64,
    "SCMP_ARCH_X86": seccomp.Arch.X86,
    "SCMP_ARCH_X32": seccomp.Arch.X32,
    "SCMP_ARCH_AARCH64": seccomp.Arch.AARCH64,
    "SCMP_ARCH_ARM": seccomp.Arch.ARM,
}
OPS = {
    "SCMP_CMP_NE": seccomp.NE,
    "SCMP_CMP_LT": seccomp.LT,
    "SCMP_CMP_LE": seccomp.LE,
    "SCMP_CMP_EQ": seccomp.EQ,
    "SCMP_CMP_GE": seccomp.GE,
    "SCMP_CMP_GT": seccomp.GT,
    "SCMP_CMP_MASKED_EQ": seccomp.MASKED_EQ,
}


def action(name: str, errno_ret: int | None) -> int:
    if name == "SCMP_ACT_ALLOW":
        return int(seccomp.ALLOW)
    if name == "SCMP_ACT_ERRNO":
        return int(seccomp.ERRNO(errno.EPERM if errno_ret is None else errno_ret))
    raise SystemExit(f"loader: unsupported action {name}")


def build(profile: dict[str, Any]) -> seccomp.SyscallFilter:
    default = action(profile["defaultAction"], profile.get("defaultErrnoRet"))
    flt = seccomp.SyscallFilter(default)
    native = seccomp.system_arch()
    for arch in profile.get("architectures", []):
        if ARCHES[arch] != native and not flt.exist_arch(ARCHES[arch]):
            flt.add_arch(ARCHES[arch])
    for entry in profile["syscalls"]:
        act = action(entry["action"], entry.get("errnoRet"))
        if act == default:
            continue
        args = [seccomp.Arg(a["index"], OPS[a["op"]], a["value"], a.get("valueTwo", 0)) for a in entry.get("args", [])]
        for name in entry["names"]:
            if seccomp.resolve_syscall(seccomp.Arch.NATIVE, name) == -1:
                continue
            flt.add_rule(act, name, *args)
    return flt


def main() -> None:
    path, sep, *argv = sys.argv[1:]
    assert sep == "--" and argv
    with open(path) as handle:
        flt = build(json.load(handle))
    flt.load()
    os.execvp(argv[0], argv)  # noqa: S606 - a stand-in for runc's exec of the container process


if __name__ == "__main__":
    main()
