"""Plain records read from the metadata database, so callers never see SQL rows."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"
INTERRUPTED = "interrupted"
CAUGHT = "caught"
PENDING = "pending"

RUN_STATUSES = (RUNNING, SUCCEEDED, FAILED, INTERRUPTED)


@dataclass(frozen=True)
class RunRecord:
    """One run of a flow."""

    id: int
    flow_name: str
    status: str
    params: dict[str, Any]
    graph: dict[str, Any]
    flow_file: str
    origin_run_id: int | None
    created_at: float
    finished_at: float | None
    error: str | None
    user: str | None
    host: str | None
    pid: int | None
    tags: tuple[str, ...] = ()

    @property
    def duration(self) -> float | None:
        return None if self.finished_at is None else self.finished_at - self.created_at


@dataclass(frozen=True)
class TaskRecord:
    """One task: a step run for one branch of the graph (one foreach item, one split branch)."""

    id: int
    run_id: int
    step: str
    branch: str
    status: str
    parents: tuple[int, ...]
    frames: list[dict[str, Any]]
    transition: dict[str, Any] | None
    attempts: int
    created_at: float
    started_at: float | None
    finished_at: float | None
    origin_task_id: int | None
    error: str | None

    @property
    def duration(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at


@dataclass(frozen=True)
class AttemptRecord:
    """One attempt at a task, with where its logs are kept."""

    task_id: int
    attempt: int
    status: str
    started_at: float
    finished_at: float | None
    worker_pid: int | None
    error_type: str | None
    error_message: str | None
    traceback: str | None
    stdout_key: str | None
    stderr_key: str | None


@dataclass(frozen=True)
class ArtifactRecord:
    """Where an artifact's bytes are (a content key) and how to decode them."""

    name: str
    key: str
    encoding: str
    type_name: str
    size: int
    inherited: bool = False


@dataclass(frozen=True)
class TaskOutcome:
    """How a task ended: its status, its whole namespace, and where the run goes next."""

    status: str
    artifacts: tuple[ArtifactRecord, ...] = ()
    transition: dict[str, Any] | None = None
    error: str | None = None


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=repr)


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)
