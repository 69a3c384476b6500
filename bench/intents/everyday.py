"""Everyday requests across what people ask (tuning, "dev", cases): each with a reference command
checked to pass it in the real container (`bench/intents/verify.py`). Written for this set by hand,
not taken from any published dataset. The first four are the requests of issue 13's trial as a
new user.
"""

from __future__ import annotations

import datetime
import io
import json
import re
import subprocess
import tarfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench.intents import Case, absent, every, file_is, gone, has, number, out, refused, said, text

GIT_ENV = {"GIT_AUTHOR_NAME": "Ann", "GIT_AUTHOR_EMAIL": "ann@example.org", "GIT_COMMITTER_NAME": "Ann",
           "GIT_COMMITTER_EMAIL": "ann@example.org", "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1"}


def git_repo(commits: list[tuple[str, str, Mapping[str, str]]], *, branch: str = "main",
             after: Mapping[str, str] | None = None, tags: Mapping[str, int] | None = None) -> Any:
    """A setup making a git history: each commit (author, message, files written before it);
    `after`: files changed afterwards and not committed; `tags`: name -> index of the commit."""

    def setup(root: Path) -> None:
        def git(*args: str, author: str = "Ann") -> str:
            env = {**GIT_ENV, "GIT_AUTHOR_NAME": author, "GIT_AUTHOR_EMAIL": f"{author.lower()}@example.org",
                   "PATH": "/usr/bin:/bin"}
            return subprocess.run(["git", *args], cwd=root, env=env, check=True, capture_output=True,
                                  text=True).stdout

        git("init", "-q", "-b", branch)
        shas = []
        for index, (author, message, files) in enumerate(commits):
            for rel, content in files.items():
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                (root / rel).write_text(content)
            git("add", "-A")
            stamp = f"2026-0{1 + index % 9}-1{index % 10}T10:00:00"
            subprocess_env_date = {"GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp}
            subprocess.run(["git", "commit", "-q", "-m", message], cwd=root, check=True, capture_output=True,
                           env={**GIT_ENV, "GIT_AUTHOR_NAME": author,
                                "GIT_AUTHOR_EMAIL": f"{author.lower()}@example.org", "PATH": "/usr/bin:/bin",
                                **subprocess_env_date})
            shas.append(git("rev-parse", "HEAD").strip())
        for name, index in (tags or {}).items():
            git("tag", name, shas[index])
        for rel, content in (after or {}).items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(content)

    return setup


# --- the trial of issue 13 ----------------------------------------------------------------------

PROJECT = {
    "src/greeter/__init__.py": "from greeter.core import greet\n",
    "src/greeter/core.py": "def greet(name):\n    return f'hello {name}'\n",
    "tests/test_core.py": "from greeter.core import greet\n\n\ndef test_greet():\n    assert greet('a') == 'hello a'\n",
    "people.csv": "name,age\nann,31\nbo,45\ncy,27\n",
    "README.md": "Call greet() to greet.\n",
}


def _renamed_function(ws: Path, run: Any) -> None:
    for rel in ("src/greeter/__init__.py", "src/greeter/core.py", "tests/test_core.py"):
        body = text(ws, rel)
        assert "welcome" in body and not re.search(r"\bgreet\b(?!er)", body), f"{rel}: {body!r}"
    assert text(ws, "README.md") == "Call greet() to greet.\n", "only python files should change"


def _gitignore(ws: Path, run: Any) -> None:
    rules = {line.strip() for line in text(ws, ".gitignore").splitlines()}
    assert rules & {"__pycache__/", "__pycache__", "**/__pycache__/", "**/__pycache__"}, rules
    assert rules & {"*.pyc", "*.py[cod]", "*.py[co]", "*.pyc?"}, rules
    assert rules & {".venv/", ".venv", "venv/", "venv"}, rules
    assert rules & {".venv/", ".venv"} and rules & {"venv/", "venv", "env/"}, rules


def _pycache(ws: Path, run: Any) -> None:
    left = [str(p.relative_to(ws)) for p in ws.rglob("__pycache__")]
    assert not left, f"left: {left}"
    assert text(ws, "src/greeter/core.py") == PROJECT["src/greeter/core.py"]


def _pycache_setup(root: Path) -> None:
    for rel in ("src/greeter/__pycache__/core.cpython-311.pyc", "tests/__pycache__/test_core.cpython-311.pyc"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"\x00pyc")


# --- files and folders --------------------------------------------------------------------------


def _flattened(ws: Path, run: Any) -> None:
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        assert (ws / "all" / name).is_file(), f"all/{name} missing"


def _symlink(ws: Path, run: Any) -> None:
    link = ws / "current"
    assert link.is_symlink(), "current is not a symlink"
    assert link.resolve().name == "release-2.1", link.resolve()


def _dated_copy(ws: Path, run: Any) -> None:
    today = datetime.date.today()
    names = [p.name for p in ws.iterdir() if p.name != "notes.txt"]
    assert any(today.strftime("%Y-%m-%d") in n or today.strftime("%Y%m%d") in n for n in names), names
    assert text(ws, "notes.txt") == "remember\n"


# --- archives -----------------------------------------------------------------------------------


def _tarball(root: Path, name: str, files: Mapping[str, str], mode: str = "w:gz") -> None:
    with tarfile.open(root / name, mode) as archive:
        for rel, content in files.items():
            data = content.encode()
            info = tarfile.TarInfo(rel)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


def _site_tar(root: Path) -> None:
    _tarball(root, "site.tar.gz", {"site/index.html": "<h1>hi</h1>\n", "site/css/main.css": "body{}\n",
                                   "site/js/app.js": "run()\n"})


def _bz2_made(ws: Path, run: Any) -> None:
    path = ws / "logs.tar.bz2"
    assert path.is_file(), "logs.tar.bz2 missing"
    with tarfile.open(path, "r:bz2") as archive:
        names = archive.getnames()
    assert any(n.endswith("logs/a.log") for n in names) and any(n.endswith("logs/b.log") for n in names), names


def _one_from_tar(ws: Path, run: Any) -> None:
    assert text(ws, "site/css/main.css") == "body{}\n"
    absent(ws, "site/index.html")


def _zip_of_pdfs(ws: Path, run: Any) -> None:
    path = ws / "papers.zip"
    assert path.is_file(), "papers.zip missing"
    with zipfile.ZipFile(path) as archive:
        names = sorted(Path(n).name for n in archive.namelist())
    assert names == ["a.pdf", "b.pdf"], names


def _gunzipped(ws: Path, run: Any) -> None:
    assert text(ws, "dump.sql") == "CREATE TABLE t (x int);\n"


def _gz_setup(root: Path) -> None:
    import gzip

    (root / "dump.sql.gz").write_bytes(gzip.compress(b"CREATE TABLE t (x int);\n"))


# --- data ---------------------------------------------------------------------------------------

SALES = "region,product,amount\nnorth,pens,120\nsouth,ink,80\nnorth,ink,45\neast,pens,200\nsouth,pens,15\n"
INVENTORY = json.dumps({"items": [{"sku": "a1", "name": "bolt", "qty": 12, "price": 0.5},
                                  {"sku": "b2", "name": "nut", "qty": 0, "price": 0.2},
                                  {"sku": "c3", "name": "gear", "qty": 3, "price": 7.25}]}, indent=2) + "\n"


def _sorted_csv(ws: Path, run: Any) -> None:
    lines = text(ws, "sales.csv").splitlines()
    assert lines[0] == "region,product,amount", "the header must stay first"
    amounts = [int(line.rsplit(",", 1)[1]) for line in lines[1:]]
    assert amounts == sorted(amounts, reverse=True) and len(amounts) == 5, lines


def _qty_bumped(ws: Path, run: Any) -> None:
    data = json.loads(text(ws, "config.json"))
    assert data == {"name": "svc", "port": 9090, "debug": False}, data


def _csv_from_json(ws: Path, run: Any) -> None:
    rows = [line.strip() for line in text(ws, "items.csv").strip().splitlines()]
    rows = [r.replace('"', "") for r in rows]
    assert rows[-3:] == ["a1,bolt,12", "b2,nut,0", "c3,gear,3"], rows


# --- system -------------------------------------------------------------------------------------


def _today(ws: Path, run: Any) -> None:
    shown = out(run)
    today = datetime.date.today()
    assert str(today.year) in shown, shown
    assert (today.strftime("%b") in shown or today.strftime("-%m-") in shown or today.strftime("%B") in shown
            or today.strftime("%m/%d") in shown), shown


def _disk_free(ws: Path, run: Any) -> None:
    shown = out(run)
    assert re.search(r"\d(\.\d+)?\s*[KMGT]i?B?\b", shown) or re.search(r"^\S+\s+\d+\s+\d+\s+\d+", shown, re.M), shown


def _weekday(ws: Path, run: Any) -> None:
    now = datetime.datetime.now(datetime.UTC)
    days = {now.strftime("%A"), (now - datetime.timedelta(hours=1)).strftime("%A")}
    assert any(d in out(run) or d[:3] in out(run) for d in days), out(run)


def _kernel(ws: Path, run: Any) -> None:
    import platform

    has(out(run), platform.release())

def _mode(ws: Path, rel: str, bit: int, on: bool) -> None:
    mode = (ws / rel).stat().st_mode
    assert bool(mode & bit) == on, f"{rel} mode {oct(mode)}"


def _exact_mode(ws: Path, rel: str, want: int) -> None:
    mode = (ws / rel).stat().st_mode & 0o777
    assert mode == want, f"{rel} mode {oct(mode)}, want {oct(want)}"


def _conf_backup(ws: Path) -> None:
    path = ws / "conf-backup.tar.gz"
    assert path.is_file(), "conf-backup.tar.gz missing"
    with tarfile.open(path) as archive:
        names = [Path(n).name for n in archive.getnames()]
    assert "a.conf" in names and "b.conf" in names and "c.txt" not in names, names


def _todos(ws: Path, run: Any) -> None:
    lines = text(ws, "todo.txt").splitlines()
    assert len(lines) == 3 and all("TODO" in line for line in lines), lines
    assert re.search(r"(?<![\d.])3(?![\d.])", out(run)), out(run)


CASES = [
    # the trial of issue 13
    Case("rename-function", "rename the function greet to welcome in all python files", _renamed_function,
         files=PROJECT, category="text",
         reference="find . -name '*.py' -exec sed -i 's/\\bgreet\\b/welcome/g' {} +"),
    Case("average-age", "what is the average age in people.csv", number("34.33"), files=PROJECT, category="data",
         reference="awk -F, 'NR > 1 {s += $2; n++} END {printf \"%.2f\\n\", s / n}' people.csv"),
    Case("gitignore-python", "add a .gitignore that ignores python bytecode and virtualenvs", _gitignore,
         files=PROJECT, category="files",
         reference="printf '__pycache__/\\n*.py[cod]\\n.venv/\\nvenv/\\n' > .gitignore"),
    Case("delete-pycache", "delete all __pycache__ directories", _pycache, files=PROJECT, setup=_pycache_setup,
         category="files", reference="find . -type d -name __pycache__ -prune -exec rm -rf {} +"),
    # files and folders
    Case("collect-jpgs", "copy every .jpg from the trip folders into a single folder called all", _flattened,
         files={"trip1/a.jpg": "a", "trip2/b.jpg": "b", "trip2/day2/c.jpg": "c", "trip1/notes.txt": "n"},
         category="files", reference="mkdir -p all && find trip1 trip2 -name '*.jpg' -exec cp {} all/ \\;"),
    Case("link-current", "make a symbolic link named current pointing at the release-2.1 folder", _symlink,
         files={"release-2.1/app.bin": "x", "release-2.0/app.bin": "y"}, category="files",
         reference="ln -s release-2.1 current"),
    Case("dated-backup", "back up notes.txt to a copy with today's date in its name", _dated_copy,
         files={"notes.txt": "remember\n"}, category="files", reference='cp notes.txt "notes-$(date +%F).txt"'),
    Case("move-pdfs-docs", "put all the pdf files into a docs folder", every(
        file_is("docs/a.pdf", "1"), file_is("docs/b.pdf", "2"), gone("a.pdf", "b.pdf"), file_is("c.txt", "3")),
         files={"a.pdf": "1", "b.pdf": "2", "c.txt": "3"}, category="files",
         reference="mkdir -p docs && mv *.pdf docs/"),
    Case("delete-bak", "remove the .bak files everywhere under this folder", every(
        gone("x.bak", "deep/y.bak"), file_is("x.txt", "keep\n")),
         files={"x.bak": "old", "deep/y.bak": "old", "x.txt": "keep\n"}, category="files",
         reference="find . -name '*.bak' -type f -delete"),
    Case("largest-file", "which file here is the largest?", said("video.mp4", never=("tiny.txt",)),
         files={"video.mp4": "v" * 50_000, "tiny.txt": "t", "doc.md": "d" * 900}, category="files",
         reference="ls -S | head -n 1"),
    # text
    Case("upper-names", "make every line of names.txt uppercase", file_is("names.txt", "ANN\nBO\nCY\n"),
         files={"names.txt": "ann\nbo\ncy\n"}, category="text",
         reference="tr a-z A-Z < names.txt > names.tmp && mv names.tmp names.txt"),
    Case("sort-inplace", "sort the lines of words.txt alphabetically, in the file itself",
         file_is("words.txt", "apple\nbanana\ncherry\n"), files={"words.txt": "cherry\napple\nbanana\n"},
         category="text", reference="sort -o words.txt words.txt"),
    Case("trailing-space", "delete the spaces and tabs at the ends of the lines in main.py",
         file_is("main.py", "x = 1\nprint(x)\n"),
         files={"main.py": "x = 1   \nprint(x)\t\n"}, category="text", reference="sed -i 's/[[:space:]]*$//' main.py"),
    Case("lines-3-to-5", "print lines 3 to 5 of story.txt", said("three", "four", "five", never=("two", "six")),
         files={"story.txt": "one\ntwo\nthree\nfour\nfive\nsix\n"}, category="text", reference="sed -n 3,5p story.txt"),
    Case("replace-version", "change version 1.2.0 to 1.3.0 in setup.cfg",
         file_is("setup.cfg", "[metadata]\nname = demo\nversion = 1.3.0\n"),
         files={"setup.cfg": "[metadata]\nname = demo\nversion = 1.2.0\n"}, category="text",
         reference="sed -i 's/1\\.2\\.0/1.3.0/' setup.cfg"),
    Case("last-lines", "show me the last 3 lines of server.log", said("l8\n", "l9\n", "l10", never=("l7\n",)),
         files={"server.log": "".join(f"l{i}\n" for i in range(1, 11))}, category="text",
         reference="tail -n 3 server.log"),
    # data
    Case("sales-by-amount", "sort sales.csv by amount, highest first, keeping the header on top", _sorted_csv,
         files={"sales.csv": SALES}, category="data",
         reference="{ head -n 1 sales.csv; tail -n +2 sales.csv | sort -t, -k3,3nr; } > s.tmp && mv s.tmp sales.csv"),
    Case("north-total", "what is the total amount for the north region in sales.csv?", number("165"),
         files={"sales.csv": SALES}, category="data",
         reference="awk -F, '$1 == \"north\" {s += $3} END {print s}' sales.csv"),
    Case("out-of-stock", "which items in inventory.json have a qty of 0?", said("nut", never=("bolt", "gear")),
         files={"inventory.json": INVENTORY}, category="data",
         reference="jq -r '.items[] | select(.qty == 0) | .name' inventory.json"),
    Case("set-port", "set the port in config.json to 9090", _qty_bumped,
         files={"config.json": '{"name": "svc", "port": 8080, "debug": false}\n'}, category="data",
         reference="jq '.port = 9090' config.json > c.tmp && mv c.tmp config.json"),
    Case("json-to-csv", "turn the items in inventory.json into items.csv with sku, name and qty columns",
         _csv_from_json, files={"inventory.json": INVENTORY}, category="data",
         reference="jq -r '.items[] | [.sku, .name, .qty] | @csv' inventory.json > items.csv"),
    Case("distinct-regions", "list the different regions in sales.csv", said("north", "south", "east",
                                                                             never=("region",)),
         files={"sales.csv": SALES}, category="data", reference="tail -n +2 sales.csv | cut -d, -f1 | sort -u"),
    # archives
    Case("list-tar", "what files are in site.tar.gz?", said("index.html", "main.css", "app.js"),
         setup=_site_tar, category="archives", reference="tar -tzf site.tar.gz"),
    Case("tar-bz2", "compress the logs folder into logs.tar.bz2", _bz2_made,
         files={"logs/a.log": "a\n", "logs/b.log": "b\n"}, category="archives", reference="tar -cjf logs.tar.bz2 logs"),
    Case("one-file-from-tar", "extract only site/css/main.css from site.tar.gz", _one_from_tar, setup=_site_tar,
         category="archives", reference="tar -xzf site.tar.gz site/css/main.css"),
    Case("zip-pdfs", "zip the two pdfs into papers.zip", _zip_of_pdfs, files={"a.pdf": "%PDF a", "b.pdf": "%PDF b"},
         category="archives", reference="python3 -m zipfile -c papers.zip a.pdf b.pdf"),
    Case("gunzip-dump", "decompress dump.sql.gz", _gunzipped, setup=_gz_setup, category="archives",
         reference="gunzip dump.sql.gz"),
    # search
    Case("files-with-password", "which files contain the word password?", said("settings.ini", "notes/todo.md",
                                                                    never=("readme.txt",)),
         files={"settings.ini": "password = x\n", "notes/todo.md": "reset the password\n", "readme.txt": "hello\n"},
         category="search", reference="grep -rl password ."),
    Case("grep-ignore-case", "find the lines in app.log that say error in any case", said(
        "Error: disk", "ERROR: net", "error: cpu", never=("all good",)),
         files={"app.log": "Error: disk\nall good\nERROR: net\nerror: cpu\n"}, category="search",
         reference="grep -i error app.log"),
    Case("where-defined", "in which file is the function parse_args defined?", said("cli/main.py", never=("tests",)),
         files={"cli/main.py": "def parse_args():\n    pass\n",
                "tests/test_cli.py": "from cli.main import parse_args\n"},
         category="search", reference="grep -rl 'def parse_args' ."),
    # counting
    Case("count-words", "how many words are in essay.txt?", number("9"),
         files={"essay.txt": "the cat sat\non the mat\nand then slept\n"}, category="counting",
         reference="wc -w < essay.txt"),
    Case("count-dirs", "how many folders are there under src, counting subfolders?", number("4"),
         files={"src/a/x.py": "", "src/a/b/y.py": "", "src/c/z.py": "", "src/d/w.py": ""}, category="counting",
         reference="find src -mindepth 1 -type d | wc -l"),
    Case("count-word-occurrences", "how many times does the word fox appear in tale.txt?", number("3"),
         files={"tale.txt": "fox and fox\nno foxes here\nthe fox\n"}, category="counting",
         reference="grep -ow fox tale.txt | wc -l"),
    # permissions
    Case("chmod-script", "give deploy.sh execute permission", lambda ws, run: _mode(ws, "deploy.sh", 0o100, True),
         files={"deploy.sh": "#!/bin/sh\necho deploy\n"}, modes={"deploy.sh": 0o644}, category="permissions",
         reference="chmod +x deploy.sh"),
    Case("private-key", "make id_key readable and writable by me only",
         lambda ws, run: _exact_mode(ws, "id_key", 0o600),
         files={"id_key": "secret\n"}, modes={"id_key": 0o644}, category="permissions", reference="chmod 600 id_key"),
    Case("who-can-run", "which files in bin are executable?", said("bin/run", never=("bin/readme",)),
         files={"bin/run": "#!/bin/sh\n", "bin/readme": "text\n"}, modes={"bin/run": 0o755, "bin/readme": 0o644},
         category="permissions", reference="find bin -type f -perm -u+x"),
    # git
    Case("commit-count", "how many commits does this repository have?", number("3"), category="git",
         setup=git_repo([("Ann", "start", {"a.txt": "1\n"}), ("Bo", "more", {"a.txt": "2\n"}),
                         ("Ann", "again", {"b.txt": "3\n"})]), reference="git rev-list --count HEAD"),
    Case("last-commit-files", "which files did the last commit change?", said("lib/core.py", never=("a.txt",)),
         category="git", setup=git_repo([("Ann", "start", {"a.txt": "1\n", "lib/core.py": "x = 1\n"}),
                                         ("Ann", "fix core", {"lib/core.py": "x = 2\n"})]),
         reference="git show --name-only --format= HEAD"),
    # system facts
    Case("today", "what is today's date", _today, category="system", reference="date"),
    Case("disk-free", "how much space is left on the disk?", _disk_free, category="system", reference="df -h ."),
    Case("tools-installed", "is jq installed, and which version?", said("jq-1."), category="system",
         reference="jq --version"),
    Case("weekday", "what day of the week is it?", _weekday, category="system", reference="date +%A"),
    Case("kernel", "which Linux kernel version is running?", _kernel, category="system", reference="uname -r"),
    # multi-step
    Case("backup-confs", "copy every .conf file into a new folder conf-backup and pack it into conf-backup.tar.gz",
         lambda ws, run: _conf_backup(ws), files={"a.conf": "a=1\n", "etc/b.conf": "b=2\n", "c.txt": "c\n"},
         category="multi-step",
         reference="mkdir -p conf-backup && find . -name '*.conf' -not -path './conf-backup/*' -exec cp {} "
                   "conf-backup/ \\; "
                   "&& tar -czf conf-backup.tar.gz conf-backup"),
    Case("todo-list", "collect every TODO line in src into todo.txt and tell me how many there are",
         _todos, files={"src/a.py": "# TODO one\nx = 1\n", "src/b/c.py": "# TODO two\n# TODO 3\n",
                                                 "README.md": "TODO not in src\n"},
         category="multi-step", reference="grep -rh TODO src > todo.txt; wc -l < todo.txt"),
    # refusals
    Case("refuse-weather", "what's the weather going to be like in Berlin tomorrow?", refused, refusal=True,
         category="refusal"),
    Case("refuse-printer", "print report.pdf on the office printer", refused, files={"report.pdf": "%PDF"},
         refusal=True, category="refusal"),
]
