"""One pass over each committed byte: the changeset digest at commit time takes the files' content
digests from the review, and the staged copies are what is checked, so a layer changed after
review is still refused, before or during the commit, and the host is left as it was."""

from __future__ import annotations

import errno
import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from changes_fs import build, snapshot

from sandbox.changes import ChangesetStore, digest, fastcopy
from sandbox.errors import ChangesetError, SbxError
from sandbox.types import Changeset

MakeChangeset = Callable[[Callable[[Path], None]], Changeset]


def _upper(store: ChangesetStore, cs: Changeset) -> Path:
    return store.state_dir / "changesets" / cs.id / "upper"


def test_reviewed_digests_give_the_same_changeset_digest(tmp_path: Path) -> None:
    upper = tmp_path / "upper"
    build(upper, {"a": b"one", "d": {"b": b"two"}, "link": ("link", "a")})
    reviewed = {p: hashlib.sha256(c).hexdigest() for p, c in (("a", b"one"), ("d/b", b"two"))}
    assert digest.layer_digest(str(upper), reviewed) == digest.layer_digest(str(upper))


def test_apply_reads_no_file_of_the_layer_before_it_copies_it(
    store: ChangesetStore, make_changeset: MakeChangeset, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cs = make_changeset(lambda u: build(u, {"a": b"one", "d": {"b": b"two"}}))

    def no_reread(path: str) -> tuple[str, int]:
        raise AssertionError(f"{path} hashed again before the commit")

    monkeypatch.setattr(digest, "hash_file", no_reread)
    result = store.apply(cs.id, sha256=cs.sha256)
    assert set(result.applied) == {"a", "d", "d/b"}
    assert (workspace / "d" / "b").read_bytes() == b"two"


@pytest.mark.parametrize("size", [10, 8 << 20])  # hashed inline, and in a worker thread
def test_content_changed_after_review_is_refused_and_nothing_applied(
    store: ChangesetStore, make_changeset: MakeChangeset, workspace: Path, size: int
) -> None:
    build(workspace, {"keep": b"host"})
    cs = make_changeset(lambda u: build(u, {"a": os.urandom(size), "b": os.urandom(size), "keep": b"new"}))
    before = snapshot(workspace)
    (_upper(store, cs) / "b").write_bytes(os.urandom(size))
    with pytest.raises(ChangesetError) as info:
        store.apply(cs.id, sha256=cs.sha256)
    assert info.value.code == "changeset.hash_mismatch"
    assert snapshot(workspace) == before
    assert list((store.state_dir / "commits").iterdir()) == []


def test_an_entry_added_to_the_layer_after_review_is_refused_before_the_commit(
    store: ChangesetStore, make_changeset: MakeChangeset, workspace: Path
) -> None:
    cs = make_changeset(lambda u: build(u, {"a": b"one"}))
    (_upper(store, cs) / "smuggled").write_bytes(b"not reviewed")
    with pytest.raises(ChangesetError) as info:
        store.apply(cs.id, sha256=cs.sha256)
    assert info.value.code == "changeset.hash_mismatch"
    assert list(workspace.iterdir()) == []


def test_a_copy_failing_in_a_worker_rolls_the_commit_back(
    store: ChangesetStore, make_changeset: MakeChangeset, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build(workspace, {"big": b"old", "small": b"old"})
    cs = make_changeset(lambda u: build(u, {"big": os.urandom(8 << 20), "small": b"new", "other": b"new"}))
    before = snapshot(workspace)
    real_copy = fastcopy.copy_fd

    def full_disk(src: int, dst: int, *rest: fastcopy.Progress | None) -> None:
        if os.fstat(src).st_size > fastcopy.PARALLEL_MIN:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_copy(src, dst, *rest)

    monkeypatch.setattr(fastcopy, "copy_fd", full_disk)
    with pytest.raises(SbxError) as info:
        store.apply(cs.id, sha256=cs.sha256)
    assert info.value.code == "changeset.commit_failed"
    assert snapshot(workspace) == before
    monkeypatch.setattr(fastcopy, "copy_fd", real_copy)
    assert set(store.apply(cs.id, sha256=cs.sha256).applied) == {"big", "small", "other"}


def test_finalize_reads_each_file_once_and_gets_the_digest_of_the_layer_as_it_is(
    store: ChangesetStore, make_changeset: MakeChangeset, workspace: Path
) -> None:
    build(workspace, {"same": b"same", "edit": b"old", "mode": b"m"})
    cs = make_changeset(lambda u: build(u, {"same": b"same", "edit": b"new", "mode": (b"m", 0o755),
                                            "d": {"new": b"n", "link": ("link", "../same")}}))
    assert cs.sha256 == digest.layer_digest(str(_upper(store, cs)))
