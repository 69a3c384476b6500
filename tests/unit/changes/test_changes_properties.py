"""Property: for random trees A, B, C (files, dirs, symlinks, modes), an action that turns A into
B through a real overlay, and a second one stacked on it that turns B into C, give changesets
whose application takes the host to B and then C exactly, and whose undo takes it back to B and
then A exactly."""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from changes_fs import fast_tempdir, overlay_mount, overlay_works, snapshot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandbox.changes import ChangesetStore
from sandbox.types import ChangesetStatus

NAMES = st.sampled_from(["a", "b", "c", "d"])
FILE = st.tuples(
    st.just("file"),
    st.sampled_from([b"", b"x", b"hello\n", b"hello\nworld\n", b"\x00bin"]),
    st.sampled_from([0o644, 0o600, 0o755, 0o444]),
)
LINK = st.tuples(st.just("link"), st.sampled_from(["a", "../b", "/etc/passwd", "c/d", "missing"]))
DIR_MODES = st.sampled_from([0o755, 0o700, 0o555])
TREES = st.recursive(
    st.dictionaries(NAMES, st.one_of(FILE, LINK), max_size=3),
    lambda children: st.dictionaries(
        NAMES, st.one_of(FILE, LINK, st.tuples(st.just("dir"), DIR_MODES, children)), max_size=4
    ),
    max_leaves=12,
)

Tree = dict[str, Any]


@pytest.fixture(scope="module")
def overlay_ok(tmp_path_factory: pytest.TempPathFactory) -> None:
    if not overlay_works(tmp_path_factory.mktemp("probe")):
        if os.environ.get("CI"):
            pytest.fail("kernel overlayfs mounts are needed (root) and do not work here")
        pytest.skip("needs root and kernel overlayfs")


def materialise(root: Path, tree: Tree) -> None:
    root.mkdir(exist_ok=True)
    morph(root, {}, tree, touch_unchanged=False)


def morph(path: Path, old: Tree, new: Tree, *, touch_unchanged: bool) -> None:
    """Turn directory `path` holding `old` into `new` with ordinary file operations."""
    for name, spec in old.items():
        if name not in new or new[name][0] != spec[0]:
            _remove(path / name, spec)
    for name, spec in new.items():
        before = old.get(name) if old.get(name, ("",))[0] == spec[0] else None
        if spec[0] == "file":
            _morph_file(path / name, before, spec, touch_unchanged)
        elif spec[0] == "link":
            _morph_link(path / name, before, spec)
        else:
            _morph_dir(path / name, before, spec, touch_unchanged)


def _remove(target: Path, spec: tuple[Any, ...]) -> None:
    if spec[0] == "dir":
        shutil.rmtree(target)
    else:
        os.unlink(target)


def _morph_file(target: Path, before: tuple[Any, ...] | None, spec: tuple[Any, ...], touch: bool) -> None:
    if before is None or before[1] != spec[1]:
        target.write_bytes(spec[1])
    elif touch:
        with open(target, "ab"):  # overlay copies it up: a change that is no change
            pass
    os.chmod(target, spec[2])


def _morph_link(target: Path, before: tuple[Any, ...] | None, spec: tuple[Any, ...]) -> None:
    if before is None or before[1] != spec[1]:
        if before is not None:
            os.unlink(target)
        os.symlink(spec[1], target)


def _morph_dir(target: Path, before: tuple[Any, ...] | None, spec: tuple[Any, ...], touch: bool) -> None:
    if before is None:
        target.mkdir()
    else:
        os.chmod(target, 0o700)  # writable while its contents change
    morph(target, before[2] if before else {}, spec[2], touch_unchanged=touch)
    os.chmod(target, spec[1])


def expected(tree: Tree, scratch: Path) -> dict[str, object]:
    materialise(scratch, tree)
    return snapshot(scratch)


def act(store: ChangesetStore, scratch: Path, old: Tree, new: Tree, touch: bool) -> str:
    layer = store.new_layer("morph")
    lowers = [*store.lower_layers(before=layer.id), store.workspace]
    with overlay_mount(lowers, layer.upper, layer.work, scratch / f"m-{layer.id}") as m:
        morph(m, old, new, touch_unchanged=touch)
    return store.finalize(layer.id).id


SETTINGS = settings(
    max_examples=int(os.environ.get("SBX_PROPERTY_EXAMPLES", "50")),  # raise it for a long bug hunt
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@SETTINGS
@given(a=TREES, b=TREES, c=TREES, touch=st.booleans())
def test_apply_and_undo_round_trip(*, overlay_ok: None, no_fsync: None, a: Tree, b: Tree, c: Tree, touch: bool) -> None:
    with fast_tempdir() as tmp:
        root = Path(tmp)
        workspace = root / "ws"
        materialise(workspace, a)
        store = ChangesetStore(root / "state", workspace)
        first = act(store, root, a, b, touch)
        second = act(store, root, b, c, touch)  # stacked on the first, still pending
        snapshots = {name: expected(tree, root / f"expect-{name}") for name, tree in (("a", a), ("b", b), ("c", c))}
        assert snapshot(workspace) == snapshots["a"]
        undo_to = []  # the state each commit replaced, newest last (an EMPTY changeset makes none)
        for changeset_id, state_before, state_after in ((first, "a", "b"), (second, "b", "c")):
            if store.apply(changeset_id).commit_id is not None:
                undo_to.append(state_before)
            assert snapshot(workspace) == snapshots[state_after]
        for state in reversed(undo_to):
            store.undo()
            assert snapshot(workspace) == snapshots[state]


class Crash(BaseException):
    """Not an Exception: nothing in sbx catches it, as nothing runs after a kill -9."""


class CrashAfter:
    """A checkpoint hook that crashes at its n-th call once armed."""

    def __init__(self) -> None:
        self.remaining: int | None = None

    def __call__(self, name: str) -> None:
        if self.remaining is not None:
            self.remaining -= 1
            if self.remaining < 0:
                raise Crash(name)


@SETTINGS
@given(a=TREES, b=TREES, crash_after=st.integers(0, 40), during_undo=st.booleans())
def test_a_crash_anywhere_leaves_exactly_before_or_after(
    *,
    overlay_ok: None, no_fsync: None, a: Tree, b: Tree, crash_after: int, during_undo: bool
) -> None:
    with fast_tempdir() as tmp:
        root = Path(tmp)
        workspace = root / "ws"
        materialise(workspace, a)
        faults = CrashAfter()
        store = ChangesetStore(root / "state", workspace, checkpoint=faults)
        changeset_id = act(store, root, a, b, touch=True)
        states = (expected(a, root / "expect-a"), expected(b, root / "expect-b"))
        if during_undo and store.apply(changeset_id).commit_id is None:
            return  # nothing was committed, so there is nothing to undo
        faults.remaining = crash_after
        with contextlib.suppress(Crash):
            store.undo() if during_undo else store.apply(changeset_id)
        faults.remaining = None
        store.recover()
        now = snapshot(workspace)
        assert now in states
        if states[0] != states[1]:  # else the changeset is EMPTY and nothing was committed
            expected_status = ChangesetStatus.PENDING if now == states[0] else ChangesetStatus.APPLIED
            assert store.get(changeset_id).status == expected_status
