"""Containers prepared ahead of their call, each used once.

After a call, the workspace's front end asks for the next call's container (`fill`): a worker thread
mounts its overlay, makes, attaches and starts it, and its launcher waits on standard input. The
next call of the same shape (`runner.shape`: image, tool profile, the overlay's layer stack and its
generation, limits, ...) takes it (`take`) and only has to send its call: the confinement is the
same code and the same compiled artefacts as a cold call's, applied by the same launcher.

A prepared container is never reused and never used for a call of another shape: a new pending
changeset, an apply or a discard changes the stack or its generation, a changed profile changes the
seccomp profile or limits, a rebuilt image changes the image id, so the next call simply does not
match and is made cold, while the stale one is removed. Bounded: `size` containers per pool,
prepared only after a call (an idle workspace gets none), and each waits at most its spec's
`input_wait_s` (its launcher then ends, and conmon's timeout backs that). `close` removes them all;
a process killed with -9 leaves its prepared containers to the next process's sweep
(`runner.sweep_orphans`, when it finds their run folders stale).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from sandbox.engine import runner
from sandbox.engine.runner import Backend, Prepared
from sandbox.engine.spec import ContainerSpec, shape
from sandbox.errors import SbxError

log = logging.getLogger(__name__)

EXPIRY_MARGIN_S = 10.0  # a prepared container this close to its launcher's end is not used
TAKE_WAIT_S = 30.0  # the longest a call waits for a container of its shape that is being prepared


class WarmPool:
    """Prepared containers of one workspace, made by one worker thread with its own engine client."""

    def __init__(self, make_backend: Callable[[], Backend], runs_root: Path, size: int,
                 stamp: Callable[[Backend, Prepared], None] | None = None) -> None:
        """`stamp` runs after each preparation: it records what the caller checks before use,
        such as the image the container runs."""
        self._make_backend = make_backend
        self._runs_root = runs_root
        self.size = size
        self._stamp = stamp
        self._cond = threading.Condition()
        self._ready: list[Prepared] = []
        self._wanted: ContainerSpec | None = None  # the next preparation (the newest request wins)
        self._making: str | None = None  # the shape being prepared now
        self._wanted_shape: str | None = None
        self._doomed: list[Prepared] = []  # to be discarded by the worker
        self._worker: threading.Thread | None = None
        self._closed = False
        self.made = 0  # counters, for benchmarks and tests
        self.used = 0

    # -- the caller's side ------------------------------------------------------------------------
    def take(self, spec: ContainerSpec, usable: Callable[[Prepared], bool] = lambda _: True) -> Prepared | None:
        """A prepared container of `spec`'s shape, still waiting and `usable`, or None (the call is
        made cold). Waits for one of its shape that is being prepared right now."""
        key = shape(spec)
        deadline = time.monotonic() + TAKE_WAIT_S
        with self._cond:
            while key in (self._making, self._wanted_shape) and time.monotonic() < deadline:
                self._cond.wait(timeout=max(deadline - time.monotonic(), 0.01))
            for prepared in list(self._ready):
                if prepared.shape != key:
                    continue
                self._ready.remove(prepared)
                if self._fresh(prepared) and prepared.waiting() and usable(prepared):
                    self.used += 1
                    return prepared
                self._doom(prepared)
        return None

    def fill(self, spec: ContainerSpec) -> None:
        """Prepare a container of `spec`'s shape in the background, unless one is there already.
        Containers of other shapes beyond the pool's size go (the oldest first)."""
        if self.size <= 0:
            return
        key = shape(spec)
        with self._cond:
            if self._closed or key in (self._making, self._wanted_shape) or any(p.shape == key for p in self._ready):
                return
            self._wanted, self._wanted_shape = spec, key
            self._start()
            self._cond.notify_all()

    def dispose(self, prepared: Prepared) -> None:
        """Remove a used container's remains (it has exited; its layer is kept) in the background."""
        with self._cond:
            self._doom(prepared)

    def close(self) -> None:
        """Remove every prepared container now, and stop the worker."""
        with self._cond:
            self._closed = True
            self._wanted = self._wanted_shape = None
            self._cond.notify_all()
            worker = self._worker
        # The workspace's finalizer may run on the worker itself (a collection there): it then
        # finishes its queue and stops on its own, seeing the pool closed.
        if worker is not None and worker is not threading.current_thread():
            worker.join(timeout=120)
        with self._cond:
            left = [*self._ready, *self._doomed]
            self._ready.clear()
            self._doomed.clear()
        for prepared in left:
            _discard(prepared)

    # -- the worker's side ------------------------------------------------------------------------
    def _fresh(self, prepared: Prepared) -> bool:
        return time.monotonic() - prepared.made < prepared.spec.input_wait_s - EXPIRY_MARGIN_S

    def _doom(self, prepared: Prepared) -> None:
        self._doomed.append(prepared)
        self._start()
        self._cond.notify_all()

    def _start(self) -> None:
        if self._worker is None or not self._worker.is_alive():
            self._worker = threading.Thread(target=self._work, name="sbx-warm", daemon=True)
            self._worker.start()

    def _work(self) -> None:
        backend = self._make_backend()
        try:
            while True:
                with self._cond:
                    while not self._closed and self._wanted is None and not self._doomed:
                        self._cond.wait()
                    spec = None if self._closed else self._wanted
                    self._making = self._wanted_shape if spec is not None else None
                    self._wanted = self._wanted_shape = None
                    # a wanted container first (a call may be waiting for it), then the removals
                    doomed, self._doomed = ([], self._doomed) if spec is not None else (self._doomed, [])
                for prepared in doomed:
                    prepared.owner[0] = backend
                    _discard(prepared)
                if spec is not None:
                    self._prepare(backend, spec)
                elif self._closed and not doomed:
                    return
        finally:
            backend.close()

    def _prepare(self, backend: Backend, spec: ContainerSpec) -> None:
        made: Prepared | None = None
        try:
            prepared = runner.prepare(backend, spec, self._runs_root)
            try:
                if self._stamp is not None:
                    self._stamp(backend, prepared)
            except BaseException:
                _discard(prepared)
                raise
            made = prepared
        except SbxError as exc:
            log.info("no container prepared ahead: %s", exc.message)
        except Exception:  # a failed preparation only means the next call is cold
            log.exception("no container prepared ahead")
        finally:
            with self._cond:
                self._making = None
                if made is not None:
                    if self._closed:
                        self._doomed.append(made)
                    else:
                        self.made += 1
                        self._ready.append(made)
                        while len(self._ready) > self.size:
                            self._doomed.append(self._ready.pop(0))
                self._cond.notify_all()


def _discard(prepared: Prepared) -> None:
    """Remove one container; whatever goes wrong with it, the worker goes on with the others."""
    try:
        runner.discard(prepared)
    except SbxError as exc:
        log.warning("container %s was not removed cleanly: %s", prepared.container_id[:12], exc.message)
    except Exception:  # a worker that died here would leave every container queued after this one
        log.exception("container %s was not removed cleanly", prepared.container_id[:12])
