"""Where sbx keeps things, and the defaults a user can override through the environment.

sbx never writes inside a workspace: its state lives under the XDG state folder, its caches under
the XDG cache folder and its sockets under the XDG runtime folder (or a private folder in /tmp).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_IMAGE = "localhost/sbx/default:latest"


def _xdg(var: str, fallback: str) -> Path:
    value = os.environ.get(var)
    if value and os.path.isabs(value):
        return Path(value)
    return Path.home() / fallback


def _runtime_dir() -> Path:
    value = os.environ.get("XDG_RUNTIME_DIR")
    if value and os.path.isdir(value):
        return Path(value) / "sbx"
    return Path("/tmp") / f"sbx-{os.getuid()}"


@dataclass(frozen=True)
class Settings:
    state_dir: Path  # changesets, journals, undo backups, the audit log
    cache_dir: Path  # image build caches, models
    runtime_dir: Path  # the private podman socket, per-action mount points
    image: str
    engine: str  # "podman" (docker arrives with issue 5)
    profiles_dir: Path  # tool declarations and the base policy

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            state_dir=Path(os.environ["SBX_STATE_DIR"]) if os.environ.get("SBX_STATE_DIR")
            else _xdg("XDG_STATE_HOME", ".local/state") / "sbx",
            cache_dir=Path(os.environ["SBX_CACHE_DIR"]) if os.environ.get("SBX_CACHE_DIR")
            else _xdg("XDG_CACHE_HOME", ".cache") / "sbx",
            runtime_dir=Path(os.environ["SBX_RUNTIME_DIR"]) if os.environ.get("SBX_RUNTIME_DIR")
            else _runtime_dir(),
            image=os.environ.get("SBX_IMAGE", DEFAULT_IMAGE),
            engine=os.environ.get("SBX_ENGINE", "podman"),
            profiles_dir=Path(os.environ["SBX_PROFILES"]) if os.environ.get("SBX_PROFILES")
            else Path(__file__).resolve().parent.parent / "profiles",
        )
