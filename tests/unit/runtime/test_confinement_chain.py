"""The compiled seccomp profile loaded for real (as runc would), then the launcher, then the tool.

Proves, without podman, that the groups are generous enough for the launcher and everyday tools,
and that the escape attempts the issue lists fail with the expected errno.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from launcher_harness import errno_argv, kernel_landlock_abi, run_launcher

from sandbox.policy.landlock import DEVICE_PATHS, SYSTEM_READ_ROOTS, LandlockSpec, build_policy
from sandbox.policy.seccomp import compile_seccomp
from sandbox.policy.syscalls import host_arch

LOADER = Path(__file__).with_name("oci_seccomp_loader.py")
ARCH = host_arch()

pytestmark = [
    pytest.mark.skipif(sys.platform != "linux" or ARCH not in ("x86_64", "aarch64"), reason="Linux x86_64/aarch64"),
    pytest.mark.skipif(kernel_landlock_abi() is None, reason="kernel without Landlock"),
]


def _chain(tmp: Path, groups: tuple[str, ...], **spec: object) -> tuple[list[str], dict[str, object]]:
    profile = tmp / "seccomp.json"
    profile.write_text(compile_seccomp(groups, arch=ARCH).to_json())
    doc = build_policy(
        LandlockSpec(
            workspace=str(tmp / "ws"),
            exec_roots=("/usr", "/bin", "/lib", "/lib64"),
            read_roots=SYSTEM_READ_ROOTS,
            device_paths=DEVICE_PATHS,
            report_path=str(tmp / "applied.json"),
            **spec,  # type: ignore[arg-type]
        )
    )
    return [sys.executable, str(LOADER), str(profile), "--"], doc


@pytest.fixture
def tmp(tmp_path: Path) -> Path:
    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / "a.txt").write_text("x y\n")
    (tmp_path / "scratch").mkdir()
    return tmp_path


EVERYDAY = r"""
set -e
git init -q . && git -c user.email=a@b -c user.name=t commit -q --allow-empty -m init
git add -A && git -c user.email=a@b -c user.name=t commit -qm files && git log --oneline | wc -l
mkdir -p d && echo "x y" > d/f.txt && sed -i "s/x/z/" d/f.txt && cat d/f.txt
tar czf "$TMPDIR/t.tgz" d && mkdir -p e && tar xzf "$TMPDIR/t.tgz" -C e && ls e/d
find . -name "*.txt" -not -path "./.git/*" | sort | tr "\n" " "; echo
grep -rn z d
python3 -c "import threading; t = threading.Thread(target=print, args=('thread',)); t.start(); t.join()"
python3 -c "import subprocess as s; print(s.run(['echo', 'child'], capture_output=True, text=True).stdout.strip())"
cp d/f.txt d/g.txt && mv d/g.txt d/h.txt && rm d/h.txt && ln -s f.txt d/l && chmod 600 d/f.txt && stat -c %a d/f.txt
yes | head -1 && echo done > /dev/null && sort a.txt | uniq | wc -l
"""


def test_everyday_tools_work_under_the_run_shell_confinement(tmp: Path) -> None:
    for tool in ("git", "tar", "sed", "find", "grep", "gzip"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} not installed")
    prefix, doc = _chain(
        tmp,
        ("file_write", "process", "ipc_unix"),
        write_roots=(str(tmp / "ws"),),
        scratch_roots=(str(tmp / "scratch"),),
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp / "scratch"), "TMPDIR": str(tmp / "scratch"), "LC_ALL": "C"}
    result = run_launcher(doc, ["sh", "-c", EVERYDAY], tmp=tmp, cwd=tmp / "ws", prefix=prefix, env=env)
    assert result.code == 0, result.stderr
    assert result.stdout.split("\n") == [
        "2",
        "z y",
        "f.txt",
        "./a.txt ./d/f.txt ./e/d/f.txt ",
        "d/f.txt:1:z y",
        "thread",
        "child",
        "600",
        "y",
        "1",
        "",
    ]
    assert result.report is not None and result.report["enforced"] is True


ESCAPES = r"""
import ctypes, errno, os, socket, platform
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
X86 = platform.machine() == "x86_64"
NR = dict(unshare=272 if X86 else 97, mount=165 if X86 else 40, ptrace=101 if X86 else 117,
          keyctl=250 if X86 else 219, bpf=321 if X86 else 280, clone=56 if X86 else 220, clone3=435,
          ioctl=16 if X86 else 29, personality=135 if X86 else 92, setns=308 if X86 else 268)
def sc(name, *args):
    if libc.syscall(ctypes.c_long(NR[name]), *[ctypes.c_ulong(a) if isinstance(a, int) else a for a in args]) < 0:
        raise OSError(ctypes.get_errno(), name)
def t(label, f):
    try:
        f(); print(label, "ok")
    except OSError as e:
        print(label, errno.errorcode[e.errno])
t("inet", lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM))
t("inet6", lambda: socket.socket(socket.AF_INET6, socket.SOCK_DGRAM))
t("unix", lambda: socket.socket(socket.AF_UNIX).close())
t("unshare_user", lambda: sc("unshare", 0x10000000))
t("setns", lambda: sc("setns", 0, 0))
t("mount", lambda: sc("mount", b"none", b"/mnt", b"tmpfs", 0, None))
t("ptrace", lambda: sc("ptrace", 16, os.getppid(), 0, 0))
t("keyctl", lambda: sc("keyctl", 0, 0, 0, 0, 0))
t("bpf", lambda: sc("bpf", 0, 0, 0))
t("clone_newuser", lambda: sc("clone", 0x10000000 | 17, 0, 0, 0, 0))
t("clone3", lambda: sc("clone3", 0, 0))
fd = os.open("/dev/null", os.O_RDONLY)
ch = ctypes.c_char(b"x")
t("tiocsti", lambda: sc("ioctl", fd, 0x5412, ctypes.byref(ch)))
t("tiocsti_high_bits", lambda: sc("ioctl", fd, 0x100005412, ctypes.byref(ch)))
t("personality_query", lambda: sc("personality", 0xFFFFFFFF))
t("personality_change", lambda: sc("personality", 0x0040000))
t("write_etc", lambda: open("/etc/sbx-test", "w"))
t("write_root_dir", lambda: open("/sbx-test", "w"))
"""


def test_escape_attempts_fail_with_the_expected_errno(tmp: Path) -> None:
    prefix, doc = _chain(tmp, ("file_write", "process", "ipc_unix"), write_roots=(str(tmp / "ws"),))
    result = run_launcher(doc, ["python3", "-c", ESCAPES], tmp=tmp, cwd=tmp / "ws", prefix=prefix)
    assert result.code == 0, result.stderr
    seen = dict(line.split() for line in result.stdout.splitlines())
    assert seen == {
        "inet": "EPERM",
        "inet6": "EPERM",
        "unix": "ok",
        "unshare_user": "EPERM",
        "setns": "EPERM",
        "mount": "EPERM",
        "ptrace": "EPERM",
        "keyctl": "EPERM",
        "bpf": "EPERM",
        "clone_newuser": "EPERM",
        "clone3": "ENOSYS",
        "tiocsti": "EPERM",
        "tiocsti_high_bits": "EPERM",
        "personality_query": "ok",
        "personality_change": "EPERM",
        "write_etc": "EACCES",
        "write_root_dir": "EACCES",
    }
    assert not Path("/etc/sbx-test").exists()


def test_without_ipc_unix_there_is_no_socket_at_all(tmp: Path) -> None:
    prefix, doc = _chain(tmp, ())
    result = run_launcher(doc, errno_argv("socket.socket(socket.AF_UNIX)"), tmp=tmp, cwd=tmp / "ws", prefix=prefix)
    assert (result.code, result.stdout.strip()) == (0, "EPERM"), result.stderr


def test_network_group_allows_inet_sockets(tmp: Path) -> None:
    prefix, doc = _chain(tmp, ("network",), connect_tcp=None)
    code = "import socket\nsocket.socket(socket.AF_INET).close()\nsocket.socket(socket.AF_INET6).close()\nprint('ok')"
    result = run_launcher(doc, ["python3", "-c", code], tmp=tmp, cwd=tmp / "ws", prefix=prefix)
    assert (result.code, result.stdout.strip()) == (0, "ok"), result.stderr
