"""Finding, listing, moving, copying, deleting and archiving files."""

from __future__ import annotations

import io
import re
import tarfile
import zipfile
from pathlib import Path
from typing import Any

from bench.intents import Case, absent, has, lacks, out, text


def _recent_py(ws: Path, run: Any) -> None:
    shown = out(run)
    has(shown, "app.py", "test_app.py")
    lacks(shown, "old.py", "notes.txt")


def _src_listing(ws: Path, run: Any) -> None:
    has(out(run), "main.py", "util.py")


def _py_count(ws: Path, run: Any) -> None:
    assert re.search(r"(?<![\d.])4(?![\d.])", out(run)), f"no 4 in {out(run)!r}"


def _large(ws: Path, run: Any) -> None:
    has(out(run), "big.bin")
    lacks(out(run), "small.txt", "tiny.txt")


def _backup_txt(ws: Path, run: Any) -> None:
    assert text(ws, "backup/a.txt") == "alpha\n"
    assert text(ws, "backup/b.txt") == "beta\n"
    assert text(ws, "a.txt") == "alpha\n", "the originals must stay"
    absent(ws, "backup/c.md")


def _renamed(ws: Path, run: Any) -> None:
    assert text(ws, "notes.md") == "buy milk\n"
    absent(ws, "notes.txt")


def _no_logs(ws: Path, run: Any) -> None:
    absent(ws, "app.log")
    absent(ws, "logs/worker.log")
    assert text(ws, "app.py") == "print('app')\n"
    assert text(ws, "logs/README") == "logs go here\n"


def _docs_tar(ws: Path, run: Any) -> None:
    path = ws / "docs.tar.gz"
    assert path.is_file(), "docs.tar.gz does not exist"
    with tarfile.open(path, "r:gz") as archive:
        names = [n.removeprefix("./") for n in archive.getnames()]
    assert any(n.endswith("docs/index.md") for n in names), names
    assert any(n.endswith("docs/guide/setup.md") for n in names), names


def _make_archive(root: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, content in (("report/summary.txt", b"all good\n"), ("report/figures.csv", b"a,b\n1,2\n")):
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    (root / "archive.tar.gz").write_bytes(buffer.getvalue())


def _extracted(ws: Path, run: Any) -> None:
    assert text(ws, "report/summary.txt") == "all good\n"
    assert text(ws, "report/figures.csv") == "a,b\n1,2\n"


def _make_zip(root: Path) -> None:
    with zipfile.ZipFile(root / "bundle.zip", "w") as archive:
        archive.writestr("bundle/readme.txt", "hello from the zip\n")
        archive.writestr("bundle/data/values.txt", "1 2 3\n")


def _unzipped(ws: Path, run: Any) -> None:
    assert text(ws, "bundle/readme.txt") == "hello from the zip\n"
    assert text(ws, "bundle/data/values.txt") == "1 2 3\n"


def _zip_reports(ws: Path, run: Any) -> None:
    zips = sorted(ws.rglob("*.zip"))
    assert zips, "no zip file was made"
    with zipfile.ZipFile(zips[0]) as archive:
        names = archive.namelist()
    assert any(n.endswith("q1.txt") for n in names) and any(n.endswith("q2.txt") for n in names), names


def _empty_removed(ws: Path, run: Any) -> None:
    absent(ws, "empty1.txt")
    absent(ws, "sub/empty2.log")
    assert text(ws, "full.txt") == "content\n"
    assert text(ws, "sub/kept.txt") == "kept\n"


def _dirs_made(ws: Path, run: Any) -> None:
    for name in ("src", "tests", "docs"):
        assert (ws / name).is_dir(), f"{name}/ is missing"


def _executable(ws: Path, run: Any) -> None:
    assert (ws / "run.sh").stat().st_mode & 0o100, "run.sh is not executable"
    assert text(ws, "run.sh") == "#!/bin/sh\necho running\n"


def _copied(ws: Path, run: Any) -> None:
    assert text(ws, "settings.yaml.bak") == "debug: false\nport: 8080\n"
    assert text(ws, "settings.yaml") == "debug: false\nport: 8080\n"


def _by_size(ws: Path, run: Any) -> None:
    shown = out(run)
    positions = [shown.find(name) for name in ("large.dat", "medium.dat", "little.dat")]
    assert all(p >= 0 for p in positions), f"not every file is listed: {shown!r}"
    assert positions == sorted(positions), f"not largest first: {shown!r}"


def _makefiles(ws: Path, run: Any) -> None:
    has(out(run), "Makefile", "lib/Makefile", "tools/build/Makefile")


def _gzipped(ws: Path, run: Any) -> None:
    import gzip

    path = ws / "big.log.gz"
    assert path.is_file(), "big.log.gz does not exist"
    assert gzip.decompress(path.read_bytes()) == b"line\n" * 500


def _moved_images(ws: Path, run: Any) -> None:
    for name in ("cat.png", "dog.jpg"):
        assert (ws / "images" / name).is_file(), f"images/{name} is missing"
        absent(ws, name)
    assert text(ws, "notes.txt") == "keep me\n"


CASES = [
    Case("recent-python", "find all Python files modified in the last week", _recent_py,
         files={"src/app.py": "print(1)\n", "src/old.py": "print(0)\n", "tests/test_app.py": "def test(): pass\n",
                "notes.txt": "n\n"},
         ages_days={"src/old.py": 30, "src/app.py": 1, "tests/test_app.py": 2, "notes.txt": 1}),
    Case("list-src", "list the files in the src folder", _src_listing,
         files={"src/main.py": "", "src/util.py": "", "README.md": "# x\n"}),
    Case("count-python", "how many Python files are in this project?", _py_count,
         files={"a.py": "", "pkg/b.py": "", "pkg/c.py": "", "tests/test_d.py": "", "notes.txt": "", "setup.cfg": ""},
         heldout=True),
    Case("large-files", "find files larger than 1 MB", _large,
         files={"big.bin": b"\0" * (2 << 20), "small.txt": "x" * 1000, "dir/tiny.txt": "y"}),
    Case("backup-txt", "create a folder named backup and copy all .txt files into it", _backup_txt,
         files={"a.txt": "alpha\n", "b.txt": "beta\n", "c.md": "gamma\n"}),
    Case("rename", "rename notes.txt to notes.md", _renamed, files={"notes.txt": "buy milk\n"}, heldout=True),
    Case("delete-logs", "delete all .log files", _no_logs,
         files={"app.log": "x\n", "logs/worker.log": "y\n", "logs/README": "logs go here\n",
                "app.py": "print('app')\n"}),
    Case("tar-docs", "make a tar.gz archive of the docs folder called docs.tar.gz", _docs_tar,
         files={"docs/index.md": "# Docs\n", "docs/guide/setup.md": "setup\n", "src/x.py": ""}),
    Case("extract", "extract archive.tar.gz", _extracted, setup=_make_archive, heldout=True),
    Case("unzip", "unzip bundle.zip", _unzipped, setup=_make_zip),
    Case("zip-reports", "create a zip file of the reports folder", _zip_reports,
         files={"reports/q1.txt": "q1\n", "reports/q2.txt": "q2\n"}),
    Case("empty-files", "find empty files and delete them", _empty_removed,
         files={"empty1.txt": "", "sub/empty2.log": "", "full.txt": "content\n", "sub/kept.txt": "kept\n"},
         heldout=True),
    Case("make-dirs", "create the directories src, tests and docs", _dirs_made, files={"README.md": "# p\n"}),
    Case("chmod", "make run.sh executable", _executable, files={"run.sh": "#!/bin/sh\necho running\n"},
         modes={"run.sh": 0o644}),
    Case("copy-bak", "make a copy of settings.yaml called settings.yaml.bak", _copied,
         files={"settings.yaml": "debug: false\nport: 8080\n"}, heldout=True),
    Case("by-size", "list the .dat files sorted by size, largest first", _by_size,
         files={"little.dat": "a" * 10, "large.dat": "b" * 50000, "medium.dat": "c" * 3000}),
    Case("makefiles", "find all files named Makefile", _makefiles,
         files={"Makefile": "all:\n", "lib/Makefile": "all:\n", "tools/build/Makefile": "all:\n",
                "lib/Makefile.bak": "", "src/main.c": ""}),
    Case("gzip", "compress big.log with gzip", _gzipped, files={"big.log": "line\n" * 500}, heldout=True),
    Case("move-images", "move the png and jpg files into a new folder called images", _moved_images,
         files={"cat.png": b"\x89PNG fake", "dog.jpg": b"\xff\xd8 fake", "notes.txt": "keep me\n"}),
]
