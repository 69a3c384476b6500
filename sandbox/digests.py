"""The one canonical JSON encoding sbx hashes, and the `sha256:` digest taken over it.

Canonical: sorted keys, no whitespace, ASCII only (everything else escaped), no NaN or infinity.
The audit chain's entry hashes, a plan's digest in the audit trail, and the seccomp profile's and
Landlock document's digests in `protections` are all taken over this encoding, so a record can
be checked against the artefact by anyone re-encoding it the same way.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def digest(value: Any) -> str:
    """`sha256:` + the hex sha256 of the value's canonical JSON."""
    return "sha256:" + hashlib.sha256(canonical_json(value).encode("ascii")).hexdigest()
