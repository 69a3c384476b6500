"""Building the default tool image from its Containerfile (shipped with sbx), online or offline.

With a registry, `podman build`. Without one (no registry answers on the test machines), the same
Containerfile is read for its package list and its ENV/WORKDIR/LABEL lines, Debian is bootstrapped
with mmdebstrap from the Debian mirror, and the tarball is `podman import`ed. The image carries the
Containerfile's sha256 as a label so that `sbx doctor` can tell a stale image.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import socket
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sandbox.errors import ImageBuildError

DIGEST_LABEL = "io.sbx.containerfile-sha256"
REGISTRY_PROBE = ("registry-1.docker.io", 443)


@dataclass(frozen=True)
class ContainerfileSpec:
    base: str
    suite: str
    packages: tuple[str, ...]
    changes: tuple[str, ...]  # ENV / WORKDIR / LABEL instructions, for `podman import --change`
    digest: str


def _instructions(text: str) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) with line continuations joined and comments dropped."""
    joined: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        joined.append(pending + line)
        pending = ""
    if pending:
        joined.append(pending)
    out = []
    for line in joined:
        keyword, _, args = line.partition(" ")
        out.append((keyword.upper(), args.strip()))
    return out


def parse_containerfile(text: str) -> ContainerfileSpec:
    """What the offline route needs from a Containerfile's text (`sandbox.resources.containerfile_text`)."""
    base, packages, changes = "", [], []
    for keyword, args in _instructions(text):
        if keyword == "FROM":
            base = args.split()[0]
        elif keyword == "RUN" and "apt-get install" in args:
            install = args.split("apt-get install", 1)[1].split("&&", 1)[0]
            packages += [word for word in shlex.split(install) if not word.startswith("-")]
        elif keyword in ("ENV", "LABEL") and "=" in args:
            # `podman import --change` takes one KEY=VALUE per instruction
            for pair in shlex.split(args):
                key, _, value = pair.partition("=")
                changes.append(f"{keyword} {key}={json.dumps(value)}")
        elif keyword in ("ENV", "WORKDIR", "LABEL", "CMD", "ENTRYPOINT", "USER"):
            changes.append(f"{keyword} {args}")
    match = re.search(r"debian:(\w+)", base)
    if not match or not packages:
        raise ImageBuildError("the Containerfile: expected `FROM ...debian:SUITE...` and one `RUN apt-get install`"
                              " line")
    digest = hashlib.sha256(text.encode()).hexdigest()
    return ContainerfileSpec(base, match.group(1).split("-")[0], tuple(packages), tuple(changes), digest)


def registry_answers(timeout: float = 3.0) -> bool:
    try:
        with socket.create_connection(REGISTRY_PROBE, timeout=timeout):
            return True
    except OSError:
        return False


def _run(argv: list[str], env: dict[str, str], what: str) -> None:
    result = subprocess.run(argv, check=False, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        raise ImageBuildError(f"{what} failed: {' / '.join(tail) or 'exit ' + str(result.returncode)}")


def build(containerfile: str, tag: str, *, podman: str, env: Mapping[str, str], offline: bool | None) -> str:
    """Build `tag` from the Containerfile's text with podman run in `env` (the whole environment);
    returns "podman build" or "mmdebstrap" (the route taken)."""
    spec = parse_containerfile(containerfile)
    env = dict(env)
    if offline is None:
        offline = not registry_answers()
    if not offline:
        # The Containerfile copies nothing in: an empty private folder is the whole build context.
        with tempfile.TemporaryDirectory(prefix="sbx-image-") as context:
            path = Path(context) / "Containerfile"
            path.write_text(containerfile)
            _run(
                [podman, "build", "--label", f"{DIGEST_LABEL}={spec.digest}", "-t", tag, "-f", str(path), context],
                env,
                "podman build",
            )
        return "podman build"
    mirror = os.environ.get("SBX_DEBIAN_MIRROR", "http://deb.debian.org/debian")
    with tempfile.TemporaryDirectory(prefix="sbx-image-") as tmp:
        rootfs = Path(tmp) / "rootfs.tar"
        _run(
            [
                "mmdebstrap", "--variant=minbase", "--aptopt=APT::Install-Recommends \"false\"",
                "--dpkgopt=path-exclude=/usr/share/doc/*", "--dpkgopt=path-exclude=/usr/share/man/*",
                "--dpkgopt=path-exclude=/usr/share/locale/*", "--dpkgopt=path-include=/usr/share/doc/*/copyright",
                "--customize-hook=rm -rf \"$1\"/var/lib/apt/lists/* \"$1\"/var/cache/apt/*",
                f"--include={','.join(spec.packages)}", spec.suite, str(rootfs), mirror,
            ],
            env,
            "mmdebstrap",
        )
        argv = [podman, "import"]
        for change in (*spec.changes, f"LABEL {DIGEST_LABEL}={spec.digest}", 'CMD ["/bin/sh"]'):
            argv += ["--change", change]
        _run([*argv, str(rootfs), tag], env, "podman import")
    return "mmdebstrap"
