"""A call does what it says and no more: `--skip-conflicts` skips a conflicting path with
everything below it, and a tool allowed to write one file writes that file, not what a link at
its name points to."""

from __future__ import annotations

from pathlib import Path

from tests.integration.conftest import sbx, snapshot


def test_skip_conflicts_never_half_applies_a_type_change(workspace: Path) -> None:
    (workspace / "d").mkdir()
    (workspace / "d" / "one").write_text("one\n")
    run = sbx("exec", "-w", str(workspace), "--json", "--", "sh", "-c",
              "rm -rf d; echo file > d; echo changed > hello.txt")
    assert run.code == 0, run.stdout
    cs = run.json["result"]["changeset"]
    assert {c["path"]: c["kind"] for c in cs["changes"]} == {"d": "type", "d/one": "deleted", "hello.txt": "modified"}
    (workspace / "d" / "new").write_text("the host's own\n")  # meanwhile, on the host
    before = snapshot(workspace)

    refused = sbx("apply", cs["id"], "-w", str(workspace), "--yes", "--json")
    assert refused.code == 1 and refused.json["error"]["code"] == "changeset.conflict"
    assert snapshot(workspace) == before

    applied = sbx("apply", cs["id"], "-w", str(workspace), "--yes", "--skip-conflicts", "--json")
    assert applied.code == 0, applied.stdout
    result = applied.json["result"]
    assert result["applied"] == ["hello.txt"]
    assert set(result["conflicts"]) == {"d", "d/one"}
    after = snapshot(workspace)
    assert after.pop("hello.txt") == ("file", 0o644, b"changed\n")
    before.pop("hello.txt")
    assert after == before  # d is still the directory it was, with both files in it
