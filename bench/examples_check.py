"""The example bank, run in the real container: each command on a folder built for it.

    .venv/bin/python bench/examples_check.py [--sheet]

Every task of `sandbox/planner/data/bank.jsonl` (with `--sheet`, also those of the cheat sheet
that the folder below has the files for) runs as `run_shell` in its own throwaway container, on a
fresh copy of one folder that holds what the requests name (report.pdf, a git history, ...).
An entry passes when it exits as expected (0; `diff` 1: the files differ) and did what it is for:
a question printed something and changed nothing, an edit or a new file changed the folder. Its
output and changes are printed, to read. Exits non-zero when an entry fails.
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import io
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sandbox.app import Approval, Workspace  # noqa: E402
from sandbox.config import Settings  # noqa: E402
from sandbox.planner.examples import Example, bank, cheatsheet  # noqa: E402

FILES = {
    "deploy.sh": "#!/bin/sh\necho deploy\n", "old.sh": "#!/bin/sh\n", "README.md": "# demo\n", "docs/guide.md": "g\n",
    "build/out.o": "o", "src/main.py": "print(1)\n", "src/lib/util.py": "x = 1\n", "logs/a.log": "a\n",
    "logs/b.log": "b\n", "assets/logo.svg": "<svg/>\n", "config/app.ini": "[app]\n", "x.tmp": "t", "sub/y.tmp": "t",
    "cache/c1": "c", "a.csv": "1,2\n", "b.csv": "3,4\n", "report.pdf": "%PDF", "bin/run": "#!/bin/sh\n",
    "links.md": "see http://example.org\n", "settings.conf": "# comment\nkey = 1\n",
    "profile.sh": "export A=1\n", "pets.txt": "the cat sat\ncatalog\n", "list.txt": "a\n\nb\n",
    "log.txt": "ok\ntimeout after 3s\nok\n", "access.log": "".join(f"GET /{i}\n" for i in range(20)),
    "main.c": "int main(void)\n{\n  return 0;\n}\n", "essay.md": "Hello world.\n",
    "run.log": "WARN a\nINFO b\nWARN c\n",
    "todo.py": "# FIXME later\n", "table.tsv": "a\tb\tc\n1\t2\t3\n", "users.csv": "name,email\nann,ann@x.org\n",
    "costs.csv": "rent,500\nfood,250\n", "scores.txt": "3\n4\n5\n", "app.json": '{"name": "demo"}\n',
    "db.json": '{"users": [{"id": 1}, {"id": 2}]}\n', "old.txt": "a\nb\n", "new.txt": "a\nc\n",
    "data.csv": "id,v\n1,2\n", "notes.txt": "remember\n", "config.json": '{"port": 8080}\n',
    "my notes.txt": "spaces in the name\n",
}
EXIT = {"diff old.txt new.txt": 1}


def build(root: Path) -> None:
    for rel, content in FILES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(content)
    (root / "big.bin").write_bytes(b"\0" * 600_000)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo("backup/notes.txt")
        info.size = 3
        archive.addfile(info, io.BytesIO(b"hi\n"))
    (root / "backup.tar.gz").write_bytes(buffer.getvalue())
    with zipfile.ZipFile(root / "photos.zip", "w") as archive:
        archive.writestr("photos/a.jpg", "jpg")
    (root / "dump.gz").write_bytes(gzip.compress(b"x\n"))
    env = {"GIT_AUTHOR_NAME": "Ann", "GIT_AUTHOR_EMAIL": "ann@example.org", "GIT_COMMITTER_NAME": "Ann",
           "GIT_COMMITTER_EMAIL": "ann@example.org", "PATH": "/usr/bin:/bin", "GIT_CONFIG_GLOBAL": "/dev/null"}
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "first"]):
        subprocess.run(["git", *args], cwd=root, env=env, check=True, capture_output=True)
    (root / "notes.txt").write_text("remember this\n")
    hour_ago = (root / "notes.txt").stat().st_mtime - 3600
    os.utime(root / "notes.txt", (hour_ago, hour_ago))  # so that other files are newer
    (root / "bin/run").chmod(0o755)
    (root / "latest.log").symlink_to("logs/b.log")


def command_of(example: Example) -> str:
    return example.answer.removeprefix("```bash\n").removesuffix("\n```")


def check(example: Example, settings: Settings, scratch: Path) -> tuple[bool, str]:
    root = Path(tempfile.mkdtemp(dir=scratch))
    ws, state = root / "ws", root / "state"
    ws.mkdir()
    state.mkdir()
    build(ws)
    command = command_of(example)
    workspace = Workspace(ws, dataclasses.replace(settings, state_dir=state), allow_risky_apply=True)
    result = workspace.call_tool("run_shell", {"command": command}, approve=lambda _: Approval.none())
    step = result.steps[0]
    changes = [f"{c.kind}:{c.path}" for c in result.changeset.changes]
    expected = EXIT.get(command, 0)
    ok = step.exit_code == expected and bool(step.stdout.strip() or changes)
    shown = step.stdout.strip().replace("\n", " | ")[:110]
    return ok, f"exit {step.exit_code}; out: {shown!r}; changes: {', '.join(changes)[:110]}" + (
        f"; stderr: {step.stderr.strip()[:160]!r}" if not ok else "")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sheet", action="store_true", help="also the cheat sheet's entries")
    parser.add_argument("--group", default="", help="only the cheat sheet's entries of this group")
    args = parser.parse_args()
    entries = [e for e in bank() if not e.refusal] if not args.group else []
    if args.sheet or args.group:
        entries += [e for e in cheatsheet() if not e.refusal and args.group in ("", e.group)]
    settings = Settings.from_env()
    failed = 0
    with tempfile.TemporaryDirectory(prefix="sbx-examples-") as scratch:
        for example in entries:
            ok, how = check(example, settings, Path(scratch))
            failed += not ok
            print(f"{'ok ' if ok else 'BAD'} {example.intent[:60]:<60} $ {command_of(example)[:60]}\n      {how}",
                  flush=True)
    print(f"{len(entries) - failed}/{len(entries)} ran as expected in the container")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
