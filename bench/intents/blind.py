"""Held-out cases of the grown set: never looked at while tuning the planner (report them apart).

Written by hand for this set, not taken from any published dataset; each non-refusal case has a
reference command checked to pass it in the real container (`bench/intents/verify.py`).
"""

from __future__ import annotations

import datetime
import gzip
import io
import json
import re
import tarfile
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench.intents import Case, absent, every, file_is, gone, number, out, refused, said, text
from bench.intents.everyday import git_repo

ORDERS = ("order_id,customer,total,status\n1001,ann,25.00,paid\n1002,bo,12.50,refunded\n1003,ann,40.00,paid\n"
          "1004,cy,7.25,paid\n1005,bo,99.90,paid\n")
EMPLOYEES = json.dumps([{"name": "Ann", "dept": "eng", "salary": 120},
                        {"name": "Bo", "dept": "ops", "salary": 90},
                        {"name": "Cy", "dept": "eng", "salary": 100},
                        {"name": "Di", "dept": "sales", "salary": 80}]) + "\n"
NGINX = "".join(f"10.0.0.{i % 4} - - [04/Dec/2026:10:{i:02d}:00 +0000] \"GET /{'api' if i % 3 else 'home'} HTTP/1.1\" "
                f"{404 if i % 5 == 0 else 200} 512\n" for i in range(1, 31))


def _mode_is(rel: str, want: int) -> Any:
    def check(ws: Path, run: Any) -> None:
        mode = (ws / rel).stat().st_mode & 0o777
        assert mode == want, f"{rel} mode {oct(mode)}, want {oct(want)}"

    return check


def _tgz(root: Path, name: str, files: dict[str, str]) -> None:
    with tarfile.open(root / name, "w:gz") as archive:
        for rel, content in files.items():
            data = content.encode()
            info = tarfile.TarInfo(rel)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


def _release_tgz(root: Path) -> None:
    _tgz(root, "release.tgz", {"release/bin/tool": "#!/bin/sh\n", "release/README": "read me\n",
                               "release/lib/a.so": "so", "release/lib/b.so": "so"})


def _photos_zip(root: Path) -> None:
    with zipfile.ZipFile(root / "photos.zip", "w") as archive:
        for name in ("p/1.jpg", "p/2.jpg", "p/3.jpg", "p/list.txt"):
            archive.writestr(name, name)


def _logs_gz(root: Path) -> None:
    (root / "old.log.gz").write_bytes(gzip.compress(b"boot ok\nERROR fan\nERROR disk\nshutdown\n"))


def _time_now(ws: Path, run: Any) -> None:
    now = datetime.datetime.now(datetime.UTC)
    hours = {now.strftime("%H:"), (now - datetime.timedelta(minutes=5)).strftime("%H:")}
    assert any(h in out(run) for h in hours), out(run)


def _month(ws: Path, run: Any) -> None:
    now = datetime.date.today()
    assert now.strftime("%B") in out(run) or now.strftime("%b") in out(run), out(run)


def _memory(ws: Path, run: Any) -> None:
    shown = out(run)
    assert re.search(r"\d(\.\d+)?\s*[KMGT]i?B?\b", shown) or re.search(r"MemTotal|Mem:", shown), shown


def _cpus(ws: Path, run: Any) -> None:
    import os

    assert re.search(rf"(?<![\d.]){os.cpu_count()}(?![\d.])", out(run)), out(run)


def _python_version(ws: Path, run: Any) -> None:
    assert re.search(r"Python 3\.\d+", out(run)), out(run)


def _days_left(ws: Path, run: Any) -> None:
    today = datetime.date.today()
    left = (datetime.date(today.year, 12, 31) - today).days
    assert re.search(rf"(?<![\d.])({left - 1}|{left}|{left + 1})(?![\d.])", out(run)), out(run)


def _no_dupes(ws: Path, run: Any) -> None:
    lines = text(ws, "emails.txt").splitlines()
    assert sorted(lines) == ["a@x.org", "b@y.org", "c@z.org"], lines
    assert lines[0] == "b@y.org", f"the first occurrence order should stay: {lines}"


def _renamed_spaces(ws: Path, run: Any) -> None:
    assert text(ws, "my_summer_photo.jpg") == "1" and text(ws, "tax_return_2025.pdf") == "2"
    absent(ws, "my summer photo.jpg")
    assert text(ws, "plain.txt") == "3"


def _split_done(ws: Path, run: Any) -> None:
    parts = sorted(p for p in ws.iterdir() if p.name != "big.csv" and p.is_file())
    assert len(parts) >= 3, [p.name for p in parts]
    joined = "".join(p.read_text() for p in parts)
    assert joined.count("\n") == 250, joined.count("\n")


def _tabs(ws: Path, run: Any) -> None:
    body = text(ws, "table.txt")
    assert "\t" not in body and body.splitlines()[0].split() == ["a", "b", "c"], body


def _oldest(ws: Path, run: Any) -> None:
    shown = out(run)
    assert "ancient.txt" in shown and "mid.txt" not in shown and "new.txt" not in shown, shown


def _env_path(ws: Path, run: Any) -> None:
    assert re.search(r"/usr/(local/)?s?bin", out(run)), out(run)


def _json_pretty(ws: Path, run: Any) -> None:
    body = text(ws, "compact.json")
    assert json.loads(body) == {"a": 1, "b": [1, 2], "c": {"d": "e"}}
    assert body.count("\n") >= 5, "not pretty-printed"


def _sizes_setup(root: Path) -> None:
    for rel, size in (("a.bin", 3000), ("b/c.bin", 5000), ("b/d.txt", 2000)):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"x" * size)


def _report_made(ws: Path, run: Any) -> None:
    body = text(ws, "report.txt")
    assert re.search(r"(?<![\d.])3(?![\d.])", body), body


def _deduped_sorted_tags(ws: Path, run: Any) -> None:
    assert text(ws, "tags.txt").split() == ["art", "music", "sport"], text(ws, "tags.txt")


def _unix_endings(ws: Path, run: Any) -> None:
    assert (ws / "notes.txt").read_bytes() == b"a\nb\n", (ws / "notes.txt").read_bytes()

def _mirror(ws: Path) -> None:
    assert (ws / "dist/a").is_dir() and (ws / "dist/b/c").is_dir(), "folders missing under dist"
    files = [p for p in (ws / "dist").rglob("*") if p.is_file()]
    assert not files, f"files were copied: {files}"


def _kept3(ws: Path) -> None:
    left = sorted(p.name for p in (ws / "backups").iterdir())
    assert left == ["db-3.sql", "db-4.sql", "db-5.sql"], left


def _reversed(run: Any) -> None:
    shown = out(run)
    assert shown.find("third") < shown.find("second") < shown.find("first"), shown
    assert shown.find("third") >= 0


def _top_customer(run: Any) -> None:
    shown = out(run)
    assert "bo" in shown.split() or re.search(r"\bbo\b", shown), shown
    assert not re.search(r"\bcy\b", shown), shown


def _invalid_said(run: Any) -> None:
    shown = out(run).lower()
    assert re.search(r"invalid|not valid|error|parse|no\b", shown), shown


def _unpacked(ws: Path) -> None:
    assert text(ws, "unpacked/release/README") == "read me\n"
    assert (ws / "unpacked/release/lib/a.so").is_file()


def _gz_kept(ws: Path) -> None:
    assert text(ws, "data.txt") == "payload\n" * 20
    assert (ws / "data.txt.gz").is_file(), "data.txt.gz missing"
    assert gzip.decompress((ws / "data.txt.gz").read_bytes()) == b"payload\n" * 20


def _perms_shown(run: Any) -> None:
    shown = out(run)
    assert "rwxr-x---" in shown or re.search(r"(?<!\d)750(?!\d)", shown), shown


CASES = [
    # files and folders
    Case("b-spaces-underscores", "get rid of the spaces in the file names here, use underscores instead",
         _renamed_spaces,
         files={"my summer photo.jpg": "1", "tax return 2025.pdf": "2", "plain.txt": "3"}, category="files",
         reference='for f in *\\ *; do mv -- "$f" "$(echo "$f" | tr " " _)"; done'),
    Case("b-oldest-file", "which file in this folder is the oldest?", _oldest,
         files={"ancient.txt": "a", "mid.txt": "m", "new.txt": "n"},
         ages_days={"ancient.txt": 400, "mid.txt": 40, "new.txt": 1}, category="files", reference="ls -tr | head -n 1"),
    Case("b-mirror-tree", "recreate the folder structure of src under dist without copying any files",
         lambda ws, run: _mirror(ws), files={"src/a/one.py": "1", "src/b/c/two.py": "2"}, category="files",
         reference="cd src && find . -type d -exec mkdir -p ../dist/{} \\;"),
    Case("b-keep-newest-3", "in backups, delete everything except the 3 newest files", lambda ws, run: _kept3(ws),
         files={f"backups/db-{i}.sql": str(i) for i in range(1, 6)},
         ages_days={f"backups/db-{i}.sql": 10 - i for i in range(1, 6)}, category="files",
         reference="cd backups && ls -t | tail -n +4 | xargs rm -f"),
    Case("b-split-csv", "split big.csv into pieces of 100 lines each", _split_done,
         files={"big.csv": "".join(f"{i},x\n" for i in range(250))}, category="files",
         reference="split -l 100 big.csv part_"),
    Case("b-total-size-txt", "what's the combined size of all the .bin files, in bytes?", number("8000"),
         setup=_sizes_setup, category="files", reference="find . -name '*.bin' -exec cat {} + | wc -c"),
    Case("b-move-old-screens", "move screenshots older than a week into old-shots",
         every(file_is("old-shots/s1.png", "1"), gone("s1.png"), file_is("s2.png", "2")),
         files={"s1.png": "1", "s2.png": "2"}, ages_days={"s1.png": 20, "s2.png": 2}, category="files",
         reference="mkdir -p old-shots && find . -maxdepth 1 -name '*.png' -mtime +7 -exec mv {} old-shots/ \\;"),
    # text
    Case("b-dedupe-keep-order", "remove duplicate lines from emails.txt but keep the original order", _no_dupes,
         files={"emails.txt": "b@y.org\na@x.org\nb@y.org\nc@z.org\na@x.org\n"}, category="text",
         reference="awk '!seen[$0]++' emails.txt > e.tmp && mv e.tmp emails.txt"),
    Case("b-tabs-to-spaces", "convert the tabs in table.txt to spaces", _tabs,
         files={"table.txt": "a\tb\tc\n1\t2\t3\n"},
         category="text", reference="expand table.txt > t.tmp && mv t.tmp table.txt"),
    Case("b-insert-after", "in nginx.conf, add the line 'gzip on;' right after the line 'http {'",
         file_is("nginx.conf", "events {}\nhttp {\ngzip on;\n  server {}\n}\n"),
         files={"nginx.conf": "events {}\nhttp {\n  server {}\n}\n"}, category="text",
         reference="sed -i '/^http {$/a gzip on;' nginx.conf"),
    Case("b-reverse-lines", "print steps.txt with its lines in reverse order", lambda ws, run: _reversed(run),
         files={"steps.txt": "first\nsecond\nthird\n"}, category="text", reference="tac steps.txt"),
    Case("b-crlf", "convert notes.txt from windows line endings to unix ones", _unix_endings,
         files={"notes.txt": b"a\r\nb\r\n"}, category="text", reference="sed -i 's/\\r$//' notes.txt"),
    Case("b-join-commas", "put the lines of ids.txt on one line separated by commas", said("17,23,42"),
         files={"ids.txt": "17\n23\n42\n"}, category="text", reference="paste -sd, ids.txt"),
    Case("b-delete-line-2", "delete the second line of list.txt", file_is("list.txt", "one\nthree\n"),
         files={"list.txt": "one\ntwo\nthree\n"}, category="text", reference="sed -i 2d list.txt"),
    # data
    Case("b-paid-orders", "how much did paid orders in orders.csv add up to?", number("172.15"),
         files={"orders.csv": ORDERS}, category="data",
         reference="awk -F, '$4 == \"paid\" {s += $3} END {printf \"%.2f\\n\", s}' orders.csv"),
    Case("b-top-customer", "which customer spent the most in orders.csv?", lambda ws, run: _top_customer(run),
         files={"orders.csv": ORDERS}, category="data",
         reference="tail -n +2 orders.csv | awk -F, '{s[$2] += $3} END {for (c in s) print s[c], c}' "
                   "| sort -rn | head -1"),
    Case("b-count-refunds", "how many orders in orders.csv were refunded?", number("1"), files={"orders.csv": ORDERS},
         category="data", reference="grep -c ',refunded$' orders.csv"),
    Case("b-eng-salaries", "what is the total salary of the eng department in staff.json?", number("220"),
         files={"staff.json": EMPLOYEES}, category="data",
         reference="jq '[.[] | select(.dept == \"eng\") | .salary] | add' staff.json"),
    Case("b-json-keys", "what top-level keys does settings.json have?", said("theme", "font", "plugins"),
         files={"settings.json": '{"theme": "dark", "font": {"size": 12}, "plugins": []}\n'}, category="data",
         reference="jq -r 'keys[]' settings.json"),
    Case("b-pretty-json", "pretty-print compact.json in place", _json_pretty,
         files={"compact.json": '{"a":1,"b":[1,2],"c":{"d":"e"}}\n'}, category="data",
         reference="jq . compact.json > c.tmp && mv c.tmp compact.json"),
    Case("b-max-column", "what's the highest total in orders.csv?", number("99.90"), files={"orders.csv": ORDERS},
         category="data", reference="tail -n +2 orders.csv | cut -d, -f3 | sort -n | tail -1"),
    Case("b-valid-json", "is broken.json valid JSON?", lambda ws, run: _invalid_said(run),
         files={"broken.json": '{"a": 1,, "b": 2}\n'}, category="data",
         reference="jq . broken.json >/dev/null 2>&1 && echo valid || echo invalid"),
    # archives
    Case("b-count-in-tgz", "how many .so files are inside release.tgz?", number("2"), setup=_release_tgz,
         category="archives", reference="tar -tzf release.tgz | grep -c '\\.so$'"),
    Case("b-unpack-into", "unpack release.tgz into a folder called unpacked", lambda ws, run: _unpacked(ws),
         setup=_release_tgz, category="archives", reference="mkdir -p unpacked && tar -xzf release.tgz -C unpacked"),
    Case("b-zip-listing", "show what photos.zip contains without extracting it", said("1.jpg", "2.jpg", "list.txt"),
         setup=_photos_zip, category="archives", reference="unzip -l photos.zip"),
    Case("b-grep-gz", "find the ERROR lines in old.log.gz", said("ERROR fan", "ERROR disk", never=("boot ok",)),
         setup=_logs_gz, category="archives", reference="zcat old.log.gz | grep ERROR"),
    Case("b-gzip-keep", "gzip data.txt but keep the original too", lambda ws, run: _gz_kept(ws),
         files={"data.txt": "payload\n" * 20}, category="archives", reference="gzip -k data.txt"),
    # search
    Case("b-404s", "which paths returned 404 in access.log?", said("/home", "/api"), files={"access.log": NGINX},
         category="search", reference="awk '$9 == 404 {print $7}' access.log | sort -u"),
    Case("b-files-without", "which .py files don't have a license header mentioning MIT?",
         said("b.py", never=("a.py",)), files={"a.py": "# MIT License\nx = 1\n", "b.py": "x = 2\n"}, category="search",
         reference="grep -L MIT *.py"),
    Case("b-imports-requests", "find the python files that import requests", said("net/client.py",
                                                                                  never=("util.py",)),
         files={"net/client.py": "import requests\n", "util.py": "import os\n"}, category="search",
         reference="grep -rl --include='*.py' '^import requests' ."),
    Case("b-find-by-ext-case", "find the image files regardless of whether the extension is .PNG or .png",
         said("A.PNG", "b.png", never=("c.jpg",)), files={"A.PNG": "1", "sub/b.png": "2", "c.jpg": "3"},
         category="search", reference="find . -iname '*.png'"),
    # counting
    Case("b-hits-per-ip", "how many requests came from 10.0.0.1 in access.log?", number("8"),
         files={"access.log": NGINX}, category="counting", reference="grep -c '^10\\.0\\.0\\.1 ' access.log"),
    Case("b-count-ext", "how many markdown files are there in docs, including subfolders?", number("3"),
         files={"docs/a.md": "", "docs/x/b.md": "", "docs/x/y/c.md": "", "docs/d.txt": ""}, category="counting",
         reference="find docs -name '*.md' | wc -l"),
    Case("b-unique-words", "how many distinct words are in chant.txt?", number("3"),
         files={"chant.txt": "go team go\nteam go win\n"}, category="counting",
         reference="tr -s ' ' '\\n' < chant.txt | sort -u | wc -l"),
    # permissions
    Case("b-no-world-write", "take away write permission for others from shared.txt", _mode_is("shared.txt", 0o664),
         files={"shared.txt": "x\n"}, modes={"shared.txt": 0o666}, category="permissions",
         reference="chmod o-w shared.txt"),
    Case("b-show-perms", "what are the permissions on backup.sh?", lambda ws, run: _perms_shown(run),
         files={"backup.sh": "#!/bin/sh\n"}, modes={"backup.sh": 0o750}, category="permissions",
         reference="ls -l backup.sh"),
    # git
    Case("b-git-authors", "who has committed to this repo, and how many commits each?",
         said("Ann", "Bo"), category="git", reference="git shortlog -sn HEAD",
         setup=git_repo([("Ann", "one", {"a": "1"}), ("Bo", "two", {"a": "2"}), ("Ann", "three", {"a": "3"})])),
    Case("b-git-first-message", "what was the message of the very first commit?", said("initial import"),
         category="git", reference="git log --reverse --format=%s | head -n 1",
         setup=git_repo([("Ann", "initial import", {"a": "1"}), ("Ann", "tweak", {"a": "2"})])),
    Case("b-git-tags", "what tags does this repository have?", said("v1.0", "v1.1"), category="git",
         reference="git tag", setup=git_repo([("Ann", "one", {"a": "1"}), ("Ann", "two", {"a": "2"})],
                                             tags={"v1.0": 0, "v1.1": 1})),
    Case("b-git-branch-name", "what's the name of the git branch I'm working on?", said("develop"), category="git",
         reference="git rev-parse --abbrev-ref HEAD",
         setup=git_repo([("Ann", "one", {"a": "1"})], branch="develop")),
    # system facts
    Case("b-time", "what time is it right now?", _time_now, category="system", reference="date +%H:%M"),
    Case("b-memory", "how much memory does this machine have?", _memory, category="system", reference="free -h"),
    Case("b-cpus", "how many CPU cores are there?", _cpus, category="system", reference="nproc"),
    Case("b-python", "which version of python is available?", _python_version, category="system",
         reference="python3 --version"),
    Case("b-month", "what month is it?", _month, category="system", reference="date +%B"),
    Case("b-days-left", "how many days are left until the end of the year?", _days_left, category="system",
         reference="echo $(( ($(date -d \"$(date +%Y)-12-31\" +%s) - $(date +%s)) / 86400 ))"),
    Case("b-path", "what is the PATH in this environment?", _env_path, category="system", reference="echo $PATH"),
    # multi-step
    Case("b-count-report", "count the .py files in src and write the number into report.txt", _report_made,
         files={"src/a.py": "", "src/b.py": "", "src/c/d.py": "", "src/e.txt": ""}, category="multi-step",
         reference="find src -name '*.py' | wc -l > report.txt"),
    Case("b-tags-sorted", "merge tags1.txt and tags2.txt into tags.txt, sorted and without duplicates",
         _deduped_sorted_tags, files={"tags1.txt": "music\nart\n", "tags2.txt": "sport\nart\n"}, category="multi-step",
         reference="sort -u tags1.txt tags2.txt > tags.txt"),
    # refusals
    Case("b-refuse-mail", "email report.pdf to the finance team", refused, files={"report.pdf": "%PDF"},
         refusal=True, category="refusal"),
    Case("b-refuse-web", "look up the current price of bitcoin online", refused, refusal=True, category="refusal"),
    Case("b-refuse-webcam", "take a photo with the webcam", refused, refusal=True, category="refusal"),
    Case("b-refuse-volume", "turn the speaker volume up", refused, refusal=True, category="refusal"),
]
CASES = [replace(c, heldout=True) for c in CASES]
