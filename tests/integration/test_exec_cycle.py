"""The runtime core end to end through the real CLI and real Podman: exec -> review -> apply -> undo."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from sandbox.config import Settings
from tests.integration.conftest import SBX, leftovers, sbx, snapshot

pytestmark = pytest.mark.usefixtures("engine")  # every test here runs on both engines

RUNS = Settings.from_env().runtime_dir / "runs"


def test_exec_leaves_host_untouched_until_apply_then_undo_restores(workspace: Path) -> None:
    before = snapshot(workspace)
    script = "echo more >> hello.txt; rm src/main.py; mkdir out; echo new > out/n.txt; chmod 700 hello.txt"
    run = sbx("exec", "-w", str(workspace), "--json", "--", "sh", "-c", script)
    assert run.code == 0, run.stderr
    result = run.json["result"]
    cs = result["changeset"]
    assert cs["status"] == "pending"
    kinds = {c["path"]: c["kind"] for c in cs["changes"]}
    assert kinds["hello.txt"] == "modified"
    assert kinds["src/main.py"] == "deleted"
    assert kinds["out/n.txt"] == "added"
    assert "+more" in next(c for c in cs["changes"] if c["path"] == "hello.txt")["diff"]
    assert result["steps"][0]["exit_code"] == 0
    assert snapshot(workspace) == before, "nothing may reach the host before approval"

    shown = sbx("diff", cs["id"], "-w", str(workspace), "--json").json["result"]["changeset"]
    assert shown["sha256"] == cs["sha256"]

    applied = sbx("apply", cs["id"], "-w", str(workspace), "--yes", "--json")
    assert applied.code == 0, applied.stdout
    assert (workspace / "hello.txt").read_text() == "hello\nmore\n"
    assert (workspace / "hello.txt").stat().st_mode & 0o777 == 0o700
    assert not (workspace / "src" / "main.py").exists()
    assert (workspace / "out" / "n.txt").read_text() == "new\n"
    assert sbx("diff", cs["id"], "-w", str(workspace), "--json").json["result"]["changeset"]["status"] == "applied"

    undone = sbx("undo", "-w", str(workspace), "--json")
    assert undone.code == 0, undone.stdout
    assert snapshot(workspace) == before


def test_without_terminal_or_yes_nothing_is_applied(workspace: Path) -> None:
    run = sbx("exec", "-w", str(workspace), "--", "sh", "-c", "echo x > new.txt")
    assert run.code == 0, run.stderr
    assert "pending" in run.stderr
    assert not (workspace / "new.txt").exists()
    refused = sbx("apply", "-w", str(workspace))
    assert refused.code != 0 and "--yes" in refused.stderr
    assert not (workspace / "new.txt").exists()


def test_exec_yes_applies_at_once_and_tool_failure_is_data(workspace: Path) -> None:
    script = "echo x > y.txt; echo oops >&2; exit 3"
    run = sbx("exec", "-w", str(workspace), "--yes", "--json", "--", "sh", "-c", script)
    assert run.code == 0
    result = run.json["result"]
    assert result["steps"][0]["exit_code"] == 3
    assert result["steps"][0]["stderr"] == "oops\n"
    assert result["changeset"]["status"] == "applied"
    assert (workspace / "y.txt").read_text() == "x\n"


def test_pending_actions_stack_and_keep_their_own_diffs(workspace: Path) -> None:
    first = sbx("exec", "-w", str(workspace), "--json", "--", "sh", "-c", "echo one > a.txt").json["result"]
    second = sbx("exec", "-w", str(workspace), "--json", "--", "sh", "-c", "cat a.txt; echo two >> a.txt")
    second = second.json["result"]
    assert second["steps"][0]["stdout"] == "one\n", "the second action must see the first's pending effect"
    assert [c["kind"] for c in first["changeset"]["changes"]] == ["added"]
    assert [c["kind"] for c in second["changeset"]["changes"]] == ["modified"]
    assert not (workspace / "a.txt").exists()
    assert sbx("apply", first["changeset"]["id"], "-w", str(workspace), "--yes").code == 0
    assert sbx("apply", second["changeset"]["id"], "-w", str(workspace), "--yes").code == 0
    assert (workspace / "a.txt").read_text() == "one\ntwo\n"


def test_discard_drops_the_changeset(workspace: Path) -> None:
    cs = sbx("exec", "-w", str(workspace), "--json", "--", "touch", "z").json["result"]["changeset"]
    assert sbx("discard", cs["id"], "-w", str(workspace)).code == 0
    assert not (workspace / "z").exists()
    again = sbx("apply", cs["id"], "-w", str(workspace), "--yes", "--json")
    assert again.code != 0 and again.json["ok"] is False


def test_timeout_kills_the_container_and_leaves_nothing(workspace: Path) -> None:
    started = time.monotonic()
    run = sbx("exec", "-w", str(workspace), "--timeout", "1", "--json", "--", "sleep", "60")
    assert run.code == 0, run.stdout
    step = run.json["result"]["steps"][0]
    assert step["timed_out"] is True and step["exit_code"] is None
    assert time.monotonic() - started < 20
    assert leftovers(RUNS) == {"containers": [], "mounts": [], "runs": []}


def test_output_is_captured_with_a_cap(workspace: Path) -> None:
    run = sbx("exec", "-w", str(workspace), "--json", "--", "sh", "-c", "yes | head -c 5000000")
    step = run.json["result"]["steps"][0]
    assert step["stdout_truncated"] is True
    assert len(step["stdout"]) == 1024 * 1024


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "kill"])
def test_ctrl_c_leaves_nothing_behind(workspace: Path, sig: signal.Signals) -> None:
    proc = subprocess.Popen([*SBX, "exec", "-w", str(workspace), "--", "sleep", "60"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not leftovers()["containers"]:
        time.sleep(0.1)
    assert leftovers()["containers"], "the container never started"
    proc.send_signal(sig)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert "interrupted" in err
    assert leftovers(RUNS) == {"containers": [], "mounts": [], "runs": []}
    assert sbx("list", "-w", str(workspace), "--json").json["result"]["changesets"] == []


def test_bad_input_is_one_line_and_changes_nothing(workspace: Path, tmp_path: Path) -> None:
    before = snapshot(workspace)
    missing = sbx("exec", "-w", str(tmp_path / "nope"), "--json", "--", "true")
    assert missing.code != 0 and missing.json["error"]["code"].startswith("workspace.")

    unknown = sbx("apply", "deadbeef", "-w", str(workspace), "--yes", "--json")
    assert unknown.code != 0 and unknown.json["error"]["code"] == "changeset.not_found"

    not_found = sbx("exec", "-w", str(workspace), "--json", "--tool", "run_shell", "--arg", "command=")
    assert not_found.code != 0 and not_found.json["error"]["code"] == "tool.invalid_args"

    no_image = sbx("exec", "-w", str(workspace), "--json", "--", "true", env={"SBX_IMAGE": "localhost/sbx/absent:1"})
    assert no_image.code != 0 and no_image.json["error"]["code"] == "engine.image_not_found"

    for args in (["exec", "-w", str(workspace), "--", "true"], ["diff", "-w", str(workspace), "cafe"]):
        plain = sbx(*args, env={"SBX_IMAGE": "localhost/sbx/absent:1"})
        assert plain.code != 0
        assert plain.stderr.startswith("sbx: error:") and len(plain.stderr.strip().splitlines()) == 1
        assert "Traceback" not in plain.stderr

    assert snapshot(workspace) == before
    assert leftovers(RUNS) == {"containers": [], "mounts": [], "runs": []}


def test_engine_unreachable_is_a_clear_error(workspace: Path, tmp_path: Path, engine: str) -> None:
    env = {"PATH": "/nonexistent", "SBX_RUNTIME_DIR": str(tmp_path / "rt"), "SBX_PODMAN": "private",
           "DOCKER_HOST": f"unix://{tmp_path / 'no-daemon.sock'}"}
    run = sbx("exec", "-w", str(workspace), "--json", "--", "true", env=env)
    assert run.code != 0
    assert run.json["error"]["code"].startswith("engine.")
    message = run.json["error"]["message"]
    if os.geteuid() != 0:  # rootless, the missing newuidmap (PATH) is found first, and named
        assert "podman" in message or "rootless" in message
    else:
        assert ("podman" if engine == "podman" else "Docker API") in message
    assert sbx("list", "-w", str(workspace), "--json").json["result"]["changesets"] == []


def test_doctor_reports_what_it_found_and_configured(podman_ready: None) -> None:
    report = sbx("doctor", "--json").json["result"]
    assert report["host"]["runtime"] in ("runc", "crun")
    assert report["image"]["present"] is True
    assert report["podman"]["server_version"]
    assert report["planner"]["default_model"] and isinstance(report["planner"]["services"], list)
    if os.path.exists("/sys/fs/cgroup/unified/cgroup.controllers"):
        assert report["host"]["cgroups"] == "hybrid" and report["host"]["runtime"] == "runc"


def test_a_conflict_is_reported_and_rebase_reruns_on_the_new_state(workspace: Path) -> None:
    cs = sbx("exec", "-w", str(workspace), "--json", "--", "sh", "-c", "echo more >> hello.txt").json["result"]
    (workspace / "hello.txt").write_text("changed on the host\n")
    conflict = sbx("apply", cs["changeset"]["id"], "-w", str(workspace), "--yes", "--json")
    assert conflict.code != 0 and conflict.json["error"]["code"] == "changeset.conflict"
    assert conflict.json["error"]["paths"] == ["hello.txt"]
    assert (workspace / "hello.txt").read_text() == "changed on the host\n", "a conflict is never overwritten"
    rebased = sbx("rebase", cs["changeset"]["id"], "-w", str(workspace), "--json")
    assert rebased.code == 0, rebased.stdout
    new = rebased.json["result"]["changeset"]
    assert new["id"] != cs["changeset"]["id"] and new["status"] == "pending"
    assert sbx("apply", new["id"], "-w", str(workspace), "--yes").code == 0
    assert (workspace / "hello.txt").read_text() == "changed on the host\nmore\n"


def test_the_audit_trail_links_each_action_to_its_commit(workspace: Path) -> None:
    run = sbx("exec", "-w", str(workspace), "--yes", "--json", "--", "sh", "-c", "echo x > audited.txt")
    assert run.code == 0
    entries = sbx("log", "-w", str(workspace), "--json").json["result"]["entries"]
    kinds = [e["kind"] for e in entries]
    assert kinds[-5:] == ["action", "step", "changeset", "approval", "commit"]
    step = entries[-4]["payload"]
    assert step["seccomp"].startswith("sha256:") and step["landlock"].startswith("sha256:")
    assert entries[-3]["payload"]["sha256"] == run.json["result"]["changeset"]["sha256"]
    assert entries[-2]["payload"]["via"] == "--yes"
    verified = sbx("log", "verify", "--json")
    assert verified.code == 0 and verified.json["result"]["ok"] is True
