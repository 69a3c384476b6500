"""The change-layer reader on overlay-shaped folders built by hand."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from changes_fs import build, kinds, opaque_dir, whiteout

from sandbox.changes.digest import layer_digest
from sandbox.changes.layers import STRIPPED_BITS_NOTE, read_changes
from sandbox.errors import StateError
from sandbox.types import ChangeKind, EntryType


def read(upper: Path, *lowers: Path) -> dict[str, object]:
    return {r.path: r for r in read_changes(str(upper), [str(p) for p in lowers])}


def test_added_modified_and_copied_up_but_unchanged(tmp_path: Path) -> None:
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    build(lower, {"same.txt": b"same\n", "edit.txt": b"one\n", "src": {"keep.py": b"x = 1\n"}})
    # overlay copies up a file opened for writing and its parent dirs, even if nothing changed
    build(upper, {"same.txt": b"same\n", "edit.txt": b"two\n", "src": {"keep.py": b"x = 1\n", "new.py": b"y\n"}})
    records = read(upper, lower)
    assert set(records) == {"edit.txt", "src/new.py"}
    edit = records["edit.txt"].change  # type: ignore[attr-defined]
    assert edit.kind == ChangeKind.MODIFIED
    assert edit.diff.startswith("--- a/edit.txt\n+++ b/edit.txt\n")
    assert "-one\n+two\n" in edit.diff
    new = records["src/new.py"].change  # type: ignore[attr-defined]
    assert (new.kind, new.new_type, new.new_mode, new.new_size) == (ChangeKind.ADDED, EntryType.FILE, 0o644, 2)


def test_whiteouts_delete_what_the_lower_view_had_and_nothing_else(tmp_path: Path) -> None:
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    build(lower, {"gone.txt": b"bye\n", "tree": {"a": b"a", "sub": {"b": b"b"}}})
    build(upper, {})
    whiteout(upper / "gone.txt")
    whiteout(upper / "never-existed")
    whiteout(upper / "tree")
    records = read(upper, lower)
    assert kinds([r.change for r in records.values()]) == {  # type: ignore[attr-defined]
        "gone.txt": "deleted",
        "tree": "deleted",
        "tree/a": "deleted",
        "tree/sub": "deleted",
        "tree/sub/b": "deleted",
    }
    assert list(records) == ["gone.txt", "tree", "tree/a", "tree/sub", "tree/sub/b"]  # tree order
    assert records["tree"].base.listing is not None  # type: ignore[attr-defined]
    assert "-bye\n" in records["gone.txt"].change.diff  # type: ignore[attr-defined]


@pytest.mark.parametrize("namespace", ["trusted", "user"])
def test_opaque_dir_hides_every_lower_entry_below_it(tmp_path: Path, namespace: str) -> None:
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    build(lower, {"d": {"old": b"1", "keep-name": b"old content", "sub": {"deep": b"2"}}})
    opaque_dir(upper / "d", namespace)
    build(upper / "d", {"keep-name": b"old content", "fresh": b"3"})
    changes = kinds([r.change for r in read(upper, lower).values()])  # type: ignore[attr-defined]
    # `d` itself is still a dir with the same mode: no change; same-content file: no change
    assert changes == {"d/fresh": "added", "d/old": "deleted", "d/sub": "deleted", "d/sub/deep": "deleted"}


def test_type_changes_both_ways(tmp_path: Path) -> None:
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    build(lower, {"was-dir": {"child": b"c"}, "was-file": b"f", "was-link": ("link", "x")})
    build(upper, {"was-dir": b"now a file", "was-link": b"now a file too"})
    opaque_dir(upper / "was-file")
    build(upper / "was-file", {"inside": b"i"})
    records = read(upper, lower)
    changes = kinds([r.change for r in records.values()])  # type: ignore[attr-defined]
    assert changes == {
        "was-dir": "type",
        "was-dir/child": "deleted",
        "was-file": "type",
        "was-file/inside": "added",
        "was-link": "type",
    }
    change = records["was-dir"].change  # type: ignore[attr-defined]
    assert (change.old_type, change.new_type) == (EntryType.DIR, EntryType.FILE)


def test_symlinks_are_read_not_followed(tmp_path: Path) -> None:
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    build(lower, {"link": ("link", "old-target"), "same": ("link", "t")})
    build(upper, {"link": ("link", "new-target"), "escape": ("link", "/etc/passwd"), "same": ("link", "t")})
    records = read(upper, lower)
    assert kinds([r.change for r in records.values()]) == {"link": "symlink", "escape": "added"}  # type: ignore[attr-defined]
    escape = records["escape"].change  # type: ignore[attr-defined]
    assert (escape.new_type, escape.new_target, escape.diff) == (EntryType.SYMLINK, "/etc/passwd", None)
    link = records["link"].change  # type: ignore[attr-defined]
    assert (link.old_target, link.new_target) == ("old-target", "new-target")


def test_mode_only_and_setuid_note(tmp_path: Path) -> None:
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    build(lower, {"run.sh": b"echo\n", "dir": {}, "both": b"a\n"})
    build(upper, {"run.sh": (b"echo\n", 0o4755), "dir": ("dir", 0o700, {}), "both": (b"b\n", 0o600)})
    records = read(upper, lower)
    run = records["run.sh"]
    assert (run.change.kind, run.change.new_mode, run.change.notes) == (ChangeKind.MODE, 0o4755, (STRIPPED_BITS_NOTE,))  # type: ignore[attr-defined]
    assert run.after.mode == 0o755  # type: ignore[attr-defined]
    assert records["dir"].change.kind == ChangeKind.MODE  # type: ignore[attr-defined]
    both = records["both"].change  # type: ignore[attr-defined]
    assert (both.kind, both.old_mode, both.new_mode) == (ChangeKind.MODIFIED, 0o644, 0o600)


def test_special_files_and_bad_names_are_refused(tmp_path: Path) -> None:
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    build(lower, {"host-dir": {"child": b"x"}})
    build(upper, {})
    os.mkfifo(upper / "fifo")
    os.mknod(upper / "dev", stat.S_IFCHR | 0o600, os.makedev(1, 3))
    (upper / os.fsdecode(b"bad\xffname")).write_bytes(b"x")
    records = {r.change.path: r.change for r in read_changes(str(upper), [str(lower)])}
    assert records["fifo"].refused == "fifo"
    assert records["dev"].refused == "device node"
    assert records["dev"].new_type == EntryType.OTHER
    assert records["bad\\xffname"].refused == "name is not valid UTF-8"


def test_removing_a_dir_that_holds_something_unremovable_is_refused(tmp_path: Path) -> None:
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    build(lower, {"d": {"ok": b"1"}})
    os.mkfifo(lower / "d" / "pipe")
    build(upper, {})
    whiteout(upper / "d")
    records = {r.change.path: r.change for r in read_changes(str(upper), [str(lower)])}
    assert records["d/pipe"].refused is not None
    assert records["d/ok"].refused is None
    assert records["d"].refused == "it contains d/pipe, which sbx cannot remove"


def test_redirect_or_metacopy_xattrs_mean_the_layer_is_not_ours(tmp_path: Path) -> None:
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    build(lower, {})
    build(upper, {"moved": {}})
    os.setxattr(upper / "moved", "trusted.overlay.redirect", b"/elsewhere")
    with pytest.raises(StateError) as info:
        read_changes(str(upper), [str(lower)])
    assert info.value.code == "state.unsupported_layer"


def test_stacked_layers_resolve_like_overlayfs(tmp_path: Path) -> None:
    """host <- older pending layer <- this layer: the older layer's whiteouts and opaque dirs
    hide host entries, and this layer's changes are against the combined view."""
    host, older, upper = tmp_path / "host", tmp_path / "older", tmp_path / "upper"
    build(host, {"f": b"host f\n", "d": {"hidden": b"h"}, "keep": b"k"})
    build(older, {"g": b"from older\n"})
    whiteout(older / "f")
    opaque_dir(older / "d")
    build(older / "d", {"visible": b"v"})
    # this layer: recreate f (it was deleted below), delete g (only in older), touch d/visible
    build(upper, {"f": b"again\n", "d": {"visible": b"v2"}})
    whiteout(upper / "g")
    whiteout(upper / "d" / "hidden")  # hidden by the opaque dir already: no change
    changes = kinds([r.change for r in read(upper, older, host).values()])  # type: ignore[attr-defined]
    assert changes == {"f": "added", "g": "deleted", "d/visible": "modified"}


def test_text_binary_and_large_files(tmp_path: Path) -> None:
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    big = b"line\n" * 60_000  # 300 kB: over the diff limit
    build(lower, {"bin": b"\x00\x01", "big.txt": big, "tail": b"no newline"})
    build(upper, {"bin": b"\x00\x02", "big.txt": big + b"more\n", "latin1": b"caf\xe9\n", "tail": b"no newline\n"})
    records = {r.change.path: r.change for r in read_changes(str(upper), [str(lower)])}
    assert (records["bin"].binary, records["bin"].diff) == (True, None)
    assert (records["latin1"].binary, records["latin1"].diff) == (True, None)
    assert (records["big.txt"].binary, records["big.txt"].diff) == (False, None)
    assert records["tail"].diff.endswith("-no newline\n\\ No newline at end of file\n+no newline\n")


def test_layer_digest_covers_content_mode_links_and_markers(tmp_path: Path) -> None:
    upper = tmp_path / "upper"
    build(upper, {"a": b"1", "d": {"l": ("link", "x")}})
    first = layer_digest(str(upper))
    assert first == layer_digest(str(upper))
    steps = [
        lambda: (upper / "a").write_bytes(b"2"),
        lambda: os.chmod(upper / "a", 0o600),
        lambda: (os.unlink(upper / "d" / "l"), os.symlink("y", upper / "d" / "l")),
        lambda: whiteout(upper / "w"),
        lambda: os.setxattr(upper / "d", "trusted.overlay.opaque", b"y"),
    ]
    seen = {first}
    for step in steps:
        step()
        digest = layer_digest(str(upper))
        assert digest not in seen
        seen.add(digest)
