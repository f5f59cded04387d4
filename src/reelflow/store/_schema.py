"""The metadata tables (SQLAlchemy Core): runs, tags, tasks, attempts, artifacts, the
leaderboard, guard results, and the model registry's versions, files, aliases and history.

The tables hold what SQLite, the reference backend, holds on every backend: text columns are
``Str`` (any length and any character on PostgreSQL too), byte sizes are 64-bit.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine


class Str(TypeDecorator[str]):
    """Text that every backend keeps as given, as SQLite does.

    ``length`` is a size hint for databases that need one (``VARCHAR(length)``; SQLite ignores
    it). PostgreSQL would enforce it, so there the column has no length; and since its text
    cannot hold a NUL character (an exception message may), NUL is stored there as U+FFFD.
    """

    impl = Text
    cache_ok = True

    def __init__(self, length: int | None = None) -> None:
        super().__init__()
        self.length = length

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if self.length is None or dialect.name == "postgresql":
            return dialect.type_descriptor(Text())
        return dialect.type_descriptor(String(self.length))

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        if value is not None and dialect.name == "postgresql" and "\x00" in value:
            return value.replace("\x00", "\ufffd")
        return value


SCHEMA_VERSION = 1

metadata = MetaData()

info = Table(
    "reelflow_info",
    metadata,
    Column("name", Str(64), primary_key=True),
    Column("value", Str(), nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("flow_name", Str(200), nullable=False),
    Column("status", Str(20), nullable=False),
    Column("params", Str(), nullable=False),
    Column("graph", Str(), nullable=False),
    Column("flow_file", Str(), nullable=False),
    Column("origin_run_id", Integer, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("finished_at", Float, nullable=True),
    Column("error", Str(), nullable=True),
    Column("user", Str(200), nullable=True),
    Column("host", Str(200), nullable=True),
    Column("pid", Integer, nullable=True),
    Index("ix_runs_flow", "flow_name", "id"),
    Index("ix_runs_status", "status", "id"),
)

tags = Table(
    "tags",
    metadata,
    Column("run_id", Integer, ForeignKey("runs.id"), primary_key=True),
    Column("tag", Str(200), primary_key=True),
    Index("ix_tags_tag", "tag", "run_id"),
)

tasks = Table(
    "tasks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("runs.id"), nullable=False),
    Column("step", Str(200), nullable=False),
    Column("branch", Str(400), nullable=False),
    Column("status", Str(20), nullable=False),
    Column("parents", Str(), nullable=False),
    Column("frames", Str(), nullable=False),
    Column("transition", Str(), nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("created_at", Float, nullable=False),
    Column("started_at", Float, nullable=True),
    Column("finished_at", Float, nullable=True),
    Column("origin_task_id", Integer, nullable=True),
    Column("error", Str(), nullable=True),
    Index("ix_tasks_run_step", "run_id", "step"),
)

attempts = Table(
    "attempts",
    metadata,
    Column("task_id", Integer, ForeignKey("tasks.id"), primary_key=True),
    Column("attempt", Integer, primary_key=True),
    Column("status", Str(20), nullable=False),
    Column("started_at", Float, nullable=False),
    Column("finished_at", Float, nullable=True),
    Column("worker_pid", Integer, nullable=True),
    Column("error_type", Str(200), nullable=True),
    Column("error_message", Str(), nullable=True),
    Column("traceback", Str(), nullable=True),
    Column("stdout_key", Str(64), nullable=True),
    Column("stderr_key", Str(64), nullable=True),
)

artifacts = Table(
    "artifacts",
    metadata,
    Column("task_id", Integer, ForeignKey("tasks.id"), primary_key=True),
    Column("name", Str(200), primary_key=True),
    Column("key", Str(64), nullable=False),
    Column("encoding", Str(40), nullable=False),
    Column("type_name", Str(200), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("inherited", Integer, nullable=False, default=0),
    Index("ix_artifacts_key", "key"),
)

leaderboard = Table(
    "leaderboard",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", Float, nullable=False),
    Column("data_fingerprint", Str(64), nullable=False),
    Column("split", Str(400), nullable=False),
    Column("model", Str(200), nullable=False),
    Column("model_class", Str(200), nullable=False),
    Column("params", Str(), nullable=False),
    Column("metric", Str(64), nullable=False),
    Column("k", Integer, nullable=False),
    Column("mean", Float, nullable=True),
    Column("ci_low", Float, nullable=True),
    Column("ci_high", Float, nullable=True),
    Column("n_users", Integer, nullable=False),
    Column("fit_s", Float, nullable=False),
    Column("recommend_s", Float, nullable=False),
    Column("run_id", Integer, nullable=True),
    Column("step", Str(200), nullable=True),
    Column("task_id", Integer, nullable=True),
    Column("tags", Str(), nullable=False),
    Index("ix_leaderboard_lookup", "metric", "data_fingerprint", "split"),
)

guard_results = Table(
    "guard_results",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", Float, nullable=False),
    Column("run_id", Integer, nullable=True),
    Column("task_id", Integer, nullable=True),
    Column("attempt", Integer, nullable=True),
    Column("step", Str(200), nullable=True),
    Column("subject", Str(400), nullable=True),
    Column("seq", Integer, nullable=False),
    Column("name", Str(400), nullable=False),
    Column("passed", Integer, nullable=False),
    Column("severity", Str(10), nullable=False),
    Column("value", Float, nullable=True),
    Column("threshold", Float, nullable=True),
    Column("message", Str(), nullable=False),
    Column("details", Str(), nullable=False),
    Index("ix_guard_results_run", "run_id", "task_id"),
    Index("ix_guard_results_subject", "subject"),
)

# --- the model registry ------------------------------------------------------------------------

model_versions = Table(
    "model_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", Str(200), nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("model_class", Str(200), nullable=False),
    Column("params", Str(), nullable=False),
    Column("metrics", Str(), nullable=False),
    Column("lineage", Str(), nullable=False),
    Column("data_fingerprint", Str(64), nullable=True),
    Column("importance", Str(), nullable=True),
    Column("profile_key", Str(64), nullable=True),
    Column("description", Str(), nullable=False),
    Column("user", Str(200), nullable=True),
    UniqueConstraint("name", "version", name="uq_model_versions_name_version"),
)

model_files = Table(
    "model_files",
    metadata,
    Column("version_id", Integer, ForeignKey("model_versions.id"), primary_key=True),
    Column("path", Str(400), primary_key=True),
    Column("key", Str(64), nullable=False),
    Column("size", BigInteger, nullable=False),
)

model_aliases = Table(
    "model_aliases",
    metadata,
    Column("name", Str(200), primary_key=True),
    Column("alias", Str(100), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("updated_at", Float, nullable=False),
)

alias_events = Table(
    "alias_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", Float, nullable=False),
    Column("name", Str(200), nullable=False),
    Column("alias", Str(100), nullable=False),
    Column("from_version", Integer, nullable=True),
    Column("to_version", Integer, nullable=True),
    Column("action", Str(20), nullable=False),
    Column("actor", Str(200), nullable=True),
    Column("reason", Str(), nullable=True),
    Column("promotion_id", Integer, nullable=True),
    Index("ix_alias_events_name", "name", "alias", "id"),
)

promotions = Table(
    "promotions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", Float, nullable=False),
    Column("finished_at", Float, nullable=True),
    Column("name", Str(200), nullable=False),
    Column("version", Integer, nullable=False),
    Column("alias", Str(100), nullable=False),
    Column("champion_version", Integer, nullable=True),
    Column("status", Str(20), nullable=False),
    Column("forced", Integer, nullable=False, default=0),
    Column("reason", Str(), nullable=True),
    Column("actor", Str(200), nullable=True),
    Index("ix_promotions_name", "name", "id"),
)
