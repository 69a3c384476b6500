"""Named syscall groups: the vocabulary a tool declaration uses to ask for kernel surface.

Pure data. `sandbox.policy.seccomp` turns a set of group names into an OCI seccomp allowlist.

Design rules, checked by tests:

* Every name is one libseccomp knows (it may not exist on every architecture: `socketcall`,
  `chown32` or `set_thread_area` only exist for 32-bit x86; runc skips such names where absent).
* No group names a syscall from `ALWAYS_DENIED`; the compiler strips them anyway.
* A syscall in `CONDITIONAL` never appears as a plain name: it is only ever allowed through an
  argument filter (`ArgRule`), because allowing it unconditionally would reopen what the filter
  closes (namespaces through clone, inet sockets, TIOCSTI, personality changes).
* Groups are generous about what everyday programs need (coreutils, find, grep, sed, tar, git,
  python3, and the launcher itself) and strict about everything in `ALWAYS_DENIED`.

Seccomp only narrows the *kernel surface*; *which files* a tool may touch is Landlock's job, so
`file_read` vs `file_write` separate syscalls that can only mutate the filesystem (unlink, rename,
chmod, ...) from those that look (open is in `file_read`: its flags are not a reliable signal).
"""

from __future__ import annotations

from dataclasses import dataclass

# Argument-comparison operators of the OCI runtime spec (and libseccomp).
CMP_NE = "SCMP_CMP_NE"
CMP_LT = "SCMP_CMP_LT"
CMP_LE = "SCMP_CMP_LE"
CMP_EQ = "SCMP_CMP_EQ"
CMP_GE = "SCMP_CMP_GE"
CMP_GT = "SCMP_CMP_GT"
CMP_MASKED_EQ = "SCMP_CMP_MASKED_EQ"

LOW32 = 0xFFFFFFFF

# Linux constants used by the argument filters.
AF_UNIX = 1
AF_INET = 2
AF_INET6 = 10
AF_NETLINK = 16
CLONE_THREAD = 0x00010000
# CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET (CLONE_NEWTIME overlaps the
# exit-signal byte of clone(2) and is only accepted by clone3/unshare, both denied).
CLONE_NAMESPACE_FLAGS = 0x7E020000
TIOCSTI = 0x5412
PER_LINUX = 0x0000
PER_QUERY = 0xFFFFFFFF
ENOSYS = 38
EPERM = 1


@dataclass(frozen=True, order=True)
class ArgCmp:
    """One comparison on a syscall argument. For `SCMP_CMP_MASKED_EQ`, `value` is the mask and
    `value_two` the datum: allowed when `(arg & value) == value_two`."""

    index: int
    op: str
    value: int
    value_two: int = 0


@dataclass(frozen=True, order=True)
class ArgRule:
    """Allow `name` only when every comparison in `args` holds (rules for one name are OR-ed)."""

    name: str
    args: tuple[ArgCmp, ...]


@dataclass(frozen=True)
class SyscallGroup:
    name: str
    summary: str
    names: frozenset[str]
    rules: tuple[ArgRule, ...] = ()


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


def _low32_eq(index: int, value: int) -> ArgCmp:
    """`(unsigned int) arg == value`: compares the low 32 bits only, as the kernel does for int
    arguments, so garbage in a register's upper half neither bypasses nor breaks the rule."""
    return ArgCmp(index, CMP_MASKED_EQ, LOW32, value)


def _low32_ne_rules(name: str, index: int, value: int) -> tuple[ArgRule, ...]:
    """Allow `name` when `(unsigned int) arg != value`, exactly.

    libseccomp has no masked not-equal and compares 64 bits, so `SCMP_CMP_NE` would let
    `0x1_00005412` through while the kernel (which reads the command as an unsigned int) runs
    TIOCSTI (the flatpak CVE-2019-10063 pattern). An unconditional allow plus a narrower deny
    does not work either: libseccomp drops conditional rules under an unconditional one. So: one
    rule per bit, "bit i differs from value's bit i"; their OR is exactly "low 32 bits differ".
    """
    return tuple(ArgRule(name, (ArgCmp(index, CMP_MASKED_EQ, 1 << bit, (~value) & (1 << bit)),)) for bit in range(32))


# --- groups -----------------------------------------------------------------------------------

_BASE = _words(
    """
    exit exit_group restart_syscall
    brk mmap mmap2 munmap mremap mprotect madvise mincore msync mlock mlock2 munlock mlockall munlockall
    membarrier pkey_alloc pkey_free pkey_mprotect
    arch_prctl set_thread_area get_thread_area set_tid_address set_robust_list get_robust_list rseq prctl
    futex futex_time64 futex_waitv
    sched_yield sched_getaffinity sched_setaffinity sched_getparam sched_getscheduler sched_getattr
    sched_get_priority_max sched_get_priority_min sched_rr_get_interval sched_rr_get_interval_time64 getcpu
    getpid getppid gettid getuid geteuid getgid getegid getresuid getresgid getgroups
    getuid32 geteuid32 getgid32 getegid32 getresuid32 getresgid32 getgroups32
    getpgrp getpgid getsid capget getpriority ioprio_get umask
    uname sysinfo getrandom getrlimit ugetrlimit setrlimit prlimit64 getrusage times
    time gettimeofday clock_gettime clock_gettime64 clock_getres clock_getres_time64
    clock_nanosleep clock_nanosleep_time64 nanosleep
    rt_sigaction rt_sigprocmask rt_sigreturn rt_sigsuspend rt_sigpending rt_sigtimedwait rt_sigtimedwait_time64
    rt_sigqueueinfo rt_tgsigqueueinfo sigaction sigprocmask sigreturn sigsuspend sigpending signal sigaltstack
    kill tkill tgkill pause alarm signalfd signalfd4
    setitimer getitimer timer_create timer_delete timer_settime timer_settime64 timer_gettime timer_gettime64
    timer_getoverrun timerfd_create timerfd_settime timerfd_settime64 timerfd_gettime timerfd_gettime64
    read write readv writev pread64 pwrite64 preadv pwritev preadv2 pwritev2
    close close_range dup dup2 dup3 fcntl fcntl64 lseek _llseek pipe pipe2 fstat fstat64
    poll ppoll ppoll_time64 select _newselect pselect6 pselect6_time64
    epoll_create epoll_create1 epoll_ctl epoll_wait epoll_pwait epoll_pwait2 eventfd eventfd2
    getcwd chdir fchdir memfd_create wait4 waitid waitpid
    seccomp landlock_create_ruleset landlock_add_rule landlock_restrict_self
    """
)

_FILE_READ = _words(
    """
    open openat openat2 access faccessat faccessat2
    stat lstat stat64 lstat64 newfstatat fstatat64 statx statfs statfs64 fstatfs fstatfs64
    readlink readlinkat getdents getdents64
    getxattr lgetxattr fgetxattr listxattr llistxattr flistxattr
    fadvise64 fadvise64_64 readahead sendfile sendfile64 splice tee flock
    inotify_init inotify_init1 inotify_add_watch inotify_rm_watch
    io_setup io_destroy io_submit io_cancel io_getevents io_pgetevents io_pgetevents_time64
    """
)

_FILE_WRITE = _words(
    """
    creat mkdir mkdirat rmdir unlink unlinkat rename renameat renameat2 link linkat symlink symlinkat
    chmod fchmod fchmodat chown fchown fchownat lchown chown32 fchown32 lchown32
    truncate truncate64 ftruncate ftruncate64 fallocate copy_file_range
    utime utimes utimensat utimensat_time64 futimesat
    setxattr lsetxattr fsetxattr removexattr lremovexattr fremovexattr
    fsync fdatasync sync syncfs sync_file_range sync_file_range2 mknod mknodat
    """
)

_EXEC = frozenset({"execve", "execveat"})

_PROCESS = _words(
    """
    fork vfork setpgid setsid setpriority sched_setparam sched_setscheduler sched_setattr ioprio_set
    pidfd_open pidfd_send_signal
    """
)

_IDENTITY = _words(
    """
    setuid setgid setreuid setregid setresuid setresgid setfsuid setfsgid setgroups
    setuid32 setgid32 setreuid32 setregid32 setresuid32 setresgid32 setfsuid32 setfsgid32 setgroups32
    capset
    """
)

_SOCKET_OPS = _words(
    """
    bind connect listen accept accept4 getsockname getpeername getsockopt setsockopt
    sendto recvfrom sendmsg recvmsg sendmmsg recvmmsg recvmmsg_time64 shutdown send recv
    """
)

_IPC_SYSV = _words(
    """
    shmget shmat shmdt shmctl semget semop semtimedop semtimedop_time64 semctl msgget msgsnd msgrcv msgctl ipc
    mq_open mq_unlink mq_timedsend mq_timedsend_time64 mq_timedreceive mq_timedreceive_time64 mq_notify
    mq_getsetattr
    """
)

_UNIX_SOCKET_RULES = (
    ArgRule("socket", (_low32_eq(0, AF_UNIX),)),
    ArgRule("socketpair", (_low32_eq(0, AF_UNIX),)),
)

_BASE_RULES = (
    # Threads: clone with CLONE_THREAD and no namespace flag (new processes need `process`).
    ArgRule("clone", (ArgCmp(0, CMP_MASKED_EQ, CLONE_NAMESPACE_FLAGS | CLONE_THREAD, CLONE_THREAD),)),
    # personality(2): only PER_LINUX and the 0xffffffff query.
    ArgRule("personality", (_low32_eq(0, PER_LINUX),)),
    ArgRule("personality", (_low32_eq(0, PER_QUERY),)),
    # ioctl(2): anything but TIOCSTI (faking terminal input).
    *_low32_ne_rules("ioctl", 1, TIOCSTI),
)

GROUPS: dict[str, SyscallGroup] = {
    g.name: g
    for g in (
        SyscallGroup(
            "base",
            "process basics every program needs: exit, memory, threads (clone with CLONE_THREAD only), "
            "futexes, scheduling queries, ids, limits, time, signals, timers, I/O on open descriptors, "
            "pipes, poll/epoll, cwd, seccomp and Landlock self-restriction, personality query, "
            "ioctl except TIOCSTI",
            _BASE,
            _BASE_RULES,
        ),
        SyscallGroup(
            "file_read",
            "open and inspect files: open/openat/openat2, stat family, readlink, getdents, xattr reads, "
            "fadvise, sendfile/splice, flock, inotify, POSIX AIO",
            _FILE_READ,
        ),
        SyscallGroup(
            "file_write",
            "change the filesystem: create, mkdir, unlink, rename, link/symlink, chmod/chown, truncate, "
            "fallocate, utimes, xattr writes, fsync, mknod (FIFOs; device nodes need a dropped capability)",
            _FILE_WRITE,
        ),
        SyscallGroup("exec", "run programs: execve, execveat", _EXEC),
        SyscallGroup(
            "process",
            "start and manage child processes: fork, vfork, clone without namespace flags, process "
            "groups and sessions, priorities, pidfds",
            _PROCESS,
            (ArgRule("clone", (ArgCmp(0, CMP_MASKED_EQ, CLONE_NAMESPACE_FLAGS, 0),)),),
        ),
        SyscallGroup(
            "identity",
            "change user/group ids and capability sets (package managers drop to a service user); "
            "without capabilities this can only lower privilege",
            _IDENTITY,
        ),
        SyscallGroup(
            "ipc_unix",
            "Unix-domain sockets: socket and socketpair with AF_UNIX only (argument filter), "
            "bind/connect/listen/accept, send/recv families, socket options",
            _SOCKET_OPS,
            _UNIX_SOCKET_RULES,
        ),
        SyscallGroup(
            "ipc_sysv",
            "System V shared memory, semaphores and message queues, POSIX message queues",
            _IPC_SYSV,
        ),
        SyscallGroup(
            "network",
            "inet sockets: socket with AF_UNIX, AF_INET, AF_INET6 or AF_NETLINK (argument filter; no "
            "raw/packet/vsock/alg families), the socket operations, and 32-bit x86 socketcall",
            _SOCKET_OPS | {"socketcall"},
            (
                *_UNIX_SOCKET_RULES,
                ArgRule("socket", (_low32_eq(0, AF_INET),)),
                ArgRule("socket", (_low32_eq(0, AF_INET6),)),
                ArgRule("socket", (_low32_eq(0, AF_NETLINK),)),
            ),
        ),
    )
}

# Always part of a compiled profile: the launcher (python3) opens its policy, imports modules and
# execs the tool, so a profile without these could not even start.
REQUIRED_GROUPS: tuple[str, ...] = ("base", "exec", "file_read")

# Never allowed, whatever a group or a profile says.
ALWAYS_DENIED: frozenset[str] = _words(
    """
    mount umount umount2 fsopen fsmount move_mount open_tree fsconfig fspick mount_setattr pivot_root chroot
    ptrace process_vm_readv process_vm_writev kcmp pidfd_getfd process_madvise
    bpf perf_event_open kexec_load kexec_file_load init_module finit_module delete_module
    keyctl add_key request_key userfaultfd unshare setns open_by_handle_at name_to_handle_at
    reboot swapon swapoff iopl ioperm acct quotactl quotactl_fd syslog lookup_dcookie _sysctl vhangup
    settimeofday stime clock_settime clock_settime64 adjtimex clock_adjtime clock_adjtime64
    """
)

# Allowed only through argument filters (see the group rules); a plain request for one of these
# names gets the filtered form, never an unconditional allow.
CONDITIONAL: frozenset[str] = frozenset({"clone", "clone3", "socket", "socketpair", "ioctl", "personality"})

# Fixed-action rules every profile carries: clone3 passes its flags in memory, where seccomp cannot
# look, so it fails with ENOSYS and libc falls back to clone(2), which the filters above inspect.
ERRNO_RULES: tuple[tuple[str, int], ...] = (("clone3", ENOSYS),)

# The filtered form a plain request for a CONDITIONAL name (extra_syscalls) maps to.
CONDITIONAL_DEFAULT_GROUP: dict[str, str] = {
    "clone": "process",
    "socket": "ipc_unix",
    "socketpair": "ipc_unix",
    "ioctl": "base",
    "personality": "base",
    "clone3": "base",
}
