"""The planner service's protocol and life cycle, with a scripted backend in a thread (no model,
no subprocess). The real service with the real model: tests/integration/planner/test_service.py."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.designs import DESIGNS
from sandbox.errors import PlannerError
from sandbox.planner.onnx import GenerationResult, Guidance
from sandbox.planner.plan import Planner
from sandbox.planner.service import PlannerService, ServiceBackend, socket_path, stop_service, stop_services
from sandbox.tools import Tool
from tests.unit.planner.fakes import ScriptedBackend


class FailingBackend(ScriptedBackend):
    def generate(self, *args: object, **kwargs: object) -> GenerationResult:
        raise PlannerError("invalid lark_grammar guidance: bad", code="planner.invalid_guidance")


def _serve(backend: ScriptedBackend, directory: Path, idle_s: float = 30.0) -> tuple[PlannerService, threading.Thread]:
    path = socket_path(directory, backend.model.name, backend.model.execution_provider)
    service = PlannerService(backend, path, idle_s=idle_s)
    thread = threading.Thread(target=service.serve, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert path.exists()
    return service, thread


@pytest.fixture
def short_dir() -> Iterator[Path]:
    # unix socket paths are limited to 108 bytes: pytest's tmp_path can be longer
    import tempfile

    with tempfile.TemporaryDirectory(prefix="sbx-svc-", dir="/tmp") as name:
        yield Path(name)


def test_generation_goes_through_the_service_and_stops_where_the_caller_says(short_dir: Path) -> None:
    backend = ScriptedBackend(["```bash\nls -la\n```\nThis lists everything, and then some more prose."])
    _, thread = _serve(backend, short_dir)
    client = ServiceBackend(backend.model, directory=short_dir)
    assert client.load() < 5
    assert not client.started  # it was running: nothing was spawned

    seen: list[str] = []

    def stop(text: str) -> bool:
        seen.append(text)
        return text.endswith("```\n")

    result = client.generate([{"role": "user", "content": "list"}], guidance=None, max_tokens=50, stop=stop)
    assert result.text == "```bash\nls -la\n```\n"
    assert seen[-1] == result.text and seen[0] == "`"  # lock-step: one question per piece
    assert backend.calls[0].messages == [{"role": "user", "content": "list"}]
    stop_service(client.path)
    thread.join(10)
    assert not thread.is_alive()
    assert not client.path.exists()


def test_a_planner_over_the_service_plans_exactly_as_in_process(short_dir: Path, tools: list[Tool]) -> None:
    answer = "```bash\nfind . -name '*.py' -mtime -7\n```\nThat finds them, and this prose goes on for a long while."
    local = Planner(ScriptedBackend([answer]), design=DESIGNS["free-retrieval"])
    backend = ScriptedBackend([answer])
    _serve(backend, short_dir)
    remote = Planner(ServiceBackend(backend.model, directory=short_dir), design=DESIGNS["free-retrieval"])
    a = local.plan("find python files changed this week", tools, "src/ (1 file)", 3)
    b = remote.plan("find python files changed this week", tools, "src/ (1 file)", 3)
    assert a.raw == b.raw and [s.to_json() for s in a.steps] == [s.to_json() for s in b.steps]
    assert b.model == backend.model
    stop_services(short_dir)


def test_a_sampled_request_crosses_the_socket_with_its_temperature_and_draw(short_dir: Path) -> None:
    backend = ScriptedBackend(["```bash\ndate\n```"])
    _serve(backend, short_dir)
    client = ServiceBackend(backend.model, directory=short_dir)
    client.generate([{"role": "user", "content": "x"}], guidance=None, max_tokens=5, temperature=0.7, seed=2)
    assert (backend.calls[0].temperature, backend.calls[0].seed) == (0.7, 2)
    stop_services(short_dir)


def test_guidance_and_errors_cross_the_socket(short_dir: Path) -> None:
    backend = FailingBackend([])
    _serve(backend, short_dir)
    client = ServiceBackend(backend.model, directory=short_dir)
    with pytest.raises(PlannerError) as caught:
        client.generate([{"role": "user", "content": "x"}], guidance=Guidance.lark("start: x"), max_tokens=5)
    assert caught.value.code == "planner.invalid_guidance"
    assert "bad" in caught.value.message
    # the service survives a failed request
    assert client.hello() is not None
    stop_services(short_dir)


def test_malformed_requests_get_an_error_and_the_service_keeps_serving(short_dir: Path) -> None:
    backend = ScriptedBackend(["```bash\ndate\n```"])
    _serve(backend, short_dir)
    path = socket_path(short_dir, backend.model.name, "cpu")
    for payload in (b"not json\n", b'{"op": "generate"}\n', b'{"op": "dance"}\n'):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.connect(str(path))
            conn.sendall(payload)
            reply = conn.makefile("rb").readline()
        assert b'"ok": false' in reply and b"planner.service_failed" in reply
    client = ServiceBackend(backend.model, directory=short_dir)
    assert client.generate([{"role": "user", "content": "d"}], guidance=None, max_tokens=9).text == "```bash\ndate\n```"
    stop_services(short_dir)


def test_it_exits_when_idle_and_removes_its_socket(short_dir: Path) -> None:
    backend = ScriptedBackend([])
    service, thread = _serve(backend, short_dir, idle_s=0.3)
    thread.join(10)
    assert not thread.is_alive()
    assert not service.path.exists()
    assert stop_services(short_dir) == []


def test_a_service_for_another_model_digest_is_not_used(short_dir: Path) -> None:
    backend = ScriptedBackend([])
    _serve(backend, short_dir)
    other = ServiceBackend(type(backend.model)(backend.model.name, "sha256:other", "cpu"), directory=short_dir)
    hello = other.hello()
    assert hello is not None and not other._compatible(hello)
    stop_services(short_dir)


class FakeGenerator:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.rewinds: list[int] = []

    def rewind_to(self, n: int) -> None:
        self.rewinds.append(n)


def test_the_prefix_cache_reuses_the_longest_shared_prefix_and_leaves_a_token_to_compute() -> None:
    from sandbox.planner.onnx import PrefixCache

    made: list[FakeGenerator] = []

    def make(n: int) -> FakeGenerator:
        made.append(FakeGenerator(n))
        return made[-1]

    system = list(range(100, 140))  # 40 tokens every prompt of a kind starts with
    cache = PrefixCache(make, slots=2)
    generator, shared = cache.take([*system, 1, 2], 10)
    assert shared == 0 and generator.capacity == PrefixCache.MIN_CONTEXT
    cache.record(generator, [*system, 1, 2, 50, 51])  # the prompt and what was generated
    generator, shared = cache.take([*system, 9, 9], 10)
    assert shared == 40 and generator is made[0] and made[0].rewinds == [40]
    cache.record(generator, [*system, 9, 9, 60])
    generator, shared = cache.take([*system, 9, 9], 10)  # the same prompt again: its last token is recomputed
    assert shared == 41 and made[0].rewinds[-1] == 41
    cache.record(generator, [*system, 9, 9])

    other = [100, 101, 102, *range(500, 540)]  # another kind: shares only a preamble of 3 tokens
    generator, shared = cache.take([*other, 1], 10)
    assert shared == 0 and generator is made[1]  # its own slot; the first kind's state is kept
    cache.record(generator, [*other, 1])
    assert cache.take([*system, 5], 10) == (made[0], 40)  # each kind finds its own slot
    cache.record(made[0], [*system, 5])
    assert cache.take([*other, 2], 10) == (made[1], len(other))
    cache.record(made[1], [*other, 2])

    generator, shared = cache.take([7] * 50, 10)  # a third kind: replaces the least recently used slot
    assert generator is made[2] and not cache.holds(made[0]) and cache.holds(made[1])
    cache.record(generator, [7] * 50)
    generator, shared = cache.take([7] * 60, 10)  # a short shared prefix is still used by its own slot's owner
    assert generator is made[2] and shared == 50
    generator, shared = cache.take([7] * PrefixCache.MIN_CONTEXT, 10)  # longer than any slot holds
    assert shared == 0 and generator.capacity == PrefixCache.MIN_CONTEXT + 10
    cache.clear(generator)
    assert not cache.holds(generator) and cache.holds(made[2])


def test_a_service_reports_the_code_it_started_with(short_dir: Path) -> None:
    backend = ScriptedBackend([])
    service, _ = _serve(backend, short_dir)
    client = ServiceBackend(backend.model, directory=short_dir)
    hello = client.hello()
    assert hello is not None and client._compatible(hello)
    service.code = "updated-since"  # as if sbx's files changed after the service started
    hello = client.hello()
    assert hello is not None and not client._compatible(hello)
    stop_services(short_dir)


def test_commands_planning_at_once_are_served_one_after_the_other(short_dir: Path) -> None:
    backend = ScriptedBackend([f"```bash\necho {i}\n```" for i in range(6)])
    _serve(backend, short_dir)
    results: list[str] = []

    def plan() -> None:
        client = ServiceBackend(backend.model, directory=short_dir)
        for _ in range(2):
            results.append(client.generate([{"role": "user", "content": "x"}], guidance=None, max_tokens=9,
                                           stop=lambda text: text.count("```") == 2).text)

    threads = [threading.Thread(target=plan) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(results) == sorted(f"```bash\necho {i}\n```" for i in range(6))
    stop_services(short_dir)
