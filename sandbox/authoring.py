"""Use cases for policy authors: `sbx profile list | show | check | test`.

Each returns (result for --json, text for a person). `test` runs every example of a profile in a
real container, on a scratch workspace with a few files, under a throwaway state folder.
"""

from __future__ import annotations

import json
import re
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from sandbox.config import Settings
from sandbox.errors import PolicyError, SbxError, UsageError
from sandbox.policy.compile import compile_call
from sandbox.policy.profiles import SECTIONS, TOP_KEYS, Profiles, ToolProfile, load_base, load_profile, load_profiles
from sandbox.policy.seccomp import compile_seccomp

SCRATCH_FILES = {
    "README.md": "# scratch workspace\nTODO: nothing\n",
    "notes/todo.txt": "one\ntwo\n",
    "src/a.py": "print('a')\n",
}


def list_profiles(settings: Settings, *, fmt: str = "text") -> tuple[dict[str, Any], str]:
    profiles = load_profiles(settings.profiles_dir)
    tools = [p.tool for p in profiles.tools.values()]
    if fmt == "openai":
        defs = [t.openai_definition() for t in tools]
        return {"tools": defs}, json.dumps(defs, indent=2)
    if fmt == "mcp":
        defs = [t.mcp_definition() for t in tools]
        return {"tools": defs}, json.dumps(defs, indent=2)
    rows = [{"name": p.tool.name, "description": p.tool.description, "confinement": p.summary(),
             "source": str(p.source), "warnings": list(p.warnings)} for p in profiles.tools.values()]
    width = max((len(r["name"]) for r in rows), default=4)
    text = "\n".join(f"{r['name']:<{width}}  {r['confinement']:<40}  {r['description']}" for r in rows)
    return {"tools": rows}, text


def _parse_args_json(raw: str) -> dict[str, Any]:
    try:
        args = json.loads(raw)
    except ValueError as exc:
        raise UsageError(f"--args is not JSON: {exc}", code="usage.invalid_arg") from None
    if not isinstance(args, dict):
        raise UsageError("--args must be a JSON object", code="usage.invalid_arg")
    return args


def podman_options(call: Any) -> dict[str, Any]:
    """The Podman side of a compiled call, in `podman run` terms."""
    limits = call.limits
    return {
        "cap_drop": ["ALL"],
        "cap_add": list(call.capabilities),
        "security_opt": ["no-new-privileges", "seccomp=<the --seccomp profile>"],
        "network": "none",
        "read_only": call.read_only_root,
        "tmpfs": {"/tmp": f"size={call.tmpfs_bytes}"},
        "memory": limits.memory_bytes,
        "memory_swap": limits.memory_bytes,
        "pids_limit": limits.pids,
        "cpus": limits.cpus,
        "timeout": limits.timeout_s,
        "workspace": "/workspace: overlay (host folder read-only below, sbx's change layer above)",
    }


def placeholder_args(profile: ToolProfile) -> dict[str, Any] | None:
    """Arguments for showing a tool's confinement without a concrete call: the profile's first
    allowed example, else a value of each required argument's type; None when every argument has
    a default (the call without arguments is a real one). The parts of the confinement that depend
    on arguments (argv, Landlock rules of path arguments) are computed for these."""
    if all("default" in spec for spec in profile.tool.args.values()):
        return None
    allowed = [dict(example.args) for example in profile.examples if example.expect == "allow"]
    if allowed:
        return allowed[0]
    args: dict[str, Any] = {}
    for name, spec in profile.tool.args.items():
        if "default" in spec:
            continue
        kind = str(spec.get("type", "string"))
        if "enum" in spec:
            args[name] = spec["enum"][0]
        elif kind == "boolean":
            args[name] = False
        elif kind in ("integer", "number"):
            args[name] = spec.get("minimum", 0)
        else:
            args[name] = _placeholder_string(spec)
    return args


def _placeholder_string(spec: Any) -> str:
    """A word that fits a string argument's length and pattern (a URL where a URL is asked for)."""
    shortest = int(spec.get("minLength", 0))
    candidates = ("placeholder", "https://example.com/", "x" * max(1, shortest))
    for candidate in candidates:
        if len(candidate) < shortest or len(candidate) > int(spec.get("maxLength", len(candidate))):
            continue
        if "pattern" not in spec or re.search(str(spec["pattern"]), candidate):
            return candidate
    return candidates[0]  # the call's own check then names the argument that needs --args


def show(settings: Settings, tool: str, args_json: str | None, *, part: str | None) -> tuple[dict[str, Any], str]:
    """The compiled confinement of `tool` called with `args_json`; without arguments, of a call
    with placeholder arguments, said in the result (`placeholder_args`) and the text."""
    profile = load_profiles(settings.profiles_dir).get(tool)
    placeholder = placeholder_args(profile) if args_json is None else None
    call = compile_call(profile, _parse_args_json(args_json) if args_json is not None else placeholder or {})
    result = {**call.to_json(), "seccomp": json.loads(call.seccomp_json), "podman": podman_options(call)}
    if placeholder is not None:
        result["placeholder_args"] = placeholder
    if part is not None:
        chosen = {"seccomp": result["seccomp"], "landlock": dict(call.landlock), "podman": result["podman"]}[part]
        text = call.seccomp_json if part == "seccomp" else json.dumps(chosen, indent=2)
        # the text stays the part's own document, to be piped; --json also says what it was computed for
        return chosen if placeholder is None else {**chosen, "placeholder_args": placeholder}, text
    text = "\n".join([
        f"tool:      {call.tool}  ({profile.source})",
        f"argv:      {json.dumps(list(call.argv))}",
        f"summary:   {call.summary()}",
        f"seccomp:   groups {', '.join(call.groups)}; {call.seccomp_digest}",
        f"landlock:  {call.landlock_digest}",
        *(f"  {'/'.join(rule['access'][:3])}{'...' if len(rule['access']) > 3 else ''}  {rule['path']}"
          for rule in call.landlock["landlock"]["fs"]),
        f"podman:    {json.dumps(result['podman'])}",
    ])
    return result, text


def _check_file(path: Path, base: Any) -> tuple[list[str], list[str]]:
    """(errors, warnings) of one tool file: shape, syscalls, examples' arguments."""
    try:
        profile = load_profile(path, base)
        compile_seccomp(profile.needs.groups, extra_syscalls=profile.needs.extra_syscalls)
        for index, example in enumerate(profile.examples, 1):
            try:
                profile.tool.validate(example.args)
            except SbxError as exc:
                if example.expect == "allow":
                    raise PolicyError(f"{path}: example {index}: {exc.message}", code="policy.bad_example") from None
    except SbxError as exc:
        return [exc.message if str(path) in exc.message else f"{path}: {exc.message}"], []
    return [], [f"{path}: {warning}" for warning in profile.warnings]


def check(settings: Settings, files: list[str]) -> tuple[dict[str, Any], str]:
    directory = settings.profiles_dir
    errors: list[str] = []
    warnings: list[str] = []
    try:
        base = load_base(directory)
    except PolicyError as exc:
        return {"ok": False, "errors": [exc.message], "warnings": []}, f"error: {exc.message}"
    paths = [Path(f) for f in files] or sorted(p for p in directory.glob("*.toml") if p.name != "base.toml")
    for path in paths:
        if path.name == "base.toml":
            continue
        file_errors, file_warnings = _check_file(path, base)
        errors += file_errors
        warnings += file_warnings
    text = "\n".join([*(f"error: {e}" for e in errors), *(f"warning: {w}" for w in warnings),
                      f"{len(paths)} file(s) checked: {len(errors)} error(s), {len(warnings)} warning(s)"])
    return {"ok": not errors, "errors": errors, "warnings": warnings, "files": [str(p) for p in paths]}, text


def _run_example(settings: Settings, profile: ToolProfile, args: dict[str, Any], expect: str) -> dict[str, Any]:
    from sandbox.app import Workspace

    with tempfile.TemporaryDirectory(prefix="sbx-profile-test-") as tmp:
        root = Path(tmp)
        workspace = root / "ws"
        for rel, content in SCRATCH_FILES.items():
            (workspace / rel).parent.mkdir(parents=True, exist_ok=True)
            (workspace / rel).write_text(content)
        scratch = replace(settings, state_dir=root / "state")
        try:
            result = Workspace(workspace, scratch).call_tool(profile.tool.name, args)
        except PolicyError as exc:  # refused before any container: a deny that holds
            return {"args": args, "expect": expect, "outcome": "refused", "detail": exc.message,
                    "passed": expect == "deny"}
        step = result.steps[0]
        allowed = step.exit_code == 0 and not step.timed_out
        detail = "; ".join(step.denied) or step.stderr.strip().splitlines()[-1:] or [""]
        return {"args": args, "expect": expect, "outcome": "allowed" if allowed else "denied",
                "exit_code": step.exit_code, "detail": detail if isinstance(detail, str) else detail[0],
                "passed": allowed == (expect == "allow")}


def test(settings: Settings, tool: str | None) -> tuple[dict[str, Any], str]:
    profiles: Profiles = load_profiles(settings.profiles_dir)
    chosen = [profiles.get(tool)] if tool else list(profiles.tools.values())
    results = []
    lines = []
    for profile in chosen:
        for example in profile.examples:
            outcome = _run_example(settings, profile, dict(example.args), example.expect)
            results.append({"tool": profile.tool.name, **outcome})
            mark = "pass" if outcome["passed"] else "FAIL"
            lines.append(f"{mark}  {profile.tool.name} {json.dumps(example.args)}: expected {example.expect}, "
                         f"got {outcome['outcome']}{' (' + outcome['detail'] + ')' if outcome['detail'] else ''}")
    failed = sum(1 for r in results if not r["passed"])
    lines.append(f"{len(results) - failed} passed, {failed} failed")
    return {"ok": failed == 0, "examples": results}, "\n".join(lines)


def profile_schema() -> dict[str, Any]:
    """The JSON Schema of a profile file, generated from the loader's own tables (profiles/schema.json)."""
    names = {str: "string", int: "integer", float: "number", bool: "boolean", list: "array", dict: "object"}

    def prop(types: tuple[type, ...]) -> dict[str, Any]:
        kinds = sorted({names[t] for t in types})
        out: dict[str, Any] = {"type": kinds[0] if len(kinds) == 1 else kinds}
        if list in types:
            out["items"] = {"type": "string"}
        return out

    sections = {
        table: {"type": "object", "additionalProperties": False,
                "properties": {key: prop(types) for key, types in keys.items()}}
        for table, keys in SECTIONS.items()
    }
    top = {key: prop(types) for key, types in TOP_KEYS.items()}
    top["args"] = {"type": "object", "additionalProperties": {"type": "object"}}
    top["examples"] = {"type": "array", "items": {"type": "object", "required": ["args", "expect"], "properties": {
        "args": {"type": "object"}, "expect": {"enum": ["allow", "deny"]}}, "additionalProperties": False}}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "sbx tool profile",
        "type": "object",
        "additionalProperties": False,
        "properties": {**top, **sections},
    }
