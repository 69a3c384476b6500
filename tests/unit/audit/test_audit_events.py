"""Payloads of each event kind, the one-line helpers, and the human rendering."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from sandbox.audit import AuditLog, EventKind, Verification, Via, render_log, render_verification
from sandbox.audit import events as ev
from sandbox.errors import ConflictError, UnsafeChangeError
from sandbox.types import (
    Change,
    ChangeKind,
    Changeset,
    ChangesetStatus,
    CommitResult,
    Limits,
    Protections,
    StepResult,
)

PROTECTIONS = Protections(
    seccomp="sha256:8357" + "0" * 60,
    landlock_abi=7,
    landlock_enforced=True,
    network="none",
    user_namespace="host",
    capabilities=(),
    no_new_privileges=True,
    read_only_root=True,
    limits=Limits(),
    runtime="runc",
)


def step_result(**overrides: object) -> StepResult:
    fields: dict[str, object] = {
        "tool": "write_file",
        "args": {"path": "notes.txt", "content": "milk\n" * 1000},
        "exit_code": 0,
        "stdout": "secret output",
        "stderr": "",
        "timed_out": False,
        "protections": PROTECTIONS,
        "duration_s": 0.123456,
        "denied": ("read-only file system: /etc/hosts",),
    }
    fields.update(overrides)
    return StepResult(**fields)  # type: ignore[arg-type]


CHANGESET = Changeset(
    id="3b521b1e",
    workspace="/ws",
    status=ChangesetStatus.PENDING,
    sha256="9e" * 32,
    created_at=0.0,
    changes=(
        Change("README.md", ChangeKind.DELETED),
        Change(".git/hooks/pre-commit", ChangeKind.ADDED, risks=("risk.exec_bit", "risk.git_hook")),
        Change("dev", ChangeKind.ADDED, refused="device node"),
        Change("src/app.py", ChangeKind.MODIFIED),
    ),
    source="run_shell {}",
)


def test_one_action_is_linked_from_intent_to_undo(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.sqlite")
    ws = "/ws"
    action = log.action(ws, intent="tidy the notes", via="cli")
    aid = action.action_id
    assert aid is not None and len(aid) == 16
    plan = [{"tool": "write_file", "args": {"path": "n"}}]
    log.plan(ws, action_id=aid, steps=plan, model="m", model_digest="sha256:1")
    log.step(ws, action_id=aid, index=0, step=step_result(), landlock_digest="sha256:22")
    log.changeset(ws, action_id=aid, changeset=CHANGESET)
    log.approval(ws, changeset_id=CHANGESET.id, sha256=CHANGESET.sha256, via=Via.YES_FLAG)
    result = CommitResult(CHANGESET.id, ("README.md", "src/app.py"), refused=("dev",), commit_id="c1")
    log.commit(ws, changeset_id=CHANGESET.id, sha256=CHANGESET.sha256, result=result)
    log.undo(ws, result=CommitResult(CHANGESET.id, ("README.md", "src/app.py"), commit_id="c2"), undid="c1")
    entries = log.entries(ws, limit=None)
    assert [e.kind for e in entries] == [
        EventKind.ACTION, EventKind.PLAN, EventKind.STEP, EventKind.CHANGESET,
        EventKind.APPROVAL, EventKind.COMMIT, EventKind.UNDO,
    ]
    assert {e.action_id for e in entries[:4]} == {aid}
    assert {e.payload["changeset"] for e in entries[3:]} == {CHANGESET.id}
    assert entries[3].payload["sha256"] == entries[4].payload["sha256"] == entries[5].payload["sha256"]
    assert log.verify().ok


def test_step_payload_has_confinement_denials_and_exit_but_not_output() -> None:
    payload = ev.step_payload(action_id="a", index=2, step=step_result(), landlock_digest="sha256:22")
    assert payload["seccomp"] == PROTECTIONS.seccomp
    assert payload["landlock"] == "sha256:22"
    assert payload["protections"] == PROTECTIONS.to_json()
    assert payload["denied"] == ["read-only file system: /etc/hosts"]
    assert (payload["exit_code"], payload["index"], payload["duration_s"]) == (0, 2, 0.1235)
    assert "secret output" not in json.dumps(payload)
    assert payload["output"]["stdout"] == {"sha256": hashlib.sha256(b"secret output").hexdigest(), "bytes": 13}
    assert payload["output"]["stderr"]["bytes"] == 0
    content = payload["args"]["content"]  # 5000 characters: kept as a digest
    assert content["chars"] == 5000 and len(content["sha256"]) == 64 and content["head"].startswith("milk")
    assert payload["args"]["path"] == "notes.txt"


def test_plan_payload_digest_covers_the_full_plan() -> None:
    steps = [{"tool": "write_file", "args": {"path": "a", "content": "x" * 5000}}]
    one = ev.plan_payload(action_id="a", steps=steps, model="qwen", model_digest="sha256:m", provider="cpu")
    other = ev.plan_payload(
        action_id="a", steps=[{"tool": "write_file", "args": {"path": "a", "content": "x" * 4999 + "y"}}],
        model="qwen", model_digest="sha256:m",
    )
    assert one["model"] == {"name": "qwen", "digest": "sha256:m", "provider": "cpu"}
    assert one["digest"].startswith("sha256:") and one["digest"] != other["digest"]
    assert one["steps"][0]["args"]["content"]["chars"] == 5000


def test_changeset_payload_lists_paths_risks_and_refusals() -> None:
    payload = ev.changeset_payload(action_id="a", changeset=CHANGESET)
    assert payload["counts"] == {"added": 2, "deleted": 1, "modified": 1}
    assert payload["risks"] == ["risk.exec_bit", "risk.git_hook"]
    assert {"path": "dev", "kind": "added", "refused": "device node"} in payload["changes"]
    assert payload["changes_total"] == 4


def test_long_path_lists_are_cut_with_their_total() -> None:
    many = tuple(f"f{i}" for i in range(ev.MAX_PATHS + 5))
    payload = ev.commit_payload(changeset_id="c", sha256="s", result=CommitResult("c", many, commit_id="x"))
    assert len(payload["applied"]) == ev.MAX_PATHS and payload["applied_total"] == ev.MAX_PATHS + 5


@pytest.mark.parametrize(
    ("result", "outcome"),
    [
        (CommitResult("c", ("a",)), "applied"),
        (CommitResult("c", ("a",), conflicts=("b",)), "partial"),
        (CommitResult("c", (), conflicts=("b",)), "conflicts"),
        (CommitResult("c", (), refused=("b",)), "refused"),
        (CommitResult("c", ()), "nothing"),
    ],
)
def test_commit_outcomes(result: CommitResult, outcome: str) -> None:
    assert ev.commit_payload(changeset_id="c", sha256="s", result=result)["outcome"] == outcome


def test_a_commit_that_raised_records_the_error_and_its_paths() -> None:
    payload = ev.commit_payload(changeset_id="c", sha256="s", error=ConflictError("host changed", ("a", "b")))
    assert payload["outcome"] == "failed"
    assert payload["error"] == {"code": "changeset.conflict", "message": "host changed"}
    assert payload["conflicts"] == ["a", "b"]
    unsafe = ev.commit_payload(changeset_id="c", sha256=None, error=UnsafeChangeError("through a link"))
    assert unsafe["error"]["code"] == "changeset.unsafe"


def test_approval_says_who_and_how() -> None:
    payload = ev.approval_payload(changeset_id="c", sha256="s", via=Via.TERMINAL_PER_FILE, paths=["b", "a"])
    assert payload["via"] == "terminal per-file" and payload["paths"] == ["b", "a"] and payload["approved"]
    assert payload["by"] == ev.who() and payload["by"]
    declined = ev.approval_payload(changeset_id="c", sha256="s", via=Via.TERMINAL_NONE, approved=False, by="x")
    assert (declined["approved"], declined["paths"], declined["by"]) == (False, None, "x")
    assert ev.approval_payload(changeset_id="c", sha256="s", via="api sha256=abc")["via"] == "api sha256=abc"


def test_who_names_the_sudo_user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUDO_USER", "alice")
    assert ev.who().endswith("(sudo from alice)") or ev.who() == "alice"


def test_failure_of_an_unexpected_exception_is_internal() -> None:
    payload = ev.failure_payload(error=RuntimeError("boom"), action_id="a")
    assert payload["error"] == {"code": "sbx.internal", "message": "RuntimeError: boom"}


def test_render_log_one_line_per_entry(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.sqlite")
    aid = log.action("/ws", command=["sh", "-c", "echo hi > a"]).action_id
    assert aid is not None
    log.step("/ws", action_id=aid, index=0, step=step_result(), landlock_digest="sha256:2222")
    log.changeset("/ws", action_id=aid, changeset=CHANGESET)
    log.approval("/ws", changeset_id=CHANGESET.id, sha256=CHANGESET.sha256, via=Via.MCP, approved=False, by="agent")
    log.commit("/ws", changeset_id=CHANGESET.id, sha256=None, error=ConflictError("x", ("a",)))
    log.discard("/ws", changeset=CHANGESET)
    text = render_log(log.entries())
    lines = text.split("\n")
    assert len(lines) == 6
    assert f"[{aid[:8]}] exec via cli: sh -c echo hi > a" in lines[0]
    assert "write_file" in lines[1] and "exit 0" in lines[1] and "landlock sha256:2222" in lines[1]
    assert "denied 1: read-only file system: /etc/hosts" in lines[1]
    assert "RISKS risk.exec_bit, risk.git_hook" in lines[2]
    assert "declined changeset 3b521b1e (all paths) via mcp by agent" in lines[3]
    assert "failed, nothing applied: changeset.conflict" in lines[4]
    assert "/ws" not in text.replace("/etc/hosts", "")  # one workspace: not repeated on every line
    log.undo("/other", result=CommitResult("3b521b1e", ("a",), commit_id="u"))
    assert render_log(log.entries()).split("\n")[-1].endswith("(/other)")
    assert render_log([]) == "no audit entries"


def test_render_and_json_of_a_verification() -> None:
    ok = Verification(ok=True, checked=3, head="ab" * 32)
    assert render_verification(ok) == f"audit log intact: 3 entries, head {'ab' * 32}"
    bad = Verification(ok=False, checked=2, head="cd" * 32, broken_seq=3, reason="entry 3 does not match its hash")
    assert render_verification(bad).startswith("audit log BROKEN at entry 3: entry 3 does not match its hash")
    assert json.loads(json.dumps(bad.to_json()))["broken_seq"] == 3
    assert render_verification(Verification(ok=True, checked=0, head=None)) == "audit log: no entries"
