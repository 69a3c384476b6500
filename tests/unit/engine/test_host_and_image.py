"""Host-quirk configuration, the Containerfile reader and the output demultiplexer, without podman."""

from __future__ import annotations

import struct
from dataclasses import replace
from pathlib import Path

import pytest

from sandbox.engine import host
from sandbox.engine.capture import Capture, start_error
from sandbox.engine.image import parse_containerfile
from sandbox.errors import CommandNotRunnableError, ImageBuildError

ROOT = Path(__file__).resolve().parents[3]


def _facts(**overrides: object) -> host.HostFacts:
    base = host.HostFacts(
        rootless=False, cgroups="hybrid", systemd=False, cap_sys_resource=False, nofile_hard=20000,
        nproc_hard=96365, podman="/usr/bin/podman", runc="/usr/bin/runc", crun="/usr/bin/crun", overlay=True,
        landlock_abi=7, seccomp=True, runtime="runc", ulimits=(("nofile", 20000), ("nproc", 32768)),
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


def test_hybrid_host_gets_runc_and_the_hosts_own_ulimits() -> None:
    text = host.containers_conf(_facts())
    assert 'runtime = "runc"' in text
    assert '"nofile=20000:20000"' in text
    assert 'cgroup_manager = "cgroupfs"' in text


def test_detect_on_this_host_never_picks_crun_for_hybrid_cgroups() -> None:
    facts = host.detect()
    if facts.cgroups != "v2":
        assert facts.runtime in ("runc", None)
    assert all(value > 0 for _name, value in facts.ulimits)


def test_problems_name_a_fix() -> None:
    problems = _facts(podman=None, runtime=None, landlock_abi=None).problems()
    whats = " ".join(p.what for p in problems)
    assert "podman is not installed" in whats and "OCI runtime" in whats and "Landlock" in whats
    assert all(p.fix for p in problems)
    assert [p.fatal for p in problems if "Landlock" in p.what] == [False]


def test_containerfile_is_read_for_packages_and_metadata() -> None:
    spec = parse_containerfile((ROOT / "Containerfile").read_text())
    assert spec.suite == "bookworm"
    assert "python3" in spec.packages and "git" in spec.packages
    assert not any(p.startswith("-") for p in spec.packages)
    assert "WORKDIR /workspace" in spec.changes
    assert 'ENV LANG="C.UTF-8"' in spec.changes


def test_containerfile_without_install_line_is_refused() -> None:
    with pytest.raises(ImageBuildError):
        parse_containerfile("FROM docker.io/library/debian:bookworm\n")


def _frame(stream: int, data: bytes) -> bytes:
    return struct.pack(">BxxxL", stream, len(data)) + data


def test_capture_demultiplexes_split_frames_and_caps_each_stream() -> None:
    payload = _frame(1, b"out-1 ") + _frame(2, b"err") + _frame(1, b"out-2 " * 10)
    capture = Capture(cap=20)
    for index in range(0, len(payload), 3):  # frames arrive cut at arbitrary points
        capture.feed(payload[index : index + 3])
    assert bytes(capture.streams[2]) == b"err" and not capture.truncated[2]
    assert bytes(capture.streams[1]) == (b"out-1 " + b"out-2 " * 10)[:20]
    assert capture.truncated[1]


def test_start_errors_are_said_in_the_users_terms() -> None:
    error = start_error('runc create failed: exec: "nope": executable file not found in $PATH: OCI')
    assert isinstance(error, CommandNotRunnableError)
    assert error.message == "command not found in the image: nope"
