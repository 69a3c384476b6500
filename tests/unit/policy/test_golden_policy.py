"""Golden files for the compiled artefacts: exact equality. Regenerate with SBX_UPDATE_GOLDEN=1."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from sandbox.policy.landlock import (
    DEVICE_PATHS,
    SCRATCH_ROOTS,
    SYSTEM_EXEC_ROOTS,
    SYSTEM_READ_ROOTS,
    LandlockSpec,
    build_policy,
    policy_json,
)
from sandbox.policy.seccomp import compile_seccomp

GOLDEN = Path(__file__).resolve().parents[2] / "golden"
UPDATE = os.environ.get("SBX_UPDATE_GOLDEN") == "1"

SECCOMP_CASES: dict[str, tuple[str, tuple[str, ...]]] = {
    "required_only.x86_64": ("x86_64", ()),
    "run_shell.x86_64": ("x86_64", ("file_write", "process", "ipc_unix")),
    "install_package.x86_64": ("x86_64", ("file_write", "process", "identity", "network")),
    "run_shell.aarch64": ("aarch64", ("file_write", "process", "ipc_unix")),
}

_SYSTEM = LandlockSpec(
    exec_roots=SYSTEM_EXEC_ROOTS,
    read_roots=SYSTEM_READ_ROOTS,
    scratch_roots=SCRATCH_ROOTS,
    device_paths=DEVICE_PATHS,
)


def _with(**changes: object) -> LandlockSpec:
    import dataclasses

    return dataclasses.replace(_SYSTEM, **changes)  # type: ignore[arg-type]


LANDLOCK_CASES: dict[str, LandlockSpec] = {
    "run_shell": _with(write_roots=("/workspace",)),
    "write_file_new": _with(read_roots=(*SYSTEM_READ_ROOTS, "/workspace"), write_paths=("src/a.py",)),
    "read_file": _with(read_paths=("docs/../README.md",), scratch_roots=()),
    "http_get": _with(connect_tcp=(443, 80), read_roots=(*SYSTEM_READ_ROOTS, "/workspace")),
    "unconfined_tcp_not_required": _with(connect_tcp=None, require=False, report_path=None),
}


def _check(path: Path, text: str) -> None:
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"missing golden file {path}; run with SBX_UPDATE_GOLDEN=1"
    assert path.read_text() == text, f"{path.name} differs from the compiler's output; review, then SBX_UPDATE_GOLDEN=1"


@pytest.mark.parametrize("case", sorted(SECCOMP_CASES))
def test_seccomp_golden(case: str) -> None:
    arch, groups = SECCOMP_CASES[case]
    profile = compile_seccomp(groups, arch=arch)
    _check(GOLDEN / "seccomp" / f"{case}.json", profile.to_json())
    digests = GOLDEN / "seccomp" / "digests.json"
    if not UPDATE:
        assert json.loads(digests.read_text())[case] == profile.digest


def test_seccomp_golden_digests() -> None:
    text = json.dumps(
        {case: compile_seccomp(groups, arch=arch).digest for case, (arch, groups) in sorted(SECCOMP_CASES.items())},
        indent=2,
    )
    _check(GOLDEN / "seccomp" / "digests.json", text + "\n")


@pytest.mark.parametrize("case", sorted(LANDLOCK_CASES))
def test_landlock_golden(case: str) -> None:
    _check(GOLDEN / "landlock" / f"{case}.json", policy_json(build_policy(LANDLOCK_CASES[case])))


def test_no_stray_golden_files() -> None:
    expected = {f"{c}.json" for c in SECCOMP_CASES} | {"digests.json"}
    assert {p.name for p in (GOLDEN / "seccomp").glob("*.json")} == expected
    assert {p.name for p in (GOLDEN / "landlock").glob("*.json")} == {f"{c}.json" for c in LANDLOCK_CASES}
