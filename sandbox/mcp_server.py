"""`sbx serve --mcp`: sbx as an MCP server over stdio. The only module that imports `mcp`.

Every tool in `profiles/` is exposed under its own name and schema; a call runs confined and
returns its output and the pending changeset (id, sha256, changes) as structured content. It never
commits. Three more tools review and commit: `sbx_diff(changeset?)`, `sbx_apply(changeset, sha256)`
(refused unless the sha256 is the changeset's as it stands, so an agent commits only what was
reviewed; and, unless the person started the server with `--allow-risky-apply`, refused with
`changeset.needs_person` when the changeset has risk flags) and `sbx_discard(changeset)`. A
malformed call gets an MCP error (invalid params) and the server keeps serving; a tool that fails
is a result with `isError`, which the model can read.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import mcp_types as types
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server
from mcp.shared.exceptions import MCPError

from sandbox.api import Sandbox
from sandbox.config import Settings
from sandbox.errors import SbxError
from sandbox.types import ActionResult, Changeset, Recovered
from sandbox.version import version

# Errors in the call itself (the model can fix its call) are protocol errors; the rest are results.
_CALLER_ERRORS = ("usage.", "tool.", "policy.path_outside_workspace", "policy.invalid_path")

REVIEW_TOOLS = [
    types.Tool(
        name="sbx_diff",
        description="Show a pending changeset (default: the newest) with its unified diffs and sha256.",
        input_schema={"type": "object", "properties": {"changeset": {"type": "string"}}, "additionalProperties": False},
    ),
    types.Tool(
        name="sbx_apply",
        description="Commit a reviewed changeset to the host. Refused unless sha256 is the changeset's current hash; "
        "a changeset with risk flags (git hooks, shell start-up files, ...) may need a person to apply it.",
        input_schema={
            "type": "object",
            "properties": {"changeset": {"type": "string"}, "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"}},
            "required": ["changeset", "sha256"],
            "additionalProperties": False,
        },
    ),
    types.Tool(
        name="sbx_discard",
        description="Drop a pending changeset; the host is not touched.",
        input_schema={"type": "object", "properties": {"changeset": {"type": "string"}}, "required": ["changeset"],
                      "additionalProperties": False},
    ),
]


def _changeset_summary(cs: Changeset, *, with_diffs: bool) -> dict[str, Any]:
    data = cs.to_json()
    if not with_diffs:
        data["changes"] = [{k: v for k, v in c.items() if k != "diff"} for c in data["changes"]]
    return data


def _action_content(result: ActionResult) -> types.CallToolResult:
    step = result.steps[-1]
    cs = result.changeset
    lines = [step.stdout.rstrip("\n")] if step.stdout else []
    if step.stderr:
        lines.append(f"[stderr]\n{step.stderr.rstrip()}")
    status = "timed out" if step.timed_out else f"exit {step.exit_code}"
    lines.append(f"[{step.tool}: {status}; changeset {cs.id} {cs.status}, {len(cs.changes)} change(s), "
                 f"sha256 {cs.sha256}; commit with sbx_apply]")
    lines += [f"[denied: {d}]" for d in step.denied]
    structured = {"steps": [s.to_json() for s in result.steps], "changeset": _changeset_summary(cs, with_diffs=False)}
    return types.CallToolResult(
        content=[types.TextContent(text="\n".join(lines))],
        structured_content=structured,
        is_error=step.timed_out or step.exit_code != 0,
    )


class SbxMcp:
    """The handlers, around one `Sandbox`; calls run one at a time, off the event loop."""

    def __init__(self, box: Sandbox) -> None:
        self.box = box
        self._serial = asyncio.Lock()

    async def list_tools(self, _ctx: Any, _params: Any) -> types.ListToolsResult:
        tools = [types.Tool.model_validate(t.mcp_definition) for t in self.box.tools()]
        return types.ListToolsResult(tools=[*tools, *REVIEW_TOOLS])

    async def call_tool(self, ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        name, args = params.name, dict(params.arguments or {})
        handler: Callable[[], Awaitable[types.CallToolResult]]
        review = {"sbx_diff": self._diff, "sbx_apply": self._apply, "sbx_discard": self._discard}
        if name in review:
            def handler() -> Awaitable[types.CallToolResult]:
                return review[name](args)
        else:
            def handler() -> Awaitable[types.CallToolResult]:
                return self._run(ctx, name, args)
        async with self._serial:
            try:
                return await handler()
            except SbxError as exc:
                if exc.code.startswith(_CALLER_ERRORS):
                    raise MCPError(types.INVALID_PARAMS, f"{exc.message}", {"code": exc.code}) from None
                hint = f" (fix: {exc.hint})" if exc.hint else ""
                return types.CallToolResult(
                    content=[types.TextContent(text=f"sbx: {exc.message}{hint}")],
                    structured_content={"error": {"code": exc.code, "message": exc.message}},
                    is_error=True,
                )

    async def _run(self, ctx: Any, name: str, args: dict[str, Any]) -> types.CallToolResult:
        session = getattr(ctx, "session", None)
        if session is not None:
            await session.report_progress(0, 2, f"{name}: starting a confined container")
        result = await asyncio.to_thread(self.box.run, name, args)
        if session is not None:
            await session.report_progress(2, 2, f"{name}: done, changeset {result.changeset.id}")
        return _action_content(result)

    async def _diff(self, args: dict[str, Any]) -> types.CallToolResult:
        cs = await asyncio.to_thread(self.box.diff, args.get("changeset"))
        summary = _changeset_summary(cs, with_diffs=True)
        text = "\n".join([f"changeset {cs.id} {cs.status} sha256 {cs.sha256}",
                          *(c.get("diff") or f"{c['kind']} {c['path']}" for c in summary["changes"])])
        return types.CallToolResult(content=[types.TextContent(text=text)], structured_content={"changeset": summary})

    async def _apply(self, args: dict[str, Any]) -> types.CallToolResult:
        if not isinstance(args.get("changeset"), str) or not isinstance(args.get("sha256"), str):
            raise MCPError(types.INVALID_PARAMS, "sbx_apply needs changeset and sha256 (strings)")
        commit = await asyncio.to_thread(self.box.apply, args["changeset"], sha256=args["sha256"])
        return types.CallToolResult(content=[types.TextContent(text=json.dumps(commit.to_json()))],
                                    structured_content={"commit": commit.to_json()})

    async def _discard(self, args: dict[str, Any]) -> types.CallToolResult:
        if not isinstance(args.get("changeset"), str):
            raise MCPError(types.INVALID_PARAMS, "sbx_discard needs changeset (a string)")
        cs = await asyncio.to_thread(self.box.discard, args["changeset"])
        return types.CallToolResult(content=[types.TextContent(text=f"discarded changeset {cs.id}")],
                                    structured_content={"changeset": _changeset_summary(cs, with_diffs=False)})


async def _serve(box: Sandbox) -> None:
    handlers = SbxMcp(box)
    server: Server[Any] = Server(
        "sbx",
        version=version(),
        instructions="Tools run in throwaway confined containers. Their effects on the workspace wait in a "
        "pending changeset: review it (sbx_diff), then commit it with sbx_apply and its sha256, or sbx_discard.",
        on_list_tools=handlers.list_tools,
        on_call_tool=handlers.call_tool,
    )
    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())


def serve(workspace: Path, settings: Settings, *, allow_risky_apply: bool = False,
          on_recovered: Callable[[Recovered], None] | None = None) -> None:
    """Serve MCP on stdin/stdout until the client closes it. `allow_risky_apply`: the person who
    starts the server lets its client commit changesets with risk flags."""
    box = Sandbox(workspace, settings=settings, via="mcp", allow_risky_apply=allow_risky_apply,
                  on_recovered=on_recovered)
    box.tools()  # load the profiles now: a broken profile is an error before the first request
    asyncio.run(_serve(box))
