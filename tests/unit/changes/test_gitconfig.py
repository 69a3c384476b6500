"""The git config reader agrees with git itself: `git config --file F --list --null` lists the
same entries, and refuses exactly the files the reader refuses."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandbox.changes import gitconfig

GIT = shutil.which("git")
needs_git = pytest.mark.skipif(GIT is None, reason="git is not installed")

# Pieces that exercise every state of git's parser: headers of each form, keys, values with
# quotes, escapes, comments and continuations, whitespace of each kind, a BOM, CRLF, NUL.
FRAGMENTS = [
    "[core]", "[Core]", '[remote "Origin"]', '[a.B]', "[ x]", '[ "s"]', "[]", "[core ]", '[x "a\\"b"]',
    '[x "a\\\\b"]', '[x "a\nb"]', "[x", '[x "y"', '[x "y" ]', "[a-b.c]",
    "fsmonitor", "FsMonitor", "hooksPath", "x-y", "a1", "9a", " = ", "=", " ", "\t", "\n", "\r\n", "\r",
    "\\", "\\\n", "\\t", "\\n", "\\b", '\\"', "\\\\", "\\x", '"', "#", ";", "!sh -c 'echo'", "value",
    "a  b", "\x00", "\x0b", "\x0c", "\ufeff", "é", "]",
]
# Whole, mostly well-formed files built from lines, so that entries (not only errors) are compared.
LINES = [
    "[core]\n", '[remote "origin"]\n', "[alias]\n", "\tfsmonitor = evil\n", "\tpager = less \\\n", "[core]\n",
    '\tx = "quoted # not a comment" ; comment\n', "\tbare\n", "# comment [core]\n", "\tst = !sh -c 'x'\n",
    "\tcontinued = a\\\n b\n", "\tk = \"a\\tb\"\n", "\tk = a \t b  \n", "[core] editor = vi\n", "\r\n",
    "\tKey = Value\r\n", "\tk =\n", '\tk = ""\n', "\tk = a;b\n",
]


def git_list(data: bytes) -> tuple[bool, bytes]:
    """(git accepted the file, what it listed), git reading only this file."""
    assert GIT is not None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config"
        path.write_bytes(data)
        env = {"PATH": os.environ.get("PATH", ""), "HOME": tmp, "GIT_CONFIG_NOSYSTEM": "1", "LC_ALL": "C"}
        proc = subprocess.run([GIT, "config", "--file", str(path), "--list", "--null"], cwd=tmp, env=env,
                              capture_output=True, check=False, timeout=30)
    return proc.returncode == 0, proc.stdout


def ours(data: bytes) -> tuple[bool, bytes]:
    try:
        entries = gitconfig.parse(data)
    except gitconfig.GitConfigError:
        return False, b""
    listed = b"".join(key + (b"" if value is None else b"\n" + value) + b"\0" for key, value in entries)
    return True, listed


def agree(data: bytes) -> None:
    git_ok, git_out = git_list(data)
    ok, out = ours(data)
    assert ok == git_ok, f"git {'accepts' if git_ok else 'refuses'} {data!r}"
    if ok:
        assert out == git_out, data


@needs_git
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=14))
def test_fragments_parse_as_git_parses_them(pieces: list[str]) -> None:
    agree("".join(pieces).encode())


@needs_git
@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.booleans(), st.lists(st.sampled_from(LINES), min_size=1, max_size=12))
def test_files_parse_as_git_parses_them(bom: bool, lines: list[str]) -> None:
    agree((b"\xef\xbb\xbf" if bom else b"") + "".join(lines).encode())


@needs_git
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=60))
def test_any_bytes_parse_as_git_parses_them(data: bytes) -> None:
    agree(b"[s]\nk = " + data)


@needs_git
@pytest.mark.parametrize(
    "data",
    [
        b"\xef\xbb\xbf[core]\n\tfsmonitor = evil\n",  # a BOM git skips
        b"[user]\n\tname = x \\\n[core]\n\tfsmonitor = hidden\n",  # a continuation hides a header
        b"[core]\n\tpager = a \\\n\tb\n",
        b"[alias] st = \"!sh -c 'id'\" # a comment\n",
        b"\xef\xbb[core]\n",  # a partial BOM: git refuses the file
        b"[core]\r\n\tEditor = vi\r\n",
    ],
)
def test_known_tricks(data: bytes) -> None:
    agree(data)


def test_a_continuation_line_is_part_of_the_value() -> None:
    entries = gitconfig.parse(b"[user]\n\tname = x \\\n[core]\n\tfsmonitor = hidden\n")
    assert entries == [(b"user.name", b"x [core]"), (b"user.fsmonitor", b"hidden")]


def test_keys_split_into_section_subsection_name() -> None:
    assert gitconfig.split_key(b"remote.Origin.url") == ("remote", "Origin", "url")
    assert gitconfig.split_key(b"includeif.gitdir:~/a.b/.path") == ("includeif", "gitdir:~/a.b/", "path")
    assert gitconfig.split_key(b"core.editor") == ("core", "", "editor")
