"""The main job end to end, as a user runs it: `reelflow quickstart` twice on a small synthetic
log (the second run gates its best candidate against the first run's champion), a log that
fails its data guards, and the feature engine (`-p engine=duckdb|spark`): the same features on
Spark as on DuckDB from the real flow, the re-ranker computing its features on the engine asked
for, and the errors a wrong or missing engine gives.

The Spark run starts its own local Spark in the flow's worker (a JVM: seconds); it skips when
pyspark or Java is missing, except in CI (``spark_installed`` in tests/conftest.py)."""

from __future__ import annotations

import os
import pickle
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from reelflow import Client
from reelflow._errors import DataError, UsageError
from reelflow.examples import _personalization as lib
from reelflow.registry import Registry
from reelflow.store import Store

SMALL = ("-p", "size=30000", "-p", "candidates=mostpop,ease:l2=100|500,mostpop_region")
TINY = ("-p", "size=5000", "-p", "candidates=mostpop")
FLOW = str(Path(lib.__file__).with_name("personalization.py"))


def reelflow(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reelflow", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_quickstart_trains_gates_promotes_then_defends_the_champion(
    store: Store, tmp_path: Path
) -> None:
    first = reelflow("quickstart", "--plain", *SMALL, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    out = first.stdout + first.stderr
    assert "validation leaderboard" in out and "decision: promoted recs:1 to champion" in out
    assert "reelflow serve recs@champion" in out

    run = Client(store).latest_run("PersonalizationFlow")
    names = {r["name"] for r in run.guard_results}
    assert {"schema", "interactions:duplicates", "gate:beats_champion:ndcg@10"} <= names
    assert len(run["train_candidate"].tasks) == 4
    board = run["choose"].task["leaderboard"]
    assert list(board["ndcg@10"]) == sorted(board["ndcg@10"], reverse=True)

    second = reelflow("quickstart", "--plain", *SMALL, cwd=tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    out = second.stdout + second.stderr
    assert "expect:rows" in {
        r["name"] for r in Client(store).latest_run("PersonalizationFlow").guard_results
    }, "the second run holds its data to the first run's"
    # the same data and seed give the same best model: it cannot beat itself significantly
    assert "refused recs:2 for champion" in out and "the champion stays recs:1" in out
    assert Registry(store).get("recs@champion").version == 1


def test_a_log_that_fails_its_data_guards_stops_the_flow(store: Store, tmp_path: Path) -> None:
    log = lib.ingest("synthetic", 5000, 0)[0].to_pandas()
    broken = pd.concat([log, log.head(500)])  # 500 duplicate events
    broken[["user_id", "item_id", "timestamp"]].to_csv(tmp_path / "events.csv", index=False)
    done = reelflow(
        "run", str(Path(lib.__file__).with_name("personalization.py")), "--plain",
        "-p", f"source={tmp_path / 'events.csv'}", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 1
    assert "guard 'interactions:duplicates' failed" in done.stderr


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nope", "unknown candidate 'nope'"),
        ("ease:l2", "write NAME=V or NAME=V1|V2"),
        ("", "no candidates given"),
    ],
)
def test_bad_candidate_grids_are_clear_errors(text: str, message: str) -> None:
    from reelflow._errors import UsageError

    with pytest.raises(UsageError, match=message.replace("|", r"\|")):
        lib.parse_candidates(text)


def test_candidate_grids_expand() -> None:
    specs = lib.parse_candidates("ease:l2=100|500,als:factors=32:regularization=1|10")
    assert [s.label for s in specs] == [
        "ease(l2=100)",
        "ease(l2=500)",
        "als(factors=32,regularization=1)",
        "als(factors=32,regularization=10)",
    ]


def test_a_catalogue_file_replaces_the_sources(tmp_path: Path) -> None:
    from reelflow._errors import UsageError

    log, items = lib.ingest("synthetic", 5000, 0)
    items.head(10).to_csv(tmp_path / "items.csv", index=False)
    frame = log.to_pandas()
    assert len(lib.ingest("synthetic", 5000, 0, str(tmp_path / "items.csv"))[1]) == 10
    guards = lib.data_guards(log, pd.read_csv(tmp_path / "items.csv"), None)
    unknown = next(r for r in guards if r.name == "interactions:catalogue")
    assert not unknown.passed and unknown.value == pytest.approx(
        1 - frame["item_id"].isin(range(10)).mean()
    )
    items.drop(columns="item_id").to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(UsageError, match="has no item_id column"):
        lib.ingest("synthetic", 5000, 0, str(tmp_path / "bad.csv"))
    with pytest.raises(UsageError, match="is not a file"):
        lib.ingest("synthetic", 5000, 0, str(tmp_path / "missing.csv"))
    with pytest.raises(UsageError, match="corrupt='typo' is unknown"):
        lib.ingest("synthetic", 5000, 0, corrupt="typo")


def test_the_reference_is_the_last_good_run_on_the_same_data(store: Store, tmp_path: Path) -> None:
    flow = str(Path(lib.__file__).with_name("personalization.py"))
    done = reelflow("run", flow, "--plain", "-p", "size=5000", "-p", "candidates=mostpop",
                    cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    first = Client(store).latest_run("PersonalizationFlow").id
    data = {"source": "synthetic", "catalogue": "", "size": 5000, "seed": 0}
    assert len(lib.previous_log("PersonalizationFlow", first + 1, data)) == 5000
    assert lib.previous_log("PersonalizationFlow", first, data) is None, "not its own log"
    assert lib.previous_log("PersonalizationFlow", first + 1, {**data, "seed": 1}) is None


def test_a_candidate_over_its_budget_is_left_out_with_a_warning() -> None:
    import time

    with pytest.raises(lib.OverBudget), lib.time_budget(0.05):
        time.sleep(2)
    with lib.time_budget(0):
        time.sleep(0.01)  # no limit

    log = lib.ingest("synthetic", 5000, 0)[0]
    _, _, inner, valid = lib.temporal_splits(log, 14)
    spec = lib.parse_candidates("ease:l2=100")[0]
    result, check = lib.validate_candidate(spec, inner, valid, 0, budget_s=1e-4)
    assert result is None and not check.passed and check.severity == "warn"
    assert check.name == "budget:ease(l2=100)" and "over its budget of 0.0001 s" in check.message
    result, check = lib.validate_candidate(spec, inner, valid, 0, budget_s=600)
    assert result is not None and check.passed
    assert lib.rank_candidates([None, result], "ndcg@10").models.keys() == {"ease(l2=100)"}

    from reelflow._errors import UsageError

    with pytest.raises(UsageError, match="none of the 2 candidates finished within its budget"):
        lib.rank_candidates([None, None], "ndcg@10")


# --- the feature engine ------------------------------------------------------------------------


def assert_same_rows(duck: pa.Table, spark: pa.Table, key: str) -> None:
    """Equal tables once sorted by ``key``: the same columns and types, counts and keys exactly,
    floats to 1e-9 (NULLs and NaNs in the same places)."""
    assert spark.schema.equals(duck.schema), (spark.schema, duck.schema)
    assert spark.num_rows == duck.num_rows > 0
    duck, spark = duck.sort_by(key), spark.sort_by(key)
    for name in duck.column_names:
        d, s = duck.column(name), spark.column(name)
        if pa.types.is_floating(d.type):
            assert d.is_null().equals(s.is_null()), name
            a, b = d.to_numpy(zero_copy_only=False), s.to_numpy(zero_copy_only=False)
            np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-9, equal_nan=True, err_msg=name)
        else:
            assert d.equals(s), name


@pytest.mark.slow
def test_the_flow_computes_the_same_features_on_spark_as_on_duckdb(
    store: Store, tmp_path: Path, spark_installed: None
) -> None:
    duck = reelflow("run", FLOW, "--plain", *TINY, cwd=tmp_path)
    assert duck.returncode == 0, duck.stderr[-3000:]
    assert "per item (DuckDB)" in duck.stdout + duck.stderr
    on_duckdb = Client(store).latest_run("PersonalizationFlow")

    spark = reelflow("run", FLOW, "--plain", *TINY, "-p", "engine=spark", cwd=tmp_path)
    assert spark.returncode == 0, spark.stderr[-3000:]
    assert "per item (Spark)" in spark.stdout + spark.stderr
    on_spark = Client(store).latest_run("PersonalizationFlow")
    assert (on_duckdb.params["engine"], on_spark.params["engine"]) == ("duckdb", "spark")

    for name, key in (("user_features", "user_id"), ("item_features", "item_id")):
        assert_same_rows(on_duckdb["features"].task[name], on_spark["features"].task[name], key)

    # another engine is the same data: the Spark run is held to the DuckDB run's log, and passes
    guards = [r for r in on_spark.guard_results if r["step"] == "validate"]
    assert "expect:rows" in {r["name"] for r in guards}
    assert [r["name"] for r in guards if not r["passed"]] == []


def test_the_reranker_computes_its_features_on_the_engine_asked_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import reelflow.features as features

    spec = lib.parse_candidates("rerank_ease:l2=100:n_candidates=20")[0]
    assert lib.build(spec, 0).feature_source == lib.FeaturesOn("duckdb")
    model: Any = lib.build(spec, 0, "spark")
    assert model.feature_source == lib.FeaturesOn("spark")
    assert pickle.loads(pickle.dumps(model)).feature_source == lib.FeaturesOn("spark")

    asked: list[object] = []
    compute = features.compute

    def on_duckdb_recording(feature_set: Any, log: Any, **options: Any) -> pa.Table:
        asked.append(options.get("engine"))
        return compute(feature_set, log)

    monkeypatch.setattr(features, "compute", on_duckdb_recording)
    log = lib.ingest("synthetic", 2000, 0)[0]
    fitted = model.fit(log)
    assert asked and set(asked) == {"spark"}  # the part it learns from, then all of the log
    assert "user:user_events_all" in list(fitted.side_names_)


def test_a_wrong_or_missing_engine_is_one_line_saying_how_to_fix_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lib.check_engine("duckdb")
    with pytest.raises(UsageError, match="engine='sqlite' is unknown; use one of duckdb, spark"):
        lib.check_engine("sqlite")
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(DataError, match="needs Java 17 or later"):
        lib.check_engine("spark")
    monkeypatch.setitem(sys.modules, "pyspark", None)  # importing it now fails
    with pytest.raises(DataError, match=r'needs pyspark: pip install "reelflow\[spark\]"'):
        lib.check_engine("spark")


def test_a_run_on_spark_without_java_stops_at_its_first_step(store: Store, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "JAVA_HOME"}
    env["PATH"] = str(tmp_path)  # no java on it
    done = reelflow("run", FLOW, "--plain", *TINY, "-p", "engine=spark", cwd=tmp_path, env=env)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert "step 'start' failed" in last, done.stderr
    assert re.search(r"the Spark engine needs (Java 17 or later|pyspark: pip install)", last)
