"""Messages between the scheduler and its workers: what a task is, and what it produced."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from reelflow.store._records import ArtifactRecord

Namespace = dict[str, ArtifactRecord]


@dataclass(frozen=True)
class InputSpec:
    """One branch arriving at a join: the task it came from and that task's artifacts."""

    task_id: int
    step: str
    namespace: Namespace


@dataclass(frozen=True)
class TaskSpec:
    """Everything a worker needs to run one attempt of one task."""

    flow_file: str
    flow_class: str
    flow_name: str
    run_id: int
    task_id: int
    attempt: int
    step: str
    params: dict[str, Any]
    namespace: Namespace
    frames: list[dict[str, Any]]
    store_home: str
    stdout_path: str
    stderr_path: str
    inputs: list[InputSpec] | None = None
    catch: str | None = None
    origin_run_id: int | None = None
    artifacts: str | None = None  # where the objects live when not under store_home


@dataclass(frozen=True)
class TaskError:
    """Why an attempt failed, with where in the user's file when that is known."""

    type: str
    message: str
    traceback: str = ""
    file: str | None = None
    line: int | None = None

    def summary(self) -> str:
        where = ""
        if self.file:
            where = f" ({self.file}:{self.line})" if self.line else f" ({self.file})"
        first = (self.message.strip().splitlines() or [""])[0]
        return f"{self.type}: {first}{where}"


@dataclass(frozen=True)
class TaskResult:
    """What an attempt produced: its whole namespace (new and inherited) and where it goes next."""

    task_id: int
    attempt: int
    namespace: Namespace = field(default_factory=dict)
    transition: dict[str, Any] | None = None
    error: TaskError | None = None
    checks: tuple[dict[str, Any], ...] = ()
    logs: tuple[str | None, str | None] | None = None  # keys, when stored by the worker's node

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class CaughtException:
    """What ``@step(catch=...)`` keeps as an artifact when a step failed after all its retries."""

    type: str
    message: str
    traceback: str
    attempts: int

    def __str__(self) -> str:
        return f"{self.type}: {self.message}"
