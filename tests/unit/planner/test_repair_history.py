"""A repair sees every earlier failed attempt of its step, and never goes back to one of them."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sandbox.intent import run_intent
from tests.unit.planner.test_intent import _planner, _ws


def _fails_unless_recursive(tool: str, args: Mapping[str, Any]) -> tuple[int, str, str, tuple[str, ...]]:
    command = str(args.get("command", ""))
    if "find" in command:
        return 0, "", "", ("src/app.py",)
    return 2, "", "sed: can't read *.py: No such file or directory\n", ()


def test_the_second_repair_is_told_of_both_failures_and_a_return_to_the_first_is_no_fix(tmp_path: Path) -> None:
    ws = _ws(tmp_path, _fails_unless_recursive)
    first, second = "sed -i s/a/b/ *.py", "sed -i s/a/b/ ./*.py"
    planner, backend = _planner(f"```bash\n{first}\n```", f"```bash\n{second}\n```",
                                f"```bash\n{first}\n```",  # greedy goes back to the first attempt...
                                "```bash\nfind . -name '*.py' -exec sed -i s/a/b/ {} +\n```")  # ...sampled does not
    result = run_intent(ws, "replace a with b in the python files", planner=planner, approve=lambda _: True)
    assert result.status == "applied"
    assert [a.call.args["command"] for a in result.attempts] == [
        first, second, "find . -name '*.py' -exec sed -i s/a/b/ {} +"]
    told = backend.calls[2].messages[-1]["content"]
    assert f"also tried before, and failed: `{first}` (exit 2)" in told
    assert "also tried before" not in backend.calls[1].messages[-1]["content"]


def test_a_repair_that_can_only_repeat_earlier_attempts_gives_up(tmp_path: Path) -> None:
    ws = _ws(tmp_path, _fails_unless_recursive)
    first, second = "sed -i s/a/b/ *.py", "sed -i s/a/b/ ./*.py"
    planner, _ = _planner(f"```bash\n{first}\n```", f"```bash\n{second}\n```",
                          f"```bash\n{first}\n```", f"```bash\n{second}\n```")
    result = run_intent(ws, "replace a with b in the python files", planner=planner)
    assert result.status == "failed" and result.error is not None and "found no fix" in result.error
    assert len(result.attempts) == 2
