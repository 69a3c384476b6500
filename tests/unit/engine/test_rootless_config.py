"""Rootless configuration without podman: what the host facts say, the limits that stand in for
cgroups, the private service's files and environment, and finding its user namespace."""

from __future__ import annotations

import os
import subprocess
import tomllib
from dataclasses import replace
from pathlib import Path

import pytest

from sandbox.engine import host, service


def _facts(**overrides: object) -> host.HostFacts:
    base = host.HostFacts(
        rootless=True, cgroups="hybrid", systemd=False, cap_sys_resource=False, nofile_hard=20000,
        nproc_hard=96365, podman="/usr/bin/podman", runc="/usr/bin/runc", crun=None, overlay=True,
        landlock_abi=7, seccomp=True, runtime="runc", ulimits=(("nofile", 20000), ("nproc", 32768)),
        user="alice", subuids=(100000, 65536), subgids=(100000, 65536),
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


def test_rootless_on_cgroups_v1_sets_rlimits_and_says_what_is_weaker() -> None:
    facts = _facts()
    assert not facts.cgroup_limits
    assert dict(facts.rlimits(pids=256, memory_bytes=512 << 20)) == {
        "nofile": 20000, "nproc": 256, "data": 512 << 20}
    degraded = facts.degraded()
    assert [line.split(":")[0] for line in degraded] == ["memory", "pids", "cpu"]
    problems = facts.problems()
    assert not any(p.fatal for p in problems)
    assert any("cgroups" in p.what and not p.fatal for p in problems)


@pytest.mark.parametrize("facts", [_facts(rootless=False), _facts(cgroups="v2")])
def test_cgroup_limits_where_podman_can_set_them(facts: host.HostFacts) -> None:
    assert facts.cgroup_limits
    assert facts.rlimits(pids=256, memory_bytes=1) == facts.ulimits
    assert facts.degraded() == ()


def test_missing_subordinate_ids_and_newuidmap_are_fatal_with_their_fix() -> None:
    problems = _facts(subuids=None, subgids=None, newuidmap=False).problems()
    fixes = [p.fix for p in problems if p.fatal]
    assert any("usermod --add-subuids" in fix and "alice" in fix for fix in fixes)
    assert any("uidmap" in fix for fix in fixes)


def test_subordinate_ranges_are_read_by_name_or_uid(tmp_path: Path) -> None:
    table = tmp_path / "subuid"
    table.write_text("bob:100000:65536\n1234:200000:65536\nalice:300000:0\n")
    assert host._subordinate(str(table), "bob", 1000) == (100000, 65536)
    assert host._subordinate(str(table), "carol", 1234) == (200000, 65536)
    assert host._subordinate(str(table), "alice", 1001) is None  # an empty range is none
    assert host._subordinate(str(tmp_path / "missing"), "bob", 1000) is None


def test_rootless_service_has_its_own_overlay_storage_and_database(tmp_path: Path) -> None:
    paths = service.ServicePaths(tmp_path / "run", tmp_path / "store")
    files = paths.configuration(_facts())
    storage = tomllib.loads(files[paths.storage_conf])["storage"]
    assert storage["driver"] == "overlay"
    assert storage["graphroot"] == storage["rootless_storage_path"] == str(tmp_path / "store" / "storage")
    engine = tomllib.loads(files[paths.containers_conf])["engine"]
    # the database stays where conmon's cleanup looks (graphroot/libpod); what it pins is the storage's
    assert "static_dir" not in engine
    assert engine["tmp_dir"] == str(tmp_path / "store" / "run" / "tmp")
    assert storage["runroot"] == str(tmp_path / "store" / "run" / "s")
    assert any(pair.startswith("CONTAINERS_CONF=") for pair in engine["conmon_env_vars"])
    assert engine["runtime"] == "runc"
    rootful = service.ServicePaths(tmp_path / "run", tmp_path / "store").configuration(_facts(rootless=False))
    assert list(rootful) == [paths.containers_conf]  # root keeps the system's storage
    assert "static_dir" not in rootful[paths.containers_conf]


def test_the_service_environment_carries_nothing_of_the_callers(monkeypatch: pytest.MonkeyPatch,
                                                                 tmp_path: Path) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "leak")
    monkeypatch.setenv("CONTAINERS_STORAGE_CONF", "/elsewhere.conf")
    paths = service.ServicePaths(tmp_path / "run", tmp_path / "store")
    env = paths.environment(_facts())
    assert "AWS_SECRET_ACCESS_KEY" not in env
    assert env["CONTAINERS_STORAGE_CONF"] == str(paths.storage_conf)
    assert env["XDG_RUNTIME_DIR"] == str(paths.podman_runtime)
    assert set(env) <= {*service._KEPT_ENV, "CONTAINERS_CONF", "CONTAINERS_STORAGE_CONF", "XDG_RUNTIME_DIR"}


def test_namespace_pid_is_none_for_a_process_in_our_own_namespace() -> None:
    assert service.namespace_pid(os.getpid()) is None


def test_namespace_pid_finds_a_child_in_another_user_namespace() -> None:
    """`unshare --user` as a child of a shell: the shell is in our namespace, its child is not."""
    shell = subprocess.Popen(["sh", "-c", "unshare --user sleep 30 & wait"])
    found = None
    try:
        for _ in range(100):
            found = service.namespace_pid(shell.pid)
            if found is not None:
                break
            subprocess.run(["sleep", "0.05"], check=False)
        assert found is not None and found != shell.pid
        assert os.readlink(f"/proc/{found}/ns/user") != os.readlink("/proc/self/ns/user")
    finally:
        if found is not None:
            os.kill(found, 9)
        shell.kill()
        shell.wait()


def test_a_runroot_podmans_cleanup_would_refuse_is_reported(tmp_path: Path) -> None:
    short = service.ServicePaths(tmp_path / "r", Path("/home/u/.cache/sbx/podman"))
    assert short.problems(_facts()) == []
    long = service.ServicePaths(tmp_path / "r", Path("/home/" + "x" * 40 + "/.cache/sbx/podman"))
    (problem,) = long.problems(_facts())
    assert not problem.fatal and "SBX_RUNTIME_DIR" in problem.fix
    assert long.problems(_facts(rootless=False)) == []
