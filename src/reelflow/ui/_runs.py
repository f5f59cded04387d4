"""What the run pages and their JSON show, read through the Client API (and one SQL page query)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from reelflow._errors import ArtifactNotFoundError
from reelflow.flow import Client
from reelflow.flow._client import Run, Task
from reelflow.guards import GuardResult
from reelflow.store import INTERRUPTED, RUNNING, RunRecord, TaskRecord
from reelflow.store._guards import result_fields
from reelflow.store._search import RunPage, search_runs
from reelflow.ui import _params as p
from reelflow.ui import _preview
from reelflow.ui._graph import Layout, layout
from reelflow.ui._params import NotFound

MAX_LOG_BYTES = 256 * 1024  # the tail of a log a page shows
_GUARD_ORDER = {"failed": 0, "warning": 1, "passed": 2}


def run_list(client: Client, query: Mapping[str, str]) -> dict[str, Any]:
    """A page of runs, newest first (``flow``, ``status``, ``tag``, ``page``, ``per_page`` read
    from ``query``), with the filters and how many pages there are. A page past the last is
    the last page (``page`` says which was read), for the HTML page and the API alike."""
    p.only_known(query, {"flow", "status", "tag", "page", "per_page"})
    flow = p.name(query.get("flow"), "flow")
    status = p.status(query.get("status"))
    tag = p.tag(query.get("tag"))
    page = p.integer(query.get("page"), "page", default=1, low=1, high=10**9)
    size = p.integer(query.get("per_page"), "per_page", default=50, low=1, high=p.MAX_PAGE_SIZE)

    def read(page: int) -> RunPage:
        return search_runs(client.store.metadata, flow_name=flow, status=status, tag=tag,
                           limit=size, offset=(page - 1) * size)  # fmt: skip

    found = read(page)
    pages = max(1, -(-found.total // size))
    if page > pages:  # past the end (a stale link, a hand-typed page): the last page
        page = pages
        found = read(page)
    return {
        "runs": [run_summary(r) for r in found.runs],
        "total": found.total,
        "page": page,
        "pages": pages,
        "per_page": size,
        "filters": {"flow": flow, "status": status, "tag": tag},
    }


def run_summary(record: RunRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "flow": record.flow_name,
        "status": record.status,
        "created_at": record.created_at,
        "finished_at": record.finished_at,
        "duration": record.duration,
        "params": record.params,
        "tags": list(record.tags),
        "user": record.user,
        "host": record.host,
        "origin_run_id": record.origin_run_id,
        "error": record.error,
    }


def get_run(client: Client, run_id: int) -> Run:
    try:
        return client.run(run_id)
    except ArtifactNotFoundError:
        raise NotFound(f"no run {run_id} in this store") from None


def get_task(client: Client, run_id: int, task_id: int) -> tuple[Task, RunRecord]:
    """Task ``task_id`` of run ``run_id`` and the run's record, each read by itself (not the
    run's other tasks: a task page polls its logs through this)."""
    try:
        record = client.store.metadata.get_task(task_id)
    except ArtifactNotFoundError:
        record = None
    owner = get_run(client, run_id).record  # no such run: say that first
    if record is None or record.run_id != run_id:
        raise NotFound(f"run {run_id} has no task {task_id}")
    return Task(client.store, record), owner


def shown_status(status: str, run_status: str) -> str:
    """A task's or attempt's status as the UI shows it: one still marked running in a run that
    ended (a scheduler killed with kill -9 leaves them so) is shown as interrupted."""
    return INTERRUPTED if status == RUNNING and run_status != RUNNING else status


def load_hint(client: Client, task: Task, name: str) -> str:
    """The Python that loads artifact ``name`` of ``task`` (``.tasks[i]`` in a foreach)."""
    siblings = [t.id for t in client.store.metadata.list_tasks(task.record.run_id, task.step)]
    index = siblings.index(task.id) if len(siblings) > 1 and task.id in siblings else None
    return _preview.load_hint(task.record.run_id, task.step, index, name)


def run_detail(run: Run, guards: list[dict[str, Any]]) -> dict[str, Any]:
    """The run, its steps with their tasks, and a count of its guard results (``run_guards``)
    by status."""
    steps = [
        {"name": step.name, "tasks": [task_summary(t.record, run.status) for t in step.tasks]}
        for step in run.steps()
    ]
    counts = {s: sum(g["status"] == s for g in guards) for s in _GUARD_ORDER}
    return {**run_summary(run.record), "steps": steps, "guards": counts}


def run_graph(run: Run) -> Layout:
    statuses = {
        step.name: [shown_status(t.status, run.status) for t in step.tasks] for step in run.steps()
    }
    return layout(run.record.graph, statuses)


def run_status(run: Run) -> dict[str, Any]:
    """What a page polls while a run runs: its status, each step's node status and tasks."""
    graph = run_graph(run)
    return {
        "id": run.id,
        "status": run.status,
        "finished_at": run.finished_at,
        "duration": run.duration,
        "running": run.status == RUNNING,
        "nodes": {n.name: {"status": n.status, "tasks": n.tasks} for n in graph.nodes},
        "tasks": [task_summary(t.record, run.status) for step in run.steps() for t in step.tasks],
    }


def task_summary(record: TaskRecord, run_status: str) -> dict[str, Any]:
    return {
        "id": record.id,
        "step": record.step,
        "branch": record.branch,
        "status": shown_status(record.status, run_status),
        "attempts": record.attempts,
        "started_at": record.started_at,
        "finished_at": record.finished_at,
        "duration": record.duration,
        "origin_task_id": record.origin_task_id,
        "error": record.error,
    }


def task_detail(task: Task, run_status: str) -> dict[str, Any]:
    attempts = [
        {
            "attempt": a.attempt,
            "status": shown_status(a.status, run_status),
            "started_at": a.started_at,
            "finished_at": a.finished_at,
            "error_type": a.error_type,
            "error_message": a.error_message,
            "traceback": a.traceback,
        }
        for a in task.attempts()
    ]
    artifacts = [
        {
            "name": a.name,
            "type": a.type_name,
            "encoding": a.encoding,
            "size": a.size,
            "inherited": a.inherited,
        }
        for a in task.artifacts.values()
    ]
    return {**task_summary(task.record, run_status), "run_id": task.record.run_id,
            "attempts": attempts, "artifacts": artifacts}  # fmt: skip


def task_logs(client: Client, task: Task, attempt: int | None, run_status: str) -> dict[str, Any]:
    """The tail of each log of an attempt (the last one by default): from the store once the
    attempt ended, from the files the worker is writing while it runs (local runs), and what
    was written of them when the run ended without ending the attempt."""
    tries = task.attempts()
    if not tries:
        return {"attempt": None, "status": None, "running": False, "stdout": "", "stderr": "",
                "truncated": False}  # fmt: skip
    chosen = (
        tries[-1] if attempt is None else next((a for a in tries if a.attempt == attempt), None)
    )
    if chosen is None:
        raise NotFound(f"task {task.id} has no attempt {attempt}")
    unfinished = chosen.status == RUNNING and chosen.stdout_key is None
    running = unfinished and run_status == RUNNING
    texts, cut = {}, False
    for stream, key in (("stdout", chosen.stdout_key), ("stderr", chosen.stderr_key)):
        if key is not None:
            data = client.store.objects.read_bytes(key)
        elif unfinished:
            suffix = "out" if stream == "stdout" else "err"
            name = f"{task.id}.{chosen.attempt}.{suffix}"
            data = _tail(client.store.config.home / "running" / str(task.record.run_id) / name)
        else:
            data = b""
        cut = cut or len(data) > MAX_LOG_BYTES
        texts[stream] = data[-MAX_LOG_BYTES:].decode("utf-8", errors="replace")
    status = shown_status(chosen.status, run_status)
    return {"attempt": chosen.attempt, "status": status, "running": running, **texts,
            "truncated": cut}  # fmt: skip


def _tail(path: Path) -> bytes:
    """The last ``MAX_LOG_BYTES`` (and one more, to tell it was cut) of a file, or nothing."""
    try:
        with open(path, "rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - MAX_LOG_BYTES - 1))
            return handle.read()
    except FileNotFoundError:
        return b""


def run_guards(run: Run) -> list[dict[str, Any]]:
    """The run's guard results (one query), failures first then warnings, each with its
    plot's kind."""
    rows = []
    for row in run.guard_results:
        plot = (row.get("details") or {}).get("plot")
        kind = plot.get("kind") if isinstance(plot, dict) else None
        details = {k: v for k, v in (row.get("details") or {}).items() if k != "plot"}
        rows.append({**row, "status": _guard_status(row), "plot": kind, "details": details})
    return sorted(rows, key=lambda r: _GUARD_ORDER[r["status"]])


def guard_row(run: Run, guard_id: int) -> dict[str, Any]:
    for row in run.guard_results:
        if row["id"] == guard_id:
            return row
    raise NotFound(f"run {run.id} has no guard result {guard_id}")


def _guard_status(row: dict[str, Any]) -> str:
    return str(GuardResult.from_record(result_fields(row)).status)
