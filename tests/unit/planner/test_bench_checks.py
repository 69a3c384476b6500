"""The accuracy set's number check: the value as a number of its own, or with more decimals that
round to it; never a longer number, another rounding, or a fraction of an integer."""

from __future__ import annotations

from typing import Any

import pytest

from bench import intents


@pytest.mark.parametrize(("value", "printed", "passes"), [
    ("34.33", "34.3333\n", True), ("34.33", "average: 34.33", True), ("34.33", "34.3\n", False),
    ("34.33", "34.339\n", False), ("34.33", "134.33\n", False), ("34.33", "34.335", False),
    ("3", "3 files\n", True), ("3", "3.0\n", False), ("3", "13\n", False), ("-2.5", "-2.50\n", True),
])
def test_a_number_is_found_as_printed_or_with_more_decimals(monkeypatch: pytest.MonkeyPatch, value: str,
                                                            printed: str, passes: bool) -> None:
    monkeypatch.setattr(intents, "out", lambda run: run)
    check: Any = intents.number(value)
    if passes:
        check(None, printed)
    else:
        with pytest.raises(AssertionError):
            check(None, printed)
