"""The Ray executor: each attempt of each task is a Ray task.

Imported only when a run asks for ``--executor ray``; ``ray`` itself is imported here, never by
``import reelflow``.

Inside the Ray worker the task runs on a reelflow worker process that the Ray worker keeps for
the run (the local executor's, one at a time), so everything a task does behaves as it does
locally: its stdout and stderr are captured at the file-descriptor level into the attempt's log
files, and a task that segfaults, is killed or calls ``os._exit`` fails alone, with the signal or
exit code named, while the Ray worker lives on. Ray cannot say how one of its own workers died.

Timeouts count from when the step began (after the flow's imports): the Ray side writes a marker
file beside the attempt's logs then, which the driver polls. An overdue task is cancelled with
``ray.cancel(force=True)``, which ends its Ray worker (and, with it, the reelflow worker).

A task placed on another node than the driver's runs *detached*: its logs and the cache of
remote objects live in that node's temporary folder, its logs are stored as objects when it
ends (the driver shows them then), and it says when its step began through a small actor
instead of the marker file. So a cluster needs no shared filesystem when the artifacts are in
object storage (``s3://...``).

Steps' ``cpu`` and ``memory`` hints become the Ray task's ``num_cpus`` and ``memory`` resources,
capped at the largest node's so that a hint larger than any node still runs (as it does locally).
Ray does not retry: the scheduler's retries, catch, joins and resume apply as with any executor.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from reelflow._errors import ExecutorError
from reelflow.flow._executor import LocalExecutor, physical_memory
from reelflow.flow._logs import store_logs
from reelflow.flow._spec import TaskError, TaskResult, TaskSpec
from reelflow.store._remote import is_remote, open_objects

_OBJECT_STORE_BYTES = 128 << 20  # results are small: artifacts go to the store, not to Ray
_CONNECT_TIMEOUT = 5.0
_BOARD_TIMEOUT = 10.0
_INSTALL_HINT = 'the Ray executor needs Ray: pip install "reelflow[ray]"'


def started_marker(spec: TaskSpec) -> Path:
    """The file whose appearance tells the driver that the attempt's step began."""
    return Path(spec.stdout_path).with_suffix(".started")


# --- inside the Ray worker ---------------------------------------------------------------------

_child: tuple[tuple[str, str | None, int], LocalExecutor] | None = None


def run_in_ray_worker(
    spec: TaskSpec, driver_node: str | None = None, board: Any = None
) -> TaskResult:
    """The body of every Ray task: run ``spec`` on this Ray worker's reelflow worker process.

    On the driver's node (or when ``board`` is None) the logs and the start marker go to the
    store's home, which the driver follows; elsewhere the task runs detached (module docstring).
    """
    detached = board is not None and driver_node is not None and _node_id() != driver_node
    spec = _on_this_node(spec) if detached else _require_shared_home(spec)
    executor = _child_for(spec)
    marker = started_marker(spec)
    announced = False
    try:
        pid = executor.claim()
        executor.submit(spec)
        while True:
            results = executor.wait(1.0)
            if results:
                return _with_stored_logs(results[0], spec) if detached else results[0]
            if executor.started_at(spec.task_id) is None or announced:
                continue
            if detached:
                board.started.remote(spec.task_id, spec.attempt)
            else:
                marker.write_text(f"{pid}\n")
            announced = True
    except BaseException:  # cancelled, or interrupted: never leave a busy worker behind
        _drop_child()
        raise


def _node_id() -> str:
    import ray

    return str(ray.get_runtime_context().get_node_id())


def _require_shared_home(spec: TaskSpec) -> TaskSpec:
    """Live logs and the step-start marker go through the store's home: a node must see it."""
    if not Path(spec.stdout_path).parent.is_dir():
        raise ExecutorError(
            f"Ray node {socket.gethostname()} cannot see the store's home {spec.store_home} "
            "(where task logs go): mount it at the same path on every node, or keep the "
            "artifacts in object storage (REELFLOW_ARTIFACTS=s3://...; see docs/scaling.md)"
        )
    return spec


def _on_this_node(spec: TaskSpec) -> TaskSpec:
    """``spec`` with its logs and object cache in this node's temporary folder."""
    artifacts = spec.artifacts
    if artifacts is None or not is_remote(artifacts):
        shared = Path(artifacts or spec.store_home)
        if not shared.is_dir():
            raise ExecutorError(
                f"Ray node {socket.gethostname()} cannot see the store's artifacts at {shared}: "
                "keep them in object storage (REELFLOW_ARTIFACTS=s3://...) or mount that folder "
                "at the same path on every node (see docs/scaling.md)"
            )
        artifacts = str(shared)
    home = Path(tempfile.gettempdir()) / f"reelflow-ray-{os.getuid()}" / "home"
    (home / "running").mkdir(parents=True, exist_ok=True)
    stem = f"{spec.task_id}.{spec.attempt}"
    logs = Path(tempfile.mkdtemp(prefix=f"{spec.run_id}-{stem}-", dir=home / "running"))
    return replace(
        spec,
        store_home=str(home),
        artifacts=artifacts,
        stdout_path=str(logs / f"{stem}.out"),
        stderr_path=str(logs / f"{stem}.err"),
    )


def _with_stored_logs(result: TaskResult, spec: TaskSpec) -> TaskResult:
    """The result with the attempt's logs stored as objects (the driver cannot read them)."""
    keys: tuple[str | None, str | None] = (None, None)
    try:
        objects = open_objects(spec.store_home, spec.artifacts)
        keys = store_logs(objects, spec.stdout_path, spec.stderr_path)
    except Exception:  # logs that cannot be stored must not turn the attempt's outcome around
        pass
    shutil.rmtree(Path(spec.stdout_path).parent, ignore_errors=True)  # the attempt's own folder
    return replace(result, logs=keys)


class StartBoard:
    """A Ray actor that detached tasks tell when their step began; the driver reads it."""

    def __init__(self) -> None:
        self._started: list[tuple[int, int]] = []

    def started(self, task_id: int, attempt: int) -> None:
        self._started.append((task_id, attempt))

    def take(self) -> list[tuple[int, int]]:
        taken, self._started = self._started, []
        return taken


def _child_for(spec: TaskSpec) -> LocalExecutor:
    """A reelflow worker for this run (a new run gets a new one, so no module is stale)."""
    global _child
    key = (spec.store_home, spec.artifacts, spec.run_id)
    if _child is not None and _child[0] != key:
        _drop_child(kill=False)
    if _child is None:
        _child = (key, LocalExecutor(spec.store_home, 1, spec.artifacts))
    return _child[1]


def _drop_child(*, kill: bool = True) -> None:
    global _child
    if _child is not None:
        with contextlib.suppress(Exception):
            _child[1].shutdown(kill=kill)
        _child = None


# --- in the driver -----------------------------------------------------------------------------


@dataclass
class _RayTask:
    spec: TaskSpec
    ref: Any
    marker: Path
    started_at: float | None = None
    kill_reason: str | None = None


class RayExecutor:
    """Runs tasks as Ray tasks on the cluster at ``address``, or on a Ray instance of its own.

    When Ray is already initialised in this process (``ray.init`` called by the caller, as the
    tests do), that instance is used and left running at the end.
    """

    def __init__(
        self,
        store_home: str,
        max_workers: int | None,
        address: str | None,
        artifacts: str | None = None,
    ) -> None:
        self.store_home = store_home
        self.artifacts = artifacts
        ray = _import_ray()
        self._ray = ray
        self._owned = False
        if not ray.is_initialized():
            _connect(ray, address)
            self._owned = True
        resources = ray.cluster_resources()
        cpus = float(resources.get("CPU", 1.0))
        self.max_workers = max_workers or max(1, int(cpus))
        self._cpus = cpus
        self._memory = int(resources.get("memory", physical_memory()))
        nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
        self._node_cpus = max((float(n.get("CPU", 0.0)) for n in nodes), default=cpus)
        self._node_memory = max((int(n.get("memory", 0)) for n in nodes), default=self._memory)
        self._remote = ray.remote(max_retries=0, retry_exceptions=False)(run_in_ray_worker)
        self._driver_node = _driver_node_id(ray)
        alive = [str(n.get("NodeID")) for n in ray.nodes() if n.get("Alive")]
        # Tasks may land on another node than the driver's: they will report through a board.
        # Tasks may land on another node than the driver's (now, or once a cluster grows):
        # they will report through a board.
        self._elsewhere = address is not None or len(alive) > 1 or self._driver_node not in alive
        self._board: Any = None
        self._tasks: dict[int, _RayTask] = {}

    @property
    def cpu_budget(self) -> float:
        return self._cpus

    @property
    def memory_budget(self) -> int:
        return self._memory

    def prestart(self, count: int) -> None:
        """Ray starts its workers itself."""

    def claim(self) -> int | None:
        """Unknown until Ray places the task: the pid is in the attempt's started marker."""
        return None

    def submit(self, spec: TaskSpec, *, cpu: float = 1.0, memory: int | None = None) -> None:
        options: dict[str, Any] = {"num_cpus": min(cpu, self._node_cpus)}
        if memory:
            options["memory"] = min(memory, self._node_memory)
        marker = started_marker(spec)
        with contextlib.suppress(FileNotFoundError):
            marker.unlink()
        ref = self._remote.options(**options).remote(spec, self._driver_node, self._start_board())
        self._tasks[spec.task_id] = _RayTask(spec, ref, marker)

    def _start_board(self) -> Any:
        if self._elsewhere and self._board is None:
            from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

            here = self._ray.get_runtime_context().get_node_id()
            on_driver = NodeAffinitySchedulingStrategy(here, soft=False)
            actor = self._ray.remote(num_cpus=0, scheduling_strategy=on_driver)(StartBoard)
            self._board = actor.remote()  # on the driver's node: it lives as long as the run
        return self._board

    def wait(self, timeout: float) -> list[TaskResult]:
        if not self._tasks:
            time.sleep(timeout)
            return []
        self._poll_started()
        by_ref = {task.ref: task for task in self._tasks.values()}
        refs = list(by_ref)
        ready, _ = self._ray.wait(refs, num_returns=1, timeout=timeout)
        if ready:
            ready, _ = self._ray.wait(refs, num_returns=len(refs), timeout=0)
        results = []
        for ref in ready:
            task = by_ref[ref]
            del self._tasks[task.spec.task_id]
            with contextlib.suppress(FileNotFoundError):
                task.marker.unlink()
            results.append(self._result(task))
        return results

    def started_at(self, task_id: int) -> float | None:
        task = self._tasks.get(task_id)
        if task is None:
            return None
        if task.started_at is None and task.marker.exists():
            task.started_at = time.monotonic()
        return task.started_at

    def kill(self, task_id: int, reason: str) -> None:
        task = self._tasks.get(task_id)
        if task is not None:
            task.kill_reason = reason
            self._cancel(task)

    def shutdown(self, *, kill: bool = False) -> None:
        for task in self._tasks.values():
            self._cancel(task)
        self._tasks.clear()
        if self._board is not None:
            with contextlib.suppress(Exception):
                self._ray.kill(self._board)
            self._board = None
        if self._owned and self._ray.is_initialized():
            self._ray.shutdown()
        self._owned = False

    def _cancel(self, task: _RayTask) -> None:
        with contextlib.suppress(Exception):
            self._ray.cancel(task.ref, force=True)

    def _poll_started(self) -> None:
        if self._board is not None:
            try:
                started = self._ray.get(self._board.take.remote(), timeout=_BOARD_TIMEOUT)
            except Exception:  # the board is gone or slow: only detached timeouts wait longer
                started = []
            for task_id, attempt in started:
                task = self._tasks.get(task_id)
                if task is not None and task.spec.attempt == attempt and task.started_at is None:
                    task.started_at = time.monotonic()
        for task_id in self._tasks:
            self.started_at(task_id)

    def _result(self, task: _RayTask) -> TaskResult:
        spec = task.spec
        try:
            result = self._ray.get(task.ref)
        except Exception as exc:
            return TaskResult(spec.task_id, spec.attempt, error=self._error(task, exc))
        if not isinstance(result, TaskResult):
            error = TaskError("WorkerDied", f"the Ray task returned {type(result).__name__}")
            return TaskResult(spec.task_id, spec.attempt, error=error)
        return result

    def _error(self, task: _RayTask, exc: Exception) -> TaskError:
        if task.kill_reason is not None:
            return TaskError("TaskKilled", task.kill_reason)
        exceptions = self._ray.exceptions
        first = (str(exc).strip().splitlines() or [""])[0]
        if isinstance(exc, exceptions.TaskCancelledError):
            return TaskError("TaskKilled", "the Ray task was cancelled")
        if isinstance(exc, exceptions.RayTaskError):  # reelflow's own code raised in the worker
            cause = exc.cause if isinstance(exc.cause, BaseException) else exc
            return TaskError(type(cause).__name__, str(cause), str(exc))
        return TaskError(
            "WorkerDied", f"the Ray worker running this task died ({type(exc).__name__}: {first})"
        )


def _driver_node_id(ray: Any) -> str:
    """The Ray node this process (the driver) runs on."""
    return str(ray.get_runtime_context().get_node_id())


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ExecutorError(_INSTALL_HINT) from None
    return ray


def _connect(ray: Any, address: str | None) -> None:
    """Join the cluster at ``address``, or start a Ray instance sized for this machine."""
    quiet = {"logging_level": logging.WARNING, "log_to_driver": False, "namespace": "reelflow"}
    if address:
        _check_reachable(address)
        try:
            ray.init(address=address, **quiet)
        except Exception as exc:
            first = (str(exc).strip().splitlines() or [""])[0]
            raise ExecutorError(
                f"cannot join the Ray cluster at {address}: {first} (a cluster with token "
                "authentication needs RAY_AUTH_MODE=token and its token in this environment)"
            ) from None
        return
    try:
        ray.init(
            num_cpus=os.cpu_count() or 1,
            object_store_memory=_OBJECT_STORE_BYTES,
            include_dashboard=False,
            **quiet,
        )
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [""])[0]
        raise ExecutorError(f"cannot start a local Ray instance: {first}") from None


def _check_reachable(address: str) -> None:
    """Fail in seconds on a wrong ``HOST:PORT``, where ``ray.init`` would retry for a minute."""
    if address == "auto" or "://" in address:
        return
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ExecutorError(
            f"--ray-address must be HOST:PORT (the head node's GCS address), 'auto' or "
            f"ray://HOST:PORT, not {address!r}"
        )
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=_CONNECT_TIMEOUT):
            pass
    except OSError as exc:
        raise ExecutorError(
            f"no Ray cluster answers at {address} ({exc.strerror or exc}); "
            "start one with 'ray start --head' or check the address"
        ) from None
