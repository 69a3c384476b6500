"""A small JSON Schema (2020-12) validator for the keywords runtime/*.schema.json use.

No third-party dependency: enough for the contract tests (type, const, enum, properties, required,
additionalProperties: false, items, minItems, uniqueItems, minimum, maximum, pattern, oneOf, $ref).
An unsupported keyword is an error, so the schema cannot silently outgrow the validator.
"""

from __future__ import annotations

import re
from typing import Any

_TYPES: dict[str, Any] = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "null": type(None),
}
_ANNOTATIONS = {"$schema", "$id", "title", "description", "default", "$defs"}
_SUPPORTED = {
    "type",
    "const",
    "enum",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "minItems",
    "uniqueItems",
    "minimum",
    "maximum",
    "pattern",
    "oneOf",
    "$ref",
} | _ANNOTATIONS


def _type_ok(value: Any, name: str) -> bool:
    if name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, _TYPES[name]) and not (name != "boolean" and isinstance(value, bool))


def _object(value: dict[str, Any], schema: dict[str, Any], root: dict[str, Any], at: str) -> list[str]:
    out = [f"{at}: missing {key!r}" for key in schema.get("required", []) if key not in value]
    props = schema.get("properties", {})
    for key, item in value.items():
        if key in props:
            out += errors(item, props[key], root, f"{at}.{key}")
        elif schema.get("additionalProperties") is False:
            out.append(f"{at}: unexpected key {key!r}")
    return out


def _array(value: list[Any], schema: dict[str, Any], root: dict[str, Any], at: str) -> list[str]:
    out = []
    if "minItems" in schema and len(value) < schema["minItems"]:
        out.append(f"{at}: fewer than {schema['minItems']} items")
    if schema.get("uniqueItems") and len({repr(v) for v in value}) != len(value):
        out.append(f"{at}: items not unique")
    if "items" in schema:
        for i, item in enumerate(value):
            out += errors(item, schema["items"], root, f"{at}[{i}]")
    return out


def _scalar(value: Any, schema: dict[str, Any], at: str) -> list[str]:
    out = []
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            out.append(f"{at}: {value} < {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            out.append(f"{at}: {value} > {schema['maximum']}")
    if isinstance(value, str) and "pattern" in schema and not re.search(schema["pattern"], value):
        out.append(f"{at}: {value!r} does not match {schema['pattern']}")
    return out


def errors(value: Any, schema: dict[str, Any], root: dict[str, Any] | None = None, at: str = "$") -> list[str]:
    """Every violation of `schema` by `value` (empty when valid)."""
    root = root or schema
    unsupported = set(schema) - _SUPPORTED
    if unsupported:
        raise ValueError(f"schema keyword(s) not supported by the test validator: {sorted(unsupported)} at {at}")
    out: list[str] = []
    if "$ref" in schema:
        ref = schema["$ref"]
        assert ref.startswith("#/$defs/"), ref
        out += errors(value, root["$defs"][ref.split("/")[-1]], root, at)
    if "type" in schema and not _type_ok(value, schema["type"]):
        return [*out, f"{at}: expected {schema['type']}, got {value!r}"]
    if "const" in schema and (value != schema["const"] or type(value) is not type(schema["const"])):
        out.append(f"{at}: expected {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        out.append(f"{at}: {value!r} not in {schema['enum']}")
    if "oneOf" in schema:
        matches = [s for s in schema["oneOf"] if not errors(value, s, root, at)]
        if len(matches) != 1:
            out.append(f"{at}: matches {len(matches)} of oneOf")
    if isinstance(value, dict):
        out += _object(value, schema, root, at)
    if isinstance(value, list):
        out += _array(value, schema, root, at)
    return out + _scalar(value, schema, at)
