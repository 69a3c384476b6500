"""A read-only view through a stack of overlay layers, resolved the way overlayfs does.

Layers are listed top first; the last is the host workspace. Looking up a name walks the layers
of the parent directory from the top: the first layer that has the name decides. A whiteout
there means "absent"; a non-directory there is the entry, hiding everything below; a directory
there merges with same-named directories further down until a layer has a whiteout or a
non-directory at that name, or the directory is opaque. Nothing here follows a symlink: entries
are read with lstat and only real directories are descended into.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass

from sandbox.changes import overlay


@dataclass(frozen=True)
class Found:
    """One path as the view shows it."""

    real: str  # where the entry really is, in the layer that decided it
    st: os.stat_result
    layer: int  # index of that layer in the stack, 0 = top
    merged: tuple[tuple[int, str], ...] = ()  # directories: (layer, real dir) composing it, top first

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.st.st_mode)


class LayerStack:
    def __init__(self, layers: Sequence[str]) -> None:
        if not layers:
            raise ValueError("a layer stack needs at least the workspace")
        self.layers = tuple(layers)
        self._opaque: dict[str, bool] = {}

    def root(self) -> Found:
        top = self.layers[0]
        return Found(top, os.lstat(top), 0, tuple(enumerate(self.layers)))

    def child(self, parent: Found, name: str) -> Found | None:
        merged: list[tuple[int, str]] = []
        first: Found | None = None
        for layer, real_dir in parent.merged:
            real = os.path.join(real_dir, name)
            st = _lstat_or_none(real)
            if st is None:
                continue
            if overlay.is_whiteout(st):
                break
            is_dir = stat.S_ISDIR(st.st_mode)
            if first is None:
                first = Found(real, st, layer)
                if not is_dir:
                    return first
            elif not is_dir:
                break
            merged.append((layer, real))
            if layer < len(self.layers) - 1 and self._is_opaque(real):
                break
        if first is None:
            return None
        return Found(first.real, first.st, first.layer, tuple(merged))

    def child_names(self, directory: Found) -> list[str]:
        """Names the view shows inside `directory`, sorted."""
        candidates: set[str] = set()
        for _, real_dir in directory.merged:
            candidates.update(os.listdir(real_dir))
        return sorted(n for n in candidates if self.child(directory, n) is not None)

    def _is_opaque(self, real_dir: str) -> bool:
        cached = self._opaque.get(real_dir)
        if cached is None:
            cached = self._opaque[real_dir] = overlay.is_opaque(real_dir)
        return cached


def _lstat_or_none(real: str) -> os.stat_result | None:
    try:
        return os.lstat(real)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return None
        raise
