"""Questions about the workspace's data: counts, sums, fields, checksums, git history."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from pathlib import Path
from typing import Any

from bench.intents import Case, has, lacks, out

CSV = "id,name,score\n" + "".join(f"{i},user{i},{i * 3 % 17}\n" for i in range(1, 101))
LOG = "".join(
    f"2024-05-0{1 + i % 9} 10:{i:02d}:00 {'ERROR' if i % 7 == 0 else 'INFO'} event {i}\n" for i in range(60)
)
POEM = "the quick brown fox\njumps over\nthe lazy dog\n"


def _number(value: str) -> Any:
    def check(ws: Path, run: Any) -> None:
        assert re.search(rf"(?<![\d.]){re.escape(value)}(?![\d.])", out(run)), f"no {value} in {out(run)!r}"

    return check


def _head(ws: Path, run: Any) -> None:
    shown = out(run)
    has(shown, "line 1\n", "line 5\n")
    lacks(shown, "line 6\n")


def _tail(ws: Path, run: Any) -> None:
    shown = out(run)
    has(shown, "event 57", "event 58", "event 59")
    lacks(shown, "event 56")


def _version(ws: Path, run: Any) -> None:
    has(out(run), "1.4.2")


def _keys(ws: Path, run: Any) -> None:
    has(out(run), "database", "cache", "workers")


def _column(ws: Path, run: Any) -> None:
    shown = out(run)
    has(shown, "user1\n", "user50\n", "user100")
    lacks(shown, "name", "score")


def _todos(ws: Path, run: Any) -> None:
    shown = out(run)
    has(shown, "app.py", "fix the parser", "lib/util.py")
    lacks(shown, "clean.py")


def _password(ws: Path, run: Any) -> None:
    shown = out(run)
    has(shown, "config.py")
    lacks(shown, "main.py", "README.md")


def _md5(ws: Path, run: Any) -> None:
    has(out(run), hashlib.md5(b"some bytes\n" * 10).hexdigest())  # noqa: S324 - what the user asked for


def _python(ws: Path, run: Any) -> None:
    assert re.search(r"Python 3\.\d+", out(run)), out(run)


def _git_repo(root: Path) -> None:
    env = {"GIT_AUTHOR_NAME": "A", "GIT_AUTHOR_EMAIL": "a@x", "GIT_COMMITTER_NAME": "A",
           "GIT_COMMITTER_EMAIL": "a@x", "HOME": str(root), "PATH": "/usr/bin:/bin"}
    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=root, env=env, check=True, capture_output=True)
    git("init", "-q", "-b", "main")
    (root / "app.py").write_text("print(1)\n")
    git("add", "app.py")
    git("commit", "-q", "-m", "first version of the app")
    (root / "app.py").write_text("print(2)\n")
    git("commit", "-q", "-am", "print two instead of one")


def _last_commit(ws: Path, run: Any) -> None:
    has(out(run), "print two instead of one")


def _git_init(ws: Path, run: Any) -> None:
    assert (ws / ".git" / "HEAD").is_file(), "no .git/HEAD"


def _json_count(ws: Path, run: Any) -> None:
    _number("3")(ws, run)


def _uniq_errors(ws: Path, run: Any) -> None:
    _number(str(sum(1 for i in range(60) if i % 7 == 0)))(ws, run)


CASES = [
    Case("count-lines", "how many lines are in data.csv?", _number("101"), files={"data.csv": CSV}),
    Case("head", "show the first 5 lines of server.log", _head,
         files={"server.log": "".join(f"line {i}\n" for i in range(1, 30))}),
    Case("count-errors", "count how many lines in app.log contain ERROR", _uniq_errors, files={"app.log": LOG}),
    Case("tail", "show the last 3 lines of app.log", _tail, files={"app.log": LOG}, heldout=True),
    Case("json-version", "print the version field of package.json", _version,
         files={"package.json": json.dumps({"name": "demo", "version": "1.4.2", "private": True}, indent=2)}),
    Case("json-keys", "list the top-level keys of config.json", _keys,
         files={"config.json": json.dumps({"database": {"host": "db"}, "cache": True, "workers": 4})}, heldout=True),
    Case("csv-column", "print the second column of data.csv without the header", _column, files={"data.csv": CSV}),
    Case("todos", "find the TODO comments in the code", _todos,
         files={"app.py": "x = 1  # TODO fix the parser\n", "lib/util.py": "# TODO: speed up\n",
                "clean.py": "print('done')\n"}),
    Case("password", "which files contain the word password?", _password,
         files={"config.py": "password = 'hunter2'\n", "main.py": "import config\n", "README.md": "# app\n"},
         heldout=True),
    Case("words", "how many words are in poem.txt?", _number("9"), files={"poem.txt": POEM}),
    Case("sum", "add up the numbers in numbers.txt", _number("150"),
         files={"numbers.txt": "10\n20\n30\n40\n50\n"}),
    Case("md5", "compute the md5 checksum of blob.bin", _md5, files={"blob.bin": b"some bytes\n" * 10},
         heldout=True),
    Case("python-version", "which python version is installed?", _python),
    Case("last-commit", "show the message of the last git commit", _last_commit, setup=_git_repo),
    Case("git-init", "initialize a git repository here", _git_init, files={"main.py": "print(1)\n"}, heldout=True),
    Case("json-items", "how many items are in the array in items.json?", _json_count,
         files={"items.json": json.dumps([{"id": 1}, {"id": 2}, {"id": 3}])}),
]
