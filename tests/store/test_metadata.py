"""The metadata layer's behaviour, written once as a suite any SQLAlchemy backend must pass.

``MetadataSuite`` is the conformance suite: subclass it with a ``metadata`` fixture for a new
backend (PostgreSQL joins SQLite here when a server is available).
"""

from __future__ import annotations

import multiprocessing
import os
import socket
from pathlib import Path

import pytest

from reelflow._errors import ArtifactNotFoundError, StoreError
from reelflow.store import (
    FAILED,
    INTERRUPTED,
    RUNNING,
    SUCCEEDED,
    ArtifactRecord,
    MetadataStore,
    TaskOutcome,
)


def _artifact(name: str, key: str = "a" * 64, inherited: bool = False) -> ArtifactRecord:
    return ArtifactRecord(name, key, "pickle", "int", 10, inherited)


def _new_run(meta: MetadataStore, flow: str = "F", **kwargs: object) -> int:
    return meta.create_run(
        flow, params={"k": 1}, graph={"order": ["start"]}, flow_file="f.py", **kwargs
    )  # type: ignore[arg-type]


class MetadataSuite:
    """Behaviour every metadata backend must show."""

    def test_runs_are_numbered_listed_newest_first_and_filtered(self, metadata) -> None:
        first, second = _new_run(metadata, "A"), _new_run(metadata, "B")
        third = _new_run(metadata, "A", tags=["x", "y"])
        assert [r.id for r in metadata.list_runs()] == [third, second, first]
        assert [r.id for r in metadata.list_runs("A")] == [third, first]
        assert metadata.list_runs("A", limit=1)[0].tags == ("x", "y")
        assert metadata.list_flows() == ["A", "B"]
        metadata.finish_run(first, FAILED, "boom")
        found = metadata.list_runs(statuses=[FAILED])
        assert [r.id for r in found] == [first] and found[0].error == "boom"

    def test_a_run_round_trips_its_fields(self, metadata) -> None:
        run_id = _new_run(metadata, origin_run_id=None)
        run = metadata.get_run(run_id)
        assert (run.flow_name, run.status, run.params, run.graph) == (
            "F",
            RUNNING,
            {"k": 1},
            {"order": ["start"]},
        )
        assert run.pid == os.getpid() and run.host == socket.gethostname()
        metadata.finish_run(run_id, SUCCEEDED)
        assert metadata.get_run(run_id).duration is not None

    def test_unknown_run_and_task_are_clear_errors(self, metadata) -> None:
        with pytest.raises(ArtifactNotFoundError, match="no run 99"):
            metadata.get_run(99)
        with pytest.raises(ArtifactNotFoundError, match="no task 99"):
            metadata.get_task(99)

    def test_tags_are_added_once_and_removed(self, metadata) -> None:
        run_id = _new_run(metadata, tags=["a"])
        metadata.add_tags(run_id, ["a", "b"])
        assert metadata.get_run(run_id).tags == ("a", "b")
        metadata.remove_tags(run_id, ["a"])
        assert metadata.get_run(run_id).tags == ("b",)

    def test_tasks_attempts_and_artifacts(self, metadata) -> None:
        run_id = _new_run(metadata)
        task_id = metadata.create_task(
            run_id, "start", branch="", parents=[], frames=[], worker_pid=123
        )
        metadata.finish_attempt(task_id, 0, FAILED, error=("ValueError", "bad", "tb"))
        metadata.start_attempt(task_id, 1, 124)
        outcome = TaskOutcome(SUCCEEDED, (_artifact("x"), _artifact("y")), {"targets": ["end"]})
        metadata.finish_attempt(task_id, 1, SUCCEEDED, stdout_key="b" * 64, task=outcome)
        task = metadata.get_task(task_id)
        assert (task.status, task.attempts, task.transition) == (SUCCEEDED, 2, {"targets": ["end"]})
        attempts = metadata.list_attempts(task_id)
        assert [(a.attempt, a.status, a.error_type) for a in attempts] == [
            (0, FAILED, "ValueError"),
            (1, SUCCEEDED, None),
        ]
        assert list(metadata.task_artifacts(task_id)) == ["x", "y"]
        assert metadata.referenced_keys() == {"a" * 64, "b" * 64}

    def test_clone_task_reuses_artifacts_without_copying(self, metadata) -> None:
        origin_run = _new_run(metadata)
        origin = metadata.create_task(origin_run, "start", branch="0", parents=[], frames=[])
        metadata.finish_task(
            origin, TaskOutcome(SUCCEEDED, (_artifact("x", True),), {"targets": ["end"]})
        )
        new_run = _new_run(metadata, origin_run_id=origin_run)
        clone = metadata.clone_task(new_run, metadata.get_task(origin), parents=[])
        record = metadata.get_task(clone)
        assert (record.origin_task_id, record.status, record.branch) == (origin, SUCCEEDED, "0")
        assert metadata.task_artifacts(clone) == metadata.task_artifacts(origin)

    def test_interrupting_a_run_marks_its_running_tasks(self, metadata) -> None:
        run_id = _new_run(metadata)
        task_id = metadata.create_task(run_id, "start", branch="", parents=[], frames=[])
        metadata.finish_run(run_id, INTERRUPTED)
        assert metadata.get_task(task_id).status == INTERRUPTED


class TestSqliteMetadata(MetadataSuite):
    @pytest.fixture
    def metadata(self, tmp_path: Path) -> MetadataStore:
        return MetadataStore(f"sqlite:///{tmp_path / 'meta.db'}")


def test_a_run_whose_scheduler_died_reads_as_interrupted(tmp_path: Path) -> None:
    meta = MetadataStore(f"sqlite:///{tmp_path / 'meta.db'}")
    run_id = _new_run(meta)
    gone = multiprocessing.get_context("spawn").Process(target=int)
    gone.start()
    gone.join()
    from sqlalchemy import update

    from reelflow.store import _schema

    with meta._writer.begin() as conn:
        conn.execute(update(_schema.runs).values(pid=gone.pid))
    assert meta.get_run(run_id).status == INTERRUPTED
    assert [r.id for r in meta.list_runs(statuses=[INTERRUPTED])] == [run_id]


def _create_runs(url: str, count: int) -> None:
    meta = MetadataStore(url)
    for _ in range(count):
        run_id = _new_run(meta)
        task_id = meta.create_task(run_id, "start", branch="", parents=[], frames=[])
        meta.finish_task(task_id, TaskOutcome(SUCCEEDED, (_artifact("x"),)))


def test_concurrent_writers_from_processes_do_not_collide(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'meta.db'}"
    MetadataStore(url)
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_create_runs, args=(url, 25)) for _ in range(3)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
        assert proc.exitcode == 0
    runs = MetadataStore(url).list_runs()
    assert len(runs) == 75 and len({r.id for r in runs}) == 75


def test_an_unreachable_database_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="cannot open the metadata database"):
        MetadataStore(f"sqlite:///{tmp_path / 'missing' / 'dir' / 'meta.db'}")
    with pytest.raises(StoreError, match="cannot open the metadata database") as info:
        MetadataStore("postgresql+psycopg://user:secret@127.0.0.1:1/db")
    assert "secret" not in str(info.value)


def test_a_fresh_store_opened_by_many_processes_at_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_create_runs, args=(url, 3)) for _ in range(4)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
        assert proc.exitcode == 0
    assert len(MetadataStore(url).list_runs()) == 12
