"""Run metadata in SQL through SQLAlchemy: SQLite (WAL) by default, any SQLAlchemy URL otherwise
(PostgreSQL is tested as well).

Writes happen in short transactions. On SQLite they start with ``BEGIN IMMEDIATE`` so that two
runs writing to one store wait for each other instead of failing halfway through a transaction.
PostgreSQL lets writers run side by side (read committed); a write that reads before it decides
(the next version number, an alias still where the writer saw it, the tables to create) first
takes a transaction-scoped advisory lock on what it decides about (:func:`serialize`), so it
behaves as on SQLite.
"""

from __future__ import annotations

import getpass
import hashlib
import os
import socket
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from reelflow._errors import ArtifactNotFoundError, StoreError
from reelflow.store import _schema as t
from reelflow.store._guards import copy_task_guard_results, insert_guard_results
from reelflow.store._records import (
    INTERRUPTED,
    RUNNING,
    ArtifactRecord,
    AttemptRecord,
    RunRecord,
    TaskOutcome,
    TaskRecord,
    dumps,
    loads,
)

_BUSY_TIMEOUT_MS = 60_000


def _sqlite_engine(url: str, *, immediate: bool) -> Engine:
    engine = sa.create_engine(url, connect_args={"timeout": _BUSY_TIMEOUT_MS / 1000})

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
        if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            _retry_locked(lambda: cursor.execute("PRAGMA journal_mode=WAL"))
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


class MetadataStore:
    """Runs, tasks, attempts, artifacts and tags of every flow in one store."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._is_sqlite = url.startswith("sqlite")
        try:
            if self._is_sqlite:
                self._writer = _sqlite_engine(url, immediate=True)
                self._reader = _sqlite_engine(url, immediate=False)
            else:
                self._writer = self._reader = sa.create_engine(url, pool_pre_ping=True)
            _retry_locked(self._create_schema)
        except sa.exc.SQLAlchemyError as exc:
            raise StoreError(
                f"cannot open the metadata database {_redact(url)}: {_first_line(exc)}"
            ) from None
        except ImportError as exc:
            package = '"reelflow[postgres]"' if str(exc.name).startswith("psycopg") else exc.name
            raise StoreError(
                f"cannot open the metadata database {_redact(url)}: its driver is not installed"
                f" ({exc.name}); pip install it, e.g. 'pip install {package}'"
            ) from None

    def _create_schema(self) -> None:
        with self._writer.begin() as conn:
            serialize(conn, "schema")  # two processes opening a new database at once
            t.metadata.create_all(conn)
            for table in t.metadata.sorted_tables:  # indexes added since the store was made
                for index in table.indexes:
                    index.create(conn, checkfirst=True)
            row = conn.execute(sa.select(t.info.c.value).where(t.info.c.name == "schema")).first()
            if row is None:
                conn.execute(t.info.insert().values(name="schema", value=str(t.SCHEMA_VERSION)))
            elif int(row[0]) > t.SCHEMA_VERSION:
                raise StoreError(
                    f"the store's schema version {row[0]} is newer than this reelflow understands"
                    f" ({t.SCHEMA_VERSION}); upgrade reelflow"
                )

    def close(self) -> None:
        self._writer.dispose()
        self._reader.dispose()

    # --- runs ----------------------------------------------------------------------------------

    def create_run(
        self,
        flow_name: str,
        *,
        params: dict[str, Any],
        graph: dict[str, Any],
        flow_file: str,
        origin_run_id: int | None = None,
        tags: Iterable[str] = (),
    ) -> int:
        """Record a new run as running and return its id."""
        values = {
            "flow_name": flow_name,
            "status": RUNNING,
            "params": dumps(params),
            "graph": dumps(graph),
            "flow_file": flow_file,
            "origin_run_id": origin_run_id,
            "created_at": time.time(),
            "user": _user(),
            "host": socket.gethostname(),
            "pid": os.getpid(),
        }
        with self._writer.begin() as conn:
            run_id = insert_id(conn, t.runs.insert(), values)
            for tag in sorted(set(tags)):
                conn.execute(t.tags.insert().values(run_id=run_id, tag=tag))
        return run_id

    def finish_run(self, run_id: int, status: str, error: str | None = None) -> None:
        with self._writer.begin() as conn:
            conn.execute(
                t.runs.update()
                .where(t.runs.c.id == run_id)
                .values(status=status, finished_at=time.time(), error=error)
            )
            if status == INTERRUPTED:
                conn.execute(
                    t.tasks.update()
                    .where((t.tasks.c.run_id == run_id) & (t.tasks.c.status == RUNNING))
                    .values(status=INTERRUPTED, finished_at=time.time())
                )

    def add_tags(self, run_id: int, tags: Iterable[str]) -> None:
        self.get_run(run_id)
        with self._writer.begin() as conn:
            serialize(conn, "tags", run_id)
            existing = set(self._tags(conn, [run_id]).get(run_id, ()))
            for tag in sorted(set(tags) - existing):
                conn.execute(t.tags.insert().values(run_id=run_id, tag=tag))

    def remove_tags(self, run_id: int, tags: Iterable[str]) -> None:
        with self._writer.begin() as conn:
            conn.execute(
                t.tags.delete().where((t.tags.c.run_id == run_id) & t.tags.c.tag.in_(list(tags)))
            )

    def get_run(self, run_id: int) -> RunRecord:
        with self._reader.connect() as conn:
            row = conn.execute(sa.select(t.runs).where(t.runs.c.id == run_id)).first()
            if row is None:
                raise ArtifactNotFoundError(
                    f"no run {run_id} in this store; list runs with 'reelflow runs'"
                )
            return _run(row, self._tags(conn, [run_id]).get(run_id, ()))

    def list_runs(
        self,
        flow_name: str | None = None,
        *,
        statuses: Sequence[str] | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[RunRecord]:
        """Runs, newest first, optionally of one flow and in some statuses."""
        query = sa.select(t.runs).order_by(t.runs.c.id.desc()).offset(offset)
        if flow_name is not None:
            query = query.where(t.runs.c.flow_name == flow_name)
        wanted = None if statuses is None else set(statuses)
        if wanted is not None:
            # A run whose scheduler was killed still says "running": ask for those too.
            query = query.where(t.runs.c.status.in_(sorted(wanted | {RUNNING})))
        with self._reader.connect() as conn:
            found: list[RunRecord] = []
            for row in conn.execute(query):
                run = _run(row, ())
                if wanted is None or run.status in wanted:
                    found.append(run)
                if limit is not None and len(found) >= limit:
                    break
            tags = self._tags(conn, [run.id for run in found])
        return [replace(run, tags=tags.get(run.id, ())) for run in found]

    def list_flows(self) -> list[str]:
        query = sa.select(t.runs.c.flow_name).distinct()
        with self._reader.connect() as conn:
            return sorted(row[0] for row in conn.execute(query))

    @staticmethod
    def _tags(conn: Connection, run_ids: list[int]) -> dict[int, tuple[str, ...]]:
        if not run_ids:
            return {}
        rows = conn.execute(
            sa.select(t.tags.c.run_id, t.tags.c.tag).where(t.tags.c.run_id.in_(run_ids))
        )
        found: dict[int, list[str]] = {}
        for run_id, tag in rows:
            found.setdefault(run_id, []).append(tag)
        # sorted here, by code point: a database's collation may order text otherwise
        return {run_id: tuple(sorted(values)) for run_id, values in found.items()}

    # --- tasks ---------------------------------------------------------------------------------

    def create_task(
        self,
        run_id: int,
        step: str,
        *,
        branch: str,
        parents: Sequence[int],
        frames: list[dict[str, Any]],
        worker_pid: int | None = None,
    ) -> int:
        """Record a task and its first attempt as running, in one transaction."""
        now = time.time()
        values = {
            "run_id": run_id,
            "step": step,
            "branch": branch,
            "status": RUNNING,
            "parents": dumps(list(parents)),
            "frames": dumps(frames),
            "attempts": 1,
            "created_at": now,
            "started_at": now,
            "origin_task_id": None,
        }
        with self._writer.begin() as conn:
            task_id = insert_id(conn, t.tasks.insert(), values)
            conn.execute(_INSERT_ATTEMPT, _attempt_row(task_id, 0, now, worker_pid))
        return task_id

    def start_attempt(self, task_id: int, attempt: int, worker_pid: int | None) -> None:
        """Record a retry of a task as running."""
        now = time.time()
        with self._writer.begin() as conn:
            conn.execute(_INSERT_ATTEMPT, _attempt_row(task_id, attempt, now, worker_pid))
            conn.execute(_UPDATE_TASK, {"_id": task_id, "status": RUNNING, "attempts": attempt + 1})

    def finish_attempt(
        self,
        task_id: int,
        attempt: int,
        status: str,
        *,
        error: tuple[str, str, str] | None = None,
        stdout_key: str | None = None,
        stderr_key: str | None = None,
        task: TaskOutcome | None = None,
        checks: Sequence[dict[str, Any]] = (),
        step: str | None = None,
    ) -> None:
        """Close an attempt (``error`` is type, message, traceback), and its task when given,
        with the guard results (``checks``) the attempt recorded, in one transaction."""
        error_type, message, trace = error if error is not None else (None, None, None)
        values = {
            "_task": task_id,
            "_attempt": attempt,
            "status": status,
            "finished_at": time.time(),
            "error_type": error_type,
            "error_message": message,
            "traceback": trace,
            "stdout_key": stdout_key,
            "stderr_key": stderr_key,
        }
        with self._writer.begin() as conn:
            conn.execute(_UPDATE_ATTEMPT, values)
            if checks:
                run_id = conn.execute(
                    sa.select(t.tasks.c.run_id).where(t.tasks.c.id == task_id)
                ).scalar()
                insert_guard_results(
                    conn, checks, run_id=run_id, task_id=task_id, attempt=attempt, step=step
                )
            if task is not None:
                _finish_task(conn, task_id, task)

    def finish_task(self, task_id: int, outcome: TaskOutcome) -> None:
        """Record a task's outcome and its artifacts in one transaction."""
        with self._writer.begin() as conn:
            _finish_task(conn, task_id, outcome)

    def clone_task(self, run_id: int, origin: TaskRecord, parents: Sequence[int]) -> int:
        """Record, without running it, a task that re-uses a task of an earlier run (resume)."""
        now = time.time()
        with self._writer.begin() as conn:
            values = {
                "run_id": run_id,
                "step": origin.step,
                "branch": origin.branch,
                "status": origin.status,
                "parents": dumps(list(parents)),
                "frames": dumps(origin.frames),
                "transition": dumps(origin.transition),
                "attempts": 0,
                "created_at": now,
                "started_at": now,
                "finished_at": now,
                "origin_task_id": origin.id,
                "error": origin.error,
            }
            task_id = insert_id(conn, t.tasks.insert(), values)
            source = sa.select(
                sa.literal(task_id),
                t.artifacts.c.name,
                t.artifacts.c.key,
                t.artifacts.c.encoding,
                t.artifacts.c.type_name,
                t.artifacts.c.size,
                t.artifacts.c.inherited,
            ).where(t.artifacts.c.task_id == origin.id)
            conn.execute(
                t.artifacts.insert().from_select(
                    ["task_id", "name", "key", "encoding", "type_name", "size", "inherited"],
                    source,
                )
            )
            copy_task_guard_results(conn, origin.id, run_id, task_id)
        return task_id

    def get_task(self, task_id: int) -> TaskRecord:
        with self._reader.connect() as conn:
            row = conn.execute(sa.select(t.tasks).where(t.tasks.c.id == task_id)).first()
        if row is None:
            raise ArtifactNotFoundError(f"no task {task_id} in this store")
        return _task(row)

    def list_tasks(self, run_id: int, step: str | None = None) -> list[TaskRecord]:
        query = sa.select(t.tasks).where(t.tasks.c.run_id == run_id).order_by(t.tasks.c.id)
        if step is not None:
            query = query.where(t.tasks.c.step == step)
        with self._reader.connect() as conn:
            return [_task(row) for row in conn.execute(query)]

    def list_attempts(self, task_id: int) -> list[AttemptRecord]:
        query = (
            sa.select(t.attempts)
            .where(t.attempts.c.task_id == task_id)
            .order_by(t.attempts.c.attempt)
        )
        with self._reader.connect() as conn:
            return [AttemptRecord(**row._mapping) for row in conn.execute(query)]

    def task_artifacts(self, task_id: int) -> dict[str, ArtifactRecord]:
        query = sa.select(t.artifacts).where(t.artifacts.c.task_id == task_id)
        with self._reader.connect() as conn:
            rows = conn.execute(query).all()
        return {row.name: _artifact(row) for row in sorted(rows, key=lambda r: r.name)}

    def referenced_keys(self) -> set[str]:
        """Every object key the metadata points at (artifacts, logs, registered model files), for
        ``store check``."""
        with self._reader.connect() as conn:
            keys = {row[0] for row in conn.execute(sa.select(t.artifacts.c.key).distinct())}
            keys.update(row[0] for row in conn.execute(sa.select(t.model_files.c.key).distinct()))
            profiles = sa.select(t.model_versions.c.profile_key).distinct()
            keys.update(row[0] for row in conn.execute(profiles) if row[0])
            for column in (t.attempts.c.stdout_key, t.attempts.c.stderr_key):
                keys.update(row[0] for row in conn.execute(sa.select(column).distinct()) if row[0])
        return keys


_INSERT_ATTEMPT = t.attempts.insert()
_UPDATE_TASK = t.tasks.update().where(t.tasks.c.id == sa.bindparam("_id"))
_UPDATE_ATTEMPT = t.attempts.update().where(
    (t.attempts.c.task_id == sa.bindparam("_task"))
    & (t.attempts.c.attempt == sa.bindparam("_attempt"))
)


def _attempt_row(task_id: int, attempt: int, now: float, pid: int | None) -> dict[str, Any]:
    return {
        "task_id": task_id,
        "attempt": attempt,
        "status": RUNNING,
        "started_at": now,
        "worker_pid": pid,
    }


def _finish_task(conn: Connection, task_id: int, outcome: TaskOutcome) -> None:
    rows = [
        {
            "task_id": task_id,
            "name": a.name,
            "key": a.key,
            "encoding": a.encoding,
            "type_name": a.type_name,
            "size": a.size,
            "inherited": int(a.inherited),
        }
        for a in outcome.artifacts
    ]
    if rows:
        conn.execute(t.artifacts.insert(), rows)
    transition = None if outcome.transition is None else dumps(outcome.transition)
    conn.execute(
        _UPDATE_TASK,
        {
            "_id": task_id,
            "status": outcome.status,
            "finished_at": time.time(),
            "transition": transition,
            "error": outcome.error,
        },
    )


def _retry_locked(action: Callable[[], Any], *, seconds: float = 30.0) -> Any:
    """Run ``action``, retrying while SQLite says the database is locked.

    Switching a new database to WAL needs an exclusive lock that SQLite does not wait for, so
    two runs opening a fresh store at once would otherwise see "database is locked".
    """
    deadline = time.monotonic() + seconds
    delay = 0.01
    while True:
        try:
            return action()
        except (sqlite3.OperationalError, sa.exc.OperationalError) as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.5)


def serialize(conn: Connection, *key: object) -> None:
    """Make writers that decide about ``key`` take turns, until this transaction ends.

    SQLite needs nothing: ``BEGIN IMMEDIATE`` already lets one writer at a time in. PostgreSQL
    takes a transaction-scoped advisory lock on a 64-bit hash of the key, so a transaction that
    reads and then writes sees what the previous holder committed.
    """
    if conn.dialect.name != "postgresql":
        return
    text = "\x1f".join(str(part) for part in ("reelflow", *key))
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    conn.execute(
        sa.text("SELECT pg_advisory_xact_lock(:key)"),
        {"key": int.from_bytes(digest, "big", signed=True)},
    )


def insert_id(conn: Connection, statement: Any, values: dict[str, Any] | None = None) -> int:
    key = conn.execute(statement, values).inserted_primary_key
    assert key is not None
    return int(key[0])


def _run(row: Any, tags: tuple[str, ...]) -> RunRecord:
    m = dict(row._mapping)
    m["params"] = loads(m["params"])
    m["graph"] = loads(m["graph"])
    if m["status"] == RUNNING and _scheduler_gone(m["host"], m["pid"]):
        m["status"] = INTERRUPTED
    return RunRecord(**m, tags=tags)


def _scheduler_gone(host: str | None, pid: int | None) -> bool:
    """A run still marked running whose scheduler process no longer exists on this host."""
    if pid is None or host != socket.gethostname():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _task(row: Any) -> TaskRecord:
    m = dict(row._mapping)
    m["parents"] = tuple(loads(m["parents"]))
    m["frames"] = loads(m["frames"])
    m["transition"] = loads(m["transition"])
    return TaskRecord(**m)


def _artifact(row: Any) -> ArtifactRecord:
    m = dict(row._mapping)
    m.pop("task_id")
    m["inherited"] = bool(m["inherited"])
    return ArtifactRecord(**m)


def _user() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None


def _redact(url: str) -> str:
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "(unparseable URL)"


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().split("\n")[0]
