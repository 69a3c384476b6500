"""Every case with a reference command is solvable, and its check is not fooled by doing nothing.

    .venv/bin/python bench/intents/verify.py [--only NAME,...]

For each such case: a fresh workspace with the case's files, the reference run as `run_shell` in
the real container (as `sbx exec` does), its changeset applied, then the case's check on the
workspace and the output: it must pass. Then the same with `true` (does nothing, prints nothing):
the check must fail. Prints one line per case and a summary; exits non-zero on any surprise.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.intents import Case, all_cases  # noqa: E402
from sandbox.app import Approval, Workspace  # noqa: E402
from sandbox.config import Settings  # noqa: E402


@dataclasses.dataclass
class _Ran:
    """What a check reads of a run: its output and that it was applied."""

    printed: str
    status: str = "applied"

    def stdout(self) -> str:
        return self.printed


def run_reference(case: Case, command: str, settings: Settings, scratch: Path) -> tuple[bool, str]:
    root = Path(tempfile.mkdtemp(prefix=f"{case.name}-", dir=scratch))
    ws, state = root / "ws", root / "state"
    ws.mkdir()
    state.mkdir()
    case.prepare(ws)
    workspace = Workspace(ws, dataclasses.replace(settings, state_dir=state), allow_risky_apply=True)
    result = workspace.call_tool("run_shell", {"command": command}, approve=lambda _: Approval.all())
    step = result.steps[0]
    try:
        case.check(ws, _Ran(step.stdout))
    except Exception as exc:  # noqa: BLE001 - a check that crashes rejects the run
        return False, f"exit {step.exit_code}: {exc} (stderr {step.stderr[-200:]!r})"
    return True, f"exit {step.exit_code}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="")
    args = parser.parse_args()
    cases = [c for c in all_cases() if c.reference and not c.refusal]
    if args.only:
        cases = [c for c in cases if c.name in set(args.only.split(","))]
    settings = Settings.from_env()
    bad = 0
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="sbx-verify-cases-") as scratch:
        for case in cases:
            solved, how = run_reference(case, case.reference, settings, Path(scratch))
            fooled, _ = run_reference(case, "true", settings, Path(scratch))
            ok = solved and not fooled
            bad += not ok
            note = "" if ok else (f"reference fails: {how}" if not solved else "check passes on `true`")
            print(f"{'ok ' if ok else 'BAD'} {case.name:<24} {note}", flush=True)
    print(f"verified {len(cases) - bad}/{len(cases)} cases in {time.monotonic() - started:.0f} s")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
