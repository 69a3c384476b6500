"""The pool of containers prepared ahead (engine/warm.py), around a fake preparation: a call takes
only a container of its own shape that still waits, each is used once, nothing outlives `close`.
The real containers are tested in tests/integration (containment, exhaustion, load, hostile)."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from sandbox.engine import runner, warm
from sandbox.engine.spec import ContainerSpec, Limits, WorkspaceOverlay, shape


class FakePrepared:
    def __init__(self, spec: ContainerSpec) -> None:
        self.spec = spec
        self.shape = shape(spec)
        self.made = time.monotonic()
        self.owner: list[Any] = [None]
        self.image_id = ""
        self.alive = True

    def waiting(self) -> bool:
        return self.alive


class Preparations:
    """Stands in for runner.prepare/discard: records what was made and what was removed."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.made: list[FakePrepared] = []
        self.discarded: list[FakePrepared] = []
        self.gate = threading.Event()
        self.gate.set()
        self.fail = False
        monkeypatch.setattr(runner, "prepare", self.prepare)
        monkeypatch.setattr(runner, "discard", self.discarded.append)

    def prepare(self, backend: Any, spec: ContainerSpec, runs_root: Path) -> FakePrepared:
        self.gate.wait(10)
        if self.fail:
            raise RuntimeError("the engine broke")
        made = FakePrepared(spec)
        self.made.append(made)
        return made


class Backend:
    closed = 0

    def close(self) -> None:
        Backend.closed += 1


def _spec(stack: str = "a", generation: str = "1", image: str = "img") -> ContainerSpec:
    overlay = WorkspaceOverlay(lowers=(Path("/layers") / stack, Path("/ws")), upper=Path("/u"), work=Path("/w"),
                               generation=generation)
    return ContainerSpec(image=image, argv=("launcher",), workspace=overlay, limits=Limits(), stdin=b"",
                         input_wait_s=300)


def _settle(pool: warm.WarmPool, made: int, preps: Preparations) -> None:
    deadline = time.monotonic() + 10
    while (pool.made < made or len(preps.made) < made) and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)


@pytest.fixture
def preps(monkeypatch: pytest.MonkeyPatch) -> Preparations:
    return Preparations(monkeypatch)


@pytest.fixture
def pool() -> Any:
    made = warm.WarmPool(Backend, Path("/runs"), size=1)
    yield made
    made.close()


def test_a_call_takes_a_container_of_its_shape_once(pool: warm.WarmPool, preps: Preparations) -> None:
    pool.fill(_spec())
    _settle(pool, 1, preps)
    call = replace(_spec(), stdin=b"the call\n", labels={"io.sbx.changeset": "x"})  # not part of the shape
    taken = pool.take(call)
    assert taken is preps.made[0]
    assert pool.take(call) is None, "a prepared container is used once"
    assert pool.used == 1


@pytest.mark.parametrize(
    "other",
    [_spec(stack="b"), _spec(generation="2"), _spec(image="other"),
     replace(_spec(), limits=Limits(timeout_s=5)), replace(_spec(), seccomp_profile="{}")],
    ids=["new-pending-layer", "commit-onto-the-host", "image", "limits", "seccomp"],
)
def test_a_call_of_another_shape_is_made_cold(pool: warm.WarmPool, preps: Preparations, other: ContainerSpec) -> None:
    pool.fill(_spec())
    _settle(pool, 1, preps)
    assert pool.take(other) is None
    assert pool.used == 0


def test_a_newer_shape_replaces_the_older_beyond_the_pools_size(pool: warm.WarmPool, preps: Preparations) -> None:
    pool.fill(_spec("a"))
    _settle(pool, 1, preps)
    pool.fill(_spec("b"))
    _settle(pool, 2, preps)
    assert preps.discarded == [preps.made[0]]
    assert pool.take(_spec("a")) is None
    assert pool.take(_spec("b")) is preps.made[1]


def test_the_newest_request_wins_over_one_not_started(pool: warm.WarmPool, preps: Preparations) -> None:
    preps.gate.clear()
    pool.fill(_spec("a"))
    time.sleep(0.1)  # "a" is being prepared
    pool.fill(_spec("b"))
    pool.fill(_spec("c"))  # "b" was never started: only "c" follows
    preps.gate.set()
    _settle(pool, 2, preps)
    assert [p.spec.workspace.lowers[0].name for p in preps.made] == ["a", "c"]


def test_the_same_shape_is_not_prepared_twice(pool: warm.WarmPool, preps: Preparations) -> None:
    for _ in range(3):
        pool.fill(_spec())
    _settle(pool, 1, preps)
    assert len(preps.made) == 1


def test_a_container_that_stopped_waiting_is_removed_not_used(pool: warm.WarmPool, preps: Preparations) -> None:
    pool.fill(_spec())
    _settle(pool, 1, preps)
    preps.made[0].alive = False  # its launcher ended (idle deadline, killed)
    assert pool.take(_spec()) is None
    _settle(pool, 1, preps)
    assert preps.discarded == [preps.made[0]]


def test_a_container_near_its_idle_deadline_is_not_used(pool: warm.WarmPool, preps: Preparations) -> None:
    pool.fill(_spec())
    _settle(pool, 1, preps)
    preps.made[0].made -= 300 - warm.EXPIRY_MARGIN_S + 1
    assert pool.take(_spec()) is None


def test_a_call_waits_for_its_container_being_prepared(pool: warm.WarmPool, preps: Preparations) -> None:
    preps.gate.clear()
    pool.fill(_spec())
    threading.Timer(0.3, preps.gate.set).start()
    started = time.monotonic()
    assert pool.take(_spec()) is not None
    assert time.monotonic() - started >= 0.25


def test_a_failed_preparation_only_makes_the_next_call_cold(pool: warm.WarmPool, preps: Preparations) -> None:
    preps.fail = True
    pool.fill(_spec())
    time.sleep(0.2)
    assert pool.take(_spec()) is None
    preps.fail = False
    pool.fill(_spec())
    _settle(pool, 1, preps)
    assert pool.take(_spec()) is preps.made[0]


def test_a_pool_of_size_zero_prepares_nothing(preps: Preparations) -> None:
    pool = warm.WarmPool(Backend, Path("/runs"), size=0)
    pool.fill(_spec())
    time.sleep(0.1)
    assert preps.made == []
    pool.close()


def test_close_removes_every_container_and_stops_its_worker(preps: Preparations) -> None:
    pool = warm.WarmPool(Backend, Path("/runs"), size=2)
    pool.fill(_spec("a"))
    _settle(pool, 1, preps)
    pool.fill(_spec("b"))
    _settle(pool, 2, preps)
    used = pool.take(_spec("a"))
    assert used is not None
    pool.dispose(used)  # after its call
    closed = Backend.closed
    pool.close()
    assert sorted(map(id, preps.discarded)) == sorted(map(id, preps.made))
    assert Backend.closed == closed + 1
    pool.fill(_spec("c"))  # a closed pool prepares nothing more
    time.sleep(0.1)
    assert len(preps.made) == 2


def test_close_from_the_worker_itself_finishes_without_joining_it(
        preps: Preparations, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    # A workspace's finalizer can run on the worker (a garbage collection there) and close the pool.
    pool = warm.WarmPool(Backend, Path("/runs"), size=1)
    pool.fill(_spec("a"))
    _settle(pool, 1, preps)
    closed_on_worker = threading.Event()

    def discard_then_close(prepared: FakePrepared) -> None:
        preps.discarded.append(prepared)
        if not closed_on_worker.is_set():
            closed_on_worker.set()
            pool.close()

    monkeypatch.setattr(runner, "discard", discard_then_close)
    pool.fill(_spec("b"))  # "a" goes beyond the size: the worker discards it, and closes the pool
    assert closed_on_worker.wait(10)
    deadline = time.monotonic() + 10
    while pool._worker is not None and pool._worker.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert pool._worker is not None and not pool._worker.is_alive()
    assert not [r for r in caplog.records if "not removed cleanly" in r.getMessage()]
    assert sorted(map(id, preps.discarded)) == sorted(map(id, preps.made))
