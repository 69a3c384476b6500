"""The tool registry: what a tool call becomes inside the container.

Issue 2 ships the one general tool, `run_shell`; declarations move to `profiles/` with the
confinement work, and this module becomes their loader.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sandbox.errors import UsageError


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    schema: Mapping[str, Any]
    argv: Callable[[Mapping[str, Any]], tuple[str, ...]]

    def validate(self, args: Mapping[str, Any]) -> None:
        required = self.schema.get("required", [])
        properties: Mapping[str, Any] = self.schema.get("properties", {})
        missing = [name for name in required if name not in args]
        if missing:
            raise UsageError(f"tool {self.name}: missing argument {missing[0]!r}", code="tool.invalid_args")
        unknown = sorted(set(args) - set(properties))
        if unknown:
            raise UsageError(f"tool {self.name}: unknown argument {unknown[0]!r}", code="tool.invalid_args")
        for name, value in args.items():
            if properties[name].get("type") == "string" and not isinstance(value, str):
                raise UsageError(f"tool {self.name}: argument {name!r} must be a string", code="tool.invalid_args")


def _shell_argv(args: Mapping[str, Any]) -> tuple[str, ...]:
    command = str(args["command"])
    if not command.strip():
        raise UsageError("run_shell: the command is empty", code="tool.invalid_args")
    return ("/bin/sh", "-c", command)


RUN_SHELL = Tool(
    name="run_shell",
    description="Run a shell command in the workspace (read and write the workspace, no network).",
    schema={
        "type": "object",
        "properties": {"command": {"type": "string", "maxLength": 8192, "description": "a POSIX sh command line"}},
        "required": ["command"],
        "additionalProperties": False,
    },
    argv=_shell_argv,
)

_TOOLS = {tool.name: tool for tool in (RUN_SHELL,)}


def get_tool(name: str) -> Tool:
    try:
        return _TOOLS[name]
    except KeyError:
        raise UsageError(
            f"unknown tool {name!r} (known: {', '.join(sorted(_TOOLS))})", code="tool.unknown"
        ) from None


def all_tools() -> list[Tool]:
    return list(_TOOLS.values())
