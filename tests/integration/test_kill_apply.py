"""`sbx apply` killed (SIGKILL) at random points of a 2,000-file commit: whichever read-only command
runs next on the workspace (log, list, diff, doctor -w) first rolls the commit back or completes
it, and says so. The workspace is all-old or all-new afterwards, never a mix."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import SBX, Run, sbx

FILES = 2000
TRIALS = 20
NEXT_COMMANDS = (
    ("log", "--limit", "3"),
    ("list",),
    ("diff", "--json"),
    ("log", "--json", "--limit", "3"),
    ("list", "--json"),
    ("diff",),
)
DOCTOR_TRIALS = (1, 10)  # doctor -w checks the whole host too (seconds): a few trials are enough


@pytest.fixture
def base(tmp_path: Path) -> Iterator[Path]:
    """tmpfs when there is one: the commit's fsyncs then cost nothing, so trials take a second,
    and the kill lands among 2,000 renames rather than inside one disk flush."""
    if not os.access("/dev/shm", os.W_OK):
        yield tmp_path
        return
    path = Path(tempfile.mkdtemp(prefix="sbx-kill-", dir="/dev/shm"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _state(ws: Path) -> str:
    contents = {(ws / "d" / f"f{i:04d}.txt").read_text() for i in range(FILES)}
    if contents == {"old\n"}:
        return "old"
    return "new" if contents == {"new\n"} else "mixed"


def _strays(ws: Path) -> list[str]:
    return [p.name for p in ws.rglob(".sbx-*")]


def _journals(state: Path) -> set[Path]:
    return set(state.glob("workspaces/*/commits/*/journal.json"))


def _apply_killed(ws: Path, env: dict[str, str], state: Path, *, after_journal: float | None,
                  after_start: float | None) -> None:
    """Start `sbx apply --yes` and SIGKILL it: `after_journal` seconds after its journal appears
    (inside the commit), or `after_start` seconds after it started (anywhere)."""
    before = _journals(state)
    proc = subprocess.Popen([*SBX, "apply", "-w", str(ws), "--yes"], env={**os.environ, **env},
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if after_start is not None:
            time.sleep(after_start)
        else:
            deadline = time.monotonic() + 60
            while not (_journals(state) - before) and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.002)
            time.sleep(after_journal or 0.0)
    finally:
        proc.kill()
        proc.wait()


def test_a_killed_apply_is_never_left_half_done(base: Path) -> None:
    ws, state = base / "ws", base / "state"
    (ws / "d").mkdir(parents=True)
    for i in range(FILES):
        (ws / "d" / f"f{i:04d}.txt").write_text("old\n")
    env = {"SBX_STATE_DIR": str(state)}
    made = sbx("exec", "-w", str(ws), "--json", "--", "sh", "-c", "for f in d/*.txt; do echo new > $f; done",
               env=env)
    assert made.code == 0, made.stderr
    assert len(made.json["result"]["changeset"]["changes"]) == FILES

    # Calibrate on this machine: when the journal appears, and how long the commit takes after it.
    started = time.monotonic()
    proc = subprocess.Popen([*SBX, "apply", "-w", str(ws), "--yes"], env={**os.environ, **env},
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not _journals(state) and proc.poll() is None:
        time.sleep(0.002)
    journal_at = time.monotonic()
    assert proc.wait() == 0
    total, window = time.monotonic() - started, time.monotonic() - journal_at
    assert _state(ws) == "new"
    assert sbx("undo", "-w", str(ws), env=env).code == 0 and _state(ws) == "old"

    rng = random.Random()  # noqa: S311 -- timing jitter, not a secret
    seen: dict[str, int] = {"old": 0, "new": 0, "mixed": 0}
    recovered = 0
    for trial in range(TRIALS):
        if trial % 3 == 2:  # anywhere in the command's life, start-up and bookkeeping included
            _apply_killed(ws, env, state, after_journal=None, after_start=rng.uniform(0, total * 1.1))
        else:  # inside the commit itself
            _apply_killed(ws, env, state, after_journal=rng.uniform(0, window * 1.2), after_start=None)
        left = _state(ws)
        seen[left] += 1
        command = ("doctor", "--json") if trial in DOCTOR_TRIALS else NEXT_COMMANDS[trial % len(NEXT_COMMANDS)]
        run: Run = sbx(*command, "-w", str(ws), env=env)
        said = "sbx: recovery:" in run.stderr or ("--json" in command and "recovered" in run.json)
        recovered += said
        now = _state(ws)
        context = f"trial {trial}: {' '.join(command)} after a kill that left the workspace {left}: {run.stderr[-400:]}"
        assert now in ("old", "new"), context
        assert not _strays(ws), context
        if left == "mixed":
            assert said, f"recovery must be reported: {context}"
        if "--json" in command:
            assert run.stdout.count("\n") == 1, "still one JSON object"
        if now == "new":
            undo = sbx("undo", "-w", str(ws), env=env)
            assert undo.code == 0 and _state(ws) == "old", undo.stderr
    assert recovered >= 1, f"no kill landed inside a commit in {TRIALS} trials ({seen}); the test proved nothing"
