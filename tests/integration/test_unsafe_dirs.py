"""Another local user cannot take over sbx's runtime or state folder by making it first.

The folder is made beforehand by another uid (as root, `nobody`; rootless, one of the user's
subordinate uids, through `unshare --map-auto` and chown), or as a symlink to a folder that would
otherwise be acceptable; the real CLI (`sbx exec`, `sbx doctor`) must refuse with
`state.unsafe_dir`, name the folder, and write nothing there or at the link's target."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

OTHER_UID = 65534


def _command(name: str, workspace: Path) -> list[str]:
    return ["exec", "-w", str(workspace), "--json", "--", "true"] if name == "exec" else ["doctor", "--json"]



def _run(args: list[str], env: dict[str, str | None], cwd: Path) -> tuple[int, dict[str, object]]:
    full = dict(os.environ)
    for key, value in env.items():
        if value is None:
            full.pop(key, None)
        else:
            full[key] = value
    proc = subprocess.run([sys.executable, "-m", "sandbox.cli", *args], cwd=cwd, env=full, capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, timeout=120, check=False)
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, (proc.stdout, proc.stderr)
    return proc.returncode, json.loads(lines[0])


def _snapshot(path: Path) -> list[tuple[str, int, int, int]]:
    found = []
    for root, dirs, files in os.walk(path):
        for name in [*dirs, *files]:
            st = os.lstat(os.path.join(root, name))
            found.append((os.path.relpath(os.path.join(root, name), path), st.st_uid, st.st_mode, st.st_size))
    st = os.lstat(path)
    return [*sorted(found), (".", st.st_uid, st.st_mode, st.st_size)]


def _foreign(path: Path) -> Path:
    """A folder another uid made first, open to that uid only (as a real squatter would)."""
    path.mkdir(mode=0o700)
    if os.geteuid() == 0:
        os.chown(path, OTHER_UID, OTHER_UID)
    else:  # uid 1 of the user's namespace: a subordinate uid on the host, not the user
        subprocess.run(["unshare", "--map-auto", "--map-root-user", "chown", "1:1", str(path)], check=True,
                       capture_output=True)
        if os.lstat(path).st_uid == os.geteuid():
            raise AssertionError(f"could not give {path} to another uid")
    return path


def _link(path: Path) -> Path:
    """A symlink to a folder of root's, 0700: acceptable itself, so only the link can be refused."""
    target = path.with_name(path.name + "-target")
    target.mkdir(mode=0o700)
    path.symlink_to(target)
    return target


Plant = Callable[[Path], Path]
PLANTS: dict[str, Plant] = {"other-uid": _foreign, "symlink": _link}


def _where(tmp_path: Path, how: str) -> tuple[Path, dict[str, str | None]]:
    """The runtime folder sbx will use, and the environment that makes it so."""
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    base: dict[str, str | None] = {"SBX_STATE_DIR": str(state), "SBX_PODMAN": "private"}
    if how == "SBX_RUNTIME_DIR":
        return tmp_path / "rt", {**base, "SBX_RUNTIME_DIR": str(tmp_path / "rt"), "XDG_RUNTIME_DIR": None}
    if how == "XDG_RUNTIME_DIR":
        xdg = tmp_path / "xdg"
        xdg.mkdir(mode=0o700)
        return xdg / "sbx", {**base, "SBX_RUNTIME_DIR": None, "XDG_RUNTIME_DIR": str(xdg)}
    # neither: the fallback (a `run` folder in the state folder, unless /run/user/UID is the user's)
    if os.path.isdir(f"/run/user/{os.geteuid()}"):
        pytest.skip("this host has /run/user/UID, which the fallback prefers")
    return state / "run", {**base, "SBX_RUNTIME_DIR": None, "XDG_RUNTIME_DIR": None}


@pytest.mark.parametrize("command", ["exec", "doctor"])
@pytest.mark.parametrize("plant", sorted(PLANTS))
@pytest.mark.parametrize("how", ["SBX_RUNTIME_DIR", "XDG_RUNTIME_DIR", "fallback"])
def test_a_runtime_folder_made_first_by_someone_else_is_refused(tmp_path: Path, how: str, plant: str,
                                                                 command: str) -> None:
    runtime, env = _where(tmp_path, how)
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "a.txt").write_text("a\n")
    planted = PLANTS[plant](runtime)
    watched = [runtime, planted] if planted != runtime else [runtime]
    before = {str(p): _snapshot(p) for p in watched}

    code, out = _run(_command(command, workspace), env, cwd=workspace)

    assert code != 0 and out["ok"] is False
    error = out["error"]
    assert isinstance(error, dict)
    assert error["code"] == "state.unsafe_dir", error
    assert str(runtime) in error["message"] and error.get("hint")
    assert error["paths"] == [str(runtime)]
    assert {str(p): _snapshot(p) for p in watched} == before
    assert os.path.islink(runtime) == (plant == "symlink")


@pytest.mark.parametrize("plant", sorted(PLANTS))
def test_a_state_folder_made_first_by_someone_else_is_refused(tmp_path: Path, plant: str) -> None:
    state = tmp_path / "state"
    planted = PLANTS[plant](state)
    workspace = tmp_path / "ws"
    workspace.mkdir()
    before = {str(p): _snapshot(p) for p in {state, planted}}
    env: dict[str, str | None] = {"SBX_STATE_DIR": str(state), "SBX_RUNTIME_DIR": None, "XDG_RUNTIME_DIR": None}
    for args in (["exec", "-w", str(workspace), "--json", "--", "true"], ["doctor", "--json"],
                 ["list", "-w", str(workspace), "--json"], ["log", "-w", str(workspace), "--json"]):
        code, out = _run(args, env, cwd=workspace)
        assert code != 0 and out["ok"] is False, args
        error = out["error"]
        assert isinstance(error, dict)
        assert error["code"] == "state.unsafe_dir", (args, error)
        assert error["paths"] == [str(state)]
    assert {str(p): _snapshot(p) for p in {state, planted}} == before
    assert os.listdir(workspace) == []
