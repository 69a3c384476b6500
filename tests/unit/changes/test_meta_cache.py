"""The store parses a changeset's meta again only when its file changed: what another store (another
process) did to it is seen at once, whatever this one read before."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sandbox.changes import ChangesetStore
from sandbox.types import Changeset, ChangesetStatus


def _write(upper: Path) -> None:
    (upper / f"new-{upper.parent.name}.txt").write_text("x\n")


def test_what_another_store_changed_is_seen(tmp_path: Path, workspace: Path, store: ChangesetStore,
                                            make_changeset: Callable[[Callable[[Path], None]], Changeset]) -> None:
    first, second = make_changeset(_write), make_changeset(_write)
    assert len(store.lower_layers()) == 2
    other = ChangesetStore(tmp_path / "state", workspace)
    other.discard(first.id)
    assert [p.parent.name for p in store.lower_layers()] == [second.id]
    assert store.get(first.id).status == ChangesetStatus.DISCARDED
    other.apply(second.id)
    assert store.lower_layers() == []
    assert store.get(second.id).status == ChangesetStatus.APPLIED


def test_a_long_history_is_read_from_its_files_once(workspace: Path, store: ChangesetStore,
                                                    make_changeset: Callable[[Callable[[Path], None]], Changeset],
                                                    monkeypatch: object) -> None:
    import sandbox.changes.store as module

    for _ in range(5):
        make_changeset(lambda upper: None)  # empty changesets stay in the history
    store.lower_layers()
    parsed: list[Path] = []
    real = module.load_meta
    module.load_meta = lambda d: parsed.append(d) or real(d)  # type: ignore[assignment]
    try:
        store.lower_layers()
        store.lower_layers()
    finally:
        module.load_meta = real
    assert parsed == []
