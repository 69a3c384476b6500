"""Fresh held-out cases, written blind to the planner's prompts and few-shot examples.

`REFERENCE` maps each non-refusal case to one sh command that was checked to pass it.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

from bench.intents import Case, absent, has, lacks, out, text

# --- file and folder operations ---------------------------------------------------------------


def _old_logs(ws: Path, run: Any) -> None:
    assert text(ws, "archive/old-app.log") == "old stuff\n"
    assert text(ws, "archive/error-2023.log") == "ancient error\n"
    absent(ws, "old-app.log")
    absent(ws, "error-2023.log")
    assert text(ws, "app.log") == "fresh\n", "app.log is recent and should stay where it was"
    absent(ws, "archive/app.log")
    assert text(ws, "notes.txt") == "not a log\n", "notes.txt is not a .log file and should stay"
    absent(ws, "archive/notes.txt")


def _config_copy(ws: Path, run: Any) -> None:
    for rel, content in (("app.yaml", "port: 8080\n"), ("db/settings.ini", "[db]\nhost = localhost\n")):
        assert text(ws, f"config-backup/{rel}") == content, f"config-backup/{rel} differs"
        assert text(ws, f"config/{rel}") == content, f"the original config/{rel} should be left alone"
    absent(ws, "config-backup/config")


def _jpeg_renamed(ws: Path, run: Any) -> None:
    assert text(ws, "cat.jpg") == "meow", "cat.jpeg should now be cat.jpg"
    assert text(ws, "beach trip.jpg") == "waves", "'beach trip.jpeg' should now be 'beach trip.jpg'"
    leftovers = [p.name for p in ws.rglob("*.jpeg")]
    assert not leftovers, f".jpeg files remain: {leftovers}"
    assert text(ws, "logo.png") == "png", "logo.png should be untouched"
    absent(ws, "logo.jpg")


def _pycache_gone(ws: Path, run: Any) -> None:
    left = [str(p.relative_to(ws)) for p in ws.rglob("__pycache__")]
    assert not left, f"__pycache__ folders remain: {left}"
    assert text(ws, "main.py") == "import app\n"
    assert text(ws, "app/__init__.py") == "VERSION = 1\n"
    assert text(ws, "app/utils/helpers.py") == "def helper():\n    return 2\n"


def _empty_setup(root: Path) -> None:
    for rel in ("build", "old/tmp"):
        (root / rel).mkdir(parents=True, exist_ok=True)


def _empty_dirs(ws: Path, run: Any) -> None:
    absent(ws, "build")
    absent(ws, "old/tmp")
    assert text(ws, "old/notes.txt") == "keep me\n", "old/ has a file and should stay"
    assert text(ws, "src/main.py") == "print(1)\n", "src/ has a file and should stay"


def _lowercased(ws: Path, run: Any) -> None:
    names = sorted(os.listdir(ws / "photos"))
    assert names == ["already.jpg", "holiday.png", "img_001.jpg"], names
    assert text(ws, "photos/img_001.jpg") == "one"
    assert text(ws, "photos/holiday.png") == "two"
    assert text(ws, "photos/already.jpg") == "three"
    assert text(ws, "README.TXT") == "outside photos\n", "files outside photos should keep their names"


# --- text edits and text questions ------------------------------------------------------------

SETTINGS = 'import os\n\nDEBUG = True\nSECRET_KEY = os.environ["SECRET_KEY"]\nALLOWED_HOSTS = ["example.com"]\n'


def _debug_commented(ws: Path, run: Any) -> None:
    lines = text(ws, "settings.py").splitlines()
    want = SETTINGS.splitlines()
    assert len(lines) == len(want), lines
    assert re.fullmatch(r"#+\s*DEBUG = True\s*", lines[2]), f"DEBUG line not commented out: {lines[2]!r}"
    for i, (got, expected) in enumerate(zip(lines, want, strict=True)):
        if i != 2:
            assert got == expected, f"line {i + 1} changed: {got!r} (was {expected!r})"


POEM = ["Roses are red", "Violets are blue", "Sugar is sweet", "And so are you"]


def _numbered(ws: Path, run: Any) -> None:
    lines = text(ws, "poem.txt").splitlines()
    assert len(lines) == len(POEM), lines
    for i, (got, orig) in enumerate(zip(lines, POEM, strict=True), start=1):
        match = re.fullmatch(r"\s*(\d+)[\s.:)|\-]*" + re.escape(orig) + r"\s*", got)
        assert match, f"line {i} is not '<number> {orig}': {got!r}"
        assert int(match.group(1)) == i, f"line {i} is numbered {match.group(1)}"


QUOTES = [
    "Less is more.",
    "Simplicity is the ultimate sophistication.",
    "Talk is cheap. Show me the code.",
    "Done is better than perfect.",
]


def _longest(ws: Path, run: Any) -> None:
    printed = out(run)
    has(printed, QUOTES[1])
    lacks(printed, QUOTES[0], QUOTES[2], QUOTES[3])


def _no_blank_lines(ws: Path, run: Any) -> None:
    assert text(ws, "draft.md") == "# Title\nFirst para.\nSecond para.\n- item\n", text(ws, "draft.md")


ACCESS_LOG = "".join(
    f'{ip} - - [10/Oct/2024:13:55:{i:02d} +0000] "GET /{page} HTTP/1.1" 200 512\n'
    for i, (ip, page) in enumerate(
        [
            ("192.168.1.10", "index.html"),
            ("10.0.0.7", "about"),
            ("192.168.1.10", "contact"),
            ("172.16.5.3", "index.html"),
            ("10.0.0.7", "index.html"),
            ("8.8.4.4", "robots.txt"),
            ("192.168.1.10", "about"),
        ]
    )
)


def _unique_ips(ws: Path, run: Any) -> None:
    printed = out(run)
    assert re.search(r"(?<![\d.])4(?![\d.])", printed), f"expected 4 distinct addresses in {printed[:300]!r}"
    assert not re.search(r"(?<![\d.])7(?![\d.])", printed), f"7 is the number of lines, not of addresses: {printed!r}"


def _csv_header(ws: Path, run: Any) -> None:
    assert text(ws, "contacts.csv") == "name,email\nann,ann@x.org\nbo,bo@y.net\n", text(ws, "contacts.csv")


# --- data, JSON, CSV, git, system -------------------------------------------------------------


def _average(ws: Path, run: Any) -> None:
    printed = out(run)
    assert re.search(r"(?<![\d.])50(\.0+)?(?![\d.])", printed), f"expected an average of 50 in {printed[:300]!r}"


USERS = (
    '[{"name": "Alice", "age": 34}, {"name": "Bob", "age": 25},\n'
    ' {"name": "Carmen", "age": 41}, {"name": "Dmitri", "age": 30}]\n'
)


def _older(ws: Path, run: Any) -> None:
    printed = out(run)
    has(printed, "Alice", "Carmen")
    lacks(printed, "Bob", "Dmitri")


def _git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=Dev", "-c", "user.email=dev@example.com", *args],
        cwd=root,
        check=True,
        capture_output=True,
    )


def _git_setup(root: Path) -> None:
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", "app.py", "lib.py", "README.md")
    _git(root, "commit", "-q", "-m", "first version")
    (root / "app.py").write_text("from lib import helper\n\nprint(helper() + 1)\n")
    (root / "README.md").write_text("# Demo\n\nNow with more words.\n")


def _changed(ws: Path, run: Any) -> None:
    printed = out(run)
    has(printed, "app.py", "README.md")
    lacks(printed, "lib.py")


def _sizes_setup(root: Path) -> None:
    for rel, size in [("assets/logo.svg", 2_000), ("media/intro.mp4", 300_000)] + [
        (f"src/mod{i}.c", 10_000) for i in range(5)
    ]:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(size))


def _biggest(ws: Path, run: Any) -> None:
    printed = out(run)
    lines = [ln for ln in printed.splitlines() if any(n in ln for n in ("assets", "media", "src"))]
    assert lines, f"no folder named in {printed[:300]!r}"
    assert "media" in lines[0] or "media" in lines[-1], f"media is the biggest folder: {printed[:300]!r}"


# --- two things in one request ------------------------------------------------------------------


def _renamed_readonly(ws: Path, run: Any) -> None:
    assert text(ws, "report-final.txt") == "Q3 numbers\n"
    absent(ws, "report.txt")
    mode = (ws / "report-final.txt").stat().st_mode
    assert not mode & 0o222, f"report-final.txt is still writable (mode {oct(mode & 0o777)})"
    assert mode & 0o400, "the owner should still be able to read report-final.txt"


def _joined(ws: Path, run: Any) -> None:
    assert text(ws, "full.txt") == "alpha\nbeta\ngamma\ndelta\nepsilon\nzeta\neta\n", text(ws, "full.txt")
    assert text(ws, "part1.txt") == "alpha\nbeta\ngamma\n", "part1.txt should be left alone"
    assert text(ws, "part2.txt") == "delta\nepsilon\nzeta\neta\n", "part2.txt should be left alone"
    printed = out(run)
    assert re.search(r"(?<!\d)7(?!\d)", printed), f"expected the line count 7 in {printed[:300]!r}"


# --- refusals -----------------------------------------------------------------------------------


def _refused(ws: Path, run: Any) -> None:
    assert run.status == "refused", f"expected an empty plan, got {run.status} with {len(run.plan.steps)} step(s)"
    assert run.plan.explanation, "an empty plan needs an explanation"


REFERENCE: dict[str, str] = {
    "f-archive-old-logs": "mkdir -p archive && find . -maxdepth 1 -name '*.log' -mtime +30 -exec mv {} archive/ \\;",
    "f-copy-config": "cp -r config config-backup",
    "f-jpeg-to-jpg": 'for f in *.jpeg; do mv "$f" "${f%.jpeg}.jpg"; done',
    "f-clean-pycache": "find . -type d -name __pycache__ -prune -exec rm -rf {} +",
    "f-empty-folders": "find . -mindepth 1 -type d -empty -delete",
    "f-lowercase-photos": (
        'cd photos && for f in *; do l=$(printf %s "$f" | tr A-Z a-z); [ "$f" = "$l" ] || mv "$f" "$l"; done'
    ),
    "f-comment-debug": "sed -i 's/^DEBUG = True/# &/' settings.py",
    "f-number-lines": "nl -ba poem.txt > poem.tmp && mv poem.tmp poem.txt",
    "f-longest-line": "awk 'length > max { max = length; line = $0 } END { print line }' quotes.txt",
    "f-drop-blank-lines": "sed -i '/^$/d' draft.md",
    "f-unique-ips": "awk '{print $1}' access.log | sort -u | wc -l",
    "f-csv-header": "sed -i '1i name,email' contacts.csv",
    "f-average-price": "awk -F, 'NR > 1 { s += $2; n++ } END { print s / n }' products.csv",
    "f-users-over-30": "jq -r '.[] | select(.age > 30) | .name' users.json",
    "f-git-changed": "git diff --name-only",
    "f-biggest-folder": "du -s */ | sort -n | tail -1",
    "f-rename-readonly": "mv report.txt report-final.txt && chmod a-w report-final.txt",
    "f-join-count": "cat part1.txt part2.txt > full.txt && wc -l full.txt",
}


CASES = [
    Case(
        "f-archive-old-logs",
        "Move the .log files that haven't changed in over a month into a folder called archive.",
        _old_logs,
        files={
            "app.log": "fresh\n",
            "old-app.log": "old stuff\n",
            "error-2023.log": "ancient error\n",
            "notes.txt": "not a log\n",
        },
        ages_days={"app.log": 2, "old-app.log": 45, "error-2023.log": 90, "notes.txt": 100},
        heldout=True,
    ),
    Case(
        "f-copy-config",
        "Make a copy of the config folder called config-backup.",
        _config_copy,
        files={"config/app.yaml": "port: 8080\n", "config/db/settings.ini": "[db]\nhost = localhost\n"},
        heldout=True,
    ),
    Case(
        "f-jpeg-to-jpg",
        "Rename all the .jpeg files here so they end in .jpg instead.",
        _jpeg_renamed,
        files={"cat.jpeg": "meow", "beach trip.jpeg": "waves", "logo.png": "png"},
        heldout=True,
    ),
    Case(
        "f-clean-pycache",
        "Clean out all the __pycache__ folders in this project.",
        _pycache_gone,
        files={
            "main.py": "import app\n",
            "__pycache__/main.cpython-311.pyc": b"\x00pyc",
            "app/__init__.py": "VERSION = 1\n",
            "app/__pycache__/__init__.cpython-311.pyc": b"\x00pyc",
            "app/utils/helpers.py": "def helper():\n    return 2\n",
            "app/utils/__pycache__/helpers.cpython-311.pyc": b"\x00pyc",
        },
        heldout=True,
    ),
    Case(
        "f-empty-folders",
        "Remove any empty folders in here, but leave the ones that have files in them.",
        _empty_dirs,
        files={"old/notes.txt": "keep me\n", "src/main.py": "print(1)\n"},
        setup=_empty_setup,
        heldout=True,
    ),
    Case(
        "f-lowercase-photos",
        "Make the names of all the files in the photos folder lowercase.",
        _lowercased,
        files={
            "photos/IMG_001.JPG": "one",
            "photos/Holiday.png": "two",
            "photos/already.jpg": "three",
            "README.TXT": "outside photos\n",
        },
        heldout=True,
    ),
    Case(
        "f-comment-debug",
        "Comment out the line that turns on DEBUG in settings.py.",
        _debug_commented,
        files={"settings.py": SETTINGS},
        heldout=True,
    ),
    Case(
        "f-number-lines",
        "Number the lines in poem.txt, with the line number at the start of each line.",
        _numbered,
        files={"poem.txt": "".join(f"{line}\n" for line in POEM)},
        heldout=True,
    ),
    Case(
        "f-longest-line",
        "Which line in quotes.txt is the longest?",
        _longest,
        files={"quotes.txt": "".join(f"{q}\n" for q in QUOTES)},
        heldout=True,
    ),
    Case(
        "f-drop-blank-lines",
        "Strip all the blank lines out of draft.md.",
        _no_blank_lines,
        files={"draft.md": "# Title\n\nFirst para.\n\n\nSecond para.\n- item\n\n"},
        heldout=True,
    ),
    Case(
        "f-unique-ips",
        "How many different IP addresses show up in access.log?",
        _unique_ips,
        files={"access.log": ACCESS_LOG},
        heldout=True,
    ),
    Case(
        "f-csv-header",
        "Add a header line 'name,email' to the top of contacts.csv.",
        _csv_header,
        files={"contacts.csv": "ann,ann@x.org\nbo,bo@y.net\n"},
        heldout=True,
    ),
    Case(
        "f-average-price",
        "What's the average price in products.csv?",
        _average,
        files={"products.csv": "name,price\nlamp,12.50\nchair,40\ndesk,97.50\n"},
        heldout=True,
    ),
    Case(
        "f-users-over-30",
        "Give me the names of the users in users.json who are older than 30.",
        _older,
        files={"users.json": USERS},
        heldout=True,
    ),
    Case(
        "f-git-changed",
        "Which files have I changed since my last commit?",
        _changed,
        files={
            "app.py": "from lib import helper\n\nprint(helper())\n",
            "lib.py": "def helper():\n    return 41\n",
            "README.md": "# Demo\n",
        },
        setup=_git_setup,
        heldout=True,
    ),
    Case(
        "f-biggest-folder",
        "Which folder in here takes up the most space?",
        _biggest,
        setup=_sizes_setup,
        heldout=True,
    ),
    Case(
        "f-rename-readonly",
        "Rename report.txt to report-final.txt and make it read-only.",
        _renamed_readonly,
        files={"report.txt": "Q3 numbers\n"},
        modes={"report.txt": 0o644},
        heldout=True,
    ),
    Case(
        "f-join-count",
        "Join part1.txt and part2.txt into full.txt and tell me how many lines it has.",
        _joined,
        files={"part1.txt": "alpha\nbeta\ngamma\n", "part2.txt": "delta\nepsilon\nzeta\neta\n"},
        heldout=True,
    ),
    Case(
        "f-refuse-pizza",
        "Order me a large pepperoni pizza for delivery tonight.",
        _refused,
        refusal=True,
        heldout=True,
    ),
    Case(
        "f-refuse-text-sister",
        "Text my sister that I'll be late for dinner.",
        _refused,
        refusal=True,
        heldout=True,
    ),
]
