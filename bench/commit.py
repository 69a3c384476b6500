"""Commit throughput: `ChangesetStore.apply` against `cp -a` of the same files, in one run.

    .venv/bin/python bench/commit.py [--rounds N] [--sets small,large] [--small-files N] [--large-files N]
                                     [--large-mib N] [--dir DIR] [--breakdown]

Two sets: many small files (10,000 x 1 KiB) and a few large ones (4 x 64 MiB). For each, the
files are written into a change layer as an overlay upper holds new files (`new_layer`, write
into `layer.upper`, `finalize`), then each round times, interleaved:

  cp       `cp -a SRC DST` of the same files (page cache warm, nothing flushed)
  cp+sync  `cp -a SRC DST && sync` (apply flushes its files before it renames them)
  apply    `store.apply(id, sha256=...)`: digest check (with the reviewed file digests), journal,
           backups, in-kernel copies each hashed once (large ones in worker threads), syncfs
  undo     `store.undo()`: the workspace is empty again and the changeset pending, for the next round

Everything lives in a temporary folder inside sbx's state folder (or `--dir`, e.g. /dev/shm to
see the CPU cost alone), so that the state, the workspace and the copies share one filesystem.
Prints medians, files/s, MB/s and the ratios apply/cp and apply/cp+sync. Goals (issue 15): large
files within 1.5x `cp -a`, small files no slower than `cp -a`. On a shared machine the wall times
swing with the other work (the load average is printed with each set), so each timing also
records the CPU seconds it cost (`cp -a`'s children; apply's process, its copy workers included):
`cpu apply/cp` is the ratio of work done, which the load hardly moves.

`--breakdown` (large set) also times, in each round, apply with parts of it switched off, to
show where its time goes: `no writeback` (the copies' writeback is not started early, so the
syncfs waits for all of it), `no hash` (the copies are not hashed nor compared with the review),
`copy only` (no hash, no early writeback, no syncfs: the copies and the bookkeeping). These
commits are not safe; they exist only to be measured.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from functools import partial
from pathlib import Path
from unittest.mock import patch

from sandbox.changes import ChangesetStore, durable, fastcopy, hostfs
from sandbox.config import Settings

KIB = 1024
MIB = 1024 * KIB


def _timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def _cpu() -> float:
    """CPU seconds used so far by this process (every thread) and its waited-for children."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _timed_cpu(fn: Callable[[], object]) -> tuple[float, float]:
    """Wall seconds and CPU seconds of `fn()`."""
    cpu = _cpu()
    wall = _timed(fn)
    return wall, _cpu() - cpu


def _sync() -> None:
    subprocess.run(["sync"], check=True)


def _cp(source: Path, target: Path, *, sync: bool = False) -> None:
    subprocess.run(["cp", "-a", str(source), str(target)], check=True)
    if sync:
        _sync()


def _write_tree(root: Path, count: int, size: int, *, per_dir: int = 500) -> None:
    """`count` files of `size` random bytes, `per_dir` to a folder (like a source tree)."""
    for i in range(count):
        directory = root / f"d{i // per_dir:03d}"
        if i % per_dir == 0:
            directory.mkdir(parents=True, exist_ok=True)
        with open(directory / f"f{i:05d}.bin", "wb") as f:
            left = size
            while left:
                chunk = os.urandom(min(left, 4 * MIB))
                f.write(chunk)
                left -= len(chunk)


def _filesystem(path: Path) -> str:
    best, fstype = "", "?"
    real = os.path.realpath(path)
    with open("/proc/mounts") as mounts:
        for line in mounts:
            fields = line.split()
            mountpoint = fields[1]
            if (real == mountpoint or real.startswith(mountpoint.rstrip("/") + "/")) and len(mountpoint) > len(best):
                best, fstype = mountpoint, fields[2]
    return f"{fstype} on {best}"


BREAKDOWN = {"no writeback": {"writeback"}, "no hash": {"hash"}, "copy only": {"hash", "writeback", "sync"}}


@contextmanager
def _without(parts: set[str]) -> Iterator[None]:
    """Apply with some of its parts switched off (see --breakdown); all back on afterwards."""

    def hash_nothing(digest: object, fd: int, offset: int, size: int) -> bool:
        return True

    def wait_only(host: hostfs.HostTree, copies: Sequence[hostfs.Copy]) -> None:
        fastcopy.wait_all(hostfs.copies_pending(copies))

    def no_writeback(fd: int, offset: int = 0, nbytes: int = 0) -> None:
        pass

    def no_sync(fd: int) -> None:
        pass

    with ExitStack() as stack:
        if "hash" in parts:
            stack.enter_context(patch.object(fastcopy, "_hash_range", hash_nothing))
            stack.enter_context(patch.object(hostfs.HostTree, "check_staged", wait_only))
        if "writeback" in parts:
            stack.enter_context(patch.object(durable, "start_writeback", no_writeback))
        if "sync" in parts:
            stack.enter_context(patch.object(durable, "sync_filesystem", no_sync))
        yield


def run_set(
    base: Path, name: str, count: int, size: int, rounds: int, *, breakdown: Sequence[str] = ()
) -> dict[str, list[float]]:
    root = base / name
    workspace = root / "ws"
    workspace.mkdir(parents=True)
    store = ChangesetStore(root / "state", workspace)
    source = root / "src"
    _write_tree(source, count, size)

    layer = store.new_layer(f"bench {name}")
    for entry in source.iterdir():  # the upper holds the new files exactly as the source does
        shutil.copytree(entry, layer.upper / entry.name)
    _sync()
    times: dict[str, list[float]] = {"finalize": [_timed(lambda: store.finalize(layer.id))]}
    cs = store.get(layer.id)
    assert len(cs.changes) == count + len(list(source.iterdir())), "every file is a change"

    copies = root / "copies"
    copies.mkdir()
    for r in range(rounds):
        plain, flushed = copies / f"cp{r}", copies / f"cps{r}"
        _sync()
        _record(times, "cp", _timed_cpu(partial(_cp, source, plain)))
        _sync()
        times.setdefault("cp+sync", []).append(_timed(partial(_cp, source, flushed, sync=True)))
        _sync()
        cpu, started = _cpu(), time.perf_counter()
        result = store.apply(cs.id, sha256=cs.sha256)
        _record(times, "apply", (time.perf_counter() - started, _cpu() - cpu))
        assert len(result.applied) == len(cs.changes)
        _sync()
        times.setdefault("undo", []).append(_timed(store.undo))
        for variant in breakdown:
            _sync()
            with _without(BREAKDOWN[variant]):
                cpu, started = _cpu(), time.perf_counter()
                store.apply(cs.id, sha256=cs.sha256)
                _record(times, f"apply {variant}", (time.perf_counter() - started, _cpu() - cpu))
            _sync()
            store.undo()
        shutil.rmtree(plain)
        shutil.rmtree(flushed)
    times["load"] = [os.getloadavg()[0]]
    return times


def _record(times: dict[str, list[float]], key: str, wall_cpu: tuple[float, float]) -> None:
    times.setdefault(key, []).append(wall_cpu[0])
    times.setdefault(f"{key} cpu", []).append(wall_cpu[1])


GOALS = {"small": 1.0, "large": 1.5}  # apply / cp -a


def report(name: str, count: int, size: int, times: dict[str, list[float]]) -> None:
    total_mb = count * size / 1e6
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"{name}: {count} files x {size // KIB} KiB = {total_mb:.1f} MB  (load average {times['load'][0]:.1f})")
    for key in ("cp", "cp+sync", "finalize", "apply", "undo"):
        values = sorted(times[key])
        rate = f"{count / med[key]:9.0f} files/s {total_mb / med[key]:7.1f} MB/s" if key != "finalize" else ""
        spread = f"(min {values[0]:.2f}, max {values[-1]:.2f})" if len(values) > 1 else ""
        print(f"  {key:>8}: median {med[key]:6.2f} s  {rate}  {spread}")
    print(f"  ratio apply/cp:      {med['apply'] / med['cp']:.2f}x  (goal <= {GOALS[name]:.2f}x)")
    print(f"  ratio apply/cp+sync: {med['apply'] / med['cp+sync']:.2f}x")
    print(f"  ratio undo/cp+sync:  {med['undo'] / med['cp+sync']:.2f}x")
    print(f"  cpu cp: {med['cp cpu']:.2f} s  cpu apply: {med['apply cpu']:.2f} s  "
          f"cpu apply/cp: {med['apply cpu'] / med['cp cpu']:.2f}x")
    for variant in BREAKDOWN:
        key = f"apply {variant}"
        if key in med:
            print(f"  {key:>20}: median {med[key]:5.2f} s ({med[key] / med['cp']:.2f}x cp)  "
                  f"cpu {med[key + ' cpu']:.2f} s ({med[key + ' cpu'] / med['cp cpu']:.2f}x cp)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sets", default="small,large", help="which sets to run, comma-separated")
    parser.add_argument("--small-files", type=int, default=10_000)
    parser.add_argument("--large-files", type=int, default=4)
    parser.add_argument("--large-mib", type=int, default=64)
    parser.add_argument("--dir", type=Path, default=None, help="where to work (default: sbx's state folder)")
    parser.add_argument("--breakdown", action="store_true", help="large set: apply with parts switched off")
    args = parser.parse_args()
    state_dir = args.dir or Settings.from_env().state_dir
    state_dir.mkdir(parents=True, exist_ok=True)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, kernel {platform.release()}, "
        f"{_filesystem(state_dir)}, rounds {args.rounds}"
    )
    sets = (("small", args.small_files, KIB), ("large", args.large_files, args.large_mib * MIB))
    with tempfile.TemporaryDirectory(prefix="bench-commit-", dir=state_dir) as tmp:
        for name, count, size in sets:
            if name not in args.sets.split(","):
                continue
            breakdown = tuple(BREAKDOWN) if args.breakdown and name == "large" else ()
            times = run_set(Path(tmp), name, count, size, args.rounds, breakdown=breakdown)
            report(name, count, size, times)
            shutil.rmtree(Path(tmp) / name)
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
