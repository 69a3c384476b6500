"""The installed versions of the named distributions, as one JSON object (missing ones left out).

Runs in the sbx model-build venv, not in sbx; stdlib only.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Sequence
from importlib import metadata


def versions(names: Sequence[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for name in names:
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[name] = metadata.version(name)
    return found


def main(argv: list[str]) -> int:
    print(json.dumps(versions(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
