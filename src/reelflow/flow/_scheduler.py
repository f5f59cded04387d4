"""The scheduler: walks the graph, starts tasks as their inputs are ready, handles what ends them.

It runs in the process that started the run, owns every metadata write, and leaves the work to an
executor (worker processes of this machine, or Ray tasks: see ``_executor.Executor``). Retries
back off exponentially; a timeout kills the task; ``catch`` turns a final failure into an
artifact; the first uncaught failure stops new tasks from starting while the running ones
finish, so that their work can be re-used by ``resume``.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from reelflow._errors import StepFailedError
from reelflow.flow._display import Display
from reelflow.flow._executor import Executor
from reelflow.flow._graph import FlowGraph
from reelflow.flow._logs import LogTail
from reelflow.flow._plan import Done, JoinBook, Pending, ResumePlan
from reelflow.flow._spec import (
    CaughtException,
    InputSpec,
    Namespace,
    TaskError,
    TaskResult,
    TaskSpec,
)
from reelflow.store import CAUGHT, FAILED, SUCCEEDED, ArtifactRecord, Store, TaskOutcome

_POLL_SECONDS = 0.1


@dataclass(frozen=True)
class RunSetup:
    """What the scheduler needs to know about the run it drives."""

    store: Store
    graph: FlowGraph
    flow_file: str
    flow_class: str
    run_id: int
    params: dict[str, Any]
    param_namespace: Namespace
    cpu_budget: float
    memory_budget: int
    origin_run_id: int | None = None


@dataclass
class _Running:
    pending: Pending
    spec: TaskSpec
    started: float
    timeout: float | None
    cpu: float
    memory: int
    logs: LogTail


@dataclass
class Scheduler:
    """Drives one run to its end (or its first uncaught failure)."""

    setup: RunSetup
    executor: Executor
    display: Display
    resume: ResumePlan | None = None
    failure: StepFailedError | None = None
    _ready: deque[Pending] = field(default_factory=deque)
    _retries: list[tuple[float, int, Pending]] = field(default_factory=list)
    _running: dict[int, _Running] = field(default_factory=dict)
    _joins: JoinBook = field(default_factory=JoinBook)
    _counter: itertools.count[int] = field(default_factory=itertools.count)
    _finished: bool = False

    def run(self) -> None:
        """Run from ``start`` to ``end``; raises StepFailedError on the first uncaught failure."""
        self._ready.append(Pending("start", [], [], is_join=False))
        while self._ready or self._retries or self._running:
            self._launch_ready()
            for result in self.executor.wait(self._wait_timeout()):
                self._on_result(result)
            self._enforce_timeouts()
            for running in self._running.values():
                running.logs.pump()
        if self.failure is not None:
            raise self.failure

    def interrupt(self) -> None:
        """Ctrl-C: keep the results already sent, mark the other attempts interrupted.

        The caller kills the workers afterwards and sets the run's status.
        """
        for result in self.executor.wait(0.0):
            self._on_result(result)
        meta = self.setup.store.metadata
        for task_id, running in list(self._running.items()):
            running.logs.pump()
            out, err = running.logs.close(self.setup.store.objects)
            meta.finish_attempt(
                task_id, running.pending.attempt, "interrupted", stdout_key=out, stderr_key=err
            )
        self._running.clear()

    # --- starting tasks ----------------------------------------------------------------------

    def _launch_ready(self) -> None:
        now = time.monotonic()
        while self._retries and self._retries[0][0] <= now:
            self._ready.append(heapq.heappop(self._retries)[2])
        if self.failure is not None:
            self._ready.clear()
            return
        while self._ready:
            pending = self._ready[0]
            origin = (
                self.resume.origin_for(pending) if self.resume and pending.task_id is None else None
            )
            if origin is not None:
                self._ready.popleft()
                self._clone(pending, origin)
                continue
            if not self._fits(pending):
                return
            self._ready.popleft()
            self._start(pending)

    def _fits(self, pending: Pending) -> bool:
        if not self._running:
            return True
        if len(self._running) >= self.executor.max_workers:
            return False
        opts = self.setup.graph[pending.step].options
        cpu = sum(r.cpu for r in self._running.values()) + opts.cpu
        memory = sum(r.memory for r in self._running.values()) + (opts.memory or 0)
        return cpu <= self.setup.cpu_budget and memory <= self.setup.memory_budget

    def _start(self, pending: Pending) -> None:
        setup, meta = self.setup, self.setup.store.metadata
        node = setup.graph[pending.step]
        pid = self.executor.claim()
        if pending.task_id is None:
            pending.task_id = meta.create_task(
                setup.run_id,
                pending.step,
                branch=pending.branch,
                parents=[p.task_id for p in pending.parents or _listed(pending.base)],
                frames=pending.frames,
                worker_pid=pid,
            )
        else:
            meta.start_attempt(pending.task_id, pending.attempt, pid)
        logs = LogTail.for_attempt(setup.store.config.home, setup.run_id, pending, self.display)
        spec = self._spec(pending, logs)
        self.executor.submit(spec, cpu=node.options.cpu, memory=node.options.memory)
        self._running[pending.task_id] = _Running(
            pending,
            spec,
            time.monotonic(),
            node.options.timeout,
            node.options.cpu,
            node.options.memory or 0,
            logs,
        )
        self.display.task_started(pending.step, pending.task_id, pending.attempt)

    def _spec(self, pending: Pending, logs: LogTail) -> TaskSpec:
        setup = self.setup
        assert pending.task_id is not None
        if pending.is_join:
            namespace = dict(setup.param_namespace)
            if pending.base is not None:  # a join after an empty foreach starts from its split
                namespace.update({n: _inherited(r) for n, r in pending.base.namespace.items()})
            inputs = [InputSpec(p.task_id, p.step, p.namespace) for p in pending.parents]
        else:
            namespace = (
                dict(pending.parents[0].namespace)
                if pending.parents
                else dict(setup.param_namespace)
            )
            inputs = None
        return TaskSpec(
            flow_file=setup.flow_file,
            flow_class=setup.flow_class,
            flow_name=setup.graph.flow_name,
            run_id=setup.run_id,
            task_id=pending.task_id,
            attempt=pending.attempt,
            step=pending.step,
            params=setup.params,
            namespace=namespace,
            frames=pending.frames,
            store_home=str(setup.store.config.home),
            artifacts=setup.store.config.artifacts,
            stdout_path=str(logs.stdout_path),
            stderr_path=str(logs.stderr_path),
            inputs=inputs,
            catch=setup.graph[pending.step].options.catch,
            origin_run_id=setup.origin_run_id,
        )

    def _clone(self, pending: Pending, origin: Any) -> None:
        meta = self.setup.store.metadata
        task_id = meta.clone_task(self.setup.run_id, origin, [p.task_id for p in pending.parents])
        namespace = meta.task_artifacts(task_id)
        done = Done(
            task_id,
            pending.step,
            namespace,
            pending.frames,
            origin.transition or {},
            origin_task_id=origin.id,
            cloned=True,
        )
        self.display.task_finished(pending.step, task_id, "resumed", f"re-used task {origin.id}")
        self._advance(done)

    # --- finishing tasks ---------------------------------------------------------------------

    def _on_result(self, result: TaskResult) -> None:
        running = self._running[result.task_id]
        pending, meta = running.pending, self.setup.store.metadata
        running.logs.pump()
        out, err = running.logs.close(self.setup.store.objects)
        if result.logs is not None:  # it ran on another machine, which stored its logs
            running.logs.replay(self.setup.store.objects, result.logs)
            out, err = result.logs
        error = result.error or self._check_transition(pending.step, result.transition)
        if error is None:
            transition = result.transition or {"targets": [], "foreach": None, "count": None}
            outcome = TaskOutcome(SUCCEEDED, tuple(result.namespace.values()), transition)
            meta.finish_attempt(
                result.task_id,
                pending.attempt,
                SUCCEEDED,
                stdout_key=out,
                stderr_key=err,
                task=outcome,
                checks=result.checks,
                step=pending.step,
            )
            del self._running[result.task_id]
            self.display.task_finished(
                pending.step,
                result.task_id,
                SUCCEEDED,
                f"{time.monotonic() - running.started:.2f}s",
            )
            self._advance(
                Done(result.task_id, pending.step, result.namespace, pending.frames, transition)
            )
        else:
            meta.finish_attempt(
                result.task_id,
                pending.attempt,
                FAILED,
                stdout_key=out,
                stderr_key=err,
                error=(error.type, error.message, error.traceback),
                checks=result.checks,
                step=pending.step,
            )
            del self._running[result.task_id]
            self._on_failure(pending, error)

    def _on_failure(self, pending: Pending, error: TaskError) -> None:
        options = self.setup.graph[pending.step].options
        assert pending.task_id is not None
        retryable = error.type != "GuardFailedError"  # a failed guard fails again the same way
        if self.failure is None and retryable and pending.attempt < options.retries:
            delay = options.retry_delay * (2**pending.attempt)
            self.display.task_finished(
                pending.step,
                pending.task_id,
                "retrying",
                f"{error.summary()} (retry in {delay:g}s)",
            )
            pending.attempt += 1
            heapq.heappush(self._retries, (time.monotonic() + delay, next(self._counter), pending))
        elif options.catch:
            self._catch(pending, error, options.catch)
        else:
            self.setup.store.metadata.finish_task(
                pending.task_id, TaskOutcome(FAILED, error=error.summary())
            )
            self.display.task_finished(pending.step, pending.task_id, FAILED, error.summary())
            if self.failure is None:
                node = self.setup.graph[pending.step]
                path = f"{self.setup.run_id}/{pending.step}/{pending.task_id}"
                self.failure = StepFailedError(
                    f"step '{pending.step}' failed (task {path}): {error.type}: {error.message}",
                    file=error.file or node.file,
                    line=error.line if error.file else node.lineno,
                    error_type=error.type,
                )
                self._drop_retries()

    def _drop_retries(self) -> None:
        """The run failed: tasks waiting to retry will not run again; record them as failed."""
        for _, _, waiting in self._retries:
            assert waiting.task_id is not None
            outcome = TaskOutcome(FAILED, error="not retried: another step failed the run")
            self.setup.store.metadata.finish_task(waiting.task_id, outcome)
        self._retries.clear()

    def _catch(self, pending: Pending, error: TaskError, var: str) -> None:
        assert pending.task_id is not None
        caught = CaughtException(error.type, error.message, error.traceback, pending.attempt + 1)
        stored = self.setup.store.save(caught)
        base = (
            dict(pending.parents[0].namespace)
            if len(pending.parents) == 1 and not pending.is_join
            else dict(self.setup.param_namespace)
        )
        namespace = {n: _inherited(r) for n, r in base.items()}
        namespace[var] = ArtifactRecord(
            var, stored.key, stored.encoding, stored.type_name, stored.size
        )
        node = self.setup.graph[pending.step]
        transition = {"targets": list(node.targets), "foreach": None, "count": None}
        outcome = TaskOutcome(CAUGHT, tuple(namespace.values()), transition, error.summary())
        self.setup.store.metadata.finish_task(pending.task_id, outcome)
        self.display.task_finished(pending.step, pending.task_id, CAUGHT, error.summary())
        self._advance(Done(pending.task_id, pending.step, namespace, pending.frames, transition))

    def _check_transition(self, step: str, transition: dict[str, Any] | None) -> TaskError | None:
        node = self.setup.graph[step]
        if step == "end":
            return None
        if transition is None:
            return TaskError(
                "FlowDefinitionError",
                f"step '{step}' ended without calling self.next",
                file=node.file,
                line=node.lineno,
            )
        if tuple(transition["targets"]) != node.targets or transition["foreach"] != node.foreach:
            return TaskError(
                "FlowDefinitionError",
                f"step '{step}' called self.next({', '.join(transition['targets'])}) "
                f"but its source says self.next({', '.join(node.targets)})",
                file=node.file,
                line=node.next_lineno,
            )
        return None

    # --- what comes next ---------------------------------------------------------------------

    def _advance(self, done: Done) -> None:
        """Queue the successors of ``done`` (fan-out, split branches, or a join's arrival)."""
        if done.step == "end":
            return
        targets, count = done.transition["targets"], done.transition.get("count")
        if done.transition.get("foreach"):
            self._fan_out(done, targets[0], int(count or 0))
        elif len(targets) > 1:
            for index, target in enumerate(targets):
                frame = {
                    "kind": "split",
                    "step": done.step,
                    "task": done.task_id,
                    "index": index,
                    "count": len(targets),
                }
                self._queue(target, [done], [*done.frames, frame])
        else:
            self._queue(targets[0], [done], done.frames)

    def _fan_out(self, done: Done, target: str, count: int) -> None:
        if count == 0:
            join = next(n.name for n in self.setup.graph if n.closes == done.step)
            self._ready.append(Pending(join, [], done.frames, is_join=True, base=done))
            return
        var = done.transition["foreach"]
        ref = done.namespace[var]
        for index in range(count):
            frame = {
                "kind": "foreach",
                "step": done.step,
                "task": done.task_id,
                "index": index,
                "count": count,
                "var": var,
                "ref": _ref_dict(ref),
            }
            self._queue(target, [done], [*done.frames, frame])

    def _queue(self, target: str, parents: list[Done], frames: list[dict[str, Any]]) -> None:
        if not self.setup.graph[target].is_join:
            self._ready.append(Pending(target, parents, frames, is_join=False))
            return
        inputs = self._joins.arrive(target, parents[0])
        if inputs is not None:
            self._ready.append(Pending(target, inputs, frames[:-1], is_join=True))

    # --- timeouts and waiting ----------------------------------------------------------------

    def _enforce_timeouts(self) -> None:
        """Kill tasks past their timeout, counted from when the step began (not the imports)."""
        now = time.monotonic()
        for task_id, running in self._running.items():
            began = self.executor.started_at(task_id)
            if running.timeout is not None and began is not None and now > began + running.timeout:
                self.executor.kill(task_id, f"timed out after {running.timeout:g}s")
                running.timeout = None

    def _wait_timeout(self) -> float:
        if self._ready and self.failure is None and not self._running:
            return 0.0
        wake = _POLL_SECONDS
        if self._retries:
            wake = min(wake, max(0.0, self._retries[0][0] - time.monotonic()))
        return wake


def _ref_dict(record: ArtifactRecord) -> dict[str, Any]:
    return {
        "name": record.name,
        "key": record.key,
        "encoding": record.encoding,
        "type_name": record.type_name,
        "size": record.size,
    }


def _listed(done: Done | None) -> list[Done]:
    return [] if done is None else [done]


def _inherited(record: ArtifactRecord) -> ArtifactRecord:
    return ArtifactRecord(
        record.name, record.key, record.encoding, record.type_name, record.size, True
    )
