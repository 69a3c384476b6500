"""The seccomp compiler: validation, always-denied, argument filters, OCI shape, digest."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sandbox.digests import canonical_json
from sandbox.errors import PolicyError
from sandbox.policy.seccomp import check_syscall_names, compile_seccomp
from sandbox.policy.syscall_groups import (
    AF_INET,
    AF_UNIX,
    ALWAYS_DENIED,
    CLONE_NAMESPACE_FLAGS,
    CLONE_THREAD,
    GROUPS,
    TIOCSTI,
)

ARCH = "x86_64"

# The OCI runtime spec's LinuxSeccomp object (config-linux.md#seccomp).
OCI_TOP = {"defaultAction", "defaultErrnoRet", "architectures", "flags", "listenerPath", "listenerMetadata", "syscalls"}
OCI_SYSCALL = {"names", "action", "errnoRet", "args"}
OCI_ARG = {"index", "value", "valueTwo", "op"}
OCI_ACTIONS = {
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_TRAP",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_LOG",
    "SCMP_ACT_NOTIFY",
}
OCI_OPS = {
    "SCMP_CMP_NE",
    "SCMP_CMP_LT",
    "SCMP_CMP_LE",
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_MASKED_EQ",
}
OCI_ARCHES = {
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X86_64",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_ARM",
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_MIPS",
    "SCMP_ARCH_MIPS64",
    "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL",
    "SCMP_ARCH_MIPSEL64",
    "SCMP_ARCH_MIPSEL64N32",
    "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64",
    "SCMP_ARCH_PPC64LE",
    "SCMP_ARCH_S390",
    "SCMP_ARCH_S390X",
    "SCMP_ARCH_PARISC",
    "SCMP_ARCH_PARISC64",
    "SCMP_ARCH_RISCV64",
}
U64 = 2**64


def rules_for(profile: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [e for e in profile["syscalls"] if name in e["names"]]


def allows(profile: dict[str, Any], name: str, args: tuple[int, ...]) -> bool:
    """Evaluate the profile for one call the way libseccomp's filter does (no arch subtleties)."""
    for entry in rules_for(profile, name):
        ok = all(_cmp(a, args[a["index"]]) for a in entry.get("args", []))
        if ok:
            return bool(entry["action"] == "SCMP_ACT_ALLOW")
    return False


def _cmp(arg: dict[str, Any], value: int) -> bool:
    op = arg["op"]
    if op == "SCMP_CMP_MASKED_EQ":
        return bool((value & arg["value"]) == arg["valueTwo"])
    return bool({"SCMP_CMP_EQ": value == arg["value"], "SCMP_CMP_NE": value != arg["value"]}[op])


def test_oci_shape() -> None:
    for arch in ("x86_64", "aarch64"):
        profile = compile_seccomp(["network", "file_write", "process", "identity", "ipc_sysv"], arch=arch).profile
        assert set(profile) <= OCI_TOP
        assert profile["defaultAction"] == "SCMP_ACT_ERRNO"
        assert profile["defaultErrnoRet"] == 1
        assert set(profile["architectures"]) <= OCI_ARCHES
        for entry in profile["syscalls"]:
            assert set(entry) <= OCI_SYSCALL
            assert entry["action"] in OCI_ACTIONS
            assert entry["names"] and all(isinstance(n, str) for n in entry["names"])
            assert entry["names"] == sorted(set(entry["names"]))
            for arg in entry.get("args", []):
                assert set(arg) == OCI_ARG
                assert arg["op"] in OCI_OPS
                assert 0 <= arg["index"] <= 5
                assert 0 <= arg["value"] < U64 and 0 <= arg["valueTwo"] < U64
        json.dumps(profile)  # plain JSON


def test_architectures() -> None:
    assert compile_seccomp([], arch="x86_64").profile["architectures"] == [
        "SCMP_ARCH_X86_64",
        "SCMP_ARCH_X86",
        "SCMP_ARCH_X32",
    ]
    assert compile_seccomp([], arch="aarch64").profile["architectures"] == ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]
    with pytest.raises(PolicyError) as err:
        compile_seccomp([], arch="s390x")
    assert err.value.code == "policy.unsupported_arch"


def test_unknown_syscall_is_a_policy_error_naming_it() -> None:
    with pytest.raises(PolicyError) as err:
        compile_seccomp(["file_read"], extra_syscalls=["openat", "frobnicate"], arch=ARCH)
    assert err.value.code == "policy.unknown_syscall"
    assert "'frobnicate'" in err.value.message


def test_unknown_group_is_a_policy_error() -> None:
    with pytest.raises(PolicyError) as err:
        compile_seccomp(["file_read", "teleport"], arch=ARCH)
    assert err.value.code == "policy.unknown_syscall_group"
    assert "'teleport'" in err.value.message


def test_check_syscall_names() -> None:
    assert check_syscall_names(["read", "nope_nope", "write", "nope_nope", "", "Read", "x;y"], ARCH) == [
        "nope_nope",
        "",
        "Read",
        "x;y",
    ]
    assert check_syscall_names(["socketcall", "chown32"], ARCH) == []  # known, 32-bit x86 only


def test_always_denied_never_allowed_even_when_asked() -> None:
    asked = sorted(ALWAYS_DENIED)
    compiled = compile_seccomp(list(GROUPS), extra_syscalls=asked, arch=ARCH)
    assert compiled.dropped == tuple(asked)
    for entry in compiled.profile["syscalls"]:
        if entry["action"] == "SCMP_ACT_ALLOW":
            assert not set(entry["names"]) & ALWAYS_DENIED
    assert not set(compiled.allowed) & ALWAYS_DENIED


def test_a_plain_request_for_a_filtered_syscall_gets_the_filter() -> None:
    compiled = compile_seccomp([], extra_syscalls=["clone", "socket", "ioctl", "personality"], arch=ARCH)
    unconditional = compiled.profile["syscalls"][0]
    assert unconditional["action"] == "SCMP_ACT_ALLOW" and "args" not in unconditional
    for name in ("clone", "socket", "ioctl", "personality", "socketpair"):
        assert name not in unconditional["names"]
        assert all("args" in e for e in rules_for(compiled.profile, name) if e["action"] == "SCMP_ACT_ALLOW")
    assert "process" in compiled.groups and "ipc_unix" in compiled.groups


def test_socket_is_af_unix_only_without_network() -> None:
    profile = compile_seccomp(["ipc_unix"], arch=ARCH).profile
    assert allows(profile, "socket", (AF_UNIX, 1, 0))
    assert allows(profile, "socketpair", (AF_UNIX, 1, 0, 0))
    for family in (AF_INET, 10, 16, 17, 40, 38):
        assert not allows(profile, "socket", (family, 1, 0))
    # The kernel reads the family as an int: compare the low 32 bits, as the filter does.
    assert allows(profile, "socket", (AF_UNIX + (1 << 32), 1, 0))
    assert not allows(profile, "socket", (AF_INET + (1 << 32), 1, 0))
    assert "socketcall" not in compiled_names(profile)


def test_no_socket_at_all_without_ipc_or_network() -> None:
    profile = compile_seccomp(["file_write", "process"], arch=ARCH).profile
    assert not rules_for(profile, "socket")
    assert "connect" not in compiled_names(profile)


def test_network_allows_inet_families_but_not_raw_or_packet() -> None:
    profile = compile_seccomp(["network"], arch=ARCH).profile
    for family in (AF_UNIX, AF_INET, 10, 16):
        assert allows(profile, "socket", (family, 1, 0))
    for family in (17, 40, 38, 4):  # packet, vsock, alg, ipx
        assert not allows(profile, "socket", (family, 3, 0))
    assert "socketcall" in compiled_names(profile)


def compiled_names(profile: dict[str, Any]) -> set[str]:
    return set().union(*(set(e["names"]) for e in profile["syscalls"] if e["action"] == "SCMP_ACT_ALLOW"))


@given(st.integers(min_value=0, max_value=U64 - 1))
def test_ioctl_rules_allow_exactly_what_is_not_tiocsti(cmd: int) -> None:
    profile = compile_seccomp([], arch=ARCH).profile
    assert allows(profile, "ioctl", (0, cmd, 0)) == ((cmd & 0xFFFFFFFF) != TIOCSTI)


def test_ioctl_tiocsti_with_garbage_in_the_upper_half_is_denied() -> None:
    profile = compile_seccomp([], arch=ARCH).profile
    for high in (0, 1, 0xFFFFFFFF):
        assert not allows(profile, "ioctl", (0, (high << 32) | TIOCSTI, 0))
    assert allows(profile, "ioctl", (0, 0x5401, 0))  # TCGETS


@given(st.integers(min_value=0, max_value=U64 - 1))
def test_clone_never_allows_namespace_flags(flags: int) -> None:
    for groups in ([], ["process"]):
        profile = compile_seccomp(groups, arch=ARCH).profile
        if flags & CLONE_NAMESPACE_FLAGS:
            assert not allows(profile, "clone", (flags, 0, 0, 0, 0))


def test_clone_threads_in_base_processes_in_process() -> None:
    base = compile_seccomp([], arch=ARCH).profile
    thread_flags = 0x3D0F00  # glibc pthread_create: VM|FS|FILES|SIGHAND|THREAD|SYSVSEM|SETTLS|PARENT/CHILD_SETTID
    fork_flags = 0x01200011  # glibc fork: CHILD_SETTID|CHILD_CLEARTID|SIGCHLD
    assert thread_flags & CLONE_THREAD
    assert allows(base, "clone", (thread_flags, 0, 0, 0, 0))
    assert not allows(base, "clone", (fork_flags, 0, 0, 0, 0))
    process = compile_seccomp(["process"], arch=ARCH).profile
    assert allows(process, "clone", (fork_flags, 0, 0, 0, 0))
    assert not allows(process, "clone", (fork_flags | 0x10000000, 0, 0, 0, 0))  # CLONE_NEWUSER


def test_clone3_fails_with_enosys_so_libc_falls_back() -> None:
    profile = compile_seccomp(["process"], arch=ARCH).profile
    assert rules_for(profile, "clone3") == [{"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]


def test_personality_only_linux_and_query() -> None:
    profile = compile_seccomp([], arch=ARCH).profile
    assert allows(profile, "personality", (0,))
    assert allows(profile, "personality", (0xFFFFFFFF,))
    for persona in (
        0x0008,
        0x0040000,
        0x0020000,
        0x0800000,
    ):  # UNAME26, READ_IMPLIES_EXEC, ADDR_NO_RANDOMIZE, PER_LINUX32
        assert not allows(profile, "personality", (persona,))


def test_required_groups_are_always_in() -> None:
    compiled = compile_seccomp([], arch=ARCH)
    assert compiled.groups == ("base", "exec", "file_read")
    assert {"execve", "openat", "landlock_restrict_self"} <= set(compiled.allowed)
    assert "unlink" not in compiled.allowed
    assert "unlink" in compile_seccomp(["file_write"], arch=ARCH).allowed


def test_digest_is_sha256_of_canonical_json_and_stable() -> None:
    a = compile_seccomp(["process", "file_write"], arch=ARCH)
    b = compile_seccomp(["file_write", "process", "process"], arch=ARCH)
    assert a.profile == b.profile
    assert a.digest == b.digest == "sha256:" + hashlib.sha256(canonical_json(a.profile).encode()).hexdigest()
    assert a.digest != compile_seccomp(["network"], arch=ARCH).digest
    assert json.loads(a.to_json()) == a.profile


def test_compile_is_fast() -> None:
    import time

    compile_seccomp(["file_write"], arch=ARCH)
    start = time.perf_counter()
    for _ in range(20):
        compile_seccomp(["file_write", "process", "ipc_unix"], arch=ARCH)
    assert (time.perf_counter() - start) / 20 < 0.005
