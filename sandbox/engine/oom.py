"""Did the kernel's OOM killer kill a process of this container?

The engines' own answer (`State.OOMKilled`) is not reliable: with runc on a cgroup v1 hybrid host
(Podman 4.3.1 here), a python3 killed by the container's memory cgroup leaves exit 137 and
`OOMKilled: false`. The kernel reports every OOM kill with the memory cgroup it happened in
(`oom-kill:constraint=CONSTRAINT_MEMCG,...,oom_memcg=/libpod_parent/libpod-<id>,task_memcg=...`),
and every engine puts the container's full id in that path (`/libpod_parent/libpod-<id>`,
`/machine.slice/libpod-<id>.scope`, `/docker/<id>`), so the kernel log answers for exactly this
container whatever its exit code says (a shell whose child was killed may still exit 0).

Reading the kernel log needs CAP_SYSLOG (or `kernel.dmesg_restrict=0`): where it is refused
(rootless), only the engine's answer is left, and `killed_by_oom` says no.
"""

from __future__ import annotations

import ctypes
import re

_SYSLOG_ACTION_READ_ALL = 3
_SYSLOG_ACTION_SIZE_BUFFER = 10
_MIN_ID_LENGTH = 12  # shorter ids could match an unrelated cgroup's name
_MEMCG = re.compile(rb"\b(?:oom_memcg|task_memcg)=([^,\s]+)")

_libc = ctypes.CDLL(None, use_errno=True)


def kernel_log() -> bytes:
    """The kernel's log buffer as `dmesg` reads it; empty when this process may not read it."""
    size = _libc.klogctl(_SYSLOG_ACTION_SIZE_BUFFER, None, 0)
    if size <= 0:
        return b""
    buffer = ctypes.create_string_buffer(size)
    length = _libc.klogctl(_SYSLOG_ACTION_READ_ALL, buffer, size)
    return buffer.raw[:length] if length > 0 else b""


def oom_kills_in(log: bytes, container_id: str) -> int:
    """How many OOM kills the kernel log reports in the memory cgroup of `container_id`."""
    if len(container_id) < _MIN_ID_LENGTH or not container_id.isalnum():
        return 0
    wanted = container_id.encode()
    if wanted not in log:  # the common case, found at C speed
        return 0
    count = 0
    for line in log.splitlines():
        if b"oom-kill:" not in line:
            continue
        if any(wanted in match.group(1) for match in _MEMCG.finditer(line)):
            count += 1
    return count


def killed_by_oom(container_id: str) -> bool:
    """True when the kernel reports an OOM kill inside this container's memory cgroup."""
    return oom_kills_in(kernel_log(), container_id) > 0
