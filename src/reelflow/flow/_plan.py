"""A run's bookkeeping: tasks waiting, tasks done, joins filling up, what resume re-uses."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from reelflow.flow._graph import FlowGraph
from reelflow.flow._spec import Namespace
from reelflow.store._records import CAUGHT, SUCCEEDED, TaskRecord


@dataclass
class Done:
    """A task that finished (or was re-used from an earlier run) and can feed its successors."""

    task_id: int
    step: str
    namespace: Namespace
    frames: list[dict[str, Any]]
    transition: dict[str, Any]
    origin_task_id: int | None = None
    cloned: bool = False


@dataclass
class Pending:
    """A task to start: its step, where its artifacts come from, and which attempt is next."""

    step: str
    parents: list[Done]
    frames: list[dict[str, Any]]
    is_join: bool
    attempt: int = 0
    task_id: int | None = None
    base: Done | None = None

    @property
    def branch(self) -> str:
        return branch_key(self.frames)


def branch_key(frames: list[dict[str, Any]]) -> str:
    """Which branch of the graph a task is on: the index it took at each enclosing split."""
    return "/".join(str(frame["index"]) for frame in frames)


@dataclass
class JoinBook:
    """Counts arrivals at each join, so a join starts once every branch of its split is in."""

    arrivals: dict[tuple[str, str, int], dict[int, Done]] = field(default_factory=dict)

    def arrive(self, join_step: str, done: Done) -> list[Done] | None:
        """Record ``done`` at ``join_step``; the ordered inputs once the last branch arrives."""
        top = done.frames[-1]
        key = (join_step, json.dumps(done.frames[:-1], sort_keys=True), int(top["task"]))
        arrived = self.arrivals.setdefault(key, {})
        arrived[int(top["index"])] = done
        if len(arrived) < int(top["count"]):
            return None
        del self.arrivals[key]
        return [arrived[i] for i in sorted(arrived)]


@dataclass
class ResumePlan:
    """Which tasks of an earlier run a resumed run re-uses instead of running again."""

    origin_run_id: int
    reusable: dict[tuple[str, str], TaskRecord]
    rerun_steps: set[str]
    graph: FlowGraph | None = None

    @classmethod
    def from_tasks(
        cls,
        origin_run_id: int,
        tasks: list[TaskRecord],
        rerun_steps: set[str],
        graph: FlowGraph | None = None,
    ) -> ResumePlan:
        reusable = {(t.step, t.branch): t for t in tasks if t.status in (SUCCEEDED, CAUGHT)}
        return cls(origin_run_id, reusable, rerun_steps, graph)

    def origin_for(self, pending: Pending) -> TaskRecord | None:
        """The earlier task ``pending`` can re-use: same step and branch, same re-used parents."""
        if pending.step in self.rerun_steps:
            return None
        origin = self.reusable.get((pending.step, pending.branch))
        if origin is None or not all(p.cloned for p in pending.parents):
            return None
        if {p.origin_task_id for p in pending.parents} != set(origin.parents):
            return None
        if not self._same_edges(origin):
            return None
        return origin

    def _same_edges(self, origin: TaskRecord) -> bool:
        """Whether the step still leads where it led when ``origin`` ran (the code may differ)."""
        if self.graph is None or origin.step not in self.graph.nodes:
            return self.graph is None
        node, transition = self.graph[origin.step], origin.transition or {}
        targets = tuple(transition.get("targets") or ())
        return targets == node.targets and transition.get("foreach") == node.foreach
