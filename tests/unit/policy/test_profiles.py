"""The shipped profiles load, compile and match their golden artefacts; authors' mistakes are named
with file, line and key."""

from __future__ import annotations

import json
import os
import platform
import shutil
from pathlib import Path

import pytest

from sandbox.authoring import check, profile_schema
from sandbox.config import Settings
from sandbox.errors import PolicyError, UsageError
from sandbox.policy.compile import compile_call
from sandbox.policy.profiles import load_profiles

ROOT = Path(__file__).resolve().parents[3]
PROFILES = ROOT / "profiles"
GOLDEN = ROOT / "tests" / "golden" / "calls"


def _settings(folder: Path) -> Settings:
    from dataclasses import replace

    return replace(Settings.from_env(), profiles_dir=folder)


def _author(tmp_path: Path, name: str, body: str) -> Path:
    folder = tmp_path / "profiles"
    shutil.copytree(PROFILES, folder)
    (folder / f"{name}.toml").write_text(body)
    return folder


def test_shipped_profiles_pass_check() -> None:
    result, _text = check(_settings(PROFILES), [])
    assert result["ok"], result["errors"]
    assert {"run_shell", "read_file", "write_file", "list_dir", "search_text", "install_package", "http_get"} <= {
        Path(f).stem for f in result["files"]
    }


def test_published_schema_matches_the_loader() -> None:
    assert json.loads((PROFILES / "schema.json").read_text()) == profile_schema()


@pytest.mark.skipif(platform.machine() != "x86_64", reason="seccomp goldens are x86_64's")
def test_every_shipped_example_compiles_to_its_golden_artefacts() -> None:
    profiles = load_profiles(PROFILES)
    seen = set()
    for name, profile in sorted(profiles.tools.items()):
        for index, example in enumerate(profile.examples):
            try:
                call = compile_call(profile, example.args)
            except (PolicyError, UsageError):
                assert example.expect == "deny", f"{name} example {index} is refused at compile time"
                continue
            document = {**call.to_json(), "seccomp": json.loads(call.seccomp_json)}
            path = GOLDEN / f"{name}-{index}.json"
            seen.add(path.name)
            if os.environ.get("SBX_UPDATE_GOLDEN"):
                path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
            assert json.loads(path.read_text()) == document, f"{path} differs: SBX_UPDATE_GOLDEN=1 to accept"
        if not profile.examples:
            call = compile_call(profile, _sample_args(name))
            path = GOLDEN / f"{name}-sample.json"
            seen.add(path.name)
            document = {**call.to_json(), "seccomp": json.loads(call.seccomp_json)}
            if os.environ.get("SBX_UPDATE_GOLDEN"):
                path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
            assert json.loads(path.read_text()) == document
    assert seen == {p.name for p in GOLDEN.glob("*.json")}, "stale golden files"


def _sample_args(name: str) -> dict[str, str]:
    return {"http_get": {"url": "https://deb.debian.org/debian/"}, "install_package": {"name": "cowsay"}}[name]


@pytest.mark.parametrize(
    ("body", "code", "where"),
    [
        ('name = "probe"\ndescription = "x"\nargv = ["/bin/true"]\n[filesystem]\nwrtie = []\n',
         "policy.unknown_key", "probe.toml:5: [filesystem] wrtie"),
        ('name = "probe"\ndescription = "x"\nargv = ["/bin/true"]\ncolour = 1\n',
         "policy.unknown_key", "probe.toml:4: colour"),
        ('name = "probe"\ndescription = "x"\nargv = ["/bin/true"]\n[filesystem]\nwrite = ["/etc"]\n',
         "policy.write_outside_workspace", "probe.toml:5: [filesystem] write"),
        ('name = "probe"\ndescription = "x"\nargv = ["/bin/true"]\n[network]\nhosts = ["a.example"]\n',
         "policy.contradiction", "[network] hosts"),
        ('name = "probe"\ndescription = "x"\nargv = ["/bin/echo {x}"]\n[args.x]\ntype = "string"\n',
         "policy.invalid_value", "argv"),
        ('name = "probe"\ndescription = "x"\nargv = ["/bin/true"]\n[container]\ncapabilities = ["SYS_ADMIN"]\n',
         "policy.invalid_value", "capabilities"),
        ('name = "probe"\nargv = ["/bin/true"]\n', "policy.missing_key", "description"),
        ('name = "probe"\ndescription = "x"\nargv = [\n', "policy.syntax", "probe.toml"),
    ],
)
def test_author_mistakes_name_file_line_and_key(tmp_path: Path, body: str, code: str, where: str) -> None:
    folder = _author(tmp_path, "probe", body)
    with pytest.raises(PolicyError) as caught:
        load_profiles(folder)
    assert caught.value.code == code
    assert where in caught.value.message


def test_check_reports_unknown_syscalls_and_keeps_going(tmp_path: Path) -> None:
    folder = _author(tmp_path, "probe", 'name = "probe"\ndescription = "x"\nargv = ["/bin/true"]\n'
                     '[syscalls]\nextra = ["definitely_not_a_syscall"]\n')
    (folder / "other.toml").write_text('name = "other"\ndescription = "x"\nargv = ["/bin/true"]\nbogus = 1\n')
    result, text = check(_settings(folder), [])
    assert not result["ok"]
    assert any("definitely_not_a_syscall" in e for e in result["errors"])
    assert any("other.toml:4: bogus" in e for e in result["errors"])
    assert "error(s)" in text


def test_over_broad_grants_are_warned(tmp_path: Path) -> None:
    folder = _author(tmp_path, "probe", 'name = "probe"\ndescription = "x"\nargv = ["/bin/true"]\n'
                     '[filesystem]\nworkspace = "write"\n[network]\nmode = "proxy"\nhosts = ["x.example"]\n')
    result, _text = check(_settings(folder), [str(folder / "probe.toml")])
    assert result["ok"]
    assert any("exfiltration" in w for w in result["warnings"])


def test_arguments_are_checked_against_the_schema() -> None:
    profiles = load_profiles(PROFILES)
    with pytest.raises(UsageError) as caught:
        compile_call(profiles.get("install_package"), {"name": "evil; rm -rf /"})
    assert caught.value.code == "tool.invalid_args"
    with pytest.raises(UsageError):
        compile_call(profiles.get("read_file"), {"path": "a", "extra": 1})
    with pytest.raises(UsageError):
        compile_call(profiles.get("read_file"), {})
    call = compile_call(profiles.get("list_dir"), {})
    assert call.argv[-1] == "."


def test_argv_elements_are_whole_arguments_never_spliced() -> None:
    profiles = load_profiles(PROFILES)
    call = compile_call(profiles.get("search_text"), {"pattern": "$(reboot)", "path": "a b; c"})
    assert call.argv == ("/bin/grep", "-rnI", "-e", "$(reboot)", "--", "a b; c")


def test_seccomp_cache_gives_the_same_artefacts_and_survives_damage(tmp_path: Path) -> None:
    profiles = load_profiles(PROFILES)
    fresh = compile_call(profiles.get("run_shell"), {"command": "true"})
    first = compile_call(profiles.get("run_shell"), {"command": "true"}, cache_dir=tmp_path)
    entries = list((tmp_path / "seccomp").glob("*.json"))
    assert len(entries) == 1
    cached = compile_call(profiles.get("run_shell"), {"command": "true"}, cache_dir=tmp_path)
    assert (first.seccomp_json, first.seccomp_digest) == (cached.seccomp_json, cached.seccomp_digest)
    assert cached.seccomp_json == fresh.seccomp_json and cached.groups == fresh.groups
    entries[0].write_text("{not json")
    again = compile_call(profiles.get("run_shell"), {"command": "true"}, cache_dir=tmp_path)
    assert again.seccomp_digest == fresh.seccomp_digest
    assert json.loads(entries[0].read_text())["digest"] == fresh.seccomp_digest


def test_tools_export_as_function_calling_definitions() -> None:
    from sandbox.authoring import list_profiles

    openai, _text = list_profiles(_settings(PROFILES), fmt="openai")
    by_name = {d["function"]["name"]: d for d in openai["tools"]}
    assert by_name["write_file"]["type"] == "function"
    params = by_name["write_file"]["function"]["parameters"]
    assert params["required"] == ["path", "content"] and params["additionalProperties"] is False
    assert "access" not in params["properties"]["path"], "sbx's own keys stay out of published schemas"
    mcp, _text = list_profiles(_settings(PROFILES), fmt="mcp")
    assert {d["name"] for d in mcp["tools"]} == set(by_name)
    assert all("inputSchema" in d for d in mcp["tools"])


@pytest.mark.parametrize(("key", "value"), [("memory", '"1KiB"'), ("pids", "0"), ("timeout", "999999999"),
                                            ("changes", '"1B"'), ("cpus", "0")])
def test_absurd_limits_are_refused(tmp_path: Path, key: str, value: str) -> None:
    folder = _author(tmp_path, "probe", f'name = "probe"\ndescription = "x"\nargv = ["/bin/true"]\n'
                     f"[limits]\n{key} = {value}\n")
    with pytest.raises(PolicyError) as caught:
        load_profiles(folder)
    assert caught.value.code == "policy.invalid_value"
    assert f"probe.toml:5: [limits] {key}" in caught.value.message and "out of range" in caught.value.message
