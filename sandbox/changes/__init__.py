"""The change layer: read it, show it, commit it to the host, undo it.

An action writes to an overlay upper directory (its change layer); this package turns that
directory into a reviewable `Changeset` and, on approval, applies it to the host workspace with
a write-ahead journal, conflict detection and undo. See docs/changes.md.
"""

from sandbox.changes.commit import Checkpoint
from sandbox.changes.render import render_changeset, render_risks
from sandbox.changes.store import ChangesetStore, Layer

__all__ = ["ChangesetStore", "Checkpoint", "Layer", "render_changeset", "render_risks"]
