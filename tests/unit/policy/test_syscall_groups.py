"""The syscall-group data obeys its own rules."""

from __future__ import annotations

import pytest

from sandbox.policy.syscall_groups import (
    ALWAYS_DENIED,
    CONDITIONAL,
    CONDITIONAL_DEFAULT_GROUP,
    ERRNO_RULES,
    GROUPS,
    REQUIRED_GROUPS,
)
from sandbox.policy.syscalls import ARCHITECTURES, check_syscall_names

# The and the brief's list, verbatim: always denied whatever a group says.
BRIEF_DENIED = {
    "mount",
    "umount2",
    "fsopen",
    "fsmount",
    "move_mount",
    "open_tree",
    "fsconfig",
    "fspick",
    "mount_setattr",
    "pivot_root",
    "chroot",
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "bpf",
    "perf_event_open",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "keyctl",
    "add_key",
    "request_key",
    "userfaultfd",
    "unshare",
    "setns",
    "open_by_handle_at",
    "name_to_handle_at",
    "reboot",
    "swapon",
    "swapoff",
    "iopl",
    "ioperm",
    "acct",
    "quotactl",
    "syslog",
    "lookup_dcookie",
    "_sysctl",
    "vhangup",
    "settimeofday",
    "clock_settime",
    "adjtimex",
}


def test_the_brief_list_is_always_denied() -> None:
    assert BRIEF_DENIED <= ALWAYS_DENIED


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_every_name_is_known_to_libseccomp(arch: str) -> None:
    names = set(ALWAYS_DENIED) | CONDITIONAL
    for group in GROUPS.values():
        names |= group.names | {r.name for r in group.rules}
    assert check_syscall_names(sorted(names), arch) == []


def test_no_group_names_an_always_denied_syscall() -> None:
    for group in GROUPS.values():
        assert not group.names & ALWAYS_DENIED, group.name
        assert not {r.name for r in group.rules} & ALWAYS_DENIED, group.name


def test_conditional_syscalls_are_never_plain_names() -> None:
    for group in GROUPS.values():
        assert not group.names & CONDITIONAL, group.name
        assert {r.name for r in group.rules} <= CONDITIONAL, group.name


def test_every_conditional_name_has_a_filtered_home() -> None:
    assert set(CONDITIONAL_DEFAULT_GROUP) == CONDITIONAL
    for name, group in CONDITIONAL_DEFAULT_GROUP.items():
        in_rules = any(r.name == name for r in GROUPS[group].rules)
        in_errno = any(n == name for n, _ in ERRNO_RULES)
        assert in_rules or in_errno, name


def test_required_groups_exist_and_groups_have_summaries() -> None:
    assert set(REQUIRED_GROUPS) <= set(GROUPS)
    for name, group in GROUPS.items():
        assert group.name == name
        assert len(group.summary) > 20


def test_launcher_needs_are_in_the_required_groups() -> None:
    required = set().union(*(GROUPS[g].names for g in REQUIRED_GROUPS))
    for name in (
        "execve",
        "openat",
        "landlock_create_ruleset",
        "landlock_add_rule",
        "landlock_restrict_self",
        "prctl",
        "openat2",
        "newfstatat",
        "getdents64",
        "rt_sigaction",
    ):
        assert name in required, name
