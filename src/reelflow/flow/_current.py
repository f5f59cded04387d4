"""``current``: what the running task is (flow, run, step, task, attempt, parameters)."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any


@dataclass(frozen=True)
class TaskContext:
    """The identity of one attempt of one task, as a step sees it."""

    flow_name: str
    run_id: int
    step_name: str
    task_id: int
    attempt: int
    parameters: MappingProxyType[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    origin_run_id: int | None = None

    @property
    def pathspec(self) -> str:
        return f"{self.flow_name}/{self.run_id}/{self.step_name}/{self.task_id}"


class Current:
    """Read-only view of the task being run; outside a task every attribute raises a clear error."""

    def __init__(self) -> None:
        self._context: TaskContext | None = None

    def _bind(self, context: TaskContext | None) -> None:
        self._context = context

    @property
    def is_running(self) -> bool:
        return self._context is not None

    def _get(self) -> TaskContext:
        if self._context is None:
            raise RuntimeError("reelflow.current is only available inside a running step")
        return self._context

    @property
    def flow_name(self) -> str:
        return self._get().flow_name

    @property
    def run_id(self) -> int:
        return self._get().run_id

    @property
    def step_name(self) -> str:
        return self._get().step_name

    @property
    def task_id(self) -> int:
        return self._get().task_id

    @property
    def attempt(self) -> int:
        return self._get().attempt

    @property
    def parameters(self) -> MappingProxyType[str, Any]:
        return self._get().parameters

    @property
    def origin_run_id(self) -> int | None:
        return self._get().origin_run_id

    @property
    def pathspec(self) -> str:
        return self._get().pathspec

    def __repr__(self) -> str:
        return f"<current {self._context.pathspec if self._context else '(no task)'}>"


current = Current()
