"""Tools: what a tool call is, how its arguments are checked, and how they become argv.

Declarations live in `profiles/` (loaded by `sandbox.policy.profiles`); this module holds the
declaration's shape and the two pure operations every front end needs: validate a call's arguments
against the tool's schema, and render argv. Arguments become whole argv elements, never text
spliced into a string: only a tool that *is* a shell (run_shell) interprets its argument as shell.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from sandbox.errors import UsageError

# JSON Schema keywords a tool argument may use; `access` is sbx's own (path arguments).
SCHEMA_KEYS = frozenset(
    {"type", "description", "default", "enum", "minLength", "maxLength", "pattern", "minimum", "maximum"}
)
ACCESS_MODES = ("read", "write", "write_dir")
_TYPES: dict[str, tuple[type, ...]] = {"string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,)}


def _invalid(tool: str, message: str) -> UsageError:
    return UsageError(f"tool {tool}: {message}", code="tool.invalid_args")


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    image: str
    argv_template: tuple[str, ...]
    args: Mapping[str, Mapping[str, Any]]  # argument name -> its schema (+ `access`)

    def schema(self) -> dict[str, Any]:
        """The arguments' JSON Schema as published to models and agents (no sbx-only keys)."""
        properties = {name: {k: v for k, v in spec.items() if k != "access"} for name, spec in self.args.items()}
        return {
            "type": "object",
            "properties": properties,
            "required": [name for name, spec in self.args.items() if "default" not in spec],
            "additionalProperties": False,
        }

    def openai_definition(self, *, schema_keys: Collection[str] | None = None) -> dict[str, Any]:
        """The tool as an OpenAI-style function definition (what Qwen's chat template and
        `sbx profile list --format openai` show); `schema_keys`: only these keys of the schema."""
        schema = self.schema()
        if schema_keys is not None:
            schema = {k: v for k, v in schema.items() if k in schema_keys}
        function = {"name": self.name, "description": self.description, "parameters": schema}
        return {"type": "function", "function": function}

    def mcp_definition(self, *, description: str | None = None) -> dict[str, Any]:
        """The tool as an MCP server lists it; `description` in place of the tool's own."""
        return {"name": self.name, "description": self.description if description is None else description,
                "inputSchema": self.schema()}

    def path_access(self) -> dict[str, str]:
        return {name: str(spec["access"]) for name, spec in self.args.items() if "access" in spec}

    def validate(self, args: Mapping[str, Any]) -> dict[str, Any]:
        """The arguments checked against the schema, defaults filled in."""
        unknown = sorted(set(args) - set(self.args))
        if unknown:
            raise _invalid(self.name, f"unknown argument {unknown[0]!r} (takes: {', '.join(self.args)})")
        out: dict[str, Any] = {}
        for name, spec in self.args.items():
            if name not in args:
                if "default" not in spec:
                    raise _invalid(self.name, f"missing argument {name!r}")
                out[name] = spec["default"]
                continue
            out[name] = self._check(name, spec, args[name])
        return out

    def _check(self, name: str, spec: Mapping[str, Any], value: Any) -> Any:
        kind = str(spec.get("type", "string"))
        if (isinstance(value, bool) and kind != "boolean") or not isinstance(value, _TYPES[kind]):
            raise _invalid(self.name, f"argument {name!r} must be a {kind}")
        if "enum" in spec and value not in spec["enum"]:
            raise _invalid(self.name, f"argument {name!r} must be one of {spec['enum']}")
        if isinstance(value, str):
            if "\0" in value:
                raise _invalid(self.name, f"argument {name!r} contains a NUL byte")
            if len(value) < int(spec.get("minLength", 0)):
                raise _invalid(self.name, f"argument {name!r} is too short (at least {spec['minLength']})")
            if "maxLength" in spec and len(value) > int(spec["maxLength"]):
                raise _invalid(self.name, f"argument {name!r} is too long (at most {spec['maxLength']})")
            if "pattern" in spec and not re.search(str(spec["pattern"]), value):
                raise _invalid(self.name, f"argument {name!r} does not match {spec['pattern']}")
        elif kind in ("integer", "number") and (
            ("minimum" in spec and value < spec["minimum"]) or ("maximum" in spec and value > spec["maximum"])
        ):
            raise _invalid(self.name, f"argument {name!r} is out of range")
        return value

    def argv(self, args: Mapping[str, Any]) -> tuple[str, ...]:
        """argv with each `{name}` element replaced, whole, by that (validated) argument."""
        out = []
        for element in self.argv_template:
            if element.startswith("{") and element.endswith("}") and element[1:-1] in self.args:
                out.append(str(args[element[1:-1]]))
            else:
                out.append(element)
        return tuple(out)
