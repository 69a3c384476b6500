"""Read a change layer: what did the action do to the view it ran on?

The effect of an upper directory U over a lower view L (older pending layers + the workspace) is
the difference between two views: `new` = [U, *L] and `old` = L, both resolved as overlayfs
does (see view.py). Walking them side by side and comparing entry by entry gets every overlay
subtlety right by construction: copied-up but unchanged files and parent dirs are no change; a
whiteout deletes whatever the old view had (nothing, if it had nothing); an opaque directory
hides every old entry below it; a non-directory over an old directory deletes the whole subtree.

Subtrees that both views resolve to the same real directories are identical and skipped, so the
walk costs what U contains, not what the workspace contains.

Changes come in tree order: a directory right before its contents, siblings by name. A deleted
directory is reported along with every entry below it (each DELETED), so that each one carries
its own base fingerprint for conflict detection.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import replace

from sandbox.changes import overlay, risk
from sandbox.changes.digest import hash_file, listing_digest
from sandbox.changes.nodes import SAFE_PERMISSION_BITS, Node, entry_type_of, special_kind
from sandbox.changes.paths import display, is_below, is_utf8, join
from sandbox.changes.records import ChangeRecord
from sandbox.changes.textdiff import diff_files
from sandbox.changes.view import Found, LayerStack
from sandbox.changes.walk import Limits
from sandbox.errors import StateError
from sandbox.types import Change, ChangeKind, EntryType

STRIPPED_BITS_NOTE = "setuid/setgid bits are stripped when applied"


def read_changes(upper: str, lowers: Sequence[str]) -> list[ChangeRecord]:
    """Changes made by `upper` over the view of `lowers` (top first, the workspace last).

    A layer deeper, with longer paths or with more entries than `walk.Limits` accepts is refused
    as a whole (`state.layer_refused`): half a review would not be the truth."""
    reader = _Reader(upper, lowers)
    reader.walk()
    return _refuse_blocked_removals(reader.records)


_Entry = tuple[str, Found | None, Found | None]


class _Reader:
    def __init__(self, upper: str, lowers: Sequence[str]) -> None:
        self.old = LayerStack(lowers)
        self.new = LayerStack([upper, *lowers])
        self.records: list[ChangeRecord] = []
        self.limits = Limits.for_roots([upper, *lowers])

    def walk(self) -> None:
        """Pre-order over both views with an explicit stack: no depth exhausts Python's."""
        stack = [self._children("", self.old.root(), self.new.root())]
        while stack:
            entry = next(stack[-1], None)
            if entry is None:
                stack.pop()
                continue
            below = self._visit(*entry)
            if below is not None:
                stack.append(self._children(entry[0], *below))

    def _children(self, path: str, old_dir: Found | None, new_dir: Found | None) -> Iterator[_Entry]:
        self.limits.check_dir(path)
        for name in self._names(old_dir, new_dir):
            child = join(path, name)
            self.limits.check(child)  # before any lookup: a path past PATH_MAX cannot even be lstat'ed
            old = self.old.child(old_dir, name) if old_dir is not None else None
            new = self.new.child(new_dir, name) if new_dir is not None else None
            yield child, old, new

    def _names(self, old_dir: Found | None, new_dir: Found | None) -> list[str]:
        if new_dir is None:
            return [] if old_dir is None else self.old.child_names(old_dir)
        if new_dir.layer == 0 and old_dir is not None and _reals(new_dir)[1:] == _reals(old_dir):
            # U's directory merges over exactly the old one: only names U holds can differ.
            return sorted(os.listdir(new_dir.real))
        names = set(self.new.child_names(new_dir))
        if old_dir is not None:
            names.update(self.old.child_names(old_dir))
        return sorted(names)

    def _visit(self, path: str, old: Found | None, new: Found | None) -> tuple[Found | None, Found | None] | None:
        """Record what changed at `path`; the directories to walk below it, if any."""
        if (old is None and new is None) or _same_entry(old, new):
            return None
        if new is not None and new.layer == 0:
            _refuse_overlay_features(new)
        if not is_utf8(path):
            self.records.append(_invalid_name(path, old, new))
            return None  # nothing below a name sbx cannot write is looked at
        record = self._compare(path, old, new)
        if record is not None:
            self.records.append(record)
        old_dir = old if old is not None and old.is_dir else None
        new_dir = new if new is not None and new.is_dir else None
        if old_dir is not None or new_dir is not None:
            return old_dir, new_dir
        return None

    def _compare(self, path: str, old: Found | None, new: Found | None) -> ChangeRecord | None:
        old_node = None if old is None else _node(old)
        new_node = None if new is None else _node(new)
        kind = _kind(old_node, new_node)
        if kind is None:  # also when neither side has an entry
            return None
        base = old_node
        if old is not None and old_node is not None and old.is_dir and not _is_dir(new_node):
            # Removing a directory: remember its names, so entries added on the host since are not lost.
            base = replace(old_node, listing=listing_digest(self.old.child_names(old)))
        change = _change(path, kind, old_node, new_node)
        if kind in (ChangeKind.ADDED, ChangeKind.MODIFIED, ChangeKind.DELETED):
            change = _with_diff(change, old, new)
        change = _with_risks(change, old, new)
        after = None if new_node is None else replace(new_node, mode=new_node.mode & SAFE_PERMISSION_BITS)
        return ChangeRecord(change, base, after)


def _kind(old: Node | None, new: Node | None) -> ChangeKind | None:
    if old is None or new is None:
        return ChangeKind.ADDED if new is not None else ChangeKind.DELETED if old is not None else None
    if old.type != new.type:
        return ChangeKind.TYPE
    if old.type == EntryType.SYMLINK:
        return ChangeKind.SYMLINK if old.target != new.target else None
    # A special file from the layer is always shown (and refused), whatever it looks like.
    if old.type == EntryType.OTHER or old.sha256 != new.sha256:
        return ChangeKind.MODIFIED
    return ChangeKind.MODE if old.mode != new.mode else None


def _change(path: str, kind: ChangeKind, old: Node | None, new: Node | None) -> Change:
    notes: tuple[str, ...] = ()
    if new is not None and new.type != EntryType.SYMLINK and new.mode & ~SAFE_PERMISSION_BITS:
        notes = (STRIPPED_BITS_NOTE,)
    return Change(
        path=path,
        kind=kind,
        old_type=None if old is None else old.type,
        new_type=None if new is None else new.type,
        old_mode=_shown_mode(old),
        new_mode=_shown_mode(new),
        old_target=None if old is None else _shown_target(old.target),
        new_target=None if new is None else _shown_target(new.target),
        old_size=None if old is None else old.size,
        new_size=None if new is None else new.size,
        refused=_refusal(old, new),
        notes=notes,
    )


def _refusal(old: Node | None, new: Node | None) -> str | None:
    if new is not None and new.special is not None:
        return new.special
    if new is not None and new.target is not None and not is_utf8(new.target):
        return "link target is not valid UTF-8"
    if old is not None and old.special is not None:
        return f"a {old.special} on the host cannot be backed up, so sbx does not replace it"
    if old is not None and old.target is not None and not is_utf8(old.target):
        return "the host link's target is not valid UTF-8"
    return None


def _with_diff(change: Change, old: Found | None, new: Found | None) -> Change:
    old_file = old.real if old is not None and entry_type_of(old.st.st_mode) == EntryType.FILE else None
    new_file = new.real if new is not None and entry_type_of(new.st.st_mode) == EntryType.FILE else None
    if old_file is None and new_file is None:
        return change
    result = diff_files(change.path, old_file, new_file)
    return replace(change, binary=result.binary, diff=result.diff)


def _with_risks(change: Change, old: Found | None, new: Found | None) -> Change:
    risks = risk.assess(change, old=_reader(old), new=_reader(new))
    return replace(change, risks=risks) if risks else change


def _reader(found: Found | None) -> risk.Reader | None:
    if found is None or entry_type_of(found.st.st_mode) != EntryType.FILE:
        return None
    return risk.file_reader(found.real)


def _node(found: Found) -> Node:
    st = found.st
    entry_type = entry_type_of(st.st_mode)
    mode = st.st_mode & 0o7777
    if entry_type == EntryType.FILE:
        sha256, size = hash_file(found.real)
        return Node(EntryType.FILE, mode, sha256=sha256, size=size)
    if entry_type == EntryType.SYMLINK:
        return Node(EntryType.SYMLINK, target=os.readlink(found.real))
    if entry_type == EntryType.DIR:
        return Node(EntryType.DIR, mode)
    return Node(EntryType.OTHER, mode, special=special_kind(st.st_mode))


def _shown_mode(node: Node | None) -> int | None:
    return None if node is None or node.type == EntryType.SYMLINK else node.mode


def _shown_target(target: str | None) -> str | None:
    return None if target is None else display(target)


def _invalid_name(path: str, old: Found | None, new: Found | None) -> ChangeRecord:
    kind = ChangeKind.ADDED if old is None else ChangeKind.DELETED if new is None else ChangeKind.MODIFIED
    change = Change(
        path=display(path),
        kind=kind,
        old_type=None if old is None else entry_type_of(old.st.st_mode),
        new_type=None if new is None else entry_type_of(new.st.st_mode),
        refused="name is not valid UTF-8",
    )
    return ChangeRecord(change, None, None)


def _refuse_blocked_removals(records: list[ChangeRecord]) -> list[ChangeRecord]:
    """A directory cannot be removed while something below it is refused: refuse the removal too."""
    refused = [r.path for r in records if r.refused is not None]
    if not refused:
        return records
    out = []
    for record in records:
        blocker = next((p for p in refused if is_below(p, record.path)), None) if record.removes_dir() else None
        if record.refused is None and blocker is not None:
            reason = f"it contains {blocker}, which sbx cannot remove"
            out.append(replace(record, change=replace(record.change, refused=reason)))
        else:
            out.append(record)
    return out


def _refuse_overlay_features(found: Found) -> None:
    name = overlay.forbidden_xattr(found.real)
    if name is not None:
        raise StateError(
            f"the change layer uses {name} at {display(found.real)}; sbx mounts overlays with "
            "redirect_dir=off and metacopy=off, so this layer did not come from sbx",
            code="state.unsupported_layer",
        )


def _is_dir(node: Node | None) -> bool:
    return node is not None and node.type == EntryType.DIR


def _reals(found: Found) -> tuple[str, ...]:
    return tuple(real for _, real in found.merged)


def _same_entry(old: Found | None, new: Found | None) -> bool:
    if old is None or new is None:
        return False
    return old.real == new.real and _reals(old) == _reals(new)
