"""A real MCP client drives `sbx serve --mcp` as a subprocess through a whole session."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import mcp_types as types
import pytest
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.shared.exceptions import MCPError

from tests.integration.conftest import snapshot


async def _session(workspace: Path, body: Any) -> Any:
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "sandbox.cli", "serve", "--mcp", "-w", str(workspace)],
        env=dict(os.environ),
    )
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        return await body(session)


def test_an_agent_reviews_then_commits_only_by_hash(workspace: Path) -> None:
    before = snapshot(workspace)
    progress: list[float] = []

    async def on_progress(value: float, _total: float | None, _message: str | None) -> None:
        progress.append(value)

    async def body(session: ClientSession) -> dict[str, Any]:
        listed = await session.list_tools()
        names = {tool.name for tool in listed.tools}
        assert {"run_shell", "read_file", "write_file", "sbx_diff", "sbx_apply", "sbx_discard"} <= names
        schema = next(t for t in listed.tools if t.name == "write_file").input_schema
        assert schema["required"] == ["path", "content"]

        ran = await session.call_tool("run_shell", {"command": "echo agent > agent.txt; cat hello.txt"},
                                      progress_callback=on_progress)
        assert not ran.is_error
        assert "hello" in ran.content[0].text
        cs = ran.structured_content["changeset"]
        assert cs["status"] == "pending" and [c["path"] for c in cs["changes"]] == ["agent.txt"]
        assert snapshot(workspace) == before, "a tool call never commits"

        diff = await session.call_tool("sbx_diff", {"changeset": cs["id"]})
        assert "+agent" in diff.content[0].text

        wrong = await session.call_tool("sbx_apply", {"changeset": cs["id"], "sha256": "0" * 64})
        assert wrong.is_error and wrong.structured_content["error"]["code"] == "changeset.hash_mismatch"
        assert snapshot(workspace) == before

        right = await session.call_tool("sbx_apply", {"changeset": cs["id"], "sha256": cs["sha256"]})
        assert not right.is_error, right.content
        return dict(right.structured_content)

    result = asyncio.run(_session(workspace, body))
    assert result["commit"]["applied"] == ["agent.txt"]
    assert (workspace / "agent.txt").read_text() == "agent\n"
    assert progress, "long-running calls report progress"


def test_malformed_calls_get_mcp_errors_and_the_server_keeps_serving(workspace: Path) -> None:
    async def body(session: ClientSession) -> None:
        for name, args in (("no_such_tool", {}), ("read_file", {"path": 3}), ("read_file", {"path": "../../etc"}),
                           ("sbx_apply", {"changeset": "x"})):
            with pytest.raises(MCPError) as caught:
                await session.call_tool(name, args)
            assert caught.value.code == types.INVALID_PARAMS
        failed = await session.call_tool("run_shell", {"command": "exit 4"})
        assert failed.is_error and failed.structured_content["steps"][0]["exit_code"] == 4
        still = await session.call_tool("read_file", {"path": "hello.txt"})
        assert still.content[0].text.startswith("hello")

    asyncio.run(_session(workspace, body))
