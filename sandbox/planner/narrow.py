"""Shell the model wrote -> the narrowest tool that does exactly the same: least privilege per call.

Small models write shell best (a fenced bash block is their natural answer), but `run_shell` may
read and write the whole workspace. When a command is one of a few simple shapes whose meaning is
certain, the step becomes the tool declared for exactly that, whose confinement is generated from
its own arguments:

    cat notes.txt                      -> read_file(path="notes.txt")        may read that file only
    ls -la src                         -> list_dir(path="src")                may read src only
    grep -rn 'TODO' src                -> search_text(pattern="TODO", path="src")
    cat > a.txt <<'EOF' ... EOF        -> write_file(path="a.txt", content=...)   may write that file only
    echo 'milk' > todo.txt             -> write_file(path="todo.txt", content="milk\\n")
    curl -s https://host/x             -> http_get(url="https://host/x")     egress to host:443 only

This is not a security check (the confinement of whichever tool runs is): a command that is not
exactly one of these shapes, or whose words the shell would expand (variables, globs, escapes,
`~`, operators), stays a `run_shell` call. The mapping only ever keeps the command's meaning.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sandbox.errors import SbxError
from sandbox.tools import Tool

SHELL_TOOL = "run_shell"

# A relative path with nothing the shell would expand and no `..` component.
_PATH = re.compile(r"(?!-)[A-Za-z0-9._+@%=,-][A-Za-z0-9._/+@%=,-]*")
_BARE_SAFE = re.compile(r"[A-Za-z0-9._/+@%=,:-]+")
_HEREDOC = re.compile(
    r"cat\s*(?:>\s*(?P<p1>\S+)\s*<<\s*(?P<q1>['\"])(?P<d1>\w+)(?P=q1)|<<\s*(?P<q2>['\"])(?P<d2>\w+)(?P=q2)\s*>\s*(?P<p2>\S+))"
    r"[ \t]*\n(?:(?P<body>.*?)\n)?(?P<end>\w+)[ \t]*\n?",
    re.DOTALL,
)
_ECHO = re.compile(r"echo\s+(?P<words>[^>]*?)\s*>\s*(?P<path>\S+)\s*")
_URL = re.compile(r"https?://[^\s'\"]+")
_CURL_FLAGS = frozenset("sSLf")
_WGET_STDOUT = (["-qO-"], ["-q", "-O-"], ["-q", "-O", "-"], ["-O-", "-q"], ["-O", "-", "-q"], ["-qO", "-"])
_GREP_FLAGS = frozenset("rRnIH")
_LS_FLAGS = frozenset("lahA1")


@dataclass(frozen=True)
class Word:
    text: str
    bare: bool  # no quotes at all


def split_words(command: str) -> list[Word] | None:
    """The words of a simple command, or None when the shell would do more than split it: operators,
    redirections, expansions, escapes, globs or comments anywhere outside single quotes."""
    words: list[Word] = []
    current: list[str] = []
    bare = True
    started = False
    i = 0
    while i < len(command):
        char = command[i]
        if char in " \t":
            if started:
                words.append(Word("".join(current), bare))
                current, bare, started = [], True, False
            i += 1
            continue
        if char == "'":
            end = command.find("'", i + 1)
            if end < 0:
                return None
            current.append(command[i + 1:end])
            bare, started, i = False, True, end + 1
            continue
        if char == '"':
            end = command.find('"', i + 1)
            if end < 0:
                return None
            inner = command[i + 1:end]
            if any(c in inner for c in "$`\\!"):
                return None
            current.append(inner)
            bare, started, i = False, True, end + 1
            continue
        if char in "|&;<>()$`\\\n*?[]{}#~!\"'":
            return None
        current.append(char)
        started = True
        i += 1
    if started:
        words.append(Word("".join(current), bare))
    return words


def _relative_path(value: str, *, directory: bool = False) -> bool:
    if value == "." and directory:
        return True
    candidate = value.rstrip("/") if directory else value
    if not candidate or not _PATH.fullmatch(candidate):
        return False
    return ".." not in candidate.split("/") and not candidate.endswith("/")


def _flags(word: str, allowed: frozenset[str]) -> bool:
    return word.startswith("-") and not word.startswith("--") and len(word) > 1 and set(word[1:]) <= allowed


def _map_ls(rest: list[str]) -> tuple[str, dict[str, Any]] | None:
    flags = [w for w in rest if w.startswith("-")]
    paths = [w for w in rest if not w.startswith("-")]
    if not all(_flags(f, _LS_FLAGS) for f in flags) or len(paths) > 1:
        return None
    if paths and not _relative_path(paths[0], directory=True):
        return None
    return "list_dir", {"path": (paths[0].rstrip("/") or ".") if paths else "."}


def _map_fetch(name: str, rest: list[str]) -> tuple[str, dict[str, Any]] | None:
    if not rest or not _URL.fullmatch(rest[-1]):
        return None
    options = rest[:-1]
    if (name == "curl" and all(_flags(o, _CURL_FLAGS) for o in options)) or (
        name == "wget" and options in _WGET_STDOUT
    ):
        return "http_get", {"url": rest[-1]}
    return None


def _map_words(words: list[Word]) -> tuple[str, dict[str, Any]] | None:
    if not words or not words[0].bare:
        return None
    name, rest = words[0].text, [w.text for w in words[1:]]
    if rest[:1] == ["--"] and name in {"cat", "ls"}:
        rest = rest[1:]
    mapped: tuple[str, dict[str, Any]] | None = None
    if name == "cat" and len(rest) == 1 and _relative_path(rest[0]):
        mapped = "read_file", {"path": rest[0]}
    elif name == "ls":
        mapped = _map_ls(rest)
    elif name == "grep":
        mapped = _map_grep(rest)
    elif name in {"curl", "wget"}:
        mapped = _map_fetch(name, rest)
    return mapped


def _map_grep(rest: list[str]) -> tuple[str, dict[str, Any]] | None:
    flags: set[str] = set()
    pattern: str | None = None
    positional: list[str] = []
    i = 0
    while i < len(rest):
        word = rest[i]
        if word == "-e" and pattern is None and i + 1 < len(rest):
            pattern, i = rest[i + 1], i + 2
            continue
        if word == "--":
            positional += rest[i + 1:]
            break
        if word.startswith("-") and len(word) > 1 and not positional and pattern is None:
            if not _flags(word, _GREP_FLAGS):
                return None
            flags |= set(word[1:])
            i += 1
            continue
        positional.append(word)
        i += 1
    if pattern is None:
        if not positional:
            return None
        pattern, positional = positional[0], positional[1:]
    if not ({"r", "R"} & flags) or len(positional) > 1 or not pattern:
        return None
    path = positional[0] if positional else "."
    if not _relative_path(path, directory=True):
        return None
    return "search_text", {"pattern": pattern, "path": path.rstrip("/") or "."}


def _map_write(command: str) -> tuple[str, dict[str, Any]] | None:
    heredoc = _HEREDOC.fullmatch(command)
    if heredoc is not None:
        path = heredoc.group("p1") or heredoc.group("p2")
        delimiter = heredoc.group("d1") or heredoc.group("d2")
        body = heredoc.group("body") or ""
        if heredoc.group("end") != delimiter or delimiter in body.split("\n") or not _relative_path(path):
            return None  # a delimiter line inside the body would end the document early in sh
        return "write_file", {"path": path, "content": body + "\n" if body else ""}
    echo = _ECHO.fullmatch(command)
    if echo is not None and _relative_path(echo.group("path")):
        words = split_words(echo.group("words"))
        if not words or words[0].text.startswith("-"):
            return None  # echo -n / -e: options, not text
        if any("\\" in w.text for w in words) or any(w.bare and not _BARE_SAFE.fullmatch(w.text) for w in words):
            return None  # dash's echo interprets backslashes
        return "write_file", {"path": echo.group("path"), "content": " ".join(w.text for w in words) + "\n"}
    return None


def narrow(command: str, tools: Mapping[str, Tool]) -> tuple[str, dict[str, Any]]:
    """The narrowest available tool call that does exactly `command`; else run_shell with it."""
    command = command.strip()
    mapped: tuple[str, dict[str, Any]] | None
    if "\n" in command or ">" in command:
        mapped = _map_write(command)
    else:
        words = split_words(command)
        mapped = _map_words(words) if words is not None else None
    if mapped is not None and mapped[0] in tools:
        tool = tools[mapped[0]]
        try:
            return mapped[0], tool.validate(mapped[1])
        except SbxError:  # a call the tool refuses stays a shell command
            pass
    return SHELL_TOOL, {"command": command}
