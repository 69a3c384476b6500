"""The Python API with real containers: an agent holding a `Sandbox` cannot commit its own flagged
change; the person who builds the Sandbox may opt in; unflagged changes commit as before."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox import Sandbox
from sandbox.audit import EventKind
from sandbox.errors import ChangesetError
from sandbox.types import ChangesetStatus
from tests.integration.conftest import snapshot

HOOK = ".git/hooks/pre-commit"
ADD_HOOK = f"mkdir -p .git/hooks && printf '#!/bin/sh\\necho pwned\\n' > {HOOK} && chmod +x {HOOK}"


def _approvals(box: Sandbox) -> dict[str, dict[str, object]]:
    return {str(e.payload["changeset"]): dict(e.payload) for e in box._workspace.log(limit=None)
            if e.kind == EventKind.APPROVAL}


def test_a_flagged_changeset_needs_the_persons_opt_in(workspace: Path) -> None:
    box = Sandbox(workspace)
    plain = box.exec("echo note > notes.txt").changeset
    assert box.apply(plain.id, sha256=plain.sha256).applied == ("notes.txt",)

    before = snapshot(workspace)
    hook = box.exec(ADD_HOOK).changeset
    assert "risk.git_hook" in next(c for c in hook.changes if c.path == HOOK).risks
    with pytest.raises(ChangesetError) as caught:
        box.apply(hook.id, sha256=hook.sha256)
    assert caught.value.code == "changeset.needs_person"
    assert f"sbx diff {hook.id}" in caught.value.message and f"sbx apply {hook.id}" in caught.value.message
    assert snapshot(workspace) == before
    assert box.diff(hook.id).status is ChangesetStatus.PENDING

    trusted = Sandbox(workspace, allow_risky_apply=True)
    assert HOOK in trusted.apply(hook.id, sha256=hook.sha256).applied
    assert (workspace / HOOK).read_text() == "#!/bin/sh\necho pwned\n"

    approvals = _approvals(trusted)
    assert approvals[plain.id]["via"] == "api" and "risks" not in approvals[plain.id]
    assert approvals[hook.id]["via"] == "api (allow_risky_apply=True)"
    assert approvals[hook.id]["risks"] == ["risk.exec_bit", "risk.git_hook"]
    failures = [e.payload for e in trusted._workspace.log(limit=None) if e.kind == EventKind.FAILURE]
    assert [f["changeset"] for f in failures if f["error"]["code"] == "changeset.needs_person"] == [hook.id]
