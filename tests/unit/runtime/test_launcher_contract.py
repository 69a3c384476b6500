"""The JSON contract between the compiler (sandbox/policy/landlock.py) and the launcher, from both sides:
the compiler's output validates against runtime/policy-v1.schema.json, the launcher accepts every
golden document, both agree on the vocabulary, and the launcher's report matches its schema."""

from __future__ import annotations

import copy
import importlib.util
import json
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from launcher_harness import LAUNCHER, REPO, SYSTEM_PYTHON, kernel_landlock_abi, run_launcher
from schema_subset import errors

from sandbox.errors import PolicyError
from sandbox.policy import landlock

POLICY_SCHEMA = json.loads((REPO / "runtime" / "policy-v1.schema.json").read_text())
REPORT_SCHEMA = json.loads((REPO / "runtime" / "applied-v1.schema.json").read_text())
GOLDEN = sorted((REPO / "tests" / "golden" / "landlock").glob("*.json"))


def _load_launcher() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sbx_launcher_under_test", LAUNCHER)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


L = _load_launcher()


def launcher_accepts(doc: Any) -> bool:
    try:
        L.parse_policy(json.dumps(doc).encode())
    except L.LauncherError:
        return False
    return True


def test_there_are_golden_documents() -> None:
    assert len(GOLDEN) >= 3


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: p.stem)
def test_golden_documents_validate_and_the_launcher_accepts_them(path: Path) -> None:
    doc = json.loads(path.read_text())
    assert errors(doc, POLICY_SCHEMA) == []
    proc = subprocess.run(
        [SYSTEM_PYTHON, "-I", "-S", str(LAUNCHER), "--check", str(path)], capture_output=True, text=True, check=False
    )
    assert (proc.returncode, proc.stderr) == (0, "")


def test_vocabulary_is_shared() -> None:
    schema_fs = POLICY_SCHEMA["$defs"]["fs_access"]["enum"]
    assert list(landlock.FS_ACCESS) == list(L.FS_ACCESS) == schema_fs
    scope_enum = POLICY_SCHEMA["properties"]["landlock"]["properties"]["scope"]["items"]["enum"]
    assert list(landlock.SCOPES) == list(L.SCOPES) == scope_enum
    fs_rule = POLICY_SCHEMA["$defs"]["fs_rule"]["properties"]
    assert fs_rule["if_missing"]["enum"] == list(L.IF_MISSING)
    assert fs_rule["expect"]["enum"] == list(L.EXPECT)
    assert landlock.POLICY_VERSION == L.POLICY_VERSION == POLICY_SCHEMA["properties"]["version"]["const"]
    # every right the compiler hands out is one the launcher knows, with the kernel's bit order
    bits = [L.FS_ACCESS[name][0] for name in landlock.FS_ACCESS]
    assert bits == [1 << i for i in range(len(bits))]


_paths = st.lists(st.sampled_from(["a", "src/a.py", "b/c", "./d", "x/../e"]), max_size=3).map(tuple)
_roots = st.lists(st.sampled_from(["/usr", "/etc", "/opt/x", "/workspace", "/workspace/sub"]), max_size=3).map(tuple)
_ports = st.lists(st.integers(0, 65535), max_size=3).map(tuple)


@settings(max_examples=60, deadline=None)
@given(
    read_paths=_paths,
    write_paths=_paths,
    write_dir_paths=_paths,
    read_roots=_roots,
    connect=st.one_of(st.none(), _ports),
    scope=st.booleans(),
    require=st.booleans(),
    min_abi=st.integers(1, 8),
)
def test_any_compiled_document_validates_and_is_accepted(
    *,
    read_paths: tuple[str, ...],
    write_paths: tuple[str, ...],
    write_dir_paths: tuple[str, ...],
    read_roots: tuple[str, ...],
    connect: tuple[int, ...] | None,
    scope: bool,
    require: bool,
    min_abi: int,
) -> None:
    spec = landlock.LandlockSpec(
        read_paths=read_paths,
        write_paths=write_paths,
        write_dir_paths=write_dir_paths,
        read_roots=read_roots,
        connect_tcp=connect,
        scope_signal=scope,
        require=require,
        min_abi=min_abi,
    )
    try:
        doc = landlock.build_policy(spec)
    except PolicyError as err:
        assert err.code == "policy.contradiction"
        return
    assert errors(doc, POLICY_SCHEMA) == []
    assert launcher_accepts(doc)


_MUTATIONS: list[tuple[str, Any]] = [
    ("version", lambda d: d.update(version=2)),
    ("version_str", lambda d: d.update(version="1")),
    ("extra_key", lambda d: d.update(extra=True)),
    ("nnp_str", lambda d: d.update(no_new_privs="yes")),
    ("no_landlock", lambda d: d.pop("landlock")),
    ("fs_not_list", lambda d: d["landlock"].update(fs={})),
    ("empty_access", lambda d: d["landlock"]["fs"][0].update(access=[])),
    ("dup_access", lambda d: d["landlock"]["fs"][0].update(access=["read_file", "read_file"])),
    ("bad_access", lambda d: d["landlock"]["fs"][0].update(access=["everything"])),
    ("relative", lambda d: d["landlock"]["fs"][0].update(path="usr")),
    ("bad_if_missing", lambda d: d["landlock"]["fs"][0].update(if_missing="maybe")),
    ("bad_expect", lambda d: d["landlock"]["fs"][0].update(expect="socket")),
    ("fs_extra", lambda d: d["landlock"]["fs"][0].update(mode=1)),
    ("min_abi_0", lambda d: d["landlock"].update(min_abi=0)),
    ("max_abi_str", lambda d: d["landlock"].update(max_abi="7")),
    ("port_high", lambda d: d["landlock"].update(net={"bind_tcp": [], "connect_tcp": [65536]})),
    ("port_bool", lambda d: d["landlock"].update(net={"bind_tcp": [True], "connect_tcp": []})),
    ("net_missing_key", lambda d: d["landlock"].update(net={"connect_tcp": []})),
    ("bad_scope", lambda d: d["landlock"].update(scope=["ptrace"])),
    ("report_relative", lambda d: d.update(report_path="applied.json")),
]


@pytest.mark.parametrize(("name", "mutate"), _MUTATIONS, ids=[m[0] for m in _MUTATIONS])
def test_both_sides_refuse_the_same_malformed_documents(name: str, mutate: Any) -> None:
    doc = copy.deepcopy(json.loads(GOLDEN[0].read_text()))
    assert errors(doc, POLICY_SCHEMA) == [] and launcher_accepts(doc)
    mutate(doc)
    assert errors(doc, POLICY_SCHEMA), f"schema accepts {name}"
    assert not launcher_accepts(doc), f"launcher accepts {name}"


@pytest.mark.skipif(kernel_landlock_abi() is None, reason="kernel without Landlock")
def test_reports_match_their_schema(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    spec = landlock.LandlockSpec(
        workspace=str(ws),
        exec_roots=("/usr", "/bin", "/lib", "/lib64"),
        read_roots=("/etc", "/nonexistent-sbx"),
        write_paths=("new.txt",),
        report_path=str(tmp_path / "applied.json"),
    )
    ok = run_launcher(landlock.build_policy(spec), ["true"], tmp=tmp_path, cwd=ws)
    assert ok.code == 0 and ok.report is not None
    assert errors(ok.report, REPORT_SCHEMA) == []
    assert ok.report["skipped"] == [{"path": "/nonexistent-sbx", "reason": "missing"}]
    failed = run_launcher(
        landlock.build_policy(spec.__class__(**{**spec.__dict__, "min_abi": 99})), ["true"], tmp=tmp_path, cwd=ws
    )
    assert failed.code == 125 and failed.report is not None
    assert errors(failed.report, REPORT_SCHEMA) == []
