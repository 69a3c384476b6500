"""`sbx run "INTENT"`: a local model plans tool calls, each runs in its own confined container, the
combined effect is reviewed, and reaches the host only on approval. A peer of `sandbox.app`.

    planner = make_planner("qwen2.5-coder-0.5b")  # sandbox.planner.commands
    result = run_intent(Workspace("."), "find all Python files modified in the last week",
                        planner=planner, approve=lambda run: ask_the_user(run))
    print(json.dumps(result.to_json()))

The flow: load the model; describe the workspace in a line (top-level entries and counts, no
contents); plan; compile every step's confinement *before anything runs* (a step that cannot be
confined stops the run with `planner.unsafe_plan`: invalid or unsafe output never starts a
container); optionally `confirm` the plan; run the steps in order, each its own container and its
own pending changeset (a later step sees the earlier ones' pending effects); a failed step (non-zero
exit, denial, timeout) goes back to the model with its result for a corrected step, at most
`max_repairs` times, the failed attempt's changeset discarded; then `approve` sees the whole result
and, if it says yes, every pending changeset is applied in order, each by its sha256. Nothing here
prints or asks: the front end passes `on_progress`, `confirm` and `approve`.
"""

from __future__ import annotations

import hashlib
import logging
import shlex
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sandbox.app import Workspace
from sandbox.errors import EngineUnavailableError, ImageNotFoundError, PlannerError, SbxError
from sandbox.planner.evidence import peek, where_it_looked
from sandbox.planner.pitfalls import Pitfall, pitfall, slip
from sandbox.planner.plan import Plan, Planner, PlanStep, Usage
from sandbox.planner.prompt import clip, repair_hint, summarize_workspace
from sandbox.planner.verify import (
    Choice,
    Evidence,
    Verdict,
    WithNotes,
    answer_digest,
    asks_quantity,
    check_messages,
    choose,
    detail_words,
    disputed,
    either_answers,
    next_examples,
    outcome_digest,
    read_check,
)
from sandbox.types import Changeset, ChangesetStatus, CommitResult, ProgressKind, RunStatus, StepResult

log = logging.getLogger(__name__)

__all__ = [
    "Attempt",
    "Candidate",
    "PlannedStep",
    "Progress",
    "RunResult",
    "run_intent",
]

DEFAULT_MAX_STEPS = 5
MAX_REPAIRS = 2


@dataclass(frozen=True)
class Progress:
    """An event for a front end's progress display.

    kind: `load` (model loading), `loaded` {seconds}, `planning`, `planned` {steps, prompt_tokens,
    completion_tokens, seconds}, `step` {step, attempt, tool}, `step.done` {step, attempt, ok,
    exit_code, seconds}, `repair` {step, attempt, reason}, `commit` {changeset}.
    """

    kind: ProgressKind
    message: str
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PlannedStep:
    """A plan step with the one-line summary of the confinement compiled for it."""

    index: int
    step: PlanStep
    confinement: str

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, **self.step.to_json(), "confinement": self.confinement}


@dataclass(frozen=True)
class Attempt:
    """One try at one plan step: the call, what it did, and what became of its changeset."""

    step: int  # index of the plan step
    attempt: int  # 1 as planned, 2.. repairs
    call: PlanStep
    confinement: str | None  # None when the call could not be confined (then nothing ran)
    result: StepResult | None  # None when no container started
    changeset: Changeset | None
    ok: bool
    error: str | None = None  # why it failed
    set_aside: bool = False  # it ran cleanly, into a pitfall (`error` says which): its fix ran after it

    def to_json(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "attempt": self.attempt,
            **self.call.to_json(),
            "confinement": self.confinement,
            "ran": self.result is not None,
            "ok": self.ok,
            "error": self.error,
            "set_aside": self.set_aside,
            "exit_code": self.result.exit_code if self.result else None,
            "changeset": {"id": self.changeset.id, "status": str(self.changeset.status)} if self.changeset else None,
        }


@dataclass(frozen=True)
class Candidate:
    """One candidate plan of a verified run: how it was made, what it did, and the evidence.
    Its changesets are kept only if it was chosen; the others were discarded after it ran."""

    index: int
    source: str  # "greedy", "next examples", "model NAME", "sampled T"
    plan: Plan
    planned: tuple[PlannedStep, ...]
    attempts: tuple[Attempt, ...]
    changesets: tuple[Changeset, ...]  # as they were when it ran (with their diffs)
    evidence: Evidence

    def stdout(self) -> str:
        return "".join(a.result.stdout for a in self.attempts if a.ok and a.result is not None)

    def diff(self) -> str:
        return "\n".join(change.diff or f"{change.kind} {change.path}"
                         for cs in self.changesets for change in cs.changes)

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "source": self.source,
            "plan": self.plan.to_json(),
            "evidence": self.evidence.to_json(),
            "stdout": self.stdout(),
            "changes": [{**c.to_json(), "changeset": cs.id} for cs in self.changesets for c in cs.changes],
            "attempts": [a.to_json() for a in self.attempts],
        }


def combined_changeset(changesets: Sequence[Changeset], workspace: str) -> dict[str, Any]:
    """Several changesets as one `changeset` object of the CLI contract: `id` joins the ids with
    `+` (`ids` lists them), `sha256` is that of the changeset when there is one, else of the
    `ID SHA256` lines; every change carries its `changeset`."""
    kept = [cs for cs in changesets if cs.status is not ChangesetStatus.EMPTY]
    statuses = {cs.status for cs in kept}
    if not kept:
        status = ChangesetStatus.EMPTY
    elif ChangesetStatus.PENDING in statuses:
        status = ChangesetStatus.PENDING
    elif statuses == {ChangesetStatus.DISCARDED}:
        status = ChangesetStatus.DISCARDED
    else:
        status = ChangesetStatus.APPLIED
    if len(kept) == 1:
        sha256: str | None = kept[0].sha256
    elif kept:
        sha256 = hashlib.sha256("".join(f"{cs.id} {cs.sha256}\n" for cs in kept).encode()).hexdigest()
    else:
        sha256 = None
    return {
        "id": "+".join(cs.id for cs in kept) or None,
        "ids": [cs.id for cs in kept],
        "workspace": workspace,
        "status": str(status),
        "sha256": sha256,
        "changes": [{**change.to_json(), "changeset": cs.id} for cs in kept for change in cs.changes],
    }


@dataclass(frozen=True)
class RunResult:
    """Everything `sbx run` did.

    status: `planned` (dry run), `refused` (the plan is empty: see `plan.explanation`), `cancelled`
    (`confirm` said no), `failed` (a step still failed after its repairs; later steps did not run;
    earlier steps' changesets stay pending), `done` (every step ran, nothing changed), `pending`
    (changes wait for approval: `approved` is False when declined, None when nobody was asked),
    `applied`, `undecided` (verified candidates did different things and nothing separated them:
    `alternatives` holds the two best, nothing is pending).
    """

    intent: str
    workspace: str
    status: RunStatus
    plan: Plan
    planned: tuple[PlannedStep, ...]
    attempts: tuple[Attempt, ...] = ()
    changesets: tuple[Changeset, ...] = ()  # one per step that ran to success, in order
    commits: tuple[CommitResult, ...] = ()
    approved: bool | None = None
    error: str | None = None
    load_seconds: float = 0.0
    run_seconds: float = 0.0
    seconds: float = 0.0
    candidates: tuple[Candidate, ...] = ()  # a verified run's candidates, in the order they were made
    choice: Choice | None = None

    @property
    def alternatives(self) -> tuple[Candidate, ...]:
        """The candidates a person must choose between (`undecided`, or before the choice)."""
        if self.choice is None:
            return ()
        return tuple(c for i in self.choice.alternatives for c in self.candidates if c.index == i)

    @property
    def steps(self) -> tuple[StepResult, ...]:
        """The results of the successful attempts, one per step that ran to success."""
        return tuple(a.result for a in self.attempts if a.ok and a.result is not None)

    @property
    def pending(self) -> tuple[Changeset, ...]:
        return tuple(cs for cs in self.changesets if cs.status is ChangesetStatus.PENDING)

    def stdout(self) -> str:
        return "".join(step.stdout for step in self.steps)

    def to_json(self) -> dict[str, Any]:
        plan = self.plan.to_json()
        plan["steps"] = [p.to_json() for p in self.planned]
        ran = [a for a in self.attempts if a.result is not None]
        return {
            "intent": self.intent,
            "status": str(self.status),
            "approved": self.approved,
            "error": self.error,
            "plan": plan,
            "changeset": combined_changeset(self.changesets, self.workspace),
            "changesets": [cs.to_json() for cs in self.changesets if cs.status is not ChangesetStatus.EMPTY],
            "steps": [
                {**a.result.to_json(), "step": a.step, "attempt": a.attempt, "ok": a.ok,
                 "changeset": a.changeset.id if a.changeset else None}
                for a in ran if a.result is not None
            ],
            "attempts": [a.to_json() for a in self.attempts],
            "commits": [c.to_json() for c in self.commits],
            "timings": {
                "load_seconds": round(self.load_seconds, 3),
                "plan_seconds": round(self.plan.usage.seconds, 3),
                "run_seconds": round(self.run_seconds, 3),
                "seconds": round(self.seconds, 3),
            },
            **self._verification(),
        }

    def verification_record(self) -> dict[str, Any]:
        """The choice and every candidate's evidence, for the audit trail (digests, no output)."""
        if self.choice is None:
            return {}
        return {"choice": self.choice.to_json(), "candidates": [c.evidence.to_json() for c in self.candidates]}

    def _verification(self) -> dict[str, Any]:
        if self.choice is None:
            return {}
        return {
            "verification": {"choice": self.choice.to_json(), "candidates": [c.to_json() for c in self.candidates]},
            "alternatives": [c.to_json() for c in self.alternatives],
        }


Confirm = Callable[[Plan, tuple[PlannedStep, ...]], bool]
Approve = Callable[[RunResult], bool]
OnProgress = Callable[[Progress], None]
# A person's choice between the two best candidates: the chosen one's index, or None for neither.
Resolve = Callable[[tuple[Candidate, ...]], int | None]
SAMPLE_TEMPERATURE = 0.7


def failure(step: StepResult) -> str | None:
    """Why a step counts as failed: timeout, non-zero exit, or a denial; None when it did not."""
    if step.timed_out:
        return f"timed out after {step.protections.limits.timeout_s:g} s"
    if step.exit_code != 0:
        return f"exit {step.exit_code}"
    if step.denied:
        return f"denied: {step.denied[0]}"
    return None


def feedback(step: StepResult, reason: str, looked: str = "", intent: str = "") -> str:
    """What the model is told about a failed step: short, the end of the error output first, then
    its denials and what exists where it looked (`looked`: planner.evidence.where_it_looked), and
    last what the error means here for the request `intent` (prompt.repair_hint)."""
    parts = [reason]
    hint = repair_hint(step.exit_code, step.stderr, intent)
    if step.stderr.strip():
        parts.append(f"stderr: {clip(step.stderr, 400)}")
    elif step.stdout.strip():
        parts.append(f"output: {clip(step.stdout, 200)}")
    if step.denied:
        parts.append("denied by the sandbox: " + "; ".join(step.denied[:3]))
    if looked:
        parts.append(f"in the folder: {looked}")
    if hint:  # last, where a small model heeds it most: what the error means in this sandbox
        parts.append(hint)
    return "\n".join(parts)


def earlier(history: Sequence[tuple[PlanStep, str]]) -> str:
    """The attempts before the failed one, for the repair: a small model told only of its latest
    failure tends to go back to an earlier one."""
    if not history:
        return ""
    tried = "; ".join(f"`{clip(_describe(step), 160)}` ({why})" for step, why in history)
    return f"\nalso tried before, and failed: {tried}"


def _confine(workspace: Workspace, step: PlanStep, timeout_s: float | None) -> str:
    return workspace.compile(step.tool, step.args, timeout_s=timeout_s).summary()


def _words_of(step: PlanStep) -> str:
    """The call as shell words, for finding the paths it names."""
    if step.tool == "run_shell":
        return str(step.args.get("command", ""))
    return " ".join(shlex.quote(v) for v in step.args.values() if isinstance(v, str))


def _fixed_step(call: PlanStep, found: Pitfall) -> PlanStep:
    """`call` with the command of a pitfall's fix, the pitfall said in its reason."""
    return PlanStep(call.tool, {**call.args, "command": found.fixed}, f"{call.why} ({found.reason})".strip(),
                    found.fixed)


def _describe(step: PlanStep) -> str:
    if step.tool == "run_shell":
        return str(step.args.get("command", ""))
    return f"{step.tool} " + " ".join(f"{k}={v!r}" for k, v in step.args.items())


@dataclass(frozen=True)
class _RunOptions:
    timeout_s: float | None
    allow_degraded: bool
    max_repairs: int
    action: str  # the intent's audit action: each step's call names it as parent


class _Runner:
    def __init__(self, workspace: Workspace, plan: Plan, planner: Planner, emit: OnProgress,
                 options: _RunOptions) -> None:
        self.workspace = workspace
        self.action = options.action
        self.intent = plan.intent
        self.plan = plan
        self.planner = planner
        self.emit = emit
        self.timeout_s = options.timeout_s
        self.allow_degraded = options.allow_degraded
        self.max_repairs = options.max_repairs
        self.attempts: list[Attempt] = []
        self.kept: list[Changeset] = []

    def run_all(self, planned: Sequence[PlannedStep]) -> str | None:
        """Every step in order, each with its repairs; None when all succeeded, else why not."""
        for item in planned:
            error = self.run_step(item, len(planned))
            if error is not None:
                return error
        return None

    def run_step(self, planned: PlannedStep, total: int) -> str | None:
        """Run one plan step with its repairs; None on success, else why it failed in the end."""
        call, confinement, refusal = planned.step, planned.confinement, None
        number = 1
        history: list[tuple[PlanStep, str]] = []  # earlier failed attempts and why, for the repair
        while True:
            if refusal is not None:  # a repair the sandbox cannot confine: nothing ran
                reason = f"refused before running: {refusal}"
                self.attempts.append(Attempt(planned.index, number, call, None, None, None, False, reason))
                self.emit(Progress(ProgressKind.STEP_DONE, f"step {planned.index + 1}: {reason}",
                                   {"step": planned.index, "attempt": number, "ok": False}))
                fix_feedback = reason
            else:
                failed, fix_feedback = self._run(planned.index, number, call, confinement, total)
                if failed is None:
                    return self._past_pitfall(planned.index, call, confinement, total) if number == 1 else None
                reason = failed
            if number > self.max_repairs:
                return f"step {planned.index + 1} failed ({reason}) after {self.max_repairs} repair(s)"
            self.emit(Progress(ProgressKind.REPAIR,
                               f"step {planned.index + 1} failed ({reason}); asking the model for a fix "
                               f"({number}/{self.max_repairs})",
                               {"step": planned.index, "attempt": number, "reason": reason}))
            try:
                fixed = self._slipped(call, history) or self.planner.repair(
                    self.intent, self.plan, call, fix_feedback + earlier(history), tried=[step for step, _ in history])
            except PlannerError as exc:
                return f"step {planned.index + 1} failed ({reason}); the model's repair was invalid: {exc.message}"
            if fixed is None:
                return f"step {planned.index + 1} failed ({reason}); the model found no fix"
            number += 1
            history.append((call, reason))
            call, refusal = fixed, None
            try:
                confinement = _confine(self.workspace, call, self.timeout_s)
            except SbxError as exc:
                refusal = exc.message

    def _slipped(self, call: PlanStep, history: Sequence[tuple[PlanStep, str]]) -> PlanStep | None:
        """A failed shell step's fix when its mistake is certain from its words (planner.pitfalls.slip:
        a find pattern the shell expanded, a top-folder glob for files that lie deeper), made without
        asking the model."""
        if call.tool != "run_shell":
            return None
        found = slip(self.workspace.path, _words_of(call), self.intent)
        tried = {_words_of(step) for step, _ in history if step.tool == "run_shell"}
        if found is None or found.fixed in tried:
            return None
        self.emit(Progress(ProgressKind.REPAIR, f"{found.reason}; running it fixed", {"reason": found.reason}))
        return _fixed_step(call, found)

    def _unkept(self, changeset: Changeset) -> Changeset:
        """A failed or set-aside attempt's changeset, discarded unless it is already settled."""
        if changeset.status in (ChangesetStatus.PENDING, ChangesetStatus.EMPTY):
            return self.workspace.discard(changeset.id)
        return changeset

    def _past_pitfall(self, index: int, call: PlanStep, confinement: str, total: int) -> str | None:
        """After a clean first run: when it fell into a pitfall (planner.pitfalls: a table's header
        read as data, ls -l's "total" taken for a file), its fix runs instead; when the fix fails,
        the call runs again as planned."""
        ran = self.attempts[-1]
        if call.tool != "run_shell" or self.max_repairs < 1 or ran.result is None:
            return None
        changed = ran.changeset is not None and ran.changeset.status is not ChangesetStatus.EMPTY
        found = pitfall(self.workspace.path, _words_of(call), self.intent, ran.result.stdout, changed=changed)
        if found is None:
            return None
        self.attempts.pop()
        kept = self._unkept(self.kept.pop())
        reason = f"suspect: {found.reason}"
        self.attempts.append(replace(ran, changeset=kept, ok=False, error=reason, set_aside=True))
        fixed = _fixed_step(call, found)
        self.emit(Progress(ProgressKind.REPAIR, f"step {index + 1}: {found.reason}; running it fixed",
                           {"step": index, "attempt": 1, "reason": reason}))
        try:
            failed: str | None = self._run(index, 2, fixed, _confine(self.workspace, fixed, self.timeout_s), total)[0]
        except SbxError as exc:
            failed = exc.message
        if failed is None:
            return None
        log.info("step %d: the fix of its pitfall failed (%s); running it as planned", index + 1, failed)
        failed, _ = self._run(index, 3, call, confinement, total)
        return None if failed is None else f"step {index + 1} failed ({failed}) when run again as planned"

    def _run(self, index: int, number: int, call: PlanStep, confinement: str, total: int) -> tuple[str | None, str]:
        self.emit(Progress(ProgressKind.STEP, f"step {index + 1}/{total}: {_describe(call)}",
                           {"step": index, "attempt": number, "tool": call.tool}))
        action = self.workspace.call_tool(call.tool, call.args, timeout_s=self.timeout_s,
                                          allow_degraded=self.allow_degraded, parent=(self.action, index))
        result, changeset = action.steps[0], action.changeset
        reason = failure(result)
        self.emit(Progress(ProgressKind.STEP_DONE, f"step {index + 1}: {reason or 'ok'} ({result.duration_s:.2f}s)",
                           {"step": index, "attempt": number, "ok": reason is None, "exit_code": result.exit_code,
                            "seconds": result.duration_s}))
        if reason is None:
            self.attempts.append(Attempt(index, number, call, confinement, result, changeset, True))
            self.kept.append(changeset)
            return None, ""
        changeset = self._unkept(changeset)
        self.attempts.append(Attempt(index, number, call, confinement, result, changeset, False, reason))
        return reason, feedback(result, reason, where_it_looked(self.workspace.path, _words_of(call)), self.intent)


@dataclass(frozen=True)
class _Verified:
    """What verification settled on: the plan whose effects are kept (pending), or none."""

    plan: Plan
    planned: tuple[PlannedStep, ...]
    attempts: tuple[Attempt, ...]
    kept: tuple[Changeset, ...]
    candidates: tuple[Candidate, ...]
    choice: Choice
    error: str | None = None
    undecided: bool = False


def _first_plan(made: Sequence[Candidate]) -> int:
    """The first candidate that is a plan (the model's first answer may not have been one)."""
    return next((c.index for c in made if c.plan.steps), 0)


class _Verifier:
    """Makes candidate plans one at a time, runs each in its own containers, and chooses by evidence.

    Candidates run in turn on the workspace as it is: the latest one's changesets stay pending only
    until the next candidate runs (a pending changeset is a lower layer of every later action, so it
    would see them), and the chosen one is run again when it is not the latest."""

    def __init__(self, workspace: Workspace, planner: Planner, alternates: tuple[Planner, ...], emit: OnProgress,
                 options: _RunOptions, *, tools: Sequence[Any], line: str, max_steps: int, intent: str,
                 noted: Planner | None = None) -> None:
        self.workspace = workspace
        self.noted = noted or planner  # the first plan's planner: samples are of its prompt
        self.intent = intent
        self.planner = planner
        self.alternates = alternates
        self.emit = emit
        self.options = options
        self.tools = list(tools)
        self.line = line
        self.max_steps = max_steps

    def sources(self, budget: int) -> list[tuple[str, Planner, Callable[[Planner, str, int], Plan]]]:
        """How candidates 2.. are made, in order: other models, the next-nearest examples, sampling
        (candidate N is the N-th reproducible draw of the first plan's prompt)."""
        def greedy(who: Planner, intent: str, _index: int) -> Plan:
            who.load()
            return who.plan(intent, self.tools, self.line, self.max_steps)

        def sampled(who: Planner, intent: str, index: int) -> Plan:
            return self.noted.plan(intent, self.tools, self.line, self.max_steps, temperature=SAMPLE_TEMPERATURE,
                                   sample=index)

        out: list[tuple[str, Planner, Callable[[Planner, str, int], Plan]]] = [
            (f"model {alt.model.name}", alt, greedy) for alt in self.alternates]
        shifted = next_examples(self.planner.design, peek(self.workspace.path, self.intent))
        if shifted is not None:
            out.append(("next examples", self.planner.with_design(shifted), greedy))
        while len(out) < budget - 1:
            out.append((f"sampled {SAMPLE_TEMPERATURE:g}", self.planner, sampled))
        return out[: budget - 1]

    def run(self, first: Plan, planned: tuple[PlannedStep, ...], budget: int, resolve: Resolve | None,
            *, keep: bool = True, first_invalid: bool = False) -> _Verified:
        """Candidates until the evidence settles; with `keep`, the chosen one's changesets stay
        pending (run again if a later candidate ran after it), else nothing is kept (a dry run).
        `first_invalid`: the model's first answer was no valid plan (`first` is empty; its explanation
        says why)."""
        made: list[Candidate] = [self.not_run(0, "greedy", first, first.explanation) if first_invalid
                                 else self.try_plan(0, "greedy", self.planner, first, planned)]
        by_index = {0: self.planner}
        choice = choose([made[0].evidence], budget=budget)
        for source, who, make in self.sources(budget):
            if choice.verdict is not Verdict.MORE:
                break
            index = len(made)
            self.emit(Progress(ProgressKind.PLANNING, f"planning candidate {index + 1} ({source})",
                               {"candidate": index, "source": source}))
            self.set_aside(made[-1])
            made[-1] = self.discarded(made[-1])
            try:
                plan = make(who, first.intent, index)
            except PlannerError as exc:
                made.append(self.not_run(index, source, first, f"no plan: {exc.message}"))
            else:
                made.append(self.try_plan(index, source, who, plan, None))
            by_index[index] = who
            choice = choose([c.evidence for c in made], budget=budget)
        if choice.verdict is Verdict.MORE:  # fewer sources than the budget: choose among those made
            choice = choose([c.evidence for c in made], budget=len(made))
        if choice.verdict is not Verdict.NONE and disputed([c.evidence for c in made]):
            made = self.check(made)
            choice = choose([c.evidence for c in made], budget=len(made))
        if first.note:  # a question about the sandbox: two clean answers in different words both answer it
            choice = either_answers(choice, [c.evidence for c in made])
        self.emit(Progress(ProgressKind.VERIFY, f"verification: {choice.reason}", choice.to_json()))
        chosen = choice.chosen
        if choice.verdict is Verdict.ASK and resolve is not None:
            chosen = resolve(tuple(c for i in choice.alternatives for c in made if c.index == i))
            if chosen is not None:
                choice = replace(choice, chosen=chosen,
                                 reason=f"{choice.reason}; the person chose candidate {chosen + 1}")
        if not keep:
            return self.examined(made, choice, chosen)
        return self.settle(made, choice, chosen, by_index)

    def examined(self, made: list[Candidate], choice: Choice, chosen: int | None) -> _Verified:
        """A dry run's verdict: every candidate's changes discarded, the plan shown is the chosen
        one (or, undecided, the better of the two) with the repairs that made it run."""
        self.set_aside(made[-1])
        made[-1] = self.discarded(made[-1])
        shown = chosen if chosen is not None else choice.alternatives[0] if choice.alternatives else \
            _first_plan(made)
        pick = made[shown]
        error = None if choice.verdict is not Verdict.NONE else f"no candidate plan ran to the end; the first: " \
            f"{made[0].evidence.error}"
        return _Verified(pick.plan, pick.planned, pick.attempts, (), tuple(made), choice, error,
                         undecided=chosen is None and choice.verdict is Verdict.ASK)

    def settle(self, made: list[Candidate], choice: Choice, chosen: int | None,
               by_index: Mapping[int, Planner]) -> _Verified:
        latest = made[-1]
        if chosen is not None and chosen != latest.index:
            pick = made[chosen]
            if latest.evidence.clean and latest.evidence.outcome == pick.evidence.outcome and pick.evidence.clean:
                chosen = latest.index  # the same effect, already pending: no second run
                choice = replace(choice, chosen=chosen, alternatives=tuple(
                    chosen if index == pick.index else index for index in choice.alternatives))
        if chosen is None:
            self.set_aside(latest)
            made[-1] = self.discarded(latest)
            error = None if choice.verdict is Verdict.ASK else (made[0].evidence.error or "no candidate ran")
            if choice.verdict is Verdict.NONE:
                error = f"no candidate plan ran to the end; the first: {made[0].evidence.error}"
            shown = made[_first_plan(made)]
            return _Verified(shown.plan, shown.planned, shown.attempts, (), tuple(made), choice, error,
                             undecided=choice.verdict is Verdict.ASK)
        pick = made[chosen]
        if chosen == latest.index:
            return _Verified(pick.plan, pick.planned, pick.attempts, pick.changesets, tuple(made), choice)
        self.set_aside(latest)
        made[-1] = self.discarded(latest)
        self.emit(Progress(ProgressKind.VERIFY, f"running candidate {chosen + 1} again for review",
                           {"candidate": chosen}))
        again = _Runner(self.workspace, pick.plan, by_index[chosen], self.emit,
                        replace(self.options, max_repairs=0))
        calls = tuple(PlannedStep(a.step, a.call, a.confinement or "") for a in pick.attempts if a.ok)
        error = again.run_all(calls)
        if error is None:
            stdout = "".join(a.result.stdout for a in again.attempts if a.ok and a.result is not None)
            if outcome_digest(stdout, [c.to_json() for cs in again.kept for c in cs.changes]) != pick.evidence.outcome:
                choice = replace(choice, reason=f"{choice.reason}; run again, it did not do exactly the same: "
                                                "review its output and changes")
        else:
            error = f"candidate {chosen + 1} failed when run again: {error}"
        return _Verified(pick.plan, pick.planned, tuple(again.attempts), tuple(again.kept), tuple(made), choice, error)

    def set_aside(self, candidate: Candidate) -> None:
        for changeset in candidate.changesets:
            if changeset.status is ChangesetStatus.PENDING:
                self.workspace.discard(changeset.id)

    @staticmethod
    def discarded(candidate: Candidate) -> Candidate:
        sets = tuple(replace(cs, status=ChangesetStatus.DISCARDED) if cs.status is ChangesetStatus.PENDING else cs
                     for cs in candidate.changesets)
        return replace(candidate, changesets=sets)

    def not_run(self, index: int, source: str, like: Plan, error: str) -> Candidate:
        plan = replace(like, steps=(), explanation=error, raw="")
        return Candidate(index, source, plan, (), (), (), Evidence(index, source, (), False, error=error))

    def try_plan(self, index: int, source: str, who: Planner, plan: Plan,
                 planned: tuple[PlannedStep, ...] | None) -> Candidate:
        """Run one candidate; its changesets stay pending for now."""
        if index:  # the first is the intent's plan, recorded already
            self.workspace.record_plan(self.options.action, plan, verification={"candidate": index, "source": source})
        if plan.empty:
            return self.not_run(index, source, plan, f"refused: {plan.explanation}")
        if planned is None:
            try:
                planned = tuple(PlannedStep(i, step, _confine(self.workspace, step, self.options.timeout_s))
                                for i, step in enumerate(plan.steps))
            except SbxError as exc:
                return self.not_run(index, source, plan, f"cannot be confined: {exc.message}")
        runner = _Runner(self.workspace, plan, who, self.emit, self.options)
        error = runner.run_all(planned)
        counted = [a.result for a in runner.attempts if a.ok and a.result is not None]
        stdout = "".join(r.stdout for r in counted)
        out_digest, changes_digest = outcome_digest(stdout, [c.to_json() for cs in runner.kept for c in cs.changes])
        # what ran, repairs included (what the check reads and a person is shown), else what was planned
        ran = {a.step: a.call for a in runner.attempts if a.ok}
        evidence = Evidence(
            index, source, tuple(_describe(ran.get(p.index, p.step)) for p in planned), error is None,
            denied=sum(len(r.denied) for r in counted), error_output=any(r.stderr.strip() for r in counted),
            repairs=sum(1 for a in runner.attempts if a.attempt > 1), stdout_digest=out_digest,
            changes_digest=changes_digest, error=error,
            family="greedy" if source.startswith("sampled") else source,
            answer_digest=answer_digest(stdout, details=asks_quantity(self.intent)), detail=detail_words(stdout),
        )
        how = ("ran cleanly" if evidence.clean else f"failed: {error}" if error
               else "ran, with error output or denials")
        self.emit(Progress(ProgressKind.VERIFY, f"candidate {index + 1} ({source}): {how}",
                           {"candidate": index, **evidence.to_json()}))
        return Candidate(index, source, plan, planned, tuple(runner.attempts), tuple(runner.kept), evidence)

    def check(self, made: list[Candidate]) -> list[Candidate]:
        """The model reads one clean candidate of each outcome against the request: yes or no.
        Candidates with the same outcome share the answer."""
        verdicts: dict[tuple[str, str], bool | None] = {}
        for candidate in made:
            evidence = candidate.evidence
            if not evidence.clean or evidence.outcome in verdicts:
                continue
            messages = check_messages(candidate.plan.intent, evidence.commands, candidate.stdout(), candidate.diff())
            try:
                answer = self.planner.backend.generate(messages, guidance=None, max_tokens=2)
            except PlannerError as exc:
                log.warning("the model's check of candidate %d failed: %s", candidate.index + 1, exc.message)
                verdicts[evidence.outcome] = None
                continue
            verdict = verdicts[evidence.outcome] = read_check(answer.text)
            said = "yes" if verdict else "no" if verdict is False else "neither yes nor no"
            self.emit(Progress(ProgressKind.VERIFY, f"candidate {candidate.index + 1}: the model's check says {said}",
                               {"candidate": candidate.index, "check": verdict}))
        return [replace(c, evidence=replace(c.evidence, check=verdicts.get(c.evidence.outcome)))
                if c.evidence.clean else c for c in made]


def run_intent(
    workspace: Workspace,
    intent: str,
    *,
    planner: Planner,
    max_steps: int = DEFAULT_MAX_STEPS,
    dry_run: bool = False,
    approve: Approve | None = None,
    on_progress: OnProgress | None = None,
    confirm: Confirm | None = None,
    timeout_s: float | None = None,
    allow_degraded: bool = False,
    max_repairs: int = MAX_REPAIRS,
    candidates: int = 1,
    alternates: Sequence[Planner] = (),
    resolve: Resolve | None = None,
) -> RunResult:
    """Plan `intent` with `planner`, run it step by step in confined containers, commit on approval.

    `approve` gets the finished result (steps, outputs, pending changesets) and returns True to
    apply every pending changeset, in order, each by its sha256; None leaves them pending.
    `dry_run`: plan (and compile every step's confinement) only. Raises `PlannerError`
    (`planner.invalid_plan`, `planner.unsafe_plan`, ...) before any container starts when the plan
    is not valid and confinable; engine errors propagate as they are.

    `candidates` > 1 verifies the plan by running candidates (`_Verifier`): up to that many plans,
    made by `alternates` (other models' planners) first, then by `planner` with its next-nearest
    examples, then sampled; each runs in its own containers and is discarded unless chosen
    (sandbox.planner.verify.choose). When they disagree and nothing separates them, `resolve`
    (a person) chooses between the two best; without it, or when it declines, the status is
    `undecided` with the two as `alternatives`, and nothing is pending.
    """
    emit: OnProgress = on_progress or (lambda _: None)
    started = time.monotonic()
    tools = [profile.tool for _, profile in sorted(workspace.profiles.tools.items())]
    emit(Progress(ProgressKind.LOAD, f"model {planner.model.name}", {"model": planner.model.name}))
    load_seconds = planner.load()
    where = planner.backend.where
    emit(Progress(ProgressKind.LOADED, f"model ready ({load_seconds:.1f}s, {where})",
                  {"seconds": load_seconds, "where": where}))
    emit(Progress(ProgressKind.PLANNING, "planning"))
    # The model sees how the files the request names begin (a header row, a JSON shape), as a
    # person glances at them before writing the command
    notes = peek(workspace.path, intent)
    noted = planner.with_design(WithNotes(planner.design, notes)) if notes else planner
    summary = summarize_workspace(workspace.path)
    invalid_first: PlannerError | None = None
    try:
        plan = noted.plan(intent, tools, summary, max_steps)
    except PlannerError as exc:
        if candidates <= 1 or exc.code != "planner.invalid_plan":
            raise
        # Verification has other candidates to make: the model's first answer counts as one that
        # did not run, and only when no candidate is a plan does its error stand.
        invalid_first = exc
        plan = Plan(intent=intent.strip(), steps=(), explanation=f"no plan: {exc.message}", model=planner.model,
                    design=planner.design.name, usage=Usage(), raw="", tools=tuple(tools), workspace=summary)
    # The audit trail links the intent to its plan; each step's own entries follow from
    # workspace.call_tool, which names the intent's action as their parent.
    action = workspace.record_intent(intent)
    workspace.record_plan(action, plan)
    usage: Usage = plan.usage
    emit(Progress(ProgressKind.PLANNED,
                  f"plan: {len(plan.steps)} step(s), {usage.prompt_tokens}+{usage.completion_tokens} tokens "
                  f"({usage.cached_tokens} cached), {usage.seconds:.1f}s" + (f"; {plan.note}" if plan.note else ""),
                  {"steps": len(plan.steps), "prompt_tokens": usage.prompt_tokens, "cached_tokens": usage.cached_tokens,
                   "completion_tokens": usage.completion_tokens, "seconds": usage.seconds, "note": plan.note}))
    planned = []
    for index, step in enumerate(plan.steps):
        try:
            planned.append(PlannedStep(index, step, _confine(workspace, step, timeout_s)))
        except SbxError as exc:
            raise PlannerError(
                f"step {index + 1} of the plan ({_describe(step)[:200]}) cannot be confined: {exc.message}",
                code="planner.unsafe_plan", hint="nothing ran; rephrase the intent",
            ) from None
    base = RunResult(intent=plan.intent, workspace=str(workspace.path), status=RunStatus.PLANNED, plan=plan,
                     planned=tuple(planned), load_seconds=load_seconds)

    def finish(result: RunResult) -> RunResult:
        return replace(result, seconds=time.monotonic() - started)

    if plan.empty and invalid_first is None:
        return finish(replace(base, status=RunStatus.REFUSED))
    if dry_run and candidates <= 1:
        return finish(base)
    if not dry_run and confirm is not None and invalid_first is None and not confirm(plan, base.planned):
        return finish(replace(base, status=RunStatus.CANCELLED))

    ran_at = time.monotonic()
    options = _RunOptions(timeout_s, allow_degraded, max_repairs, action)
    if candidates > 1:
        verifier = _Verifier(workspace, planner, tuple(alternates), emit, options, tools=tools,
                             line=plan.workspace, max_steps=max_steps, intent=plan.intent, noted=noted)
        result, error = _verified(verifier, base, candidates, resolve, dry_run=dry_run,
                                  first_invalid=invalid_first is not None)
        if invalid_first is not None and not any(c.plan.steps for c in result.candidates):
            raise invalid_first
        result = replace(result, run_seconds=time.monotonic() - ran_at)
        if dry_run or result.status is RunStatus.UNDECIDED:
            return finish(result)
    else:
        runner = _Runner(workspace, plan, planner, emit, options)
        error = runner.run_all(base.planned)
        result = replace(base, attempts=tuple(runner.attempts), changesets=tuple(runner.kept),
                         run_seconds=time.monotonic() - ran_at)
    if error is not None:
        return finish(replace(result, status=RunStatus.FAILED, error=error))
    return finish(_review(workspace, result, approve, emit, finish))


def _verified(verifier: _Verifier, base: RunResult, candidates: int, resolve: Resolve | None,
              *, dry_run: bool, first_invalid: bool = False) -> tuple[RunResult, str | None]:
    """The verified run (status `undecided` when nothing separates the best two, `planned` for a
    dry run, else still to be reviewed) and why it failed, if it did."""
    try:
        outcome = verifier.run(base.plan, base.planned, candidates, resolve, keep=not dry_run,
                               first_invalid=first_invalid)
    except (EngineUnavailableError, ImageNotFoundError) as exc:
        if not dry_run:
            raise
        # a dry run still shows the plan where no container can run; it says it is unchecked
        verifier.emit(Progress(ProgressKind.VERIFY, f"the plan is not verified: {exc.message}", {"verified": False}))
        return base, None
    result = replace(base, plan=outcome.plan, planned=outcome.planned, attempts=outcome.attempts,
                     changesets=outcome.kept, candidates=outcome.candidates, choice=outcome.choice)
    verifier.workspace.record_plan(verifier.options.action, outcome.plan, verification=result.verification_record())
    if dry_run:
        return _as_tried(result, outcome), None
    if outcome.undecided:
        return replace(result, status=RunStatus.UNDECIDED, error=None), None
    return result, outcome.error


def _as_tried(result: RunResult, outcome: _Verified) -> RunResult:
    """A verified dry run's result: the plan as it ran to the end in the sandbox (each step's call
    that succeeded, repairs included), status `planned`, or `undecided` with the alternatives. A
    plan no candidate could run to the end is shown as the model made it, status `planned`: the
    sandbox is not every machine (no network, no devices), and `verification` says what failed."""
    ran = {a.step: a for a in outcome.attempts if a.ok}
    if outcome.error is None and ran and len(ran) == len(outcome.planned):
        planned = tuple(PlannedStep(i, ran[i].call, ran[i].confinement or p.confinement)
                        for i, p in enumerate(outcome.planned))
        result = replace(result, plan=replace(outcome.plan, steps=tuple(p.step for p in planned)), planned=planned)
    status = RunStatus.UNDECIDED if outcome.undecided else RunStatus.PLANNED
    return replace(result, status=status, error=None)


def _review(workspace: Workspace, result: RunResult, approve: Approve | None, emit: OnProgress,
            finish: Callable[[RunResult], RunResult]) -> RunResult:
    """Ask `approve` about the finished run (nothing pending: `done`); on yes apply each pending
    changeset, in order, by sha256."""
    if not result.pending:
        return replace(result, status=RunStatus.DONE)
    result = replace(result, status=RunStatus.PENDING)
    if approve is None:
        return result
    if not approve(finish(result)):
        return replace(result, approved=False)
    commits = []
    for changeset in result.pending:
        emit(Progress(ProgressKind.COMMIT, f"applying changeset {changeset.id}", {"changeset": changeset.id}))
        commits.append(workspace.apply(changeset.id, sha256=changeset.sha256))
    fresh = {cs.id: workspace.changeset(cs.id) for cs in result.pending}
    attempts = tuple(replace(a, changeset=fresh[a.changeset.id]) if a.changeset and a.changeset.id in fresh else a
                     for a in result.attempts)
    return replace(result, status=RunStatus.APPLIED, approved=True, commits=tuple(commits), attempts=attempts,
                   changesets=tuple(fresh.get(cs.id, cs) for cs in result.changesets))

