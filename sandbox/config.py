"""Where sbx keeps things, and the defaults a user can override through the environment.

sbx never writes inside a workspace: its state lives under the XDG state folder, its caches under
the XDG cache folder and its sockets under the user's runtime folder (or a `run` folder in its
state folder: never a predictable name in a shared temp folder). Who may own these folders, and
what sbx checks before using them, is in `sandbox.safedirs`.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from sandbox.errors import UsageError
from sandbox.resources import profiles_dir as shipped_profiles_dir

DEFAULT_IMAGE = "localhost/sbx/default:latest"
MAX_WARM_POOL = 8


def _xdg(var: str, fallback: str) -> Path:
    value = os.environ.get(var)
    if value and os.path.isabs(value):
        return Path(value)
    return Path.home() / fallback


def _own_folder(value: str | None) -> bool:
    if not value or not os.path.isabs(value):
        return False
    try:
        st = os.lstat(value)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid()


def _runtime_dir(state_dir: Path) -> Path:
    """$XDG_RUNTIME_DIR/sbx, else /run/user/UID/sbx, each only when that folder is the effective
    user's own (under sudo, XDG_RUNTIME_DIR often still names the invoking user's); else the `run`
    folder in sbx's state folder, which is the user's own by construction."""
    for candidate in (os.environ.get("XDG_RUNTIME_DIR"), f"/run/user/{os.geteuid()}"):
        if _own_folder(candidate):
            return Path(str(candidate)) / "sbx"
    return state_dir / "run"


def default_cache_dir() -> Path:
    """sbx's cache folder (image build caches, models): `$SBX_CACHE_DIR`, else `$XDG_CACHE_HOME/sbx`,
    else `~/.cache/sbx`. The one place it is resolved: `Settings` and the model store both ask here."""
    value = os.environ.get("SBX_CACHE_DIR")
    return Path(value) if value else _xdg("XDG_CACHE_HOME", ".cache") / "sbx"


@dataclass(frozen=True)
class Settings:
    state_dir: Path  # changesets, journals, undo backups, the audit log
    cache_dir: Path  # image build caches, models
    runtime_dir: Path  # the private podman socket, per-action mount points
    image: str
    engine: str  # "podman" (the default) or "docker": SBX_ENGINE
    profiles_dir: Path  # tool declarations and the base policy
    warm_pool: int = 1  # containers kept prepared per workspace for its next call: SBX_WARM_POOL

    @classmethod
    def from_env(cls) -> Settings:
        state_dir = (Path(os.environ["SBX_STATE_DIR"]) if os.environ.get("SBX_STATE_DIR")
                     else _xdg("XDG_STATE_HOME", ".local/state") / "sbx")
        return cls(
            state_dir=state_dir,
            cache_dir=default_cache_dir(),
            runtime_dir=Path(os.environ["SBX_RUNTIME_DIR"]) if os.environ.get("SBX_RUNTIME_DIR")
            else _runtime_dir(state_dir),
            image=os.environ.get("SBX_IMAGE", DEFAULT_IMAGE),
            engine=os.environ.get("SBX_ENGINE", "podman"),
            profiles_dir=Path(os.environ["SBX_PROFILES"]) if os.environ.get("SBX_PROFILES")
            else shipped_profiles_dir(),
            warm_pool=_warm_pool(os.environ.get("SBX_WARM_POOL", "1")),
        )


def _warm_pool(value: str) -> int:
    if not value.strip().isdigit() or int(value) > MAX_WARM_POOL:
        raise UsageError(f"SBX_WARM_POOL must be a whole number from 0 to {MAX_WARM_POOL}, not {value!r}",
                         code="usage.invalid_setting")
    return int(value)
