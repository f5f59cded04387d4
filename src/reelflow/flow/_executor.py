"""Executors: what the scheduler hands tasks to, and the local one.

The scheduler talks to an :class:`Executor`: it submits one attempt at a time, polls for results,
asks when a task's step began (timeouts count from there) and kills overdue tasks. Retries,
catch, joins and resume stay in the scheduler, so every executor gets them alike.

:class:`LocalExecutor` is a pool of long-lived worker processes that survives a worker's death:
a task that crashes, segfaults or is killed fails alone; its worker is replaced and the run goes
on. Timeouts are enforced by killing the worker that runs the overdue task. The Ray executor
(``reelflow.flow._ray``) is imported only when a run asks for it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Protocol

from reelflow._errors import ExecutorError
from reelflow.flow._spec import TaskError, TaskResult, TaskSpec

EXECUTORS = ("local", "ray")


class Executor(Protocol):
    """What the scheduler needs from an executor.

    ``max_workers`` caps the tasks submitted at once; ``cpu_budget`` and ``memory_budget`` are
    what the steps' ``cpu`` and ``memory`` hints of the running tasks may add up to.
    """

    max_workers: int

    @property
    def cpu_budget(self) -> float: ...

    @property
    def memory_budget(self) -> int: ...

    def prestart(self, count: int) -> None:
        """Get ready for ``count`` tasks ahead of need (may do nothing)."""

    def claim(self) -> int | None:
        """The pid the next ``submit`` will run on, for the record (None when not known)."""

    def submit(self, spec: TaskSpec, *, cpu: float = 1.0, memory: int | None = None) -> None:
        """Start one attempt; ``cpu`` and ``memory`` (bytes) are the step's resource hints."""

    def wait(self, timeout: float) -> list[TaskResult]:
        """Results of attempts that ended within ``timeout`` seconds (failures included)."""

    def started_at(self, task_id: int) -> float | None:
        """``time.monotonic()`` when the task's step began (its imports done), if it has."""

    def kill(self, task_id: int, reason: str) -> None:
        """End the task now; its result is a failure carrying ``reason``."""

    def shutdown(self, *, kill: bool = False) -> None:
        """Release everything; ``kill`` when the run was interrupted. Safe to call twice."""


def make_executor(
    kind: str,
    store_home: str,
    max_workers: int | None,
    ray_address: str | None = None,
    artifacts: str | None = None,
) -> Executor:
    """The executor named ``kind`` (``local`` or ``ray``), ready to take tasks; its workers
    keep artifacts under ``store_home`` or at ``artifacts`` (a URL such as ``s3://...``)."""
    if kind == "local":
        if ray_address:
            raise ExecutorError("--ray-address needs --executor ray")
        return LocalExecutor(store_home, max_workers or os.cpu_count() or 1, artifacts)
    if kind == "ray":
        from reelflow.flow._ray import RayExecutor

        return RayExecutor(store_home, max_workers, ray_address, artifacts)
    raise ExecutorError(f"unknown executor {kind!r}: choose one of {', '.join(EXECUTORS)}")


@dataclass
class _Worker:
    process: subprocess.Popen[bytes]
    conn: Connection
    pid: int
    task: TaskSpec | None = None
    kill_reason: str | None = None
    started_at: float | None = None


class LocalExecutor:
    """Runs tasks on up to ``max_workers`` worker processes of this machine."""

    def __init__(self, store_home: str, max_workers: int, artifacts: str | None = None) -> None:
        self.store_home = store_home
        self.artifacts = artifacts
        self.max_workers = max(1, max_workers)
        self._workers: list[_Worker] = []

    @property
    def cpu_budget(self) -> float:
        return float(self.max_workers)

    @property
    def memory_budget(self) -> int:
        return physical_memory()

    def prestart(self, count: int) -> None:
        """Start workers ahead of need so their start-up overlaps the first task."""
        while len(self._workers) < min(count, self.max_workers):
            self._workers.append(self._spawn())

    def claim(self) -> int:
        """The pid of the worker the next ``submit`` will use (started now if none is idle)."""
        return self._idle_worker().pid

    def submit(self, spec: TaskSpec, *, cpu: float = 1.0, memory: int | None = None) -> None:
        """Hand ``spec`` to an idle worker (starting one if needed).

        The resource hints are the scheduler's to respect here: a worker runs one task at once.
        """
        worker = self._idle_worker()
        worker.task = spec
        worker.started_at = None
        try:
            worker.conn.send(spec)
        except OSError:
            worker.kill_reason = "its worker process died before the task started"

    def _idle_worker(self) -> _Worker:
        worker = next((w for w in self._workers if w.task is None), None)
        if worker is None:
            if len(self._workers) >= self.max_workers:
                raise RuntimeError("no idle worker: the scheduler over-submitted")
            worker = self._spawn()
            self._workers.append(worker)
        return worker

    def wait(self, timeout: float) -> list[TaskResult]:
        """Results of tasks that ended within ``timeout`` seconds (failures included)."""
        busy = {w.conn: w for w in self._workers if w.task is not None}
        if not busy:
            time.sleep(timeout)
            return []
        results = []
        for conn in wait(list(busy), timeout):
            result = self._receive(busy[conn])  # type: ignore[index]
            if result is not None:
                results.append(result)
        return results

    def started_at(self, task_id: int) -> float | None:
        """When the worker running ``task_id`` had its flow loaded and began the step."""
        for worker in self._workers:
            if worker.task is not None and worker.task.task_id == task_id:
                return worker.started_at
        return None

    def kill(self, task_id: int, reason: str) -> None:
        """End the worker that runs ``task_id``; the task fails with ``reason``."""
        for worker in self._workers:
            if worker.task is not None and worker.task.task_id == task_id:
                worker.kill_reason = reason
                _kill(worker)

    def shutdown(self, *, kill: bool = False) -> None:
        """Stop every worker: politely, or at once (``kill``) when a run is interrupted."""
        for worker in self._workers:
            if kill:
                _kill(worker)
            else:
                try:
                    worker.conn.send(None)
                except OSError:
                    _kill(worker)
        for worker in self._workers:
            try:
                worker.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                _kill(worker)
                worker.process.wait()
            worker.conn.close()
        self._workers.clear()

    def _spawn(self) -> _Worker:
        parent_sock, child_sock = socket.socketpair()
        fd = child_sock.fileno()
        process = subprocess.Popen(
            [sys.executable, "-m", "reelflow.flow._worker", str(fd), self.store_home]
            + ([self.artifacts] if self.artifacts else []),
            pass_fds=(fd,),
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        child_sock.close()
        conn = Connection(parent_sock.detach())
        return _Worker(process=process, conn=conn, pid=process.pid)

    def _receive(self, worker: _Worker) -> TaskResult | None:
        task = worker.task
        assert task is not None
        try:
            message = worker.conn.recv()
        except (EOFError, OSError):
            return self._lost(worker, task)
        if isinstance(message, tuple) and message and message[0] in ("ready", "started"):
            if message[0] == "started":
                worker.started_at = time.monotonic()
            return None
        if not isinstance(message, TaskResult):
            return self._lost(worker, task)
        worker.task = None
        if worker.kill_reason is not None or worker.process.poll() is not None:
            self._discard(worker)  # killed (a timeout) just after it answered: never reuse it
        return message

    def _discard(self, worker: _Worker) -> int:
        """Kill and reap ``worker`` and drop it from the pool; its exit code."""
        _kill(worker)
        code = worker.process.wait()
        worker.conn.close()
        self._workers.remove(worker)
        return code

    def _lost(self, worker: _Worker, task: TaskSpec) -> TaskResult:
        """The worker died while running ``task``: replace it and fail only that task."""
        code = self._discard(worker)
        reason = worker.kill_reason or _death_reason(code)
        error = TaskError("WorkerDied" if worker.kill_reason is None else "TaskKilled", reason)
        return TaskResult(task.task_id, task.attempt, error=error)


def physical_memory() -> int:
    """This machine's memory in bytes."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError):
        return 1 << 40


def _kill(worker: _Worker) -> None:
    if worker.process.poll() is None:
        try:
            os.killpg(worker.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            worker.process.kill()


def _death_reason(code: int) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"the worker process running this task was killed by {name}"
    return f"the worker process running this task exited with code {code}"
