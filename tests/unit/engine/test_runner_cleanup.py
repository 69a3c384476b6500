"""A container is removed whatever interrupts its life, even its own creation (no engine)."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.engine import runner


class InterruptedCreate:
    """The engine makes the container, then Ctrl-C lands before its id comes back."""

    def __init__(self) -> None:
        self.made: list[str] = []
        self.removed: list[str] = []

    def create(self, spec: Any, files: Any, name: str) -> str:
        self.made.append(name)
        raise KeyboardInterrupt

    def remove(self, container: str) -> None:
        self.removed.append(container)


class Created(InterruptedCreate):
    def create(self, spec: Any, files: Any, name: str) -> str:
        self.made.append(name)
        return "id-" + name


def test_a_container_whose_creation_was_interrupted_is_removed_by_its_name() -> None:
    backend = InterruptedCreate()
    with pytest.raises(KeyboardInterrupt):
        runner._create(backend, None, None)  # type: ignore[arg-type]
    assert len(backend.made) == 1 and backend.made[0].startswith("sbx-")
    assert backend.removed == backend.made


def test_a_created_container_has_its_own_name_and_is_not_removed_by_creation() -> None:
    backend = Created()
    container = runner._create(backend, None, None)  # type: ignore[arg-type]
    assert container == "id-" + backend.made[0] and backend.removed == []
    other = Created()
    runner._create(other, None, None)  # type: ignore[arg-type]
    assert other.made[0] != backend.made[0]  # every container its own name
