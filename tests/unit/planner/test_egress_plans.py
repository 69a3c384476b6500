"""A model's `curl URL` becomes an http_get call confined to the URL's host; a URL naming this
machine or a private network is refused when the plan is confined, before any container starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.errors import PlannerError
from sandbox.intent import run_intent
from tests.unit.planner.test_intent import _planner, _ws, ok


@pytest.mark.parametrize("url", ["http://127.0.0.1:8765/secret", "http://localhost:8765/", "http://2130706433/",
                                 "http://169.254.169.254/latest/meta-data/", "https://0x7f000001:8443/"])
def test_a_plan_reaching_this_machine_never_runs(tmp_path: Path, url: str) -> None:
    ws = _ws(tmp_path, ok(stdout="the secret\n"))
    planner, _ = _planner(f"```bash\ncurl -s {url}\n```")
    with pytest.raises(PlannerError) as caught:
        run_intent(ws, "fetch the secret", planner=planner)
    assert caught.value.code == "planner.unsafe_plan"
    assert "egress never reaches this machine or private networks" in caught.value.message
    assert ws.log == []


def test_a_plan_fetching_a_public_url_is_confined_to_its_host(tmp_path: Path) -> None:
    ws = _ws(tmp_path, ok(stdout="page\n"))
    planner, _ = _planner("```bash\ncurl -s https://example.org/a\n```")
    result = run_intent(ws, "fetch the page", planner=planner, dry_run=True)
    assert result.status == "planned"
    assert "egress to example.org:443 only" in result.planned[0].confinement
