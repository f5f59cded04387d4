"""Run one command, timing it and sampling the memory of its whole process tree."""

from __future__ import annotations

import contextlib
import json
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil

MB = 1_000_000


class BenchError(RuntimeError):
    """A measured command failed, timed out, or did not record what its flow should have."""


class TimedOut(BenchError):
    """A measured command ran past its time limit; ``partial`` holds what was measured."""

    def __init__(self, message: str, partial: RunResult) -> None:
        super().__init__(message)
        self.partial = partial


@dataclass(frozen=True)
class Sample:
    """One poll of the process tree: when, the summed RSS and the largest single RSS (bytes)."""

    at: float
    tree_rss: int
    max_rss: int


@dataclass
class ProcessTree:
    """Per-process memory of a tree over time (``TreeSampler(per_pid=True)``).

    ``samples`` are ``(time, {pid: rss})``; ``parents`` and ``cmdlines`` are what each pid had
    when first seen, so that RSS can be attributed to a process and its descendants.
    """

    samples: list[tuple[float, dict[int, int]]] = field(default_factory=list)
    parents: dict[int, int] = field(default_factory=dict)
    cmdlines: dict[int, str] = field(default_factory=dict)

    def descendants(self, pid: int) -> set[int]:
        """``pid`` and every process seen whose parent chain leads to it."""
        found = {pid}
        grew = True
        while grew:
            extra = {child for child, parent in self.parents.items() if parent in found}
            grew = not extra <= found
            found |= extra
        return found

    def peak(self, pids: set[int], begin: float = 0.0, end: float = float("inf")) -> int:
        """Largest summed RSS of ``pids`` over the samples taken between ``begin`` and ``end``."""
        return max(
            (sum(rss.get(p, 0) for p in pids) for at, rss in self.samples if begin <= at <= end),
            default=0,
        )


@dataclass
class RunResult:
    """What one command did: exit code, wall time, its log, and memory samples if taken."""

    returncode: int
    wall_s: float
    log: Path
    samples: list[Sample] = field(default_factory=list)
    tree: ProcessTree | None = None

    def tail(self, lines: int = 25) -> str:
        """The last lines of the command's combined stdout and stderr."""
        text = self.log.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])


class TreeSampler(threading.Thread):
    """Polls a process and all its descendants every ``interval`` seconds until stopped."""

    def __init__(self, pid: int, interval: float, *, per_pid: bool = False) -> None:
        super().__init__(daemon=True)
        self.root = psutil.Process(pid)
        self.interval = interval
        self.samples: list[Sample] = []
        self.tree = ProcessTree() if per_pid else None
        self._stop_event = threading.Event()

    def run(self) -> None:
        """Sample until :meth:`stop` is called or the root process is gone."""
        while not self._stop_event.is_set():
            sample = self._poll()
            if sample is not None:
                self.samples.append(sample)
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        """Ask the thread to finish and wait for it."""
        self._stop_event.set()
        self.join()

    def _poll(self) -> Sample | None:
        try:
            procs = [self.root, *self.root.children(recursive=True)]
        except psutil.Error:
            return None
        sizes = [_rss(proc) for proc in procs]
        at = time.time()
        if self.tree is not None:
            self._record(at, procs, sizes)
        return Sample(at=at, tree_rss=sum(sizes), max_rss=max(sizes, default=0))

    def _record(self, at: float, procs: list[psutil.Process], sizes: list[int]) -> None:
        tree = self.tree
        assert tree is not None
        for proc in procs:
            if proc.pid not in tree.parents:
                with contextlib.suppress(psutil.Error):
                    tree.parents[proc.pid] = proc.ppid()
                    tree.cmdlines[proc.pid] = " ".join(proc.cmdline())
        tree.samples.append((at, {proc.pid: size for proc, size in zip(procs, sizes, strict=True)}))


def _rss(proc: psutil.Process) -> int:
    """Resident set size of one process, 0 if it has just exited."""
    try:
        return int(proc.memory_info().rss)
    except psutil.Error:
        return 0


def run_command(
    cmd: Sequence[str | Path],
    *,
    cwd: Path,
    env: dict[str, str],
    log: Path,
    timeout: float,
    sample_every: float | None = None,
    per_pid: bool = False,
) -> RunResult:
    """Run ``cmd`` to completion; stdout and stderr go to ``log``; wall time from spawn to exit.

    ``per_pid`` also keeps every process's RSS at each sample (``RunResult.tree``). A command
    that times out raises :class:`TimedOut`, which carries what was measured until then.
    """
    with log.open("ab") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(
            [str(part) for part in cmd], cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT
        )
        sampler = TreeSampler(proc.pid, sample_every, per_pid=per_pid) if sample_every else None
        if sampler is not None:
            sampler.start()
        try:
            returncode = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_tree(proc)
            if sampler is not None:
                sampler.stop()
            command = " ".join(map(str, cmd))
            partial = RunResult(
                -9,
                time.perf_counter() - start,
                log,
                sampler.samples if sampler else [],
                sampler.tree if sampler else None,
            )
            raise TimedOut(f"timed out after {timeout:.0f} s: {command}", partial) from None
        finally:
            if sampler is not None and sampler.is_alive():
                sampler.stop()
        wall = time.perf_counter() - start
    return RunResult(
        returncode, wall, log, sampler.samples if sampler else [], sampler.tree if sampler else None
    )


def _kill_tree(proc: subprocess.Popen[bytes]) -> None:
    """Kill a timed-out command and every process it started, by pid."""
    try:
        children = psutil.Process(proc.pid).children(recursive=True)
    except psutil.Error:
        children = []
    for child in children:
        with contextlib.suppress(psutil.Error):
            child.kill()
    proc.kill()
    proc.wait()


def check_ok(result: RunResult, what: str) -> None:
    """Raise :class:`BenchError` with the log's tail when ``result`` failed."""
    if result.returncode != 0:
        raise BenchError(f"{what} exited {result.returncode}; log tail:\n{result.tail()}")


def read_events(path: Path) -> dict[str, float]:
    """The ``key -> value`` events a flow appended to its ``BENCH_EVENTS`` file (last one wins)."""
    if not path.exists():
        return {}
    events: dict[str, float] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            record = json.loads(line)
            events[record["key"]] = float(record["value"])
    return events
