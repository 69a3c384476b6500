"""A resident planner: one process keeps a model loaded, and its prefix cache warm, for every sbx
command that plans, so that a new `sbx run` pays neither the model load (1-4 s) nor the prompt's
constant part (system prompt and worked examples) again.

    python -m sandbox.planner.service --model NAME --ep cpu --socket PATH [--idle SECONDS]

The first command that plans starts it (`ServiceBackend.load`) and waits until it answers; it
exits by itself after `--idle` seconds without a request (default 600), on `sbx model stop`, or
when a command finds it stale (another model digest, another version of this code, another
protocol). It listens on a unix socket in sbx's runtime folder (mode 0700, the socket 0600), one
request at a time: the machine has one model's worth of cores anyway.

Protocol: one JSON object per line each way. Requests: `{"op": "hello"}`, `{"op": "exit"}`,
`{"op": "generate", "messages": [...], "guidance": {"kind", "text"} | null, "max_tokens": N,
"temperature": T, "seed": S, "stop": bool}`. With `"stop": true` generation goes in lock-step: after each
token the service sends `{"text": SO_FAR}` and the client answers `{"stop": bool}`, so the
caller's stop rule ends generation at exactly the token it would in-process. The last line is
`{"ok": true, ...}` or `{"ok": false, "error": {"code", "message", "hint"}}`.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO, cast

from sandbox import safedirs
from sandbox.errors import ModelError, PlannerError, SbxError
from sandbox.locks import waiting
from sandbox.planner.backend import OnnxBackend, catalogued
from sandbox.planner.catalog import DEFAULT_MODEL
from sandbox.planner.models import ModelStore
from sandbox.planner.onnx import GenerationResult, Guidance, GuidanceKind, Message
from sandbox.planner.plan import ModelRef, PlannerBackend

PROTOCOL = 1
DEFAULT_IDLE_S = 600.0
START_TIMEOUT_S = 300.0  # a cold start loads the model; a busy 2-core machine can take a while
REPLY_TIMEOUT_S = 900.0  # one generation, guided start-up included
HELLO_TIMEOUT_S = 120.0  # a service busy with another command's plan answers when that is done
MAX_LINE = 4 * 2**20


def socket_path(directory: Path, model: str, ep: str) -> Path:
    # `serve` binds a staging name first: "." + name + "." + pid (at most 7 digits)
    return safedirs.socket_path(directory, f"planner-{model}-{ep}.sock", reserve=9)


@functools.cache
def code_fingerprint() -> str:
    """Which version of the generation code a service runs: a service started before sbx was
    updated is replaced, not reused."""
    digest = hashlib.sha256()
    here = Path(__file__).resolve().parent
    for name in ("service.py", "onnx.py", "backend.py"):
        stat = (here / name).stat()
        digest.update(f"{name}:{stat.st_size}:{stat.st_mtime_ns};".encode())
    return digest.hexdigest()[:16]


class _Gone(Exception):
    """The other side closed the connection."""


def _send(sock: socket.socket, value: dict[str, Any]) -> None:
    try:
        sock.sendall(json.dumps(value).encode() + b"\n")
    except OSError as exc:
        raise _Gone(str(exc)) from None


def _receive(stream: BinaryIO) -> dict[str, Any]:
    try:
        line = stream.readline(MAX_LINE)
    except OSError as exc:
        raise _Gone(str(exc)) from None
    if not line:
        raise _Gone("connection closed")
    value = json.loads(line)
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


def _request(path: Path, request: dict[str, Any], timeout_s: float) -> dict[str, Any] | None:
    """One request and its one-line reply on the socket at `path`; None when nothing answers."""
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.settimeout(timeout_s)
    try:
        conn.connect(str(path))
        _send(conn, request)
        return _receive(cast(BinaryIO, conn.makefile("rb")))
    except (OSError, _Gone, ValueError):
        return None
    finally:
        conn.close()


def _sockets(directory: Path) -> list[Path]:
    """The planner sockets in `directory`, once it is known to be ours (a socket planted there would
    be sent the user's requests and could answer with its own plans)."""
    if not directory.is_dir():
        return []
    safedirs.private_dir(directory, env="SBX_RUNTIME_DIR")
    return sorted(directory.glob("planner-*.sock"))


def _error(exc: SbxError) -> dict[str, Any]:
    return {"ok": False, "error": {"code": exc.code, "message": exc.message, "hint": exc.hint}}


def _raise(error: dict[str, Any]) -> None:
    code = str(error.get("code") or "planner.service_failed")
    kind = ModelError if code.startswith("model.") else PlannerError
    raise kind(str(error.get("message") or "the planner service failed"), code=code,
               hint=error.get("hint") if isinstance(error.get("hint"), str) else None)


# --------------------------------------------------------------------------------------------------
# the service


class PlannerService:
    """Serves one backend (an `OnnxBackend` in the real service) on a unix socket, one request at a time."""

    def __init__(self, backend: PlannerBackend, path: Path, *, idle_s: float = DEFAULT_IDLE_S) -> None:
        self.backend = backend
        self.path = path
        self.idle_s = idle_s
        self.load_seconds = 0.0
        self._exit = False
        self.code = code_fingerprint()  # of the code this process runs: taken now, not at each hello

    def hello(self) -> dict[str, Any]:
        return {"ok": True, "protocol": PROTOCOL, "code": self.code, "pid": os.getpid(),
                "model": self.backend.model.to_json(), "load_seconds": round(self.load_seconds, 3)}

    def serve(self) -> None:
        """Load, then listen until idle. The socket appears (atomically, by rename) only once the
        model is loaded, so a client either finds a ready service or none."""
        self.load_seconds = self.backend.load()
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        staging = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        old_umask = os.umask(0o177)
        try:
            with contextlib.suppress(FileNotFoundError):
                staging.unlink()
            listener.bind(str(staging))
        finally:
            os.umask(old_umask)
        listener.listen(16)
        os.replace(staging, self.path)
        ours = self.path.stat().st_ino
        listener.settimeout(self.idle_s)
        try:
            while not self._exit:
                try:
                    conn, _ = listener.accept()
                except TimeoutError:
                    break
                with conn:
                    conn.settimeout(REPLY_TIMEOUT_S)
                    with contextlib.suppress(_Gone, TimeoutError):
                        self._handle(conn)
        finally:
            listener.close()
            with contextlib.suppress(FileNotFoundError):
                if self.path.stat().st_ino == ours:  # a newer service may have taken the path over
                    self.path.unlink()

    def _handle(self, conn: socket.socket) -> None:
        stream = cast(BinaryIO, conn.makefile("rb"))
        try:
            request = _receive(stream)
        except ValueError as exc:
            _send(conn, _error(PlannerError(f"malformed request: {exc}", code="planner.service_failed")))
            return
        op = request.get("op")
        if op == "hello":
            _send(conn, self.hello())
        elif op == "exit":
            self._exit = True
            _send(conn, {"ok": True})
        elif op == "generate":
            try:
                result = self._generate(request, conn, stream)
            except SbxError as exc:
                _send(conn, _error(exc))
                return
            except (KeyError, TypeError, ValueError) as exc:
                _send(conn, _error(PlannerError(f"malformed request: {exc!r}", code="planner.service_failed")))
                return
            _send(conn, {"ok": True, "result": result.to_json()})
        else:
            _send(conn, _error(PlannerError(f"unknown request {op!r}", code="planner.service_failed")))

    def _generate(self, request: dict[str, Any], conn: socket.socket, stream: BinaryIO) -> GenerationResult:
        guidance = request.get("guidance")
        stop: Callable[[str], bool] | None = None
        if request.get("stop"):
            def stop(text: str) -> bool:
                _send(conn, {"text": text})
                try:
                    return _receive(stream).get("stop") is True
                except ValueError as exc:
                    raise _Gone(f"malformed reply: {exc}") from None
        return self.backend.generate(
            request["messages"],
            guidance=Guidance(cast(GuidanceKind, guidance["kind"]), guidance["text"]) if guidance else None,
            max_tokens=int(request["max_tokens"]),
            stop=stop,
            temperature=float(request.get("temperature") or 0.0),
            seed=int(request.get("seed") or 0),
        )


PLANNER_NICENESS = 10


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.planner.service")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--ep", default="cpu")
    parser.add_argument("--socket", type=Path, required=True)
    parser.add_argument("--idle", type=float, default=DEFAULT_IDLE_S)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    # The model takes every core it is given for as long as it generates; the tool calls of the
    # same person or of other agents are short and wait on nothing else, so they go first.
    with contextlib.suppress(OSError):
        os.nice(PLANNER_NICENESS)
    try:
        PlannerService(OnnxBackend(args.model, ep=args.ep), args.socket, idle_s=args.idle).serve()
    except SbxError as exc:
        print(json.dumps(_error(exc)), file=sys.stderr, flush=True)
        return 1
    return 0


# --------------------------------------------------------------------------------------------------
# the client


class ServiceBackend:
    """A `PlannerBackend` whose model runs in the resident service (started on first use)."""

    def __init__(self, ref: ModelRef, *, directory: Path, cache_dir: Path | None = None,
                 idle_s: float = DEFAULT_IDLE_S) -> None:
        self._ref = ref
        self._directory = directory
        self._cache_dir = cache_dir
        self._idle_s = idle_s
        self.path = socket_path(directory, ref.name, ref.execution_provider)
        self.started = False  # whether this client started the service it uses

    @classmethod
    def for_model(cls, name: str = DEFAULT_MODEL, *, ep: str = "cpu", directory: Path,
                  store: ModelStore | None = None, idle_s: float = DEFAULT_IDLE_S) -> ServiceBackend:
        """The client of the service of a catalogued, prepared model (`model.not_found` otherwise,
        with the pull command as hint, before any process starts)."""
        store = store or ModelStore()
        ref, _ = catalogued(name, ep, store)
        return cls(ref, directory=directory, cache_dir=store.cache_dir, idle_s=idle_s)

    @property
    def model(self) -> ModelRef:
        return self._ref

    @property
    def where(self) -> str:
        return "started the planner service" if self.started else "planner service running"

    def load(self) -> float:
        """Make sure a compatible service answers; the seconds that took (0 when one was running)."""
        started = time.monotonic()
        self._ensure()
        return time.monotonic() - started

    def generate(self, messages: Sequence[Message], *, guidance: Guidance | None, max_tokens: int,
                 stop: Callable[[str], bool] | None = None, temperature: float = 0.0,
                 seed: int = 0) -> GenerationResult:
        request = {
            "op": "generate", "messages": [dict(m) for m in messages], "max_tokens": max_tokens,
            "guidance": {"kind": guidance.kind, "text": guidance.text} if guidance else None,
            "temperature": temperature, "seed": seed, "stop": stop is not None,
        }
        for attempt in (1, 2):
            try:
                return self._generate(request, stop)
            except _Gone:
                if attempt == 2:
                    raise PlannerError("the planner service went away during generation; "
                                       f"its log: {self.path.with_suffix('.log')}",
                                       code="planner.service_failed") from None
                self._ensure()  # it exited (idle, stopped, replaced) between requests: start it again
        raise AssertionError("unreachable")

    def _generate(self, request: dict[str, Any], stop: Callable[[str], bool] | None) -> GenerationResult:
        with self._connection() as (conn, stream):
            _send(conn, request)
            while True:
                reply = _receive(stream)
                if "text" in reply and stop is not None:
                    _send(conn, {"stop": bool(stop(str(reply["text"])))})
                    continue
                if not reply.get("ok"):
                    _raise(reply.get("error") or {})
                data = reply["result"]
                return GenerationResult(
                    text=data["text"], prompt_tokens=data["prompt_tokens"],
                    completion_tokens=data["completion_tokens"], prefill_seconds=data["prefill_seconds"],
                    decode_seconds=data["decode_seconds"], finish_reason=data["finish_reason"],
                    setup_seconds=data["setup_seconds"], cached_tokens=data.get("cached_tokens", 0),
                )

    @contextlib.contextmanager
    def _connection(self) -> Iterator[tuple[socket.socket, BinaryIO]]:
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            conn.settimeout(REPLY_TIMEOUT_S)
            try:
                conn.connect(str(self.path))
            except OSError as exc:
                raise _Gone(str(exc)) from None
            yield conn, cast(BinaryIO, conn.makefile("rb"))
        finally:
            conn.close()

    def hello(self) -> dict[str, Any] | None:
        """The running service's identity, or None when none answers."""
        return _request(self.path, {"op": "hello"}, HELLO_TIMEOUT_S)

    def _compatible(self, hello: dict[str, Any]) -> bool:
        return (hello.get("protocol") == PROTOCOL and hello.get("code") == code_fingerprint()
                and hello.get("model") == self._ref.to_json())

    def _ensure(self) -> None:
        # Checked before the first connection: a socket planted in a folder of someone else's
        # would be sent the user's requests and could answer with plans of its own.
        safedirs.private_dir(self._directory, env="SBX_RUNTIME_DIR")
        hello = self.hello()
        if hello is not None and self._compatible(hello):
            return
        with waiting(self.path.with_suffix(".lock")):
            hello = self.hello()  # another command may have started it while we waited
            if hello is not None and self._compatible(hello):
                return
            if hello is not None:
                stop_service(self.path)
            self._spawn()

    def _spawn(self) -> None:
        log_path = self.path.with_suffix(".log")
        # The service is this interpreter with this installed sbx: `-m` finds the same package.
        env = dict(os.environ)
        if self._cache_dir is not None:
            env["SBX_CACHE_DIR"] = str(self._cache_dir)
        with safedirs.open_append(log_path, truncate=True) as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "sandbox.planner.service", "--model", self._ref.name,
                 "--ep", self._ref.execution_provider,
                 "--socket", str(self.path), "--idle", str(self._idle_s)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd="/", env=env, start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            hello = self.hello()
            if hello is not None and self._compatible(hello):
                self.started = True
                return
            if process.poll() is not None:
                raise _start_failure(log_path, process.returncode)
            time.sleep(0.05)
        process.kill()
        raise PlannerError(f"the planner service did not answer within {START_TIMEOUT_S:.0f} s; its log: {log_path}",
                           code="planner.service_failed")


def _start_failure(log_path: Path, returncode: int) -> SbxError:
    lines = log_path.read_text(errors="replace").strip().splitlines() if log_path.exists() else []
    for line in reversed(lines):
        with contextlib.suppress(ValueError, AttributeError):
            data = json.loads(line)
            if isinstance(data, dict) and isinstance(data.get("error"), dict):
                try:
                    _raise(data["error"])
                except SbxError as exc:
                    return exc
    detail = lines[-1] if lines else f"exit {returncode}"
    return PlannerError(f"the planner service failed to start: {detail}", code="planner.service_failed",
                        hint=f"its log: {log_path}")


def stop_service(path: Path) -> bool:
    """Ask the service on `path` to exit; True when one answered."""
    if _request(path, {"op": "exit"}, 10.0) is None:
        return False
    # it removes its socket on the way out; wait for that so a new start does not race it
    deadline = time.monotonic() + 10.0
    while path.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    return True


def running_services(directory: Path) -> list[dict[str, Any]]:
    """The planner services answering in `directory`: socket, pid, model."""
    found = []
    for path in _sockets(directory):
        hello = _request(path, {"op": "hello"}, 5.0)
        if hello is not None:
            found.append({"socket": str(path), "pid": hello.get("pid"), "model": hello.get("model")})
    return found


def stop_services(directory: Path) -> list[str]:
    """Stop every planner service whose socket is in `directory`; the models they served."""
    stopped = []
    for path in _sockets(directory):
        if stop_service(path):
            stopped.append(path.stem.removeprefix("planner-"))
    return stopped


if __name__ == "__main__":
    raise SystemExit(main())
