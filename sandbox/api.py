"""The Python API: what an agent holds to use sbx as its safe executor.

    from sandbox import Sandbox

    box = Sandbox("/path/to/project")
    result = box.run("run_shell", {"command": "sed -i s/foo/bar/ src/a.py"})
    print(result.steps[0].stdout, [c.path for c in result.changeset.changes])
    box.apply(result.changeset.id, sha256=result.changeset.sha256)   # only what was reviewed

Nothing here commits on its own: `run` and `exec` leave a pending changeset; `apply` needs the
changeset's sha256, so a caller can only commit exactly what it (or its user) reviewed. A changeset
with risk flags (a `.git/hooks` script, a shell start-up file, ...) needs a person: `apply` refuses
it (`changeset.needs_person`) unless whoever built the `Sandbox` passed `allow_risky_apply=True`.
Opening a `Sandbox` first finishes or rolls back a commit a killed process left (`recovered`). Results are
the frozen dataclasses of `sandbox.types`; every failure is an `SbxError` (`sandbox.errors`) with a
stable `code`. A `Sandbox` may be shared between threads: its calls on one workspace queue up.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox.app import OnRecovered, Workspace
from sandbox.config import Settings
from sandbox.types import ActionResult, Changeset, ChangesetStatus, CommitResult, Recovered


@dataclass(frozen=True)
class ToolInfo:
    name: str
    description: str
    input_schema: Mapping[str, Any]
    confinement: str  # one line: what a call of this tool may touch
    mcp_definition: Mapping[str, Any]  # as an MCP server lists it: the description says the confinement


class Sandbox:
    """One workspace under sbx's control."""

    def __init__(
        self,
        workspace: str | Path = ".",
        *,
        settings: Settings | None = None,
        via: str = "api",
        allow_risky_apply: bool = False,
        on_recovered: OnRecovered | None = None,
        prepare_ahead: int | None = None,
    ) -> None:
        """`prepare_ahead`: containers kept prepared for the next call (default SBX_WARM_POOL, 1)."""
        self._workspace = Workspace(workspace, settings, via=via, allow_risky_apply=allow_risky_apply,
                                    on_recovered=on_recovered, prepare_ahead=prepare_ahead)
        self._lock = threading.RLock()  # threads queue instead of failing on the workspace lock

    def close(self) -> None:
        """Remove the containers prepared for this workspace's next call (also done at exit)."""
        with self._lock:
            self._workspace.close()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def path(self) -> Path:
        return self._workspace.path

    @property
    def recovered(self) -> tuple[Recovered, ...]:
        """The interrupted commits of this workspace that this Sandbox rolled back or completed."""
        return tuple(self._workspace.recovered)

    def tools(self) -> list[ToolInfo]:
        out = []
        for name, profile in sorted(self._workspace.profiles.tools.items()):
            tool, confinement = profile.tool, profile.summary()
            listed = tool.mcp_definition(description=f"{tool.description} Confinement: {confinement}. Effects wait "
                                         "for review: the result carries a pending changeset.")
            out.append(ToolInfo(name, tool.description, tool.schema(), confinement, listed))
        return out

    def run(self, tool: str, args: Mapping[str, Any] | None = None, *, timeout: float | None = None) -> ActionResult:
        """One tool call in its own confined container. Never commits."""
        with self._lock:
            return self._workspace.call_tool(tool, dict(args or {}), timeout_s=timeout)

    def exec(self, command: str | list[str], *, timeout: float | None = None) -> ActionResult:
        """A shell command (a string) or an argv (a list), through run_shell. Never commits."""
        with self._lock:
            if isinstance(command, str):
                return self._workspace.call_tool("run_shell", {"command": command}, timeout_s=timeout)
            return self._workspace.exec(list(command), timeout_s=timeout)

    def changesets(self) -> list[Changeset]:
        with self._lock:
            return self._workspace.changesets()

    def pending(self) -> list[Changeset]:
        return [cs for cs in self.changesets() if cs.status is ChangesetStatus.PENDING]

    def diff(self, changeset: str | None = None) -> Changeset:
        """The changeset as it stands (default: the newest pending), with its diffs."""
        with self._lock:
            return self._workspace.changeset(changeset)

    def apply(
        self,
        changeset: str,
        *,
        sha256: str,
        paths: Collection[str] | None = None,
        skip_conflicts: bool = False,
    ) -> CommitResult:
        """Commit exactly the reviewed changeset: refused (`changeset.hash_mismatch`) unless its
        content still has `sha256`, and (`changeset.needs_person`) if the paths it commits carry
        risk flags and this Sandbox was not opened with `allow_risky_apply=True`."""
        with self._lock:
            return self._workspace.apply(changeset, sha256=sha256, paths=paths, skip_conflicts=skip_conflicts)

    def discard(self, changeset: str) -> Changeset:
        with self._lock:
            return self._workspace.discard(changeset)

    def undo(self) -> CommitResult:
        with self._lock:
            return self._workspace.undo()
