"""Shell commands -> the narrowest tool that does exactly the same, and everything that must stay shell."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.planner.narrow import narrow, split_words
from sandbox.tools import Tool


@pytest.mark.parametrize(
    ("command", "tool", "args"),
    [
        ("cat notes.txt", "read_file", {"path": "notes.txt"}),
        ("cat -- src/app.py", "read_file", {"path": "src/app.py"}),
        ("cat 'my notes.txt'", "run_shell", None),  # a space is not a plain path: stays shell
        ("ls", "list_dir", {"path": "."}),
        ("ls -la src/", "list_dir", {"path": "src"}),
        ("ls -l docs", "list_dir", {"path": "docs"}),
        ("grep -rn TODO .", "search_text", {"pattern": "TODO", "path": "."}),
        ("grep -rn 'def main' src", "search_text", {"pattern": "def main", "path": "src"}),
        ("grep -r -e 'a|b' lib", "search_text", {"pattern": "a|b", "path": "lib"}),
        ("grep -R password", "search_text", {"pattern": "password", "path": "."}),
        ("curl -s https://example.org/a/b", "http_get", {"url": "https://example.org/a/b"}),
        ("curl -sL 'https://example.org/?q=1&x=2'", "http_get", {"url": "https://example.org/?q=1&x=2"}),
        ("wget -qO- http://example.org/", "http_get", {"url": "http://example.org/"}),
        ("echo 'water the plants' > todo.txt", "write_file", {"path": "todo.txt", "content": "water the plants\n"}),
        ('echo "print(\'hi\')" > hi.py', "write_file", {"path": "hi.py", "content": "print('hi')\n"}),
        ("echo hello world > out/greeting.txt", "write_file",
         {"path": "out/greeting.txt", "content": "hello world\n"}),
        ("cat > a.txt <<'EOF'\nline 1\n$HOME stays\nEOF", "write_file",
         {"path": "a.txt", "content": "line 1\n$HOME stays\n"}),
        ('cat <<"END" > b.md\n# Title\nEND\n', "write_file", {"path": "b.md", "content": "# Title\n"}),
    ],
)
def test_simple_commands_become_the_narrow_tool(by_name: dict[str, Tool], command: str, tool: str,
                                                args: dict[str, Any] | None) -> None:
    name, mapped = narrow(command, by_name)
    assert name == tool
    assert mapped == (args if args is not None else {"command": command})


@pytest.mark.parametrize(
    "command",
    [
        "cat *.txt",  # a glob
        "cat $FILE",  # a variable
        "cat ~/notes",  # a home directory
        "cat /etc/passwd",  # absolute: only run_shell's confinement decides
        "cat ../secret",  # outside the workspace
        "cat a.txt b.txt",  # two files
        "cat -n a.txt",  # an option read_file does not have
        "cat a.txt | wc -l",  # a pipeline
        "ls *.py",
        "ls -S",  # sorting: not what list_dir prints
        "grep TODO app.py",  # not recursive: different output
        "grep -rni todo .",  # -i: not what search_text does
        "grep -rE 'a+' .",  # -E: extended syntax, search_text's grep is basic
        "curl https://example.org/?q=1&x=2",  # unquoted &: the shell would background it
        "curl -o page.html https://example.org/",  # writes a file
        "echo 'a\\nb' > f.txt",  # dash's echo would interpret the backslash
        "echo -n hi > f.txt",
        "echo hi >> f.txt",  # appends
        "echo $HOME > f.txt",
        "echo hi > /tmp/x",
        "cat > a.txt <<EOF\n$HOME\nEOF",  # unquoted delimiter: the shell expands
        "cat > a.txt <<'EOF'\nx\nEOF\nrm -rf .\nEOF",  # the document ends at the first EOF line
        "echo done; cat a.txt",
    ],
)
def test_anything_else_stays_a_shell_command(by_name: dict[str, Tool], command: str) -> None:
    assert narrow(command, by_name) == ("run_shell", {"command": command})


def test_a_tool_that_is_not_offered_is_not_used(by_name: dict[str, Tool]) -> None:
    only_shell = {"run_shell": by_name["run_shell"]}
    assert narrow("cat notes.txt", only_shell) == ("run_shell", {"command": "cat notes.txt"})


def test_split_words_refuses_what_the_shell_would_expand() -> None:
    words = split_words("grep -rn 'a b' \"c d\" e")
    assert words is not None
    assert [w.text for w in words] == ["grep", "-rn", "a b", "c d", "e"]
    assert [w.bare for w in words] == [True, True, False, False, True]
    for bad in ("a | b", "a; b", "a && b", "a > b", "$(x)", "`x`", 'echo "$x"', "a\\ b", "'open", "a # c"):
        assert split_words(bad) is None, bad
