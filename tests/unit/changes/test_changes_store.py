"""ChangesetStore: state layout, ids and lookups, stacking, finalize, discard, lock, bad state."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from changes_fs import build, kinds, whiteout

from sandbox.changes import ChangesetStore, render_changeset
from sandbox.errors import ChangesetError, StateError, WorkspaceError
from sandbox.types import Changeset, ChangesetStatus

MakeChangeset = Callable[[Callable[[Path], None]], Changeset]


def test_state_lives_outside_the_workspace(tmp_path: Path, workspace: Path, store: ChangesetStore) -> None:
    assert store.state_dir.is_relative_to(tmp_path / "state" / "workspaces")
    assert json.loads((store.state_dir / "workspace.json").read_text()) == {"path": str(workspace)}
    layer = store.new_layer("x")
    assert layer.upper.parent == layer.work.parent
    assert not layer.upper.is_relative_to(workspace)
    assert len(layer.id) == 8 and all(c in "0123456789abcdef" for c in layer.id)
    assert os.listdir(workspace) == []


def test_workspace_errors(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError) as missing:
        ChangesetStore(tmp_path / "state", tmp_path / "nope")
    assert missing.value.code == "workspace.not_found"
    (tmp_path / "file").write_text("x")
    with pytest.raises(WorkspaceError) as not_dir:
        ChangesetStore(tmp_path / "state", tmp_path / "file")
    assert not_dir.value.code == "workspace.not_a_dir"
    with pytest.raises(WorkspaceError) as inside:
        ChangesetStore(tmp_path / "state", tmp_path)
    assert inside.value.code == "workspace.contains_state"


def test_symlinked_workspace_path_is_the_same_workspace(tmp_path: Path, workspace: Path, store: ChangesetStore) -> None:
    os.symlink(workspace, tmp_path / "alias")
    other = ChangesetStore(tmp_path / "state", tmp_path / "alias")
    assert (other.workspace, other.state_dir) == (store.workspace, store.state_dir)


def test_finalize_pending_and_empty(store: ChangesetStore, make_changeset: MakeChangeset, workspace: Path) -> None:
    (workspace / "a").write_text("1")
    empty = make_changeset(lambda upper: (upper / "a").write_text("1"))  # copy-up, no change
    assert empty.status == ChangesetStatus.EMPTY and empty.changes == ()
    pending = make_changeset(lambda upper: (upper / "b").write_text("2"))
    assert pending.status == ChangesetStatus.PENDING
    assert len(pending.sha256) == 64
    assert store.get(pending.id) == pending
    assert not (store.state_dir / "changesets" / pending.id / "work").exists()


def test_lookup_by_prefix_newest_pending_and_errors(store: ChangesetStore, make_changeset: MakeChangeset) -> None:
    with pytest.raises(ChangesetError) as none:
        store.get()
    assert none.value.code == "changeset.none_pending"
    first = make_changeset(lambda u: (u / "a").write_text("1"))
    second = make_changeset(lambda u: (u / "b").write_text("2"))
    assert store.get().id == second.id
    assert store.get(first.id[:5].upper()).id == first.id
    assert [c.id for c in store.list()] == [first.id, second.id]
    with pytest.raises(ChangesetError) as unknown:
        store.get("zzzz")
    assert unknown.value.code == "changeset.not_found"


def test_ambiguous_prefix(store: ChangesetStore) -> None:
    for layer_id in ("abcd0001", "abcd0002"):
        directory = store.state_dir / "changesets" / layer_id
        directory.mkdir()
        meta = {"version": 1, "id": layer_id, "seq": int(layer_id[-1]), "created_at": 0, "source": "",
                "status": "pending", "pid": None, "sha256": "0" * 64, "commit_id": None,
                "applied": [], "conflicts": [], "refused": [], "undone": False}
        (directory / "meta.json").write_text(json.dumps(meta))
        (directory / "changes.json").write_text(json.dumps({"version": 1, "changes": []}))
    with pytest.raises(ChangesetError) as info:
        store.get("abcd")
    assert info.value.code == "changeset.ambiguous"
    assert store.get("abcd0002").id == "abcd0002"


def test_lower_layers_are_pending_uppers_newest_first(store: ChangesetStore, make_changeset: MakeChangeset) -> None:
    first = make_changeset(lambda u: (u / "a").write_text("1"))
    second = make_changeset(lambda u: (u / "b").write_text("2"))
    layer = store.new_layer("third")
    uppers = store.state_dir / "changesets"
    assert store.lower_layers(before=layer.id) == [uppers / second.id / "upper", uppers / first.id / "upper"]
    assert store.lower_layers(before=second.id) == [uppers / first.id / "upper"]
    store.discard(first.id)
    assert store.lower_layers() == [uppers / second.id / "upper"]
    # the third action sees both files and deletes `b`, which exists only in a pending layer
    whiteout(layer.upper / "b")
    third = store.finalize(layer.id)
    assert kinds(third.changes) == {"b": "deleted"}


def test_discard_and_abandon(store: ChangesetStore, make_changeset: MakeChangeset) -> None:
    cs = make_changeset(lambda u: (u / "a").write_text("1"))
    discarded = store.discard(cs.id)
    assert discarded.status == ChangesetStatus.DISCARDED
    assert not (store.state_dir / "changesets" / cs.id / "upper").exists()
    assert store.get(cs.id).status == ChangesetStatus.DISCARDED
    with pytest.raises(ChangesetError) as again:
        store.discard(cs.id)
    assert again.value.code == "changeset.not_pending"
    layer = store.new_layer("failed action")
    store.abandon(layer.id)
    assert not (store.state_dir / "changesets" / layer.id).exists()
    store.abandon(layer.id)  # idempotent


def test_lock_is_exclusive_across_processes_and_reentrant_within_one(store: ChangesetStore, tmp_path: Path) -> None:
    with store.lock(), store.lock():  # re-entrant in one thread
        errors: list[BaseException] = []

        def other_thread() -> None:
            try:
                with store.lock():
                    pass
            except StateError as exc:
                errors.append(exc)

        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join()
        assert [getattr(e, "code", None) for e in errors] == ["state.locked"]
        code = (
            "import sys; from pathlib import Path; from sandbox.changes import ChangesetStore\n"
            "from sandbox.errors import StateError\n"
            f"s = ChangesetStore(Path({str(tmp_path / 'state')!r}), Path({str(store.workspace)!r}))\n"
            "try:\n    s.lock().__enter__()\nexcept StateError as e:\n    print(e.code, e.message); sys.exit(3)\n"
        )
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
        assert result.returncode == 3, result.stderr
        assert result.stdout.startswith("state.locked another sbx command is working on")
        assert f"pid {os.getpid()}" in result.stdout
    with store.lock():  # released
        pass


def test_corrupt_state_is_a_clear_error(store: ChangesetStore, make_changeset: MakeChangeset) -> None:
    cs = make_changeset(lambda u: (u / "a").write_text("1"))
    meta = store.state_dir / "changesets" / cs.id / "meta.json"
    meta.write_text("{not json")
    with pytest.raises(StateError) as info:
        store.list()
    assert info.value.code == "state.corrupt"
    assert str(meta) in info.value.message
    meta.write_text(json.dumps({"version": 1, "id": cs.id, "status": "bogus"}))
    with pytest.raises(StateError):
        store.get(cs.id)


def test_corrupt_changes_file_and_journal(store: ChangesetStore, make_changeset: MakeChangeset) -> None:
    cs = make_changeset(lambda u: (u / "a").write_text("1"))
    changes = store.state_dir / "changesets" / cs.id / "changes.json"
    data = json.loads(changes.read_text())
    data["changes"][0]["path"] = "../escape"
    changes.write_text(json.dumps(data))
    with pytest.raises(StateError) as info:
        store.get(cs.id)
    assert info.value.code == "state.corrupt"
    journal_dir = store.state_dir / "commits" / "deadbeefdeadbeef"
    journal_dir.mkdir()
    (journal_dir / "journal.json").write_text("[]")
    with pytest.raises(StateError) as journal:
        store.recover()
    assert journal.value.code == "state.corrupt" and "journal.json" in journal.value.message


def test_recover_collects_dead_layers(store: ChangesetStore) -> None:
    layer = store.new_layer("crashed action")
    meta_file = store.state_dir / "changesets" / layer.id / "meta.json"
    meta = json.loads(meta_file.read_text())
    argv = [sys.executable, "-c", "import os; print(os.getpid())"]
    child = subprocess.run(argv, capture_output=True, text=True, check=True)
    meta["pid"] = int(child.stdout)  # a process that has exited
    meta_file.write_text(json.dumps(meta))
    live = store.new_layer("running action")
    store.recover()
    assert not (store.state_dir / "changesets" / layer.id).exists()
    assert (store.state_dir / "changesets" / live.id).exists()


def test_render_plain_and_colour(make_changeset: MakeChangeset, workspace: Path) -> None:
    build(workspace, {"edit.txt": b"one\n", "gone": b"x\n", "run.sh": b"echo\n"})

    def write(upper: Path) -> None:
        build(upper, {"edit.txt": b"two\n", "new.bin": b"\x00\x01", "run.sh": (b"echo\n", 0o4755)})
        whiteout(upper / "gone")
        os.mkfifo(upper / "pipe")

    cs = make_changeset(write)
    plain = render_changeset(cs, color=False)
    assert "\x1b[" not in plain
    assert plain.splitlines()[0].startswith(f"changeset {cs.id}  pending  5 changes  sha256 {cs.sha256[:16]}")
    assert "  M  edit.txt  (+1 -1)" in plain
    assert "  D  gone  (file, 0644, -1 +0)" not in plain  # deleted files show type, mode, diff stat
    assert "  D  gone  (file, 0644, +0 -1)" in plain
    assert "  A  new.bin  (file, 0644, binary, - -> 2 B)" in plain
    assert "REFUSED: fifo" in plain
    assert "setuid/setgid bits are stripped when applied" in plain
    assert "--- a/edit.txt\n+++ b/edit.txt\n@@ -1 +1 @@\n-one\n+two" in plain
    coloured = render_changeset(cs, color=True)
    assert "\x1b[32m+two\x1b[0m" in coloured and "\x1b[31m-one\x1b[0m" in coloured


def test_json_form_carries_kind_diff_refusal_and_notes(make_changeset: MakeChangeset) -> None:
    def write(upper: Path) -> None:
        build(upper, {"run.sh": (b"echo\n", 0o4755)})
        os.mkfifo(upper / "pipe")

    data = json.loads(json.dumps(make_changeset(write).to_json()))
    by_path = {c["path"]: c for c in data["changes"]}
    assert data["status"] == "pending" and len(data["sha256"]) == 64
    assert by_path["run.sh"]["kind"] == "added"
    assert by_path["run.sh"]["new_mode"] == "0o4755"
    assert by_path["run.sh"]["notes"] == ["setuid/setgid bits are stripped when applied"]
    assert by_path["run.sh"]["diff"].startswith("--- a/run.sh\n+++ b/run.sh\n")
    assert by_path["pipe"]["refused"] == "fifo"


def test_render_of_an_empty_changeset(make_changeset: MakeChangeset) -> None:
    text = render_changeset(make_changeset(lambda u: None), color=False)
    assert text.splitlines()[0].endswith("empty  0 changes  sha256 " + text.split("sha256 ")[1][:16])
    assert "no changes" in text


def test_recover_ignores_stray_files_and_drops_dead_commit_folders(store: ChangesetStore) -> None:
    (store.state_dir / "commits" / "stray-file").write_text("x")
    (store.state_dir / "changesets" / "README").write_text("x")
    orphan = store.state_dir / "commits" / "0123456789abcdef"
    (orphan / "backup").mkdir(parents=True)  # a commit that died before writing its journal
    store.recover()
    assert not orphan.exists()
    assert (store.state_dir / "commits" / "stray-file").exists()
