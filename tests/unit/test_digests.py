"""The one canonical encoding: the digests recorded in `protections` and the audit trail are
taken over exactly this, so its spelling is pinned."""

from __future__ import annotations

import hashlib
import math

import pytest

from sandbox.digests import canonical_json, digest


def test_canonical_json_sorts_keys_drops_whitespace_and_escapes_non_ascii() -> None:
    assert canonical_json({"b": [1, {"d": 2, "c": "é"}], "a": None}) == '{"a":null,"b":[1,{"c":"\\u00e9","d":2}]}'


def test_canonical_json_refuses_nan_and_infinity() -> None:
    for value in (math.nan, math.inf):
        with pytest.raises(ValueError):
            canonical_json({"x": value})


def test_digest_is_the_sha256_of_the_canonical_json() -> None:
    value = {"z": 1, "a": ["ü"]}
    assert digest(value) == "sha256:" + hashlib.sha256(b'{"a":["\\u00fc"],"z":1}').hexdigest()
    assert digest({"a": ["ü"], "z": 1}) == digest(value)
