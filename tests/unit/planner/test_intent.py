"""`run_intent` without podman or a model: a scripted planner backend and a workspace whose tool
calls are scripted (compilation of each call's confinement is the real one)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Collection, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bench.designs import FencedDesign, JsonDesign
from sandbox.app import Approver, Workspace
from sandbox.config import Settings
from sandbox.errors import PlannerError
from sandbox.intent import Progress, RunResult, combined_changeset, run_intent
from sandbox.planner.plan import Planner
from sandbox.types import (
    ActionResult,
    Change,
    ChangeKind,
    Changeset,
    ChangesetStatus,
    CommitResult,
    Limits,
    Protections,
    StepResult,
)
from tests.unit.planner.fakes import ScriptedBackend

# (tool, args) -> (exit_code, stdout, stderr, paths it adds)
Effect = Callable[[str, Mapping[str, Any]], tuple[int, str, str, tuple[str, ...]]]
PROTECTIONS = Protections(None, 7, True, "none", "host", (), True, True, Limits())


class ScriptedWorkspace(Workspace):
    def __init__(self, path: Path, settings: Settings, effect: Effect) -> None:
        super().__init__(path, settings, prepare_ahead=0)  # no engine: nothing is prepared ahead
        self.effect = effect
        self.sets: dict[str, Changeset] = {}
        self.log: list[str] = []
        self.parents: list[tuple[str, int] | None] = []

    def call_tool(self, tool_name: str, args: Mapping[str, Any], *, timeout_s: float | None = None,
                  approve: Approver | None = None, allow_degraded: bool = False,
                  parent: tuple[str, int] | None = None) -> ActionResult:
        call = self.compile(tool_name, args, timeout_s=timeout_s)  # the real validation and confinement
        self.parents.append(parent)
        code, stdout, stderr, added = self.effect(tool_name, call.args)
        ident = f"cs{len(self.sets) + 1:06d}"
        changes = tuple(Change(path, ChangeKind.ADDED) for path in added)
        status = ChangesetStatus.PENDING if changes else ChangesetStatus.EMPTY
        digest = hashlib.sha256(json.dumps([ident, added]).encode()).hexdigest()
        changeset = Changeset(ident, str(self.path), status, digest, 0.0, changes, tool_name)
        self.sets[ident] = changeset
        self.log.append(f"run {tool_name} {json.dumps(dict(call.args))}")
        denied = ("read-only file system: /etc/hosts",) if "Read-only" in stderr else ()
        step = StepResult(tool_name, call.args, code, stdout, stderr, False, PROTECTIONS, 0.1, denied)
        return ActionResult((step,), changeset)

    def discard(self, ref: str | None = None) -> Changeset:
        assert ref is not None
        self.log.append(f"discard {ref}")
        self.sets[ref] = replace(self.sets[ref], status=ChangesetStatus.DISCARDED)
        return self.sets[ref]

    def apply(self, ref: str | None = None, *, sha256: str | None = None, paths: Collection[str] | None = None,
              skip_conflicts: bool = False) -> CommitResult:
        assert ref is not None and sha256 == self.sets[ref].sha256, "applied by the reviewed sha256 only"
        self.log.append(f"apply {ref}")
        self.sets[ref] = replace(self.sets[ref], status=ChangesetStatus.APPLIED)
        return CommitResult(ref, tuple(c.path for c in self.sets[ref].changes), commit_id=f"commit-{ref}")

    def changeset(self, ref: str | None = None) -> Changeset:
        assert ref is not None
        return self.sets[ref]


def _ws(tmp_path: Path, effect: Effect) -> ScriptedWorkspace:
    root = tmp_path / "ws"
    root.mkdir(exist_ok=True)
    (root / "reports").mkdir(exist_ok=True)
    (root / "reports" / "q1.txt").write_text("q1\n")
    return ScriptedWorkspace(root, replace(Settings.from_env(), state_dir=tmp_path / "state"), effect)


def ok(paths: tuple[str, ...] = (), stdout: str = "") -> Effect:
    return lambda tool, args: (0, stdout, "", paths)


def _planner(*answers: str, design: object = None) -> tuple[Planner, ScriptedBackend]:
    backend = ScriptedBackend(list(answers))
    return Planner(backend, design=design or FencedDesign()), backend  # type: ignore[arg-type]


def test_a_plan_runs_step_by_step_and_commits_on_approval(tmp_path: Path) -> None:
    def effect(tool: str, args: Mapping[str, Any]) -> tuple[int, str, str, tuple[str, ...]]:
        if tool == "write_file":
            return 0, "", "", (str(args["path"]),)
        return 0, "backup\n", "", ("backup/a.txt",)

    ws = _ws(tmp_path, effect)
    planner, backend = _planner("```bash\nmkdir backup && cp *.txt backup/\n```\n```bash\necho 'done' > log.txt\n```")
    events: list[Progress] = []
    seen: list[RunResult] = []

    def approve(result: RunResult) -> bool:
        seen.append(result)
        return True

    result = run_intent(ws, "back up the text files", planner=planner, approve=approve, on_progress=events.append)
    assert result.status == "applied" and result.approved is True and result.error is None
    assert ws.log == ["run run_shell " + json.dumps({"command": "mkdir backup && cp *.txt backup/"}),
                      "run write_file " + json.dumps({"path": "log.txt", "content": "done\n"}),
                      "apply cs000001", "apply cs000002"]
    assert [a.ok for a in result.attempts] == [True, True]
    assert [p.step.tool for p in result.planned] == ["run_shell", "write_file"]
    assert "write log.txt" in result.planned[1].confinement and "no network" in result.planned[1].confinement
    assert seen[0].status == "pending" and len(seen[0].pending) == 2  # approval saw everything before commit
    assert [c.changeset_id for c in result.commits] == ["cs000001", "cs000002"]
    assert all(cs.status is ChangesetStatus.APPLIED for cs in result.changesets)
    assert [e.kind for e in events] == ["load", "loaded", "planning", "planned", "step", "step.done", "step",
                                        "step.done", "commit", "commit"]
    system = backend.calls[0].messages[0]["content"]
    assert "contains: reports/ (1 file)" in system and "q1" not in system.replace("(1 file)", "")
    out = result.to_json()
    json.dumps(out)
    assert out["status"] == "applied" and out["plan"]["steps"][1]["confinement"] == result.planned[1].confinement
    assert out["changeset"]["id"] == "cs000001+cs000002" and out["changeset"]["status"] == "applied"
    assert [c["path"] for c in out["changeset"]["changes"]] == ["backup/a.txt", "log.txt"]
    assert [(s["step"], s["attempt"], s["ok"]) for s in out["steps"]] == [(0, 1, True), (1, 1, True)]
    contract = {"tool", "args", "exit_code", "stdout", "stderr", "timed_out", "denied", "protections"}
    assert contract <= set(out["steps"][0])
    assert len(out["changesets"]) == 2 and out["commits"][0]["commit"] == "commit-cs000001"
    # the audit trail: each step's tool call names the intent's action and its step
    intents = [e for e in ws.audit.entries() if e.kind == "action" and "intent" in e.payload]
    assert len(intents) == 1 and intents[0].payload["intent"] == "back up the text files"
    assert ws.parents == [(intents[0].payload["action"], 0), (intents[0].payload["action"], 1)]


def test_without_approval_the_changes_stay_pending(tmp_path: Path) -> None:
    ws = _ws(tmp_path, ok(("a.txt",)))
    result = run_intent(ws, "touch a", planner=_planner("```bash\ntouch a.txt\n```")[0])
    assert result.status == "pending" and result.approved is None and "apply" not in " ".join(ws.log)
    declined = run_intent(ws, "touch a", planner=_planner("```bash\ntouch a.txt\n```")[0], approve=lambda _: False)
    assert declined.status == "pending" and declined.approved is False
    assert declined.to_json()["changeset"]["status"] == "pending"


def test_nothing_changed_is_done_and_nobody_is_asked(tmp_path: Path) -> None:
    ws = _ws(tmp_path, ok(stdout="3 data.csv\n"))
    asked: list[RunResult] = []
    result = run_intent(ws, "count", planner=_planner("```bash\nwc -l data.csv\n```")[0],
                        approve=lambda r: asked.append(r) or True)
    assert result.status == "done" and not asked and result.stdout() == "3 data.csv\n"
    assert result.to_json()["changeset"] == {"id": None, "ids": [], "workspace": str(ws.path), "status": "empty",
                                             "sha256": None, "changes": []}


def test_a_failed_step_is_repaired_and_its_changeset_discarded(tmp_path: Path) -> None:
    def effect(tool: str, args: Mapping[str, Any]) -> tuple[int, str, str, tuple[str, ...]]:
        if "zip -r" in args["command"]:
            return 127, "", "sh: 1: zip: not found\n", ("reports.zip.partial",)
        return 0, "", "", ("reports.zip",)

    ws = _ws(tmp_path, effect)
    planner, backend = _planner("```bash\nzip -r reports.zip reports\n```",
                                "```bash\npython3 -m zipfile -c reports.zip reports\n```")
    events: list[Progress] = []
    result = run_intent(ws, "zip the reports", planner=planner, approve=lambda _: True, on_progress=events.append)
    assert result.status == "applied"
    assert ws.log[1] == "discard cs000001" and ws.log[-1] == "apply cs000002"
    first, second = result.attempts
    assert (first.attempt, first.ok, first.error) == (1, False, "exit 127")
    assert first.changeset is not None and first.changeset.status is ChangesetStatus.DISCARDED
    assert (second.attempt, second.ok) == (2, True) and second.call.usage is not None
    assert "zip: not found" in backend.calls[1].messages[-1]["content"]
    assert "repair" in [e.kind for e in events]
    out = result.to_json()
    assert [(s["attempt"], s["ok"], s["exit_code"]) for s in out["steps"]] == [(1, False, 127), (2, True, 0)]
    assert [a["changeset"]["status"] for a in out["attempts"]] == ["discarded", "applied"]
    assert out["changeset"]["id"] == "cs000002"
    assert result.steps == (second.result,)


def test_repairs_are_bounded_and_a_failure_stops_the_run(tmp_path: Path) -> None:
    ws = _ws(tmp_path, lambda tool, args: (1, "", "nope\n", ()))
    planner, backend = _planner("```bash\nfalse\n```\n```bash\necho never\n```", "```bash\nfalse 2\n```",
                                "```bash\nfalse 3\n```")
    asked: list[RunResult] = []
    result = run_intent(ws, "fail", planner=planner, approve=lambda r: asked.append(r) or True)
    assert result.status == "failed" and not asked
    assert result.error == "step 1 failed (exit 1) after 2 repair(s)"
    assert [(a.step, a.attempt) for a in result.attempts] == [(0, 1), (0, 2), (0, 3)]
    assert len(backend.calls) == 3 and "echo never" not in " ".join(ws.log)
    assert ws.log.count("discard cs000001") == 1 and not result.changesets


def test_the_model_may_give_up_a_repair(tmp_path: Path) -> None:
    ws = _ws(tmp_path, lambda tool, args: (0, "", "sh: cannot create /etc/hosts: Read-only file system", ()))
    planner, _ = _planner("```bash\necho x >> /etc/hosts\n```", "Sorry, /etc/hosts cannot be changed here.")
    result = run_intent(ws, "edit hosts", planner=planner, max_repairs=1)
    assert result.status == "failed" and result.error is not None and "found no fix" in result.error
    assert result.attempts[0].error == "denied: read-only file system: /etc/hosts"


def test_an_unconfinable_repair_is_recorded_and_counts(tmp_path: Path) -> None:
    ws = _ws(tmp_path, lambda tool, args: (2, "", "cat: x: No such file", ()))
    answers = ['{"steps":[{"tool":"read_file","args":{"path":"x"}}],"explanation":""}',
               '{"steps":[{"tool":"read_file","args":{"path":"../etc/shadow"}}],"explanation":""}',
               '{"steps":[{"tool":"read_file","args":{"path":"y"}}],"explanation":""}']
    planner, backend = _planner(*answers, design=JsonDesign())
    result = run_intent(ws, "read x", planner=planner)
    assert [(a.attempt, a.result is not None) for a in result.attempts] == [(1, True), (2, False), (3, True)]
    refused = result.attempts[1]
    assert refused.error is not None and refused.error.startswith("refused before running")
    assert "refused before running" in backend.calls[2].messages[-1]["content"]
    assert ws.log.count("run read_file " + json.dumps({"path": "../etc/shadow"})) == 0


def test_an_unsafe_plan_never_starts_a_container(tmp_path: Path) -> None:
    ws = _ws(tmp_path, ok())
    planner, _ = _planner('{"steps":[{"tool":"list_dir","args":{}},'
                          '{"tool":"read_file","args":{"path":"/etc/shadow"}}],"explanation":""}', design=JsonDesign())
    with pytest.raises(PlannerError) as caught:
        run_intent(ws, "read the shadow file", planner=planner)
    assert caught.value.code == "planner.unsafe_plan" and "step 2" in caught.value.message
    assert ws.log == []


def test_refusal_dry_run_and_cancel_run_nothing(tmp_path: Path) -> None:
    ws = _ws(tmp_path, ok(("a",)))
    refused = run_intent(ws, "order pizza", planner=_planner("Sorry, no pizza from a shell.")[0])
    assert refused.status == "refused" and refused.plan.explanation == "Sorry, no pizza from a shell."
    dry = run_intent(ws, "touch a", planner=_planner("```bash\ntouch a\n```")[0], dry_run=True)
    assert dry.status == "planned" and dry.planned[0].confinement and not dry.attempts
    cancelled = run_intent(ws, "touch a", planner=_planner("```bash\ntouch a\n```")[0], confirm=lambda p, s: False)
    assert cancelled.status == "cancelled"
    assert ws.log == []
    out = dry.to_json()
    assert out["steps"] == [] and out["changeset"]["status"] == "empty" and out["timings"]["seconds"] >= 0


def test_combined_changeset_of_one_is_that_changeset(tmp_path: Path) -> None:
    one = Changeset("aaaa1111", "/w", ChangesetStatus.PENDING, "f" * 64, 0.0, (Change("a", ChangeKind.ADDED),))
    empty = replace(one, id="bbbb2222", status=ChangesetStatus.EMPTY, changes=())
    combined = combined_changeset([one, empty], "/w")
    assert combined["id"] == "aaaa1111" and combined["sha256"] == "f" * 64 and combined["status"] == "pending"
    two = combined_changeset([one, replace(one, id="cccc3333", status=ChangesetStatus.APPLIED)], "/w")
    assert two["id"] == "aaaa1111+cccc3333" and two["status"] == "pending" and len(two["sha256"]) == 64
