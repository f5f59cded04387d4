"""The local executor: a pool of long-lived worker processes that survives a worker's death.

A task that crashes, segfaults or is killed fails alone: its worker is replaced and the run goes
on. Timeouts are enforced by killing the worker that runs the overdue task.
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

from reelflow.flow._spec import TaskError, TaskResult, TaskSpec


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

    def __init__(self, store_home: str, max_workers: int) -> None:
        self.store_home = store_home
        self.max_workers = max(1, max_workers)
        self._workers: list[_Worker] = []

    def prestart(self, count: int) -> None:
        """Start workers ahead of need so their start-up overlaps the first task."""
        while len(self._workers) < min(count, self.max_workers):
            self._workers.append(self._spawn())

    def claim(self) -> int:
        """The pid of the worker the next ``submit`` will use (started now if none is idle)."""
        return self._idle_worker().pid

    def submit(self, spec: TaskSpec) -> int:
        """Hand ``spec`` to an idle worker (starting one if needed); returns the worker's pid."""
        worker = self._idle_worker()
        worker.task = spec
        worker.started_at = None
        try:
            worker.conn.send(spec)
        except OSError:
            worker.kill_reason = "its worker process died before the task started"
        return worker.pid

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
            [sys.executable, "-m", "reelflow.flow._worker", str(fd), self.store_home],
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
