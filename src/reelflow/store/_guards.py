"""Guard results in the metadata database: what each check measured and decided.

Rows come from flow tasks (``self.check`` in a step: ``run_id``/``task_id`` set, written in the
same transaction as the attempt's outcome), or from elsewhere under a ``subject`` (a registry
promotion, a monitor run). The guards layer owns what a result means; this module only stores
the records (``GuardResult.to_record()`` dicts) and reads them back.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from reelflow.store import _schema as t
from reelflow.store._records import dumps, loads

if TYPE_CHECKING:
    from reelflow.store._metadata import MetadataStore

_RESULT_FIELDS = ("name", "passed", "severity", "value", "threshold", "message", "details")


def insert_guard_results(
    conn: Connection,
    records: Iterable[Mapping[str, Any]],
    *,
    run_id: int | None = None,
    task_id: int | None = None,
    attempt: int | None = None,
    step: str | None = None,
    subject: str | None = None,
) -> int:
    """Insert result records on an open transaction; returns how many were written."""
    now = time.time()
    rows = [
        {
            "created_at": now,
            "run_id": run_id,
            "task_id": task_id,
            "attempt": attempt,
            "step": step,
            "subject": subject,
            "seq": seq,
            "name": str(record["name"]),
            "passed": int(bool(record["passed"])),
            "severity": str(record["severity"]),
            "value": _number(record.get("value")),
            "threshold": _number(record.get("threshold")),
            "message": str(record.get("message") or ""),
            "details": dumps(record.get("details") or {}),
        }
        for seq, record in enumerate(records)
    ]
    if rows:
        conn.execute(t.guard_results.insert(), rows)
    return len(rows)


def _number(value: Any) -> float | None:
    """A float, or None for no value and for NaN (which SQLite stores as NULL anyway)."""
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


def copy_task_guard_results(conn: Connection, origin_task: int, run_id: int, task_id: int) -> None:
    """Give a task cloned on resume the results its origin recorded (its last attempt's)."""
    table = t.guard_results
    last = sa.select(sa.func.max(table.c.attempt)).where(table.c.task_id == origin_task)
    attempt = conn.execute(last).scalar()
    if attempt is None:
        return
    query = (
        sa.select(table)
        .where((table.c.task_id == origin_task) & (table.c.attempt == attempt))
        .order_by(table.c.seq)
    )
    rows = [_decoded(row._mapping) for row in conn.execute(query)]
    step = rows[0]["step"] if rows else None
    insert_guard_results(conn, rows, run_id=run_id, task_id=task_id, attempt=0, step=step)


class GuardResultStore:
    """Adds and reads guard results of one metadata store."""

    def __init__(self, metadata: MetadataStore) -> None:
        self.metadata = metadata

    def add(self, records: Iterable[Mapping[str, Any]], *, subject: str) -> int:
        """Record results that belong to no task, under ``subject`` (e.g. ``promotion:12``)."""
        with self.metadata._writer.begin() as conn:
            return insert_guard_results(conn, records, subject=subject)

    def query(
        self,
        *,
        run_id: int | None = None,
        task_id: int | None = None,
        subject: str | None = None,
        subjects: Sequence[str] | None = None,
        latest_attempt: bool = True,
    ) -> list[dict[str, Any]]:
        """Results in the order they were recorded; for tasks, only each task's last attempt
        unless ``latest_attempt`` is False. ``subjects`` reads those of several subjects in
        one query (each row says its ``subject``)."""
        table = t.guard_results
        query = sa.select(table).order_by(table.c.id)
        if run_id is not None:
            query = query.where(table.c.run_id == run_id)
        if task_id is not None:
            query = query.where(table.c.task_id == task_id)
        if subject is not None:
            query = query.where(table.c.subject == subject)
        if subjects is not None:
            query = query.where(table.c.subject.in_(list(subjects)))
        with self.metadata._reader.connect() as conn:
            rows = [_decoded(row._mapping) for row in conn.execute(query)]
        return _last_attempts(rows) if latest_attempt else rows


def _last_attempts(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    last: dict[int, int] = {}
    for row in rows:
        if row["task_id"] is not None:
            last[row["task_id"]] = max(last.get(row["task_id"], -1), row["attempt"] or 0)
    return [
        row
        for row in rows
        if row["task_id"] is None or (row["attempt"] or 0) == last[row["task_id"]]
    ]


def _decoded(mapping: Any) -> dict[str, Any]:
    row = dict(mapping)
    row["passed"] = bool(row["passed"])
    row["details"] = loads(row["details"])
    return row


def result_fields(row: Mapping[str, Any]) -> dict[str, Any]:
    """Only the fields of the result itself (what ``GuardResult.from_record`` reads)."""
    return {name: row[name] for name in _RESULT_FIELDS}
