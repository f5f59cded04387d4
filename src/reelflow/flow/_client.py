"""The Client API: read flows, runs, steps, tasks, artifacts and logs from notebooks and scripts.

Everything is lazy: opening a run reads one row; artifacts load on first access.

    >>> Client().latest_run("TrainFlow")["join"].task["by_region"]
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import cached_property
from pathlib import Path
from typing import Any

from reelflow._errors import ArtifactNotFoundError, UsageError
from reelflow.store import (
    SUCCEEDED,
    ArtifactRecord,
    AttemptRecord,
    RunRecord,
    Store,
    TaskRecord,
)


class Client:
    """Entry point: the store of the working directory, or the one given."""

    def __init__(self, store: Store | str | Path | None = None) -> None:
        if isinstance(store, Store):
            self.store = store
        else:
            self.store = Store.open(store, create=False)

    def flows(self) -> list[str]:
        return self.store.metadata.list_flows()

    def runs(self, flow_name: str | None = None, *, limit: int | None = None) -> list[Run]:
        """Runs, newest first."""
        records = self.store.metadata.list_runs(flow_name, limit=limit)
        return [Run(self.store, r) for r in records]

    def run(self, run_id: int | str) -> Run:
        """A run by id: ``12``, ``"12"`` or ``"TrainFlow/12"`` (the flow name is checked)."""
        flow_name, number = _parse_run_id(run_id)
        record = self.store.metadata.get_run(number)
        if flow_name is not None and record.flow_name != flow_name:
            raise ArtifactNotFoundError(
                f"run {number} is a run of {record.flow_name}, not of {flow_name}"
            )
        return Run(self.store, record)

    def latest_run(self, flow_name: str, *, successful: bool = True) -> Run:
        """The newest run of ``flow_name`` (the newest successful one by default)."""
        statuses = [SUCCEEDED] if successful else None
        found = self.store.metadata.list_runs(flow_name, statuses=statuses, limit=1)
        if not found:
            kind = "successful run" if successful else "run"
            raise ArtifactNotFoundError(f"no {kind} of flow '{flow_name}' in this store")
        return Run(self.store, found[0])


class Run:
    """One run: its status, parameters, tags and steps."""

    def __init__(self, store: Store, record: RunRecord) -> None:
        self._store = store
        self.record = record

    id = property(lambda self: self.record.id)
    flow_name = property(lambda self: self.record.flow_name)
    status = property(lambda self: self.record.status)
    params = property(lambda self: dict(self.record.params))
    origin_run_id = property(lambda self: self.record.origin_run_id)
    created_at = property(lambda self: self.record.created_at)
    finished_at = property(lambda self: self.record.finished_at)
    duration = property(lambda self: self.record.duration)

    @property
    def successful(self) -> bool:
        return bool(self.record.status == SUCCEEDED)

    @property
    def tags(self) -> tuple[str, ...]:
        return self._store.metadata.get_run(self.id).tags

    def add_tag(self, *tags: str) -> None:
        self._store.metadata.add_tags(self.id, tags)

    def remove_tag(self, *tags: str) -> None:
        self._store.metadata.remove_tags(self.id, tags)

    @property
    def guard_results(self) -> list[dict[str, Any]]:
        """Every guard result the run's tasks recorded (each task's last attempt), in order;
        each row has the result's fields plus ``step``, ``task_id`` and ``attempt``."""
        from reelflow.store._guards import GuardResultStore

        return GuardResultStore(self._store.metadata).query(run_id=self.id)

    @cached_property
    def _tasks(self) -> list[TaskRecord]:
        return self._store.metadata.list_tasks(self.id)

    def steps(self) -> list[Step]:
        """Steps in graph order, each with the tasks this run ran (or re-used) for it."""
        order = list(self.record.graph.get("order") or self.record.graph.get("steps") or [])
        by_step: dict[str, list[TaskRecord]] = {}
        for task in self._tasks:
            by_step.setdefault(task.step, []).append(task)
        names = [n for n in order if n in by_step] + [n for n in by_step if n not in order]
        return [Step(self._store, self, name, by_step[name]) for name in names]

    def __iter__(self) -> Iterator[Step]:
        return iter(self.steps())

    def __getitem__(self, step_name: str) -> Step:
        tasks = [t for t in self._tasks if t.step == step_name]
        if not tasks:
            raise ArtifactNotFoundError(f"run {self.id} has no task for a step named '{step_name}'")
        return Step(self._store, self, step_name, tasks)

    @property
    def data(self) -> TaskData:
        """The artifacts of the ``end`` task, as attributes."""
        return self["end"].task.data

    def __repr__(self) -> str:
        return f"<Run {self.flow_name}/{self.id} {self.status}>"


class Step:
    """The tasks of one step in one run."""

    def __init__(self, store: Store, run: Run, name: str, tasks: list[TaskRecord]) -> None:
        self._store = store
        self.run = run
        self.name = name
        self._records = tasks

    @property
    def tasks(self) -> list[Task]:
        return [Task(self._store, record) for record in self._records]

    @property
    def task(self) -> Task:
        """The step's task (the first one when a foreach ran several)."""
        return Task(self._store, self._records[0])

    def __iter__(self) -> Iterator[Task]:
        return iter(self.tasks)

    def __len__(self) -> int:
        return len(self._records)

    def __repr__(self) -> str:
        return f"<Step {self.run.id}/{self.name} of {self.run.flow_name} ({len(self)} tasks)>"


class Task:
    """One task: its status, attempts, artifacts (loaded on access) and logs."""

    def __init__(self, store: Store, record: TaskRecord) -> None:
        self._store = store
        self.record = record
        self._values: dict[str, Any] = {}

    id = property(lambda self: self.record.id)
    step = property(lambda self: self.record.step)
    status = property(lambda self: self.record.status)
    branch = property(lambda self: self.record.branch)
    duration = property(lambda self: self.record.duration)
    origin_task_id = property(lambda self: self.record.origin_task_id)

    @property
    def pathspec(self) -> str:
        return f"{self.record.run_id}/{self.step}/{self.id}"

    @cached_property
    def artifacts(self) -> dict[str, ArtifactRecord]:
        """Name to record (type, size, content key) of every artifact the task holds."""
        return self._store.metadata.task_artifacts(self.id)

    def __getitem__(self, name: str) -> Any:
        if name not in self._values:
            record = self.artifacts.get(name)
            if record is None:
                raise ArtifactNotFoundError(
                    f"task {self.pathspec} has no artifact '{name}'; it has: "
                    f"{', '.join(self.artifacts) or 'none'}"
                )
            self._values[name] = self._store.load(record)
        return self._values[name]

    def __contains__(self, name: object) -> bool:
        return name in self.artifacts

    def keys(self) -> Iterable[str]:
        return self.artifacts.keys()

    @property
    def data(self) -> TaskData:
        return TaskData(self)

    @property
    def guard_results(self) -> list[dict[str, Any]]:
        """The guard results this task's last attempt recorded with ``self.check``."""
        from reelflow.store._guards import GuardResultStore

        return GuardResultStore(self._store.metadata).query(task_id=self.id)

    def attempts(self) -> list[AttemptRecord]:
        return self._store.metadata.list_attempts(self.id)

    def _log(self, stream: str, attempt: int | None) -> str:
        tries = self.attempts()
        if not tries:
            return ""
        chosen = (
            tries[-1] if attempt is None else next((a for a in tries if a.attempt == attempt), None)
        )
        if chosen is None:
            raise ArtifactNotFoundError(f"task {self.pathspec} has no attempt {attempt}")
        key = chosen.stdout_key if stream == "stdout" else chosen.stderr_key
        if key is None:
            return ""
        return self._store.objects.read_bytes(key).decode("utf-8", errors="replace")

    def stdout(self, attempt: int | None = None) -> str:
        """What the task printed (its last attempt unless ``attempt`` is given)."""
        return self._log("stdout", attempt)

    def stderr(self, attempt: int | None = None) -> str:
        return self._log("stderr", attempt)

    def __repr__(self) -> str:
        return f"<Task {self.pathspec} {self.status}>"


class TaskData:
    """Attribute access to a task's artifacts: ``task.data.model``."""

    def __init__(self, task: Task) -> None:
        self._task = task

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._task[name]
        except ArtifactNotFoundError as exc:
            raise AttributeError(str(exc)) from None

    def __dir__(self) -> list[str]:
        return list(self._task.keys())


def _parse_run_id(value: int | str) -> tuple[str | None, int]:
    """``12`` or ``"TrainFlow/12"`` into (flow name or None, run number)."""
    flow_name, _, number = str(value).strip().rpartition("/")
    if not number.isdigit() or (flow_name and "/" in flow_name):
        raise UsageError(
            f"{value!r} is not a run id: use a number or FLOW/NUMBER (see 'reelflow runs')"
        )
    return flow_name or None, int(number)
