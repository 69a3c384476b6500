"""sbx's own folders: created 0700, refused when another uid owns them, when they are symlinks,
when others may write to them or to a folder above them (sticky root folders like /tmp excepted)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from sandbox import safedirs
from sandbox.config import Settings
from sandbox.errors import StateError, UnsafeDirError

OTHER_UID = 65534
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="giving a folder to another uid needs root")


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_missing_folders_are_created_0700(tmp_path: Path) -> None:
    made = safedirs.private_dir(tmp_path / "a" / "b", "runs", "x")
    assert made == tmp_path / "a" / "b" / "runs" / "x"
    for path in (tmp_path / "a", tmp_path / "a" / "b", made.parent, made):
        assert stat.S_ISDIR(os.lstat(path).st_mode)
        assert _mode(path) == 0o700


def test_an_own_folder_readable_by_others_is_tightened(tmp_path: Path) -> None:
    base = tmp_path / "state"
    base.mkdir(mode=0o755)
    os.chmod(base, 0o755)  # noqa: S103 -- the unsafe folder under test
    safedirs.private_dir(base)
    assert _mode(base) == 0o700


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o702, 0o1777])
def test_an_own_folder_others_may_write_to_is_refused_untouched(tmp_path: Path, mode: int) -> None:
    base = tmp_path / "state"
    base.mkdir()
    os.chmod(base, mode)
    with pytest.raises(UnsafeDirError) as caught:
        safedirs.private_dir(base, "runs")
    assert caught.value.code == "state.unsafe_dir"
    assert caught.value.paths == (str(base),)
    assert str(base) in caught.value.message and caught.value.hint
    assert _mode(base) == mode
    assert os.listdir(base) == []


def test_a_symlink_is_refused_and_its_target_stays_empty(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.mkdir(mode=0o700)
    link = tmp_path / "rt"
    link.symlink_to(target)
    with pytest.raises(UnsafeDirError, match="symbolic link"):
        safedirs.private_dir(link, "runs")
    assert os.listdir(target) == []


def test_a_symlink_below_the_base_is_refused(tmp_path: Path) -> None:
    base = tmp_path / "state"
    base.mkdir(mode=0o700)
    (tmp_path / "elsewhere").mkdir()
    (base / "workspaces").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(UnsafeDirError):
        safedirs.private_dir(base, "workspaces", "k")
    assert os.listdir(tmp_path / "elsewhere") == []


def test_a_file_in_place_of_the_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "rt").write_text("x")
    with pytest.raises(UnsafeDirError, match="not a folder"):
        safedirs.private_dir(tmp_path / "rt")


def test_a_parent_others_may_write_to_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)  # noqa: S103 -- the unsafe folder under test
    with pytest.raises(UnsafeDirError, match="others may write") as caught:
        safedirs.private_dir(shared / "sbx")
    assert caught.value.paths == (str(shared),)
    assert os.listdir(shared) == []


def test_a_sticky_parent_of_roots_is_fine_but_not_a_sticky_one_of_a_users(tmp_path: Path) -> None:
    sticky = tmp_path / "tmp"
    sticky.mkdir()
    os.chmod(sticky, 0o1777)  # noqa: S103 -- the unsafe folder under test
    if os.geteuid() == 0:
        assert safedirs.private_dir(sticky / "sbx") == sticky / "sbx"
    else:  # a sticky folder's owner may still remove what is in it
        with pytest.raises(UnsafeDirError):
            safedirs.private_dir(sticky / "sbx")


def test_symlinks_above_the_base_are_followed_and_their_target_checked(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    (tmp_path / "alias").symlink_to(real)
    made = safedirs.private_dir(tmp_path / "alias" / "sbx")
    assert (real / "sbx").is_dir() and made == tmp_path / "alias" / "sbx"
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)  # noqa: S103 -- the unsafe folder under test
    (tmp_path / "via").symlink_to(shared)
    with pytest.raises(UnsafeDirError):
        safedirs.private_dir(tmp_path / "via" / "sbx")
    assert os.listdir(shared) == []


@needs_root
def test_a_folder_of_another_uid_is_refused_untouched(tmp_path: Path) -> None:
    base = tmp_path / "rt"
    base.mkdir(mode=0o700)
    os.chown(base, OTHER_UID, OTHER_UID)
    with pytest.raises(UnsafeDirError, match=f"uid {OTHER_UID}"):
        safedirs.private_dir(base, "runs")
    assert os.listdir(base) == []
    assert _mode(base) == 0o700 and os.lstat(base).st_uid == OTHER_UID


@needs_root
def test_a_parent_of_another_uid_is_refused(tmp_path: Path) -> None:
    parent = tmp_path / "home"
    parent.mkdir(mode=0o755)
    os.chown(parent, OTHER_UID, OTHER_UID)
    with pytest.raises(UnsafeDirError, match=f"uid {OTHER_UID}"):
        safedirs.private_dir(parent / "sbx")
    assert os.listdir(parent) == []


@needs_root
def test_a_symlink_of_another_uid_above_the_base_is_not_followed(tmp_path: Path) -> None:
    sticky = tmp_path / "tmp"
    sticky.mkdir()
    os.chmod(sticky, 0o1777)  # noqa: S103 -- the unsafe folder under test
    target = tmp_path / "target"
    target.mkdir(mode=0o700)
    link = sticky / "planted"
    link.symlink_to(target)
    os.lchown(link, OTHER_UID, OTHER_UID)
    with pytest.raises(UnsafeDirError, match="symlink"):
        safedirs.private_dir(link / "sbx")
    assert os.listdir(target) == []


def test_write_file_replaces_atomically_and_never_through_a_link(tmp_path: Path) -> None:
    path = tmp_path / "containers.conf"
    safedirs.write_file(path, b"one")
    safedirs.write_file(path, b"two")
    assert path.read_bytes() == b"two" and _mode(path) == 0o600
    assert os.listdir(tmp_path) == ["containers.conf"]
    victim = tmp_path / "victim"
    victim.write_text("keep")
    path.unlink()
    path.symlink_to(victim)
    safedirs.write_file(path, b"new")  # the link is replaced, its target untouched
    assert victim.read_text() == "keep" and not path.is_symlink() and path.read_bytes() == b"new"


def test_open_append_refuses_a_link(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep")
    (tmp_path / "log").symlink_to(victim)
    with pytest.raises(OSError):
        safedirs.open_append(tmp_path / "log")
    with safedirs.open_append(tmp_path / "real.log") as handle:
        handle.write(b"x")
    assert _mode(tmp_path / "real.log") == 0o600 and victim.read_text() == "keep"


def test_a_socket_path_past_the_kernels_limit_is_refused(tmp_path: Path) -> None:
    assert safedirs.socket_path(tmp_path, "p.sock") == tmp_path / "p.sock"
    with pytest.raises(StateError) as caught:
        safedirs.socket_path(tmp_path / ("x" * 120), "p.sock")
    assert caught.value.code == "state.socket_path_too_long"


def test_no_runtime_folder_in_a_shared_temp_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("SBX_RUNTIME_DIR", "XDG_RUNTIME_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SBX_STATE_DIR", str(tmp_path / "state"))
    runtime = Settings.from_env().runtime_dir
    run_user = Path(f"/run/user/{os.geteuid()}")
    assert runtime in (tmp_path / "state" / "run", run_user / "sbx")
    assert not runtime.is_relative_to("/tmp") or runtime.is_relative_to(tmp_path)


@needs_root
def test_a_runtime_folder_of_another_user_is_not_used(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Under sudo, XDG_RUNTIME_DIR often still names the invoking user's folder."""
    monkeypatch.delenv("SBX_RUNTIME_DIR", raising=False)
    monkeypatch.setenv("SBX_STATE_DIR", str(tmp_path / "state"))
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o700)
    os.chown(theirs, OTHER_UID, OTHER_UID)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(theirs))
    assert not Settings.from_env().runtime_dir.is_relative_to(theirs)
    own = tmp_path / "xdg"
    own.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(own))
    assert Settings.from_env().runtime_dir == own / "sbx"


def test_trusted_dir_reads_a_shared_folder_but_creates_nothing(tmp_path: Path) -> None:
    shared = tmp_path / "models"
    shared.mkdir()
    os.chmod(shared, 0o755)  # noqa: S103 -- a shared, read-only folder
    assert safedirs.trusted_dir(shared, env="SBX_CACHE_DIR") == shared
    assert _mode(shared) == 0o755  # a reader does not tighten what it does not own
    safedirs.trusted_dir(tmp_path / "missing" / "x", env="SBX_CACHE_DIR")
    assert not (tmp_path / "missing").exists()
    os.chmod(shared, 0o777)  # noqa: S103 -- the unsafe folder under test
    with pytest.raises(UnsafeDirError):
        safedirs.trusted_dir(shared / "qwen", env="SBX_CACHE_DIR")


@needs_root
def test_a_model_cache_of_another_uid_is_neither_loaded_nor_built_in(tmp_path: Path) -> None:
    from sandbox.planner.catalog import DEFAULT_MODEL
    from sandbox.planner.model_build import BuildVenv
    from sandbox.planner.models import ModelStore

    cache = tmp_path / "cache"
    cache.mkdir(mode=0o755)
    os.chown(cache, OTHER_UID, OTHER_UID)
    with pytest.raises(UnsafeDirError):
        ModelStore(cache).require(DEFAULT_MODEL)
    with pytest.raises(UnsafeDirError):
        BuildVenv(cache / "model-build-venv").ensure()
    assert os.listdir(cache) == []
