"""One renderer for a tool's published definition (sandbox.tools.Tool): the OpenAI-style function
that `profile list --format openai` prints and Qwen's tool prompt embeds, and the MCP tool that
`profile list --format mcp` prints and `sbx serve --mcp` lists."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from bench.designs import qwen_tools_system
from sandbox.api import Sandbox
from sandbox.tools import Tool

TOOL = Tool(name="read_file", description="Read one file.", image="default", argv_template=("cat", "{path}"),
            args={"path": {"type": "string", "access": "read"}, "lines": {"type": "integer", "default": 10}})
SCHEMA = {"type": "object", "properties": {"path": {"type": "string"}, "lines": {"type": "integer", "default": 10}},
          "required": ["path"], "additionalProperties": False}


def test_openai_definition_carries_the_published_schema() -> None:
    assert TOOL.openai_definition() == {
        "type": "function", "function": {"name": "read_file", "description": "Read one file.", "parameters": SCHEMA}}
    narrowed = TOOL.openai_definition(schema_keys=("type", "properties", "required"))
    assert narrowed["function"]["parameters"] == {k: SCHEMA[k] for k in ("type", "properties", "required")}


def test_mcp_definition_keeps_or_replaces_the_description() -> None:
    assert TOOL.mcp_definition() == {"name": "read_file", "description": "Read one file.", "inputSchema": SCHEMA}
    assert TOOL.mcp_definition(description="other")["description"] == "other"


def test_qwen_tool_prompt_embeds_the_narrowed_openai_definition_verbatim() -> None:
    line = ('{"type": "function", "function": {"name": "read_file", "description": "Read one file.", "parameters": '
            '{"type": "object", "properties": {"path": {"type": "string"}, '
            '"lines": {"type": "integer", "default": 10}}, "required": ["path"]}}}')
    assert f"<tools>\n{line}\n</tools>" in qwen_tools_system("SYSTEM", [TOOL])


def test_the_mcp_server_lists_each_tool_as_the_api_renders_it(tmp_path: Path) -> None:
    from sandbox.mcp_server import SbxMcp

    box = Sandbox(tmp_path)
    listed = asyncio.run(SbxMcp(box).list_tools(None, None)).tools
    infos = {t.name: t for t in box.tools()}
    assert infos
    for tool in listed:
        if tool.name.startswith("sbx_"):
            continue
        info = infos[tool.name]
        assert tool.model_dump(by_alias=True, exclude_none=True) == dict(info.mcp_definition)
        assert f"Confinement: {info.confinement}." in (tool.description or "")
        assert json.loads(json.dumps(tool.input_schema)) == info.input_schema
