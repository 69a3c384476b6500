"""The pure Landlock rule builder: narrowing by a call's paths, refusals, merging, ports."""

from __future__ import annotations

import posixpath
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sandbox.digests import digest
from sandbox.errors import PolicyError
from sandbox.policy.landlock import (
    WRITE_ONE_FILE,
    WRITE_TREE,
    LandlockSpec,
    build_policy,
    workspace_path,
)


def fs(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["path"]: e for e in doc["landlock"]["fs"]}


def test_write_file_call_grants_that_file_only() -> None:
    doc = build_policy(LandlockSpec(read_roots=("/workspace",), write_paths=("src/a.py",)))
    rules = fs(doc)
    assert rules["/workspace/src/a.py"] == {
        "path": "/workspace/src/a.py",
        "access": ["write_file", "read_file", "truncate"],
        "if_missing": "create_file",
        "expect": "file",
        "beneath": "/workspace",
    }
    assert rules["/workspace"]["access"] == ["read_file", "read_dir"]
    assert rules["/workspace"]["if_missing"] == "fail"
    writable = [p for p, e in rules.items() if "write_file" in e["access"] or "make_reg" in e["access"]]
    assert writable == ["/workspace/src/a.py"]


@pytest.mark.parametrize("arg", ["src/a.py", "/workspace/src/a.py", "./src//a.py", "src/x/../a.py"])
def test_path_arguments_are_normalised(arg: str) -> None:
    assert workspace_path(arg) == "/workspace/src/a.py"


@pytest.mark.parametrize(
    "arg", ["../etc/passwd", "/etc/passwd", "src/../../x", "/workspace/../etc", "/workspacex/a", "//etc"]
)
def test_paths_escaping_the_workspace_are_refused(arg: str) -> None:
    with pytest.raises(PolicyError) as err:
        build_policy(LandlockSpec(write_paths=(arg,)))
    assert err.value.code == "policy.path_outside_workspace"
    assert repr(arg) in err.value.message


@pytest.mark.parametrize("arg", ["", "a\x00b"])
def test_invalid_path_arguments(arg: str) -> None:
    with pytest.raises(PolicyError) as err:
        build_policy(LandlockSpec(read_paths=(arg,)))
    assert err.value.code == "policy.invalid_path"


def test_write_roots_must_be_inside_the_workspace() -> None:
    with pytest.raises(PolicyError) as err:
        build_policy(LandlockSpec(write_roots=("/etc",)))
    assert err.value.code == "policy.path_outside_workspace"
    with pytest.raises(PolicyError) as err:
        build_policy(LandlockSpec(write_roots=("relative",)))
    assert err.value.code == "policy.invalid_path"


@pytest.mark.parametrize("root", ["/", "/proc/sys", "/sys", "/workspace", "/workspace/sub"])
def test_scratch_roots_cannot_cover_the_system_or_the_workspace(root: str) -> None:
    with pytest.raises(PolicyError):
        build_policy(LandlockSpec(scratch_roots=(root,)))


def test_writing_the_workspace_itself_as_a_file_is_refused() -> None:
    with pytest.raises(PolicyError) as err:
        build_policy(LandlockSpec(write_paths=(".",)))
    assert err.value.code == "policy.invalid_path"


def test_file_and_directory_for_one_path_is_a_contradiction() -> None:
    with pytest.raises(PolicyError) as err:
        build_policy(LandlockSpec(write_paths=("out",), write_dir_paths=("out",)))
    assert err.value.code == "policy.contradiction"


def test_same_path_twice_merges_rights() -> None:
    doc = build_policy(
        LandlockSpec(read_paths=("a.txt",), write_paths=("a.txt",), exec_roots=("/usr",), read_roots=("/usr",))
    )
    rules = fs(doc)
    # read_dir too: harmless on a file (the launcher keeps only file rights there), needed if it is a dir
    assert rules["/workspace/a.txt"]["access"] == ["write_file", "read_file", "read_dir", "truncate"]
    assert rules["/workspace/a.txt"]["if_missing"] == "create_file"
    assert rules["/usr"]["access"] == ["execute", "read_file", "read_dir"]


def test_write_dir_paths_get_the_tree() -> None:
    rules = fs(build_policy(LandlockSpec(write_dir_paths=("out",))))
    assert set(rules["/workspace/out"]["access"]) == WRITE_TREE
    assert rules["/workspace/out"]["if_missing"] == "create_dir"
    assert rules["/workspace/out"]["expect"] == "dir"
    assert "make_char" not in WRITE_TREE and "make_block" not in WRITE_TREE
    assert {"read_file", "write_file", "truncate"} == WRITE_ONE_FILE


def test_network_ports() -> None:
    assert build_policy(LandlockSpec())["landlock"]["net"] == {"bind_tcp": [], "connect_tcp": []}
    assert build_policy(LandlockSpec(connect_tcp=None))["landlock"]["net"] is None
    doc = build_policy(LandlockSpec(connect_tcp=(443, 80, 443), bind_tcp=(8080,)))
    assert doc["landlock"]["net"] == {"bind_tcp": [8080], "connect_tcp": [80, 443]}
    for bad in (-1, 65536, True):
        with pytest.raises(PolicyError) as err:
            build_policy(LandlockSpec(connect_tcp=(bad,)))
        assert err.value.code == "policy.invalid_port"
    with pytest.raises(PolicyError):
        build_policy(LandlockSpec(connect_tcp=None, bind_tcp=(80,)))


def test_scope_and_requirements() -> None:
    doc = build_policy(LandlockSpec())
    assert doc["landlock"]["scope"] == ["abstract_unix_socket", "signal"]
    assert doc["require_landlock"] is True and doc["no_new_privs"] is True
    assert doc["landlock"]["min_abi"] == 1 and doc["landlock"]["max_abi"] is None
    doc = build_policy(LandlockSpec(scope_signal=False, scope_abstract_unix=False, require=False, min_abi=4))
    assert doc["landlock"]["scope"] == []
    assert doc["require_landlock"] is False
    assert doc["landlock"]["min_abi"] == 4
    with pytest.raises(PolicyError):
        build_policy(LandlockSpec(min_abi=0))


def test_other_workspace_locations() -> None:
    rules = fs(build_policy(LandlockSpec(workspace="/tmp/x/ws/", write_paths=("a",))))
    assert rules["/tmp/x/ws/a"]["beneath"] == "/tmp/x/ws"
    with pytest.raises(PolicyError):
        build_policy(LandlockSpec(workspace="/"))


def test_digest_is_stable() -> None:
    a = build_policy(LandlockSpec(write_paths=("b", "a")))
    b = build_policy(LandlockSpec(write_paths=("a", "b")))
    assert a == b
    assert digest(a) == digest(b)
    assert digest(a).startswith("sha256:")


_segment = st.sampled_from(["..", ".", "", "a", "b", "workspace", "etc", "..a", "…"])


@given(st.lists(_segment, max_size=6), st.booleans())
def test_any_path_either_stays_inside_or_is_refused(parts: list[str], absolute: bool) -> None:
    arg = ("/" if absolute else "") + "/".join(parts)
    try:
        path = workspace_path(arg)
    except PolicyError as err:
        assert err.code in {"policy.path_outside_workspace", "policy.invalid_path"}
        return
    assert path == posixpath.normpath(path)
    assert path == "/workspace" or path.startswith("/workspace/")
    assert "/../" not in path + "/"
