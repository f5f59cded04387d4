"""The metadata layer's behaviour, written once as a suite any SQLAlchemy backend must pass.

``MetadataSuite`` is the conformance suite: subclass it with a ``url`` fixture (a fresh, empty
database per test) for a new backend. It runs on SQLite, and on PostgreSQL when
``REELFLOW_TEST_POSTGRES`` names a server (see ``postgres_url`` in tests/conftest.py).
It covers every table in the metadata database: runs, tags, tasks, attempts, artifacts, guard
results, the leaderboard and the model registry's tables.
"""

from __future__ import annotations

import itertools
import math
import multiprocessing
import os
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from reelflow._errors import ArtifactNotFoundError, StoreError
from reelflow.store import (
    FAILED,
    INTERRUPTED,
    RUNNING,
    SUCCEEDED,
    ArtifactRecord,
    GuardResultStore,
    MetadataStore,
    TaskOutcome,
)
from reelflow.store import _schema as schema
from reelflow.store._leaderboard import LeaderboardStore
from reelflow.store._registry import RegistryTables


def _artifact(
    name: str, key: str = "a" * 64, inherited: bool = False, size: int = 10
) -> ArtifactRecord:
    return ArtifactRecord(name, key, "pickle", "int", size, inherited)


def _new_run(meta: MetadataStore, flow: str = "F", **kwargs: object) -> int:
    return meta.create_run(
        flow, params={"k": 1}, graph={"order": ["start"]}, flow_file="f.py", **kwargs
    )  # type: ignore[arg-type]


def _create_runs(url: str, count: int) -> None:
    meta = MetadataStore(url)
    for _ in range(count):
        run_id = _new_run(meta)
        task_id = meta.create_task(run_id, "start", branch="", parents=[], frames=[])
        meta.finish_task(task_id, TaskOutcome(SUCCEEDED, (_artifact("x"),)))
    meta.close()


def _run_processes(target: Callable[..., None], args: tuple[Any, ...], count: int) -> None:
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=target, args=args) for _ in range(count)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
        assert proc.exitcode == 0


def _in_threads(action: Callable[[int], Any], count: int) -> list[Any]:
    """Run ``action(i)`` in ``count`` threads released together; their results (or errors)."""
    barrier = threading.Barrier(count, timeout=30)
    results: list[Any] = [None] * count

    def work(i: int) -> None:
        barrier.wait()
        try:
            results[i] = action(i)
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=work, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def _check(name: str, passed: bool = True, value: float | None = 1.0) -> dict[str, Any]:
    return {
        "name": name,
        "passed": passed,
        "severity": "block",
        "value": value,
        "threshold": 0.5,
        "message": f"{name} said so",
        "details": {"n": 3},
    }


def _board_row(model: str, mean: float, fingerprint: str = "abcd1234") -> dict[str, Any]:
    return {
        "data_fingerprint": fingerprint,
        "split": "holdout",
        "model": model,
        "model_class": "M",
        "params": {"a": 1},
        "metric": "ndcg@10",
        "k": 10,
        "mean": mean,
        "ci_low": None,
        "ci_high": None,
        "n_users": 100,
        "fit_s": 0.5,
        "recommend_s": 0.1,
        "tags": ["b", "a"],
    }


def _version_row() -> dict[str, Any]:
    return {"model_class": "M", "params": {"l2": 1.0}, "metrics": {}, "lineage": {}}


class MetadataSuite:
    """Behaviour every metadata backend must show (``url``: a fresh database per test)."""

    @pytest.fixture
    def metadata(self, url: str) -> Iterator[MetadataStore]:
        store = MetadataStore(url)
        yield store
        store.close()

    # --- runs, tasks, attempts, artifacts ------------------------------------------------------

    def test_runs_are_numbered_listed_newest_first_and_filtered(self, metadata) -> None:
        first, second = _new_run(metadata, "A"), _new_run(metadata, "B")
        third = _new_run(metadata, "A", tags=["x", "y"])
        assert [r.id for r in metadata.list_runs()] == [third, second, first]
        assert [r.id for r in metadata.list_runs("A")] == [third, first]
        assert [r.id for r in metadata.list_runs(limit=1, offset=1)] == [second]
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
        assert isinstance(run.created_at, float) and run.finished_at is None
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

    def test_names_and_tags_sort_by_code_point_whatever_the_collation(self, metadata) -> None:
        run_id = _new_run(metadata, "beta", tags=["b", "B", "a", "_x", "Z"])
        _new_run(metadata, "Alpha")
        _new_run(metadata, "alpha")
        assert metadata.get_run(run_id).tags == ("B", "Z", "_x", "a", "b")
        assert metadata.list_flows() == ["Alpha", "alpha", "beta"]

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
        assert [t.id for t in metadata.list_tasks(run_id, "start")] == [task_id]

    def test_clone_task_reuses_artifacts_without_copying(self, metadata) -> None:
        origin_run = _new_run(metadata)
        origin = metadata.create_task(origin_run, "start", branch="0", parents=[], frames=[])
        metadata.finish_task(
            origin, TaskOutcome(SUCCEEDED, (_artifact("x", inherited=True),), {"targets": ["end"]})
        )
        new_run = _new_run(metadata, origin_run_id=origin_run)
        clone = metadata.clone_task(new_run, metadata.get_task(origin), parents=[])
        record = metadata.get_task(clone)
        assert (record.origin_task_id, record.status, record.branch) == (origin, SUCCEEDED, "0")
        assert metadata.task_artifacts(clone) == metadata.task_artifacts(origin)
        assert metadata.task_artifacts(clone)["x"].inherited

    def test_interrupting_a_run_marks_its_running_tasks(self, metadata) -> None:
        run_id = _new_run(metadata)
        task_id = metadata.create_task(run_id, "start", branch="", parents=[], frames=[])
        metadata.finish_run(run_id, INTERRUPTED)
        assert metadata.get_task(task_id).status == INTERRUPTED

    def test_a_run_whose_scheduler_died_reads_as_interrupted(self, metadata) -> None:
        run_id = _new_run(metadata)
        gone = multiprocessing.get_context("spawn").Process(target=int)
        gone.start()
        gone.join()
        with metadata._writer.begin() as conn:
            conn.execute(sa.update(schema.runs).values(pid=gone.pid))
        assert metadata.get_run(run_id).status == INTERRUPTED
        assert [r.id for r in metadata.list_runs(statuses=[INTERRUPTED])] == [run_id]

    # --- what SQLite accepts and a stricter database must too ----------------------------------

    def test_artifacts_and_model_files_larger_than_2_gib(self, metadata) -> None:
        big = 5 * 2**30
        run_id = _new_run(metadata)
        task_id = metadata.create_task(run_id, "start", branch="", parents=[], frames=[])
        metadata.finish_task(task_id, TaskOutcome(SUCCEEDED, (_artifact("x", size=big),)))
        assert metadata.task_artifacts(task_id)["x"].size == big
        tables = RegistryTables(metadata)
        tables.add_version("recs", _version_row(), [("model/arrays.npz", "c" * 64, big)])
        assert tables.get_version("recs", 1)["files"] == [("model/arrays.npz", "c" * 64, big)]

    def test_long_names_and_text_are_kept_whole(self, metadata) -> None:
        flow, step, tag = "F" * 300, "s" * 300, "t" * 500
        branch = "/".join(str(i) for i in range(400))
        error = ("E" * 300, "m" * 100_000, "tb\n" * 10_000)
        run_id = _new_run(metadata, flow, tags=[tag])
        task_id = metadata.create_task(run_id, step, branch=branch, parents=[], frames=[])
        artifact = ArtifactRecord("n" * 300, "a" * 64, "pickle", "T" * 500, 1)
        outcome = TaskOutcome(FAILED, (artifact,), error="x" * 10_000)
        metadata.finish_attempt(task_id, 0, FAILED, error=error, task=outcome)
        run = metadata.get_run(run_id)
        assert (run.flow_name, run.tags) == (flow, (tag,))
        task = metadata.get_task(task_id)
        assert (task.step, task.branch, task.error) == (step, branch, "x" * 10_000)
        (attempt,) = metadata.list_attempts(task_id)
        assert (attempt.error_type, attempt.error_message, attempt.traceback) == error
        assert metadata.task_artifacts(task_id)["n" * 300].type_name == "T" * 500
        guards = GuardResultStore(metadata)
        guards.add([_check("g" * 1000)], subject="s" * 1000)
        assert guards.query(subject="s" * 1000)[0]["name"] == "g" * 1000

    def test_any_text_is_recorded_even_a_nul_character(self, metadata) -> None:
        run_id = _new_run(metadata, "Fl\u00f6w \u2603", tags=["\u00e9t\u00e9"])
        task_id = metadata.create_task(run_id, "start", branch="", parents=[], frames=[])
        error = ("ValueError", "invalid literal: '\x00\x01'", "Traceback\x00 (most recent)")
        metadata.finish_attempt(
            task_id, 0, FAILED, error=error, task=TaskOutcome(FAILED, error="bad \x00 byte")
        )
        run = metadata.get_run(run_id)
        assert (run.flow_name, run.tags) == ("Fl\u00f6w \u2603", ("\u00e9t\u00e9",))
        (attempt,) = metadata.list_attempts(task_id)
        # PostgreSQL text cannot hold NUL: it is stored as U+FFFD, everything else as given
        assert attempt.error_message in (error[1], "invalid literal: '\ufffd\x01'")
        assert attempt.traceback is not None and attempt.traceback.endswith(" (most recent)")
        assert metadata.get_task(task_id).error in ("bad \x00 byte", "bad \ufffd byte")

    # --- guard results and the leaderboard -----------------------------------------------------

    def test_guard_results_of_tasks_and_subjects(self, metadata) -> None:
        guards = GuardResultStore(metadata)
        run_id = _new_run(metadata)
        task_id = metadata.create_task(run_id, "train", branch="", parents=[], frames=[])
        metadata.finish_attempt(
            task_id, 0, FAILED, checks=[_check("rows", False)], step="train", error=("E", "m", "")
        )
        metadata.start_attempt(task_id, 1, None)
        checks = [_check("rows"), _check("nan", value=math.nan), _check("inf", value=math.inf)]
        outcome = TaskOutcome(SUCCEEDED)
        metadata.finish_attempt(task_id, 1, SUCCEEDED, checks=checks, step="train", task=outcome)
        rows = guards.query(run_id=run_id)
        assert [(r["name"], r["attempt"], r["passed"]) for r in rows] == [
            ("rows", 1, True),
            ("nan", 1, True),
            ("inf", 1, True),
        ]
        assert rows[1]["value"] is None, "NaN is stored as no value on every backend"
        assert rows[2]["value"] == math.inf and rows[0]["details"] == {"n": 3}
        assert len(guards.query(task_id=task_id, latest_attempt=False)) == 4
        clone = metadata.clone_task(_new_run(metadata), metadata.get_task(task_id), parents=[])
        assert [r["name"] for r in guards.query(task_id=clone)] == ["rows", "nan", "inf"]
        assert guards.add([_check("a"), _check("b")], subject="promotion:1") == 2
        assert [r["name"] for r in guards.query(subject="promotion:1")] == ["a", "b"]

    def test_leaderboard_rows_are_ordered_and_filtered(self, metadata) -> None:
        board = LeaderboardStore(metadata)
        ids = board.add(
            [_board_row("a", 0.2), _board_row("b", math.nan), _board_row("c", 0.3, "ffff0000")]
        )
        assert len(set(ids)) == 3
        assert [r["model"] for r in board.query(order="best")] == ["c", "a", "b"]
        assert [r["model"] for r in board.query(order="worst")] == ["a", "c", "b"]
        assert [r["model"] for r in board.query(order="newest", limit=2)] == ["c", "b"]
        found = board.query(data_fingerprint="abcd", order="best")
        assert [r["model"] for r in found] == ["a", "b"] and math.isnan(found[1]["mean"])
        assert found[0]["params"] == {"a": 1} and found[0]["tags"] == ["a", "b"]
        assert board.query(data_fingerprint="ab%") == []

    # --- the model registry's tables -----------------------------------------------------------

    def test_registry_versions_aliases_and_promotions(self, metadata) -> None:
        tables = RegistryTables(metadata)
        assert [tables.add_version("recs", _version_row(), []) for _ in range(3)] == [1, 2, 3]
        assert tables.add_version("other", _version_row(), []) == 1
        assert [v["version"] for v in tables.list_versions("recs")] == [3, 2, 1]
        assert tables.get_version("recs", 2)["params"] == {"l2": 1.0}
        assert tables.get_version("recs", 9) is None
        promotion = tables.start_promotion({"name": "recs", "version": 1, "alias": "champion"})
        moved = tables.move_alias(
            "recs",
            "champion",
            expected=None,
            to=1,
            action="promote",
            actor="me",
            reason=None,
            promotion=(promotion, "promoted"),
        )
        assert moved and tables.alias_version("recs", "champion") == 1
        stale = tables.move_alias(
            "recs", "champion", expected=None, to=2, action="promote", actor=None, reason=None
        )
        assert not stale and tables.alias_version("recs", "champion") == 1
        assert tables.move_alias(
            "recs", "champion", expected=1, to=None, action="remove", actor=None, reason="x"
        )
        assert tables.alias_version("recs", "champion") is None
        events = tables.alias_events("recs")
        assert [(e["from_version"], e["to_version"]) for e in events] == [(None, 1), (1, None)]
        assert [p["status"] for p in tables.promotions("recs")] == ["promoted"]

    # --- concurrency ----------------------------------------------------------------------------

    def test_concurrent_writers_from_processes_do_not_collide(self, url: str) -> None:
        MetadataStore(url).close()
        _run_processes(_create_runs, (url, 25), 3)
        runs = MetadataStore(url).list_runs()
        assert len(runs) == 75 and len({r.id for r in runs}) == 75

    def test_a_fresh_store_opened_by_many_processes_at_once(self, url: str) -> None:
        _run_processes(_create_runs, (url, 3), 4)
        assert len(MetadataStore(url).list_runs()) == 12

    def test_versions_registered_at_once_get_distinct_numbers(self, metadata) -> None:
        tables = RegistryTables(metadata)
        numbers = _in_threads(lambda i: tables.add_version("recs", _version_row(), []), 6)
        assert sorted(numbers) == [1, 2, 3, 4, 5, 6], numbers

    def test_tags_added_at_once_are_added_once(self, metadata) -> None:
        run_id = _new_run(metadata)
        results = _in_threads(lambda i: metadata.add_tags(run_id, ["same", f"own{i}"]), 4)
        assert results == [None] * 4
        assert metadata.get_run(run_id).tags == ("own0", "own1", "own2", "own3", "same")

    def test_an_alias_moved_at_once_from_one_state_has_exactly_one_winner(self, metadata) -> None:
        tables = RegistryTables(metadata)
        for _ in range(5):
            tables.add_version("recs", _version_row(), [])
        current: int | None = None
        for _round in range(10):
            targets = [v for v in range(1, 6) if v != current][:4]
            promotions = [
                tables.start_promotion({"name": "recs", "version": v, "alias": "champion"})
                for v in targets
            ]

            def move(
                i: int,
                expected: int | None = current,
                to: list[int] = targets,
                ids: list[int] = promotions,
            ) -> bool:
                return tables.move_alias(
                    "recs",
                    "champion",
                    expected=expected,
                    to=to[i],
                    action="promote",
                    actor=None,
                    reason=None,
                    promotion=(ids[i], "promoted"),
                )

            outcomes = _in_threads(move, 4)
            assert sorted(outcomes, key=str) == [False, False, False, True], outcomes
            current = targets[outcomes.index(True)]
            assert tables.alias_version("recs", "champion") == current
            statuses = {p["id"]: p["status"] for p in tables.promotions("recs")}
            assert sorted(statuses[i] for i in promotions) == ["conflict"] * 3 + ["promoted"]
        events = tables.alias_events("recs", "champion")
        assert len(events) == 10 and events[-1]["to_version"] == current
        assert all(a["to_version"] == b["from_version"] for a, b in itertools.pairwise(events))


class TestSqliteMetadata(MetadataSuite):
    @pytest.fixture
    def url(self, tmp_path: Path) -> str:
        return f"sqlite:///{tmp_path / 'meta.db'}"


class TestPostgresMetadata(MetadataSuite):
    @pytest.fixture
    def url(self, postgres_url: str) -> str:
        return postgres_url


def test_an_unreachable_database_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="cannot open the metadata database"):
        MetadataStore(f"sqlite:///{tmp_path / 'missing' / 'dir' / 'meta.db'}")
    with pytest.raises(StoreError, match="cannot open the metadata database") as info:
        MetadataStore("postgresql+psycopg://user:secret@127.0.0.1:1/db")
    assert "secret" not in str(info.value)


def test_a_missing_postgres_driver_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # importing it now fails
    with pytest.raises(
        StoreError, match=r"driver is not installed \(psycopg\).*reelflow\[postgres\]"
    ):
        MetadataStore("postgresql+psycopg://user@127.0.0.1:1/db")


def test_a_store_newer_than_this_reelflow_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'meta.db'}"
    with MetadataStore(url)._writer.begin() as conn:
        conn.execute(schema.info.update().values(value=str(schema.SCHEMA_VERSION + 1)))
    with pytest.raises(StoreError, match="newer than this reelflow"):
        MetadataStore(url)
