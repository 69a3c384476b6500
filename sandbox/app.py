"""The use cases: a tool call (or a command) -> confined container -> changeset -> review -> commit.

Everything a front end (CLI, Python API, MCP server) does goes through `Workspace`. It prints
nothing and asks nothing itself: approval is a callable the front end passes in.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shlex
import stat
import weakref
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sandbox.audit import AuditLog, Entry, default_path, new_action_id
from sandbox.changes import ChangesetStore, Layer, budget
from sandbox.config import Settings
from sandbox.engine import ContainerSpec, WorkspaceOverlay
from sandbox.engine.egress import grants
from sandbox.engine.spec import ContainerOutcome, InlineFile
from sandbox.errors import ChangesetError, PolicyError, SbxError, StateError, UnreviewableEffectError, UsageError
from sandbox.policy.compile import PROXY_PORT, CompiledCall, compile_call
from sandbox.policy.profiles import Profiles, load_profiles
from sandbox.resources import LAUNCHER_PATH, launcher_bytecode, launcher_source
from sandbox.types import (
    ActionResult,
    Change,
    Changeset,
    ChangesetStatus,
    CommitResult,
    Limits,
    Protections,
    Recovered,
    StepResult,
)

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from sandbox.engine import Engine
    from sandbox.planner.plan import Plan
    from sandbox.tools import Tool


@dataclass(frozen=True)
class Approval:
    """The front end's answer after review: everything, a subset of paths, or nothing."""

    approve: bool
    paths: Collection[str] | None = None  # None with approve=True means every path
    how: str = ""  # for the audit trail: "--yes", "terminal all", "terminal per-file", ...

    @classmethod
    def all(cls, how: str = "") -> Approval:
        return cls(True, None, how)

    @classmethod
    def none(cls, how: str = "") -> Approval:
        return cls(False, None, how)


Approver = Callable[[Changeset], Approval]
OnRecovered = Callable[[Recovered], None]
# How each front end's person lets its callers commit flagged changes, for the audit trail.
_RISKY_OPT_IN = {"api": "allow_risky_apply=True", "mcp": "--allow-risky-apply"}
MAX_TIMEOUT_S = 24 * 3600


def _decode(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


# The launcher starts with its container and waits on standard input for the call (a JSON line):
# made ahead of a call or for it at once, a container runs the same launcher on the same input.
INPUT_WAIT_S = 300  # how long a container prepared ahead waits for its call
# The launcher runs from the bytecode sbx compiled when the container's python reads it (same
# magic number), else from its source: `python3 -I -S /sbx/launcher.py` either way, minus a compile.
LAUNCHER_STUB = (
    "import marshal, _frozen_importlib_external as b\n"
    f"c = open({LAUNCHER_PATH + 'c'!r}, 'rb').read()\n"
    f"c = marshal.loads(c[16:]) if c[:4] == b.MAGIC_NUMBER else compile(open({LAUNCHER_PATH!r}, 'rb').read(), "
    f"{LAUNCHER_PATH!r}, 'exec')\n"
    "exec(c, {'__name__': '__main__'})"
)
LAUNCHER_ARGV = ("/usr/bin/python3", "-I", "-S", "-c", LAUNCHER_STUB, "--serve", str(INPUT_WAIT_S))


def launcher_files() -> tuple[InlineFile, ...]:
    return (InlineFile(LAUNCHER_PATH, launcher_source()), InlineFile(LAUNCHER_PATH + "c", launcher_bytecode()))


def launcher_input(call: CompiledCall) -> bytes:
    """The call as the launcher reads it: its Landlock policy and the tool's argv, one JSON line."""
    line = json.dumps({"version": 1, "policy": call.landlock, "argv": list(call.argv)}, separators=(",", ":"))
    return line.encode() + b"\n"


def _protections(call: CompiledCall, outcome: ContainerOutcome, report: Mapping[str, Any] | None,
                 degraded: tuple[str, ...]) -> Protections:
    return Protections(
        seccomp=call.seccomp_digest,
        landlock_abi=report.get("abi_used") if report else None,
        landlock_enforced=bool(report and report.get("enforced")),
        network=(f"proxy:{','.join(call.proxy_hosts)}" + (" (private destinations allowed)" if call.private_destinations
                                                         else "")) if call.proxy_hosts else "none",
        user_namespace=outcome.user_namespace,
        capabilities=call.capabilities,
        no_new_privileges=True,
        read_only_root=call.read_only_root,
        limits=call.limits,
        runtime=outcome.runtime,
        degraded=degraded,
    )


def _environment(call: CompiledCall) -> dict[str, str]:
    env = {"HOME": "/tmp", "PATH": "/usr/local/bin:/usr/bin:/usr/sbin:/bin:/sbin", "LANG": "C.UTF-8"}
    if call.proxy_hosts:  # the launcher's relay to sbx's egress proxy; the only way out
        proxy = f"http://127.0.0.1:{PROXY_PORT}"
        env.update(http_proxy=proxy, https_proxy=proxy, HTTP_PROXY=proxy, HTTPS_PROXY=proxy, no_proxy="")
    return env


def _launcher_report(outcome: ContainerOutcome) -> dict[str, Any] | None:
    raw = outcome.reports.get("applied.json")
    if not raw:
        return None
    try:
        data = json.loads(raw.decode("utf-8", errors="replace").strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None
    return data if isinstance(data, dict) else None


_DENIAL = re.compile(
    r"(?:['\"]?(?P<before>[^\s:'\"]+)['\"]?: )?"
    r"(?P<reason>Permission denied|Operation not permitted|Read-only file system)"
    r"(?:: '(?P<after>[^']+)')?"
)


def _unkept_error(reason: str) -> StateError:
    """The engine could not copy a change layer out whole: what is kept is not the effect."""
    if "File name too long" in reason:
        limit = os.pathconf("/", "PC_PATH_MAX")
        return StateError(f"its change layer holds a path longer than the system allows ({limit} bytes) and could "
                          f"not be kept whole ({reason})", code="state.layer_refused",
                          hint="have the tool make a shallower tree (or archive it into one file)")
    return StateError(f"its change layer could not be kept whole ({reason})", code="state.unreadable_layer")


def denials(stderr: str, exit_code: int | None) -> tuple[str, ...]:
    """What the sandbox refused, as far as the tool's own error output tells: the kernel reports a
    Landlock or seccomp denial to the tool as an errno only, so this reads the errno messages
    (`cannot create /etc/hosts: Read-only file system`) and the launcher's own refusals. Best
    effort, for people; it decides nothing."""
    found: list[str] = []
    for line in stderr.splitlines():
        if line.startswith("sbx-launcher:") and exit_code == 125:
            found.append(line.removeprefix("sbx-launcher:").strip())
            continue
        match = _DENIAL.search(line)
        if match is None:
            continue
        target = match.group("after") or match.group("before")
        if target and not target.isdigit() and ("/" in target or "." in target):
            found.append(f"{match.group('reason').lower()}: {target}")
        else:
            found.append(f"{match.group('reason').lower()} ({line.strip()[:120]})")
    return tuple(dict.fromkeys(found))[:20]


def flagged_changes(changeset: Changeset, paths: Collection[str] | None) -> tuple[Change, ...]:
    """The changes with risk flags that approving `paths` (None: all) would commit. A directory
    above a chosen path counts too (a commit creates the folders a chosen entry needs), so this
    errs towards asking a person: each path given is read in every spelling that could select
    something (`././a/`, `a/../b`), and one that names the workspace itself covers everything."""
    wanted = None if paths is None else {s for p in paths for s in _spellings(p)}

    def chosen(path: str) -> bool:
        return wanted is None or any(
            w in ("", ".") or path == w or path.startswith(w + "/") or w.startswith(path + "/") for w in wanted
        )

    return tuple(c for c in changeset.changes if c.risks and c.refused is None and chosen(c.path))


def _spellings(path: str) -> set[str]:
    text = path.strip()
    while text.startswith("./"):
        text = text[2:]
    return {text.rstrip("/"), os.path.normpath(text).lstrip("/") if text else ""}


class Workspace:
    """One host folder under sbx's control. Engine connection is made on first use.

    Constructing one first finishes or rolls back any commit of this workspace that a dead process
    left half-done (the one place every front end and command passes), and reports each through
    `on_recovered` and `recovered`. `allow_risky_apply`: whether a commit may include changes with
    risk flags; only a person's own command line, or a person who opted in, says yes."""

    def __init__(self, path: str | Path, settings: Settings | None = None, *, via: str = "api",
                 allow_risky_apply: bool = False, on_recovered: OnRecovered | None = None,
                 prepare_ahead: int | None = None) -> None:
        self.settings = settings or Settings.from_env()
        # Containers kept prepared for this workspace's next call (`engine/warm.py`); a front end
        # that makes one call and exits asks for none.
        self.prepare_ahead = self.settings.warm_pool if prepare_ahead is None else prepare_ahead
        self._next_shape: ContainerSpec | None = None  # the last call's container, as the next one's likely shape
        self.store = ChangesetStore(self.settings.state_dir, Path(path))
        self.path = self.store.workspace
        self.via = via  # the front end, for the audit trail: "cli", "api", "mcp"
        self.allow_risky_apply = allow_risky_apply
        self.recovered: list[Recovered] = []
        self._on_recovered = on_recovered
        self._audit: AuditLog | None = None
        self._engine: Engine | None = None
        self._unkept: dict[str, str] = {}  # layer id -> why the engine could not keep it whole
        self._profiles: Profiles | None = None
        # The lock only when a commit is unsettled: a read-only command (log, diff) then never
        # makes a concurrent action fail with state.locked.
        if self.store.has_interrupted_commit():
            try:
                with self.store.lock():
                    self._recover()
            except StateError as exc:
                # A live sbx process holds the workspace: it recovered when it took the lock, and
                # the commit it may be making now is not interrupted. What this one changes locks again.
                if exc.code != "state.locked":
                    raise

    def _recover(self) -> None:
        """Finish or roll back interrupted commits; the caller holds the workspace lock."""
        for done in self.store.recover():
            self.recovered.append(done)
            self.audit.recovery(self.path, commit_id=done.commit_id, kind=done.kind,
                                changeset_id=done.changeset_id, outcome=done.outcome, paths=done.paths)
            if self._on_recovered is not None:
                self._on_recovered(done)
        for moved in self.store.take_quarantined():
            error = StateError(moved.describe(), code="state.layer_quarantined")
            self.audit.failure(self.path, error=error, changeset_id=moved.changeset_id)

    def _approval_via(
        self, changeset: Changeset, paths: Collection[str] | None, how: str
    ) -> tuple[str, tuple[str, ...]]:
        """How the approval is recorded, and the risk flags it covers; refused
        (`changeset.needs_person`) when it covers flagged changes and nobody opted in."""
        flagged = flagged_changes(changeset, paths)
        risks = tuple(sorted({r for c in flagged for r in c.risks}))
        if not flagged:
            return how, ()
        if not self.allow_risky_apply:
            shown = "; ".join(f"{c.path}: {', '.join(c.risks)}" for c in flagged[:5])
            more = f" and {len(flagged) - 5} more" if len(flagged) > 5 else ""
            error = ChangesetError(
                f"changeset {changeset.id} has changes that can run code or leak secrets on the host "
                f"({shown}{more}); a person must review it with `sbx diff {changeset.id} -w {self.path}` and "
                f"apply it with `sbx apply {changeset.id} -w {self.path}` on a terminal; nothing was applied",
                code="changeset.needs_person",
            )
            self.audit.failure(self.path, error=error, changeset_id=changeset.id)
            raise error
        opt_in = _RISKY_OPT_IN.get(self.via)
        return (f"{how} ({opt_in})" if opt_in else how), risks

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            from sandbox.engine import connect

            self._engine = connect(self.settings)
            weakref.finalize(self, self._engine.shutdown)
        return self._engine

    def close(self) -> None:
        """Remove the containers prepared for this workspace (also done when it is collected, and at exit)."""
        if self._engine is not None:
            self._engine.shutdown()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _prepare_next(self) -> None:
        """Have the next call's container prepared, shaped like the last call's over the layers as
        they are now (taken only by a call of exactly that shape)."""
        last = self._next_shape
        if last is None or self.prepare_ahead <= 0 or self._engine is None:
            return
        try:
            workspace, _, _ = self._overlay(last.limits, None)
        except (OSError, SbxError) as exc:
            log.debug("no container prepared ahead: %s", exc)
            return
        self._engine.prepare(replace(last, workspace=workspace), self.prepare_ahead)

    def _overlay(self, limits: Limits, layer: Layer | None) -> tuple[WorkspaceOverlay, budget.Budget,
                                                                     tuple[budget.Usage, int]]:
        """The workspace as a call sees it: the pending layers over the host folder (all of them:
        the workspace lock is held), and `layer` (None: a placeholder) to keep its changes in; with
        the change budgets and what the pending layers use of them."""
        pending = self.store.lower_layers(before=layer.id if layer else None)
        rules, used = budget.Budget.of(limits), budget.pending_usage(pending)
        upper = layer.upper if layer else self.store.state_dir / "no-layer"
        overlay = WorkspaceOverlay(lowers=(*pending, self.path), upper=upper, work=upper.with_name("work"),
                                   max_inodes=rules.room(used[0]).inodes + budget.INODE_HEADROOM,
                                   upper_mode=stat.S_IMODE(os.stat(self.path).st_mode),
                                   generation=self.store.view_generation())
        return overlay, rules, used

    # -- actions ----------------------------------------------------------------------------------
    @property
    def audit(self) -> AuditLog:
        if self._audit is None:
            self._audit = AuditLog(default_path(self.settings))
        return self._audit

    def record_intent(self, intent: str) -> str:
        """An intent arrived: its audit entry, whose action id the plan and each step's call name."""
        return self.audit.action(self.path, intent=intent, via=self.via).action_id or ""

    def record_plan(self, action_id: str, plan: Plan, *, verification: Mapping[str, Any] | None = None) -> None:
        """The plan made for intent `action_id`, with the model that made it (name and digest).
        `verification`: in a verified run, a candidate's index and source, or the choice with every
        candidate's evidence (sandbox/intent.py)."""
        self.audit.plan(self.path, action_id=action_id, steps=[s.to_json() for s in plan.steps],
                        model=plan.model.name, model_digest=plan.model.digest,
                        provider=plan.model.execution_provider, verification=verification)

    @property
    def profiles(self) -> Profiles:
        if self._profiles is None:
            self._profiles = load_profiles(self.settings.profiles_dir)
        return self._profiles

    def compile(self, tool_name: str, args: Mapping[str, Any], *, timeout_s: float | None = None) -> CompiledCall:
        if timeout_s is not None and not 0 < timeout_s <= MAX_TIMEOUT_S:
            raise UsageError(f"--timeout must be between 0 and {MAX_TIMEOUT_S} seconds", code="usage.invalid_timeout")
        return compile_call(self.profiles.get(tool_name), args, timeout_s=timeout_s, cache_dir=self.settings.cache_dir)

    def call_tool(
        self,
        tool_name: str,
        args: Mapping[str, Any],
        *,
        timeout_s: float | None = None,
        approve: Approver | None = None,
        allow_degraded: bool = False,
        parent: tuple[str, int] | None = None,
    ) -> ActionResult:
        """Run one tool call in its own container; the changeset is committed only if `approve` says so.
        `parent`: the (action id, step index) of the plan this call is a step of, for the audit trail."""
        call = self.compile(tool_name, args, timeout_s=timeout_s)
        with self.store.lock():
            self._recover()
            action = new_action_id()
            self.audit.action(self.path, tool=call.tool, args=dict(call.args), via=self.via, action_id=action,
                              parent=parent[0] if parent else None, step=parent[1] if parent else None)
            try:
                step, layer_id = self._run_step(call, allow_degraded=allow_degraded)
            except SbxError as exc:
                self.audit.failure(self.path, error=exc, action_id=action)
                raise
            # Recorded before finalize, which reads what the tool left and may refuse it.
            self.audit.step(self.path, action_id=action, index=0, step=step, landlock_digest=call.landlock_digest)
            try:
                changeset = self._finalize(layer_id, step, call.limits)
            except SbxError as exc:
                self.audit.failure(self.path, error=exc, action_id=action, changeset_id=layer_id)
                raise UnreviewableEffectError(exc, (step.to_json(),)) from exc
            self.audit.changeset(self.path, action_id=action, changeset=changeset)
            commit = None
            if changeset.status is ChangesetStatus.PENDING and approve is not None:
                decision = approve(changeset)
                via = decision.how or self.via
                risks: tuple[str, ...] = ()
                if decision.approve:
                    via, risks = self._approval_via(changeset, decision.paths, via)
                self.audit.approval(self.path, changeset_id=changeset.id, sha256=changeset.sha256,
                                    via=via, approved=decision.approve, paths=decision.paths, risks=risks)
                if decision.approve:
                    commit = self._commit(changeset.id, changeset.sha256, decision.paths, skip_conflicts=False)
                    changeset = self.store.get(changeset.id)
            self._prepare_next()
        return ActionResult(steps=(step,), changeset=changeset, commit=commit)

    def _commit(self, changeset_id: str, sha256: str | None, paths: Collection[str] | None, *,
                skip_conflicts: bool) -> CommitResult:
        try:
            result = self.store.apply(changeset_id, sha256=sha256, paths=paths, skip_conflicts=skip_conflicts)
        except SbxError as exc:
            self.audit.commit(self.path, changeset_id=changeset_id, sha256=sha256, error=exc)
            raise
        self.audit.commit(self.path, changeset_id=changeset_id, sha256=sha256, result=result)
        return result

    def exec(self, command: list[str], **kwargs: Any) -> ActionResult:
        """`sbx exec -- COMMAND...`: the command through run_shell under the default profile."""
        if not command:
            raise UsageError("nothing to run: give a command after `--`", code="usage.no_command")
        # `sbx exec -- SHELL -c "X"` is X for run_shell when SHELL is the one its profile runs (`bash -c
        # {command}`): no double quoting; another shell runs inside that one, as asked
        shell, *rest = self.profiles.get("run_shell").tool.argv_template
        same = len(command) == 3 and command[1] == "-c" and rest == ["-c", "{command}"] \
            and command[0] in (shell, Path(shell).name)
        script = command[2] if same else shlex.join(command)
        return self.call_tool("run_shell", {"command": script}, **kwargs)

    def _degraded(self, call: CompiledCall, allow_degraded: bool) -> tuple[CompiledCall, tuple[str, ...]]:
        """Refuse, or with --allow-degraded run and record, when the host lacks a required protection."""
        from sandbox.engine import host

        if not call.landlock["require_landlock"] or host.detect().landlock_abi is not None:
            return call, ()
        if not allow_degraded:
            raise PolicyError(
                f"{call.tool} requires Landlock and this kernel does not offer it",
                code="policy.protection_unavailable",
                hint="boot a kernel with Landlock (lsm=landlock), or pass --allow-degraded to run without it",
            )
        relaxed = {**call.landlock, "require_landlock": False}
        return replace(call, landlock=relaxed), ("landlock",)

    def _over_budget(self, layer: Layer, rules: budget.Budget, used: tuple[budget.Usage, int]) -> str | None:
        """Measure the layer against the change budgets before anything reads it; a layer over one
        is discarded at once, and the step's denial says which."""
        try:
            usage = budget.measure(layer.upper, stop_above=budget.Usage(rules.change_bytes, rules.change_inodes))
        except OSError:
            return None  # unreadable: finalize refuses it with its own error
        verdict = rules.verdict(usage, *used)
        if verdict is not None:
            self.store.refuse(layer.id)
        else:
            budget.save_usage(layer.upper.parent, usage)
        return verdict

    def _finalize(self, layer_id: str, step: StepResult, limits: Limits) -> Changeset:
        """The changeset of a step's layer: discarded already if it broke a change budget (the
        store says so, not the step's text, which a tool's output feeds), else reviewed now,
        within the review's deadline."""
        unkept = self._unkept.pop(layer_id, None)
        if unkept is not None:
            raise self.store.reject(layer_id, _unkept_error(unkept))
        if any(d.startswith(budget.DENIAL) for d in step.denied):
            with contextlib.suppress(ChangesetError):  # an open layer is not a changeset yet
                refused = self.store.get(layer_id)
                if refused.status is ChangesetStatus.DISCARDED:
                    return refused
        with budget.deadline(budget.Budget.of(limits).review_seconds()):
            return self.store.finalize(layer_id)

    def _spec(self, call: CompiledCall, workspace: WorkspaceOverlay, labels: Mapping[str, str]) -> ContainerSpec:
        return ContainerSpec(
            image=self.settings.image if call.image == "default" else call.image,
            argv=LAUNCHER_ARGV,
            stdin=launcher_input(call),
            input_wait_s=INPUT_WAIT_S,
            workspace=workspace,
            limits=call.limits,
            env=_environment(call),
            labels={**labels, "io.sbx.tool": call.tool},
            files=launcher_files(),
            report_dir="/sbx-run",
            seccomp_profile=call.seccomp_json,
            capabilities=call.capabilities,
            read_only_root=call.read_only_root,
            tmpfs_bytes=call.tmpfs_bytes,
            egress_hosts=grants(call.proxy_hosts, allow_private=call.private_destinations),
        )

    def prepare(self, tool_name: str, args: Mapping[str, Any], *, timeout_s: float | None = None) -> None:
        """Have a container prepared in the background for a coming call of `tool_name` (the
        arguments only make the tool's profile compile; any call of the same shape takes it), e.g.
        while a model plans. Does nothing when this workspace prepares nothing ahead."""
        if self.prepare_ahead <= 0:
            return
        call = self.compile(tool_name, args, timeout_s=timeout_s)
        engine = self.engine
        with self.store.lock():
            workspace, _, _ = self._overlay(call.limits, None)
            spec = self._spec(call, workspace, {})
        engine.prepare(spec, self.prepare_ahead)

    def _run_step(self, call: CompiledCall, *, allow_degraded: bool) -> tuple[StepResult, str]:
        """Run the call; its step and the id of the layer it left, not yet finalized."""
        engine = self.engine  # connect before allocating state, so a missing podman leaves nothing
        call, degraded = self._degraded(call, allow_degraded)
        generation = self.store.view_generation()  # before the new layer, as a prepared container saw it
        layer = self.store.new_layer(f"{call.tool} {json.dumps(dict(call.args))}")  # rebase re-reads it
        workspace, rules, used = self._overlay(call.limits, layer)
        workspace = replace(workspace, generation=generation)
        spec = self._spec(call, workspace, {"io.sbx.changeset": layer.id})
        try:
            outcome = engine.run(spec)
        except BaseException:
            self.store.abandon(layer.id)
            raise
        self._next_shape = spec
        if outcome.layer_error is not None:
            self._unkept[layer.id] = outcome.layer_error
        over_budget = self._over_budget(layer, rules, used)
        stderr = _decode(outcome.stderr)
        step = StepResult(
            tool=call.tool,
            args=dict(call.args),
            exit_code=outcome.exit_code,
            stdout=_decode(outcome.stdout),
            stderr=stderr,
            timed_out=outcome.timed_out,
            protections=_protections(call, outcome, _launcher_report(outcome), (*degraded, *outcome.degraded)),
            duration_s=outcome.duration_s,
            denied=(
                *denials(stderr, outcome.exit_code),
                *outcome.egress_refused,
                *((f"disk: the change layer reached its cap of {call.limits.changes_bytes >> 20} MiB",)
                  if outcome.layer_full else ()),
                *((over_budget,) if over_budget else ()),
            ),
            stdout_truncated=outcome.stdout_truncated,
            stderr_truncated=outcome.stderr_truncated,
            oom_killed=outcome.oom_killed,
        )
        return step, layer.id

    # -- review and commit ------------------------------------------------------------------------
    def _recovered(self) -> None:
        with self.store.lock():
            self._recover()

    def changeset(self, ref: str | None = None) -> Changeset:
        self._recovered()
        return self.store.get(ref)

    def changesets(self) -> list[Changeset]:
        self._recovered()
        return self.store.list()

    def apply(
        self,
        ref: str | None = None,
        *,
        sha256: str | None = None,
        paths: Collection[str] | None = None,
        skip_conflicts: bool = False,
        how: str = "",
    ) -> CommitResult:
        with self.store.lock():
            self._recover()
            changeset = self.store.get(ref)
            via, risks = self._approval_via(changeset, paths, how or self.via)
            self.audit.approval(self.path, changeset_id=changeset.id, sha256=sha256 or changeset.sha256,
                                via=via, approved=True, paths=paths, risks=risks)
            result = self._commit(changeset.id, sha256, paths, skip_conflicts=skip_conflicts)
            self._prepare_next()
            return result

    def discard(self, ref: str | None = None) -> Changeset:
        with self.store.lock():
            self._recover()
            changeset = self.store.discard(self.store.get(ref).id)
            self.audit.discard(self.path, changeset=changeset)
            self._prepare_next()
            return changeset

    def rebase(self, ref: str | None = None, *, timeout_s: float | None = None) -> ActionResult:
        """Re-run a pending changeset's call on the workspace as it is now (after a conflict): the old
        changeset is discarded and the new one waits for review like any other."""
        with self.store.lock():
            self._recover()
            old = self.store.get(ref)
            if old.status is not ChangesetStatus.PENDING:
                raise UsageError(f"changeset {old.id} is {old.status}; only a pending one can be rebased",
                                 code="usage.invalid")
            tool, _, raw_args = old.source.partition(" ")
            try:
                args = json.loads(raw_args)
            except ValueError:
                raise UsageError(f"changeset {old.id} does not record its call", code="usage.invalid") from None
            call = self.compile(tool, args, timeout_s=timeout_s)  # refuse before discarding anything
            self.store.discard(old.id)
            return self.call_tool(call.tool, call.args, timeout_s=timeout_s)

    def undo(self) -> CommitResult:
        with self.store.lock():
            self._recover()
            result = self.store.undo()
            self.audit.undo(self.path, result=result)
            self._prepare_next()
            return result

    def log(self, *, limit: int | None = 50) -> list[Entry]:
        return self.audit.entries(self.path, limit=limit)


def resolve_workspace(path: str | None) -> str:
    return path if path is not None else os.getcwd()


def tool_declarations(settings: Settings) -> list[Tool]:
    """The tools the profiles declare, by name: the catalog a planner plans with."""
    return [profile.tool for _, profile in sorted(load_profiles(settings.profiles_dir).tools.items())]
