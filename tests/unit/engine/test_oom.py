"""The kernel's OOM report is matched to the container whose memory cgroup it names, and only to it."""

from __future__ import annotations

from sandbox.engine.oom import oom_kills_in

CID = "672f0a3d9578ca29ea2ebdc875ca7faa994eb2ecce366cb8cf4bfac8fc68bbeb"
OTHER = "a" * 64
V1 = (
    b"<4>[ 3432.811721] oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=libpod-%s,mems_allowed=0,"
    b"oom_memcg=/libpod_parent/libpod-%s,task_memcg=/libpod_parent/libpod-%s,task=python3,pid=15125,uid=0\n"
    b"<3>[ 3432.811745] Memory cgroup out of memory: Killed process 15125 (python3) total-vm:2110916kB\n"
)
V2 = b"<4>[ 9.1] oom-kill:constraint=CONSTRAINT_MEMCG,oom_memcg=/machine.slice/libpod-%s.scope,task=sh,pid=2\n"


def test_a_kill_in_the_containers_memory_cgroup_counts() -> None:
    assert oom_kills_in(V1 % (CID.encode(), CID.encode(), CID.encode()), CID) == 1
    assert oom_kills_in(V2 % CID.encode() * 2, CID) == 2


def test_kills_elsewhere_do_not_count() -> None:
    log = V1 % (OTHER.encode(), OTHER.encode(), OTHER.encode())
    assert oom_kills_in(log, CID) == 0
    assert oom_kills_in(b"<6>[ 1.0] some line naming " + CID.encode() + b"\n", CID) == 0
    assert oom_kills_in(log, "") == 0 and oom_kills_in(log, "aaa") == 0  # too short to be specific
