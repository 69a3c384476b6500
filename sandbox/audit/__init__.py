"""The audit trail: an append-only, hash-chained SQLite log linking each intent to its plan,
steps, changeset, approval, commit and undo. See docs/audit.md."""

from sandbox.audit.chain import GENESIS, Verification, entry_hash
from sandbox.audit.events import EventKind, Via, new_action_id
from sandbox.audit.log import AuditLog, Entry, default_path
from sandbox.audit.render import render_log, render_verification

__all__ = [
    "GENESIS",
    "AuditLog",
    "Entry",
    "EventKind",
    "Verification",
    "Via",
    "default_path",
    "entry_hash",
    "new_action_id",
    "render_log",
    "render_verification",
]
