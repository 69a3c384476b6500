"""Effects sbx cannot review (a tree deeper than any walk should take, a path past PATH_MAX, an
overlay-reserved xattr) are refused: the tool's output is still returned, its step is in the audit
log before the refusal, the layer is gone, the host is untouched, and every other command on the
workspace keeps working."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import sbx, snapshot

DEEP = "import os\nprint('tool output')\nfor i in range(1500): os.mkdir('d'); os.chdir('d')"
LONG = "import os\nprint('tool output')\nfor i in range(25): os.mkdir('x' * 200); os.chdir('x' * 200)"
XATTR = ("import os\nprint('tool output')\nopen('f', 'w').write('x')\n"
         "os.setxattr('f', 'user.overlay.redirect', b'/elsewhere')")


def _entries(workspace: Path) -> list[dict[str, Any]]:
    log = sbx("log", "-w", str(workspace), "--json")
    assert log.code == 0, log.stdout
    entries: list[dict[str, Any]] = log.json["result"]["entries"]
    return entries


def _changesets_dir(sbx_state: Path) -> Path:
    (workspace_state,) = (sbx_state / "workspaces").iterdir()
    return workspace_state / "changesets"


def _still_usable(workspace: Path) -> None:
    listed = sbx("list", "-w", str(workspace), "--json")
    assert listed.code == 0, listed.stdout
    assert all(cs["status"] != "pending" for cs in listed.json["result"]["changesets"])
    for command in (("discard",), ("undo",), ("diff",)):
        run = sbx(*command, "-w", str(workspace), "--json")
        assert run.code == 1 and run.json["error"]["code"].startswith("changeset."), run.stdout
    after = sbx("exec", "-w", str(workspace), "--json", "--", "sh", "-c", "echo ok > ok.txt")
    assert after.code == 0, after.stdout
    assert [c["path"] for c in after.json["result"]["changeset"]["changes"]] == ["ok.txt"]


def test_a_tree_deeper_than_any_review_is_discarded_and_recorded(workspace: Path, sbx_state: Path) -> None:
    """The change budget stops a deep tree before the review walks it (`denied`, layer discarded);
    the review's own depth limit is the same, for layers that reach it some other way."""
    before = snapshot(workspace)
    run = sbx("exec", "-w", str(workspace), "--json", "--", "python3", "-c", DEEP, timeout=300)
    assert run.code == 0, run.stdout + run.stderr
    result = run.json["result"]
    (step,) = result["steps"]
    assert step["stdout"] == "tool output\n"
    assert any("deeper than 256 levels" in d for d in step["denied"]), step["denied"]
    assert result["changeset"]["status"] == "discarded" and result["changeset"]["changes"] == []
    assert snapshot(workspace) == before
    assert [p.name for p in _changesets_dir(sbx_state).glob("*/upper")] == []
    assert any(e["kind"] == "step" and e["payload"]["exit_code"] == 0 for e in _entries(workspace))
    _still_usable(workspace)


@pytest.mark.parametrize(("script", "code", "says"), [
    (LONG, "state.layer_refused", "a path longer than"),
    (XATTR, "state.unsupported_layer", "overlay.redirect"),  # rootless: escaped, user.overlay.overlay.*
], ids=["path-over-path-max", "overlay-xattr"])
def test_an_unreviewable_effect_is_refused_and_recorded(workspace: Path, sbx_state: Path, script: str, code: str,
                                                        says: str) -> None:
    before = snapshot(workspace)
    run = sbx("exec", "-w", str(workspace), "--json", "--", "python3", "-c", script, timeout=300)
    assert run.code == 1, run.stdout + run.stderr
    error = run.json["error"]
    assert error["code"] == code and says in error["message"]
    assert "the layer was discarded and the workspace is untouched" in error["message"]
    (step,) = error["steps"]
    assert step["stdout"] == "tool output\n" and step["exit_code"] == 0
    assert snapshot(workspace) == before
    changesets = _changesets_dir(sbx_state)
    assert [p.name for p in changesets.glob("*/upper")] == []  # no layer kept, whatever its depth

    kinds = [(e["kind"], e["payload"]) for e in _entries(workspace)]
    step_at = next(i for i, (kind, _) in enumerate(kinds) if kind == "step")
    failure_at = next(i for i, (kind, _) in enumerate(kinds) if kind == "failure")
    assert step_at < failure_at
    assert kinds[step_at][1]["exit_code"] == 0 and kinds[step_at][1]["seccomp"].startswith("sha256:")
    assert kinds[step_at][1]["output"]["stdout"] == {"sha256": hashlib.sha256(b"tool output\n").hexdigest(),
                                                     "bytes": 12}
    assert kinds[failure_at][1]["error"]["code"] == code
    _still_usable(workspace)


def test_the_refusal_shows_the_tools_output_on_a_terminal_less_run(workspace: Path) -> None:
    run = sbx("exec", "-w", str(workspace), "--", "python3", "-c", XATTR, timeout=300)
    assert run.code == 1
    assert run.stdout == "tool output\n"
    lines = run.stderr.splitlines()
    assert lines[-2].startswith("sbx: [run_shell: exit 0")
    assert lines[-1].startswith("sbx: error: changeset ") and "overlay.redirect" in lines[-1]


def test_a_dead_actions_deep_layer_does_not_brick_the_workspace(workspace: Path, sbx_state: Path) -> None:
    """The layer of an action whose process died (here: made by hand, as deep as a tool makes it)
    is removed by the next command, whatever its depth."""
    ok = sbx("exec", "-w", str(workspace), "--json", "--", "sh", "-c", "echo a > a.txt")
    cs = ok.json["result"]["changeset"]["id"]
    upper = _changesets_dir(sbx_state) / cs / "upper"
    fd = os.open(upper, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(3000):
        os.mkdir("d", dir_fd=fd)
        child = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = child
    os.close(fd)
    discarded = sbx("discard", cs, "-w", str(workspace), "--json")
    assert discarded.code == 0, discarded.stdout
    assert not upper.exists()
    _still_usable(workspace)


def test_a_changeset_folder_recovery_cannot_handle_is_quarantined(workspace: Path, sbx_state: Path) -> None:
    ok = sbx("exec", "-w", str(workspace), "--json", "--", "sh", "-c", "echo a > a.txt")
    cs = ok.json["result"]["changeset"]["id"]
    folder = _changesets_dir(sbx_state) / cs
    (folder / "meta.json").write_text("{not json")
    for command in (("list",), ("undo",), ("discard",)):
        run = sbx(*command, "-w", str(workspace), "--json")
        assert run.code in (0, 1) and (run.code == 0 or run.json["error"]["code"].startswith("changeset.")), run.stdout
    assert not folder.exists()
    (moved,) = (folder.parent.parent / "quarantine").iterdir()
    assert moved.name.startswith(cs) and (moved / "upper" / "a.txt").read_text() == "a\n"
    failures = [e["payload"] for e in _entries(workspace) if e["kind"] == "failure"]
    assert [f["error"]["code"] for f in failures] == ["state.layer_quarantined"]
    assert str(moved) in failures[0]["error"]["message"]
    assert not (workspace / "a.txt").exists()
    _still_usable(workspace)
