"""Applying changesets to the host: results, partial selection, conflicts, hostile effects, undo."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from changes_fs import build, is_root, opaque_dir, snapshot, whiteout

from sandbox.changes import ChangesetStore
from sandbox.errors import ChangesetError, ConflictError, SbxError, UnsafeChangeError
from sandbox.types import Changeset, ChangesetStatus

MakeChangeset = Callable[[Callable[[Path], None]], Changeset]

HOST = {
    "edit.txt": b"one\n",
    "gone.txt": b"bye\n",
    "chmod.sh": b"echo\n",
    "link": ("link", "edit.txt"),
    "tree": {"a": b"a", "sub": {"b": b"b"}},
    "file-to-dir": b"f",
}


def every_kind_of_change(upper: Path) -> None:
    build(upper, {
        "edit.txt": b"two\n",
        "chmod.sh": (b"echo\n", 0o755),
        "link": ("link", "gone.txt"),
        "new": {"deep": {"file": b"new\n"}},
        "tree": b"now a file",
    })
    whiteout(upper / "gone.txt")
    opaque_dir(upper / "file-to-dir")
    build(upper / "file-to-dir", {"inside": b"i"})


def expected_after() -> dict[str, object]:
    host_tmp = {
        "edit.txt": ("file", 0o644, b"two\n"),
        "chmod.sh": ("file", 0o755, b"echo\n"),
        "link": ("link", "gone.txt"),
        "new": ("dir", 0o755),
        "new/deep": ("dir", 0o755),
        "new/deep/file": ("file", 0o644, b"new\n"),
        "tree": ("file", 0o644, b"now a file"),
        "file-to-dir": ("dir", 0o755),
        "file-to-dir/inside": ("file", 0o644, b"i"),
    }
    return host_tmp


def test_apply_then_undo_then_apply_again(store: ChangesetStore, make_changeset: MakeChangeset,
                                          workspace: Path) -> None:
    build(workspace, HOST)
    before = snapshot(workspace)
    cs = make_changeset(every_kind_of_change)
    assert snapshot(workspace) == before  # review changes nothing
    result = store.apply(cs.id, sha256=cs.sha256)
    assert snapshot(workspace) == expected_after()
    assert set(result.applied) == {c.path for c in cs.changes}
    assert (result.conflicts, result.refused) == ((), ())
    assert store.get(cs.id).status == ChangesetStatus.APPLIED
    assert store.lower_layers() == []  # applied layers are on the host now, not stacked
    with pytest.raises(ChangesetError) as again:
        store.apply(cs.id)
    assert again.value.code == "changeset.not_pending"

    undone = store.undo()
    assert undone.changeset_id == cs.id and undone.commit_id != result.commit_id
    assert snapshot(workspace) == before
    assert store.get(cs.id).status == ChangesetStatus.PENDING
    store.apply(cs.id)
    assert snapshot(workspace) == expected_after()
    assert not list((store.state_dir / "commits").glob("*/journal.json.tmp"))


def test_undo_walks_back_through_commits(store: ChangesetStore, make_changeset: MakeChangeset, workspace: Path) -> None:
    (workspace / "f").write_bytes(b"0")
    states = [snapshot(workspace)]
    for content in (b"1", b"2"):
        cs = make_changeset(lambda u, c=content: (u / "f").write_bytes(c))  # type: ignore[misc]
        store.apply(cs.id)
        states.append(snapshot(workspace))
    store.undo()
    assert snapshot(workspace) == states[1]
    store.undo()
    assert snapshot(workspace) == states[0]
    with pytest.raises(ChangesetError) as nothing:
        store.undo()
    assert nothing.value.code == "changeset.nothing_to_undo"


def test_partial_apply_brings_the_directories_a_path_needs(store: ChangesetStore, make_changeset: MakeChangeset,
                                                           workspace: Path) -> None:
    build(workspace, HOST)
    cs = make_changeset(every_kind_of_change)
    result = store.apply(cs.id, paths=["new/deep/file", "./edit.txt"])
    assert set(result.applied) == {"new", "new/deep", "new/deep/file", "edit.txt"}
    assert (workspace / "new" / "deep" / "file").read_bytes() == b"new\n"
    assert (workspace / "gone.txt").exists()
    with pytest.raises(ChangesetError) as unknown:
        store.apply(make_changeset(lambda u: (u / "x").write_text("x")).id, paths=["nope"])
    assert unknown.value.code == "changeset.unknown_path"


def test_selecting_a_directory_selects_what_is_below_it(store: ChangesetStore, make_changeset: MakeChangeset,
                                                        workspace: Path) -> None:
    build(workspace, HOST)
    cs = make_changeset(every_kind_of_change)
    result = store.apply(cs.id, paths=["tree/"])
    assert set(result.applied) == {"tree", "tree/a", "tree/sub", "tree/sub/b"}
    assert (workspace / "tree").read_bytes() == b"now a file"


@pytest.mark.parametrize("meddle", ["content", "mode", "type", "created", "deleted"])
def test_host_changes_since_the_action_are_conflicts(store: ChangesetStore, make_changeset: MakeChangeset,
                                                     workspace: Path, meddle: str) -> None:
    build(workspace, {"f": b"1", "other": b"o"})

    def action(upper: Path) -> None:
        build(upper, {"f": b"2", "new": b"n", "other": b"o2"})

    cs = make_changeset(action)
    conflicted = "new" if meddle == "created" else "f"
    if meddle == "content":
        (workspace / "f").write_bytes(b"edited by the user")
    elif meddle == "mode":
        os.chmod(workspace / "f", 0o600)
    elif meddle == "type":
        os.unlink(workspace / "f")
        os.mkdir(workspace / "f")
    elif meddle == "created":
        (workspace / "new").write_bytes(b"user's own")
    else:
        os.unlink(workspace / "f")
    before = snapshot(workspace)
    with pytest.raises(ConflictError) as info:
        store.apply(cs.id)
    assert info.value.paths == (conflicted,)
    assert snapshot(workspace) == before
    assert store.get(cs.id).status == ChangesetStatus.PENDING
    result = store.apply(cs.id, skip_conflicts=True)
    assert result.conflicts == (conflicted,)
    assert (workspace / "other").read_bytes() == b"o2"
    assert snapshot(workspace).get(conflicted) == before.get(conflicted)


def test_a_file_added_to_a_dir_being_removed_is_a_conflict(store: ChangesetStore, make_changeset: MakeChangeset,
                                                           workspace: Path) -> None:
    build(workspace, {"d": {"a": b"a"}})
    cs = make_changeset(lambda u: whiteout(u / "d"))
    (workspace / "d" / "precious").write_bytes(b"keep me")
    with pytest.raises(ConflictError) as info:
        store.apply(cs.id)
    assert info.value.paths == ("d", "d/a")
    result = store.apply(cs.id, skip_conflicts=True)
    assert result.applied == ()  # the removal is skipped whole: d/a is not deleted on its own
    assert result.conflicts == ("d", "d/a")
    assert (workspace / "d" / "precious").read_bytes() == b"keep me"
    assert (workspace / "d" / "a").read_bytes() == b"a"


@pytest.mark.parametrize("replacement", ["file", "link", "deleted"])
def test_skip_conflicts_skips_a_replaced_directory_with_everything_below(
        store: ChangesetStore, make_changeset: MakeChangeset, workspace: Path, replacement: str) -> None:
    """`rm -rf d; echo file > d` (or a link, or nothing) while the host adds d/new: d and all
    below it are skipped, the rest applies."""
    build(workspace, {"d": {"one": b"1", "sub": {"two": b"2"}}, "other": b"o"})

    def replace_d(upper: Path) -> None:
        if replacement == "file":
            build(upper, {"d": b"file\n", "other": b"o2"})
        elif replacement == "link":
            build(upper, {"d": ("link", "other"), "other": b"o2"})
        else:
            build(upper, {"other": b"o2"})
            whiteout(upper / "d")

    cs = make_changeset(replace_d)
    (workspace / "d" / "new").write_bytes(b"host's own")
    before = snapshot(workspace)
    result = store.apply(cs.id, skip_conflicts=True)
    assert result.applied == ("other",)
    assert "d" in result.conflicts and all(p == "d" or p.startswith("d/") for p in result.conflicts)
    after = snapshot(workspace)
    assert {k: v for k, v in after.items() if k.startswith("d")} == {k: v for k, v in before.items()
                                                                    if k.startswith("d")}
    assert (workspace / "other").read_bytes() == b"o2"


def test_hash_mismatch_changes_nothing(store: ChangesetStore, make_changeset: MakeChangeset, workspace: Path) -> None:
    build(workspace, {"f": b"1"})
    cs = make_changeset(lambda u: (u / "f").write_bytes(b"2"))
    before = snapshot(workspace)
    with pytest.raises(ChangesetError) as wrong:
        store.apply(cs.id, sha256="0" * 64)
    assert wrong.value.code == "changeset.hash_mismatch"
    upper = store.state_dir / "changesets" / cs.id / "upper"
    (upper / "f").write_bytes(b"tampered after review")
    with pytest.raises(ChangesetError) as tampered:
        store.apply(cs.id, sha256=cs.sha256)
    assert tampered.value.code == "changeset.hash_mismatch"
    with pytest.raises(ChangesetError) as unchecked:  # no hash given: each file is still checked
        store.apply(cs.id)
    assert unchecked.value.code == "changeset.hash_mismatch"
    assert snapshot(workspace) == before
    assert list((store.state_dir / "commits").iterdir()) == []


def test_symlinked_parent_on_the_host_is_refused(store: ChangesetStore, make_changeset: MakeChangeset,
                                                 workspace: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    build(workspace, {"d": {"x": b"old"}, "ok": b"1"})
    cs = make_changeset(lambda u: build(u, {"d": {"x": b"new", "y": b"y"}, "ok": b"2"}))
    # between review and commit, the host's `d` is swapped for a link out of the workspace
    os.rename(workspace / "d", tmp_path / "d-moved")
    os.symlink(outside, workspace / "d")
    with pytest.raises(UnsafeChangeError) as info:
        store.apply(cs.id)
    assert "d/x" in info.value.message
    assert os.listdir(outside) == []
    result = store.apply(cs.id, skip_conflicts=True)
    assert set(result.refused) == {"d/x", "d/y"}
    assert result.applied == ("ok",)
    assert os.listdir(outside) == []


def test_links_are_committed_as_links_whatever_they_point_to(store: ChangesetStore, make_changeset: MakeChangeset,
                                                             workspace: Path) -> None:
    passwd = Path("/etc/passwd").read_bytes()
    cs = make_changeset(lambda u: build(u, {"etc": ("link", "/etc"), "pw": ("link", "/etc/passwd"), "d": {}}))
    store.apply(cs.id)
    assert os.readlink(workspace / "etc") == "/etc"
    assert os.readlink(workspace / "pw") == "/etc/passwd"
    assert Path("/etc/passwd").read_bytes() == passwd
    # a later action writing "through" the link in its own view cannot reach /etc either:
    # overlayfs gives it a link, and the host applier never opens a path through one
    (workspace / "d" / "f").write_bytes(b"x")


def test_special_files_are_refused_and_the_rest_applied(store: ChangesetStore, make_changeset: MakeChangeset,
                                                        workspace: Path) -> None:
    def action(upper: Path) -> None:
        build(upper, {"ok": b"1", "dir": {}})
        os.mkfifo(upper / "dir" / "fifo")
        os.mknod(upper / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))

    cs = make_changeset(action)
    result = store.apply(cs.id)
    assert set(result.refused) == {"dir/fifo", "null"}
    assert set(result.applied) == {"ok", "dir"}
    assert sorted(os.listdir(workspace)) == ["dir", "ok"]
    assert os.listdir(workspace / "dir") == []


def test_only_refused_changes_still_count_as_applied(store: ChangesetStore, make_changeset: MakeChangeset) -> None:
    cs = make_changeset(lambda u: os.mkfifo(u / "fifo"))
    result = store.apply(cs.id)
    assert (result.applied, result.refused) == ((), ("fifo",))
    assert store.get(cs.id).status == ChangesetStatus.APPLIED


def test_setuid_setgid_are_stripped_sticky_is_kept(store: ChangesetStore, make_changeset: MakeChangeset,
                                                   workspace: Path) -> None:
    special = {"suid": (b"x", 0o4755), "sgid": (b"x", 0o2755), "tmp": ("dir", 0o1777, {})}
    cs = make_changeset(lambda u: build(u, special))
    store.apply(cs.id)
    modes = {name: stat.S_IMODE(os.lstat(workspace / name).st_mode) for name in ("suid", "sgid", "tmp")}
    # stripping the sticky bit of a world-writable folder would let anyone delete others' files
    assert modes == {"suid": 0o755, "sgid": 0o755, "tmp": 0o1777}


def test_read_only_directories_are_filled_before_their_mode_is_set(store: ChangesetStore, make_changeset: MakeChangeset,
                                                                   workspace: Path) -> None:
    cs = make_changeset(lambda u: build(u, {"ro": ("dir", 0o555, {"inner": ("dir", 0o500, {"f": b"x"})})}))
    store.apply(cs.id)
    assert snapshot(workspace) == {
        "ro": ("dir", 0o555),
        "ro/inner": ("dir", 0o500),
        "ro/inner/f": ("file", 0o644, b"x"),
    }


@pytest.mark.skipif(not is_root(), reason="ownership is only set when sbx runs as root")
def test_as_root_new_entries_take_their_parents_owner(store: ChangesetStore, make_changeset: MakeChangeset,
                                                      workspace: Path) -> None:
    build(workspace, {"user-dir": {"mine": b"1"}})
    os.chown(workspace, 1000, 1000)
    os.chown(workspace / "user-dir", 1234, 2345)
    os.chown(workspace / "user-dir" / "mine", 4321, 5432)
    cs = make_changeset(lambda u: build(u, {"top": b"t", "user-dir": {"mine": b"2", "new": {"f": b"f"}}}))
    store.apply(cs.id)

    def owner(rel: str) -> tuple[int, int]:
        st = os.lstat(workspace / rel)
        return st.st_uid, st.st_gid

    assert owner("top") == (1000, 1000)
    assert owner("user-dir/mine") == (4321, 5432)  # a modified file keeps its owner
    assert owner("user-dir/new") == (1234, 2345)
    assert owner("user-dir/new/f") == (1234, 2345)
    store.undo()
    assert owner("user-dir/mine") == (4321, 5432)


def test_undo_refuses_when_the_host_changed_since(store: ChangesetStore, make_changeset: MakeChangeset,
                                                  workspace: Path) -> None:
    build(workspace, {"f": b"1"})
    cs = make_changeset(lambda u: build(u, {"f": b"2", "newdir": {"g": b"g"}}))
    store.apply(cs.id)
    (workspace / "f").write_bytes(b"edited after the commit")
    with pytest.raises(ConflictError) as edited:
        store.undo()
    assert edited.value.paths == ("f",)
    (workspace / "f").write_bytes(b"2")
    (workspace / "newdir" / "user-file").write_bytes(b"u")
    with pytest.raises(ConflictError) as added:
        store.undo()
    assert added.value.paths == ("newdir", "newdir/g")  # what is below a blocked removal stays too
    os.unlink(workspace / "newdir" / "user-file")
    store.undo()
    assert snapshot(workspace) == {"f": ("file", 0o644, b"1")}


def test_stacked_changeset_conflicts_until_its_base_is_applied(store: ChangesetStore, make_changeset: MakeChangeset,
                                                               workspace: Path) -> None:
    first = make_changeset(lambda u: (u / "f").write_bytes(b"from first\n"))
    second = make_changeset(lambda u: (u / "f").write_bytes(b"from second\n"))
    assert [c.kind for c in second.changes] == ["modified"]  # against the first's pending view
    with pytest.raises(ConflictError):
        store.apply(second.id)
    store.apply(first.id)
    store.apply(second.id)
    assert (workspace / "f").read_bytes() == b"from second\n"


def test_empty_selection_and_empty_changeset_apply_nothing(store: ChangesetStore, make_changeset: MakeChangeset,
                                                           workspace: Path) -> None:
    cs = make_changeset(lambda u: (u / "f").write_bytes(b"x"))
    assert store.apply(cs.id, paths=[]).applied == ()
    assert store.get(cs.id).status == ChangesetStatus.PENDING
    empty = make_changeset(lambda u: None)
    assert store.apply(empty.id).applied == ()
    assert os.listdir(workspace) == []


def test_a_parent_that_became_a_file_is_a_conflict(store: ChangesetStore, make_changeset: MakeChangeset,
                                                   workspace: Path) -> None:
    build(workspace, {"d": {}})
    cs = make_changeset(lambda u: build(u, {"d": {"new": b"n"}}))
    os.rmdir(workspace / "d")
    (workspace / "d").write_bytes(b"a file now")
    with pytest.raises(ConflictError) as info:
        store.apply(cs.id)
    assert info.value.paths == ("d/new",)


def test_a_vanished_workspace_is_a_clear_error(store: ChangesetStore, make_changeset: MakeChangeset,
                                               workspace: Path, tmp_path: Path) -> None:
    cs = make_changeset(lambda u: build(u, {"f": b"x"}))
    os.rename(workspace, tmp_path / "elsewhere")
    with pytest.raises(SbxError) as info:
        store.apply(cs.id)
    assert info.value.code == "workspace.unusable"
    assert str(workspace) in info.value.message
