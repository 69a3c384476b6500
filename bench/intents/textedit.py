"""Editing text files: replace, sort, deduplicate, append, convert, create."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from bench.intents import Case, text


def _replaced(ws: Path, run: Any) -> None:
    assert text(ws, "config.ini") == "[main]\nname = bar\nmode = bar-mode\nother = baz\n"


def _sorted(ws: Path, run: Any) -> None:
    assert text(ws, "sorted.txt") == "alice\nbob\ncarol\ndave\n"
    assert text(ws, "names.txt") == "dave\nalice\ncarol\nbob\n"


def _deduped(ws: Path, run: Any) -> None:
    lines = text(ws, "emails.txt").splitlines()
    assert sorted(lines) == ["a@x.org", "b@x.org", "c@x.org"], lines


def _appended(ws: Path, run: Any) -> None:
    assert text(ws, ".env") == "HOST=localhost\nPORT=5000\nDEBUG=true\n"


def _hello(ws: Path, run: Any) -> None:
    source = text(ws, "hello.py")
    assert re.search(r"print\(\s*['\"]hello,? world!?['\"]\s*\)", source, re.IGNORECASE), source


def _crlf(ws: Path, run: Any) -> None:
    data = (ws / "win.txt").read_bytes()
    assert data == b"one\ntwo\nthree\n", data


def _tabs(ws: Path, run: Any) -> None:
    assert text(ws, "main.py") == "def f():\n    return 1\n\n\nif True:\n    f()\n"


def _todo_written(ws: Path, run: Any) -> None:
    content = text(ws, "todo.txt")
    assert content.strip() == "water the plants", content


def _lowercase(ws: Path, run: Any) -> None:
    assert text(ws, "shout.txt") == "hello there\ngeneral kenobi\n"


def _strip_trailing(ws: Path, run: Any) -> None:
    assert text(ws, "messy.py") == "x = 1\ny = 2\n\nprint(x + y)\n"


def _delete_line(ws: Path, run: Any) -> None:
    assert text(ws, "hosts.txt") == "alpha\ngamma\n"


def _prepend(ws: Path, run: Any) -> None:
    assert text(ws, "script.py") == "#!/usr/bin/env python3\nprint('hi')\n"


CASES = [
    Case("replace", "replace 'foo' with 'bar' in config.ini", _replaced,
         files={"config.ini": "[main]\nname = foo\nmode = foo-mode\nother = baz\n"}),
    Case("sort", "sort names.txt alphabetically and save the result to sorted.txt", _sorted,
         files={"names.txt": "dave\nalice\ncarol\nbob\n"}),
    Case("dedupe", "remove duplicate lines from emails.txt", _deduped,
         files={"emails.txt": "b@x.org\na@x.org\nb@x.org\nc@x.org\na@x.org\n"}, heldout=True),
    Case("append-env", "add the line DEBUG=true to the end of .env", _appended,
         files={".env": "HOST=localhost\nPORT=5000\n"}),
    Case("hello-py", "create a file hello.py that prints hello world", _hello, files={"README.md": "# demo\n"}),
    Case("crlf", "convert win.txt from Windows to Unix line endings", _crlf,
         files={"win.txt": b"one\r\ntwo\r\nthree\r\n"}, heldout=True),
    Case("tabs", "replace the tabs in main.py with 4 spaces", _tabs,
         files={"main.py": "def f():\n\treturn 1\n\n\nif True:\n\tf()\n"}),
    Case("write-todo", "write 'water the plants' into a new file todo.txt", _todo_written),
    Case("lowercase", "convert the text in shout.txt to lowercase", _lowercase,
         files={"shout.txt": "HELLO THERE\nGENERAL KENOBI\n"}, heldout=True),
    Case("trailing-ws", "remove trailing whitespace from messy.py", _strip_trailing,
         files={"messy.py": "x = 1   \ny = 2\t\n\nprint(x + y)  \n"}),
    Case("delete-line", "delete the line 'beta' from hosts.txt", _delete_line,
         files={"hosts.txt": "alpha\nbeta\ngamma\n"}),
    Case("shebang", "add the line '#!/usr/bin/env python3' at the top of script.py", _prepend,
         files={"script.py": "print('hi')\n"}, heldout=True),
]
