"""The metadata tables (SQLAlchemy Core): runs, tags, tasks, attempts, artifacts, the
leaderboard, guard results, and the model registry's versions, files, aliases and history."""

from __future__ import annotations

from sqlalchemy import (
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

SCHEMA_VERSION = 1

metadata = MetaData()

info = Table(
    "reelflow_info",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("flow_name", String(200), nullable=False),
    Column("status", String(20), nullable=False),
    Column("params", Text, nullable=False),
    Column("graph", Text, nullable=False),
    Column("flow_file", Text, nullable=False),
    Column("origin_run_id", Integer, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("finished_at", Float, nullable=True),
    Column("error", Text, nullable=True),
    Column("user", String(200), nullable=True),
    Column("host", String(200), nullable=True),
    Column("pid", Integer, nullable=True),
    Index("ix_runs_flow", "flow_name", "id"),
)

tags = Table(
    "tags",
    metadata,
    Column("run_id", Integer, ForeignKey("runs.id"), primary_key=True),
    Column("tag", String(200), primary_key=True),
)

tasks = Table(
    "tasks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("runs.id"), nullable=False),
    Column("step", String(200), nullable=False),
    Column("branch", String(400), nullable=False),
    Column("status", String(20), nullable=False),
    Column("parents", Text, nullable=False),
    Column("frames", Text, nullable=False),
    Column("transition", Text, nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("created_at", Float, nullable=False),
    Column("started_at", Float, nullable=True),
    Column("finished_at", Float, nullable=True),
    Column("origin_task_id", Integer, nullable=True),
    Column("error", Text, nullable=True),
    Index("ix_tasks_run_step", "run_id", "step"),
)

attempts = Table(
    "attempts",
    metadata,
    Column("task_id", Integer, ForeignKey("tasks.id"), primary_key=True),
    Column("attempt", Integer, primary_key=True),
    Column("status", String(20), nullable=False),
    Column("started_at", Float, nullable=False),
    Column("finished_at", Float, nullable=True),
    Column("worker_pid", Integer, nullable=True),
    Column("error_type", String(200), nullable=True),
    Column("error_message", Text, nullable=True),
    Column("traceback", Text, nullable=True),
    Column("stdout_key", String(64), nullable=True),
    Column("stderr_key", String(64), nullable=True),
)

artifacts = Table(
    "artifacts",
    metadata,
    Column("task_id", Integer, ForeignKey("tasks.id"), primary_key=True),
    Column("name", String(200), primary_key=True),
    Column("key", String(64), nullable=False),
    Column("encoding", String(40), nullable=False),
    Column("type_name", String(200), nullable=False),
    Column("size", Integer, nullable=False),
    Column("inherited", Integer, nullable=False, default=0),
    Index("ix_artifacts_key", "key"),
)

leaderboard = Table(
    "leaderboard",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", Float, nullable=False),
    Column("data_fingerprint", String(64), nullable=False),
    Column("split", String(400), nullable=False),
    Column("model", String(200), nullable=False),
    Column("model_class", String(200), nullable=False),
    Column("params", Text, nullable=False),
    Column("metric", String(64), nullable=False),
    Column("k", Integer, nullable=False),
    Column("mean", Float, nullable=True),
    Column("ci_low", Float, nullable=True),
    Column("ci_high", Float, nullable=True),
    Column("n_users", Integer, nullable=False),
    Column("fit_s", Float, nullable=False),
    Column("recommend_s", Float, nullable=False),
    Column("run_id", Integer, nullable=True),
    Column("step", String(200), nullable=True),
    Column("task_id", Integer, nullable=True),
    Column("tags", Text, nullable=False),
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
    Column("step", String(200), nullable=True),
    Column("subject", String(400), nullable=True),
    Column("seq", Integer, nullable=False),
    Column("name", String(400), nullable=False),
    Column("passed", Integer, nullable=False),
    Column("severity", String(10), nullable=False),
    Column("value", Float, nullable=True),
    Column("threshold", Float, nullable=True),
    Column("message", Text, nullable=False),
    Column("details", Text, nullable=False),
    Index("ix_guard_results_run", "run_id", "task_id"),
    Index("ix_guard_results_subject", "subject"),
)

# --- the model registry ------------------------------------------------------------------------

model_versions = Table(
    "model_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("model_class", String(200), nullable=False),
    Column("params", Text, nullable=False),
    Column("metrics", Text, nullable=False),
    Column("lineage", Text, nullable=False),
    Column("data_fingerprint", String(64), nullable=True),
    Column("importance", Text, nullable=True),
    Column("profile_key", String(64), nullable=True),
    Column("description", Text, nullable=False),
    Column("user", String(200), nullable=True),
    UniqueConstraint("name", "version", name="uq_model_versions_name_version"),
)

model_files = Table(
    "model_files",
    metadata,
    Column("version_id", Integer, ForeignKey("model_versions.id"), primary_key=True),
    Column("path", String(400), primary_key=True),
    Column("key", String(64), nullable=False),
    Column("size", Integer, nullable=False),
)

model_aliases = Table(
    "model_aliases",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("alias", String(100), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("updated_at", Float, nullable=False),
)

alias_events = Table(
    "alias_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", Float, nullable=False),
    Column("name", String(200), nullable=False),
    Column("alias", String(100), nullable=False),
    Column("from_version", Integer, nullable=True),
    Column("to_version", Integer, nullable=True),
    Column("action", String(20), nullable=False),
    Column("actor", String(200), nullable=True),
    Column("reason", Text, nullable=True),
    Column("promotion_id", Integer, nullable=True),
    Index("ix_alias_events_name", "name", "alias", "id"),
)

promotions = Table(
    "promotions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", Float, nullable=False),
    Column("finished_at", Float, nullable=True),
    Column("name", String(200), nullable=False),
    Column("version", Integer, nullable=False),
    Column("alias", String(100), nullable=False),
    Column("champion_version", Integer, nullable=True),
    Column("status", String(20), nullable=False),
    Column("forced", Integer, nullable=False, default=0),
    Column("reason", Text, nullable=True),
    Column("actor", String(200), nullable=True),
    Index("ix_promotions_name", "name", "id"),
)
