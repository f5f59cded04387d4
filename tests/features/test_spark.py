"""The same features on Spark as on DuckDB: every built-in on MovieLens-100K, the main job's
snapshots, co-occurrence, Parquet inputs, and the errors a missing Spark gives.

Spark runs in local mode on one session for the whole test session (``spark_session`` in
conftest.py); the point-in-time tests run on Spark too (``test_point_in_time.py``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

HERE = Path(__file__).parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from features_reference import random_log  # noqa: E402

from reelflow._errors import DataError  # noqa: E402
from reelflow.data import load_movielens  # noqa: E402
from reelflow.features import (  # noqa: E402
    BUILTINS,
    ITEM_FEATURES,
    USER_FEATURES,
    FeatureSet,
    SparkEngine,
    compute,
    cooccurrence,
    events_table,
)
from reelflow.features._dialect import DIALECTS, expand, key_id_mark  # noqa: E402
from reelflow.features._spark import _require_java  # noqa: E402

ML_100K = HERE.parents[1].parent / "shared" / "data" / "movielens-100k" / "ml-100k"
EVERY_BUILTIN = FeatureSet("every", tuple(BUILTINS.values()))


def assert_same(duck: pa.Table, spark: pa.Table) -> None:
    """Equal tables: the same schema and rows in the same order; integers exactly, floats to
    1e-12 (NULLs and NaNs in the same places)."""
    assert spark.schema.equals(duck.schema), (spark.schema, duck.schema)
    assert spark.num_rows == duck.num_rows
    for name in duck.column_names:
        d, s = duck.column(name), spark.column(name)
        if pa.types.is_floating(d.type):
            assert d.is_null().equals(s.is_null()), name
            a = d.to_numpy(zero_copy_only=False)
            b = s.to_numpy(zero_copy_only=False)
            np.testing.assert_allclose(b, a, rtol=1e-12, atol=0, equal_nan=True, err_msg=name)
        else:
            assert d.equals(s), name


@pytest.fixture(scope="module")
def movielens() -> dict[str, Any]:
    if not ML_100K.is_dir():
        pytest.skip(f"{ML_100K} is missing (real MovieLens data lives in ../shared/data)")
    return movielens_inputs()


def movielens_inputs() -> dict[str, Any]:
    """ML-100K as the features read it: the ratings with a region (from the user's zip code:
    0-3 east, 4-6 central, 7-9 west, else other), the movies' first genre, and a spine of
    2,000 candidate rows from the second half of the log: 1,000 real ratings (as_of at the
    rating's time) and 1,000 other movies for the same users and times."""
    ml = load_movielens(ML_100K)
    assert ml.users is not None
    log = ml.interactions
    events = events_table(log)
    first = {"0": "east", "1": "east", "2": "east", "3": "east", "4": "central", "5": "central",
             "6": "central", "7": "west", "8": "west", "9": "west"}  # fmt: skip
    region_of = {
        int(u): first.get(str(z)[:1], "other")
        for u, z in zip(ml.users["user_id"], ml.users["zip_code"], strict=True)
    }
    users = events.column("user_id").to_pylist()
    events = events.append_column("region", pa.array([region_of[u] for u in users]))
    items = pa.table(
        {
            "item_id": ml.items["item_id"].to_numpy(dtype=np.int64),
            "genre": [g[0] if len(g) else "unknown" for g in ml.items["genres"]],
        }
    )
    rng = np.random.default_rng(0)
    times = events.column("timestamp").to_numpy()
    late = np.flatnonzero(times >= np.median(times))
    picked = events.take(pa.array(np.sort(rng.choice(late, 1_000, replace=False))))
    real = pa.table(
        {
            "user_id": picked.column("user_id"),
            "item_id": picked.column("item_id"),
            "region": picked.column("region"),
            "as_of": picked.column("timestamp"),
        }
    )
    movies = rng.choice(items.column("item_id").to_numpy(), real.num_rows)
    others = real.set_column(1, "item_id", pa.array(movies, real.schema.field("item_id").type))
    return {
        "log": log,
        "events": events,
        "items": items,
        "spine": pa.concat_tables([real, others]),
    }


def test_every_builtin_is_the_same_on_spark_as_on_duckdb_on_movielens(
    movielens: dict[str, Any], spark: SparkEngine
) -> None:
    events, spine, items = movielens["events"], movielens["spine"], movielens["items"]
    duck = compute(EVERY_BUILTIN, events, spine, items=items)
    on_spark = compute(EVERY_BUILTIN, events, spine, items=items, engine=spark)
    assert_same(duck, on_spark)
    # the data exercise every feature: no column is all zeros or all missing
    for name in BUILTINS:
        values = [v for v in duck.column(name).to_pylist() if v is not None and v == v]
        assert any(values), name


def test_the_main_jobs_snapshots_are_the_same_on_spark(
    movielens: dict[str, Any], spark: SparkEngine
) -> None:
    """What the personalization flow computes: user and item features at the end of the log."""
    log = movielens["log"]
    for features in (USER_FEATURES, ITEM_FEATURES):
        assert_same(compute(features, log), compute(features, log, engine=spark))


def test_cooccurrence_top_n_is_the_same_on_spark(spark: SparkEngine) -> None:
    events = random_log(4, n=2_000, users=30, items=40).table()
    duck = cooccurrence(events, top_n=5, gap="12h")
    assert duck.num_rows > 100
    assert_same(duck, cooccurrence(events, top_n=5, gap="12h", engine=spark))


def test_parquet_files_folders_and_globs_on_spark(tmp_path: Path, spark: SparkEngine) -> None:
    events = random_log(5).table()
    pq.write_table(events.slice(0, 300), tmp_path / "a.parquet")
    (tmp_path / "more").mkdir()
    pq.write_table(events.slice(300), tmp_path / "more" / "b.parquet")
    expected = compute(USER_FEATURES, events)
    for source in (tmp_path, [tmp_path / "a.parquet", tmp_path / "more" / "b.parquet"]):
        assert_same(expected, compute(USER_FEATURES, source, engine=spark))
    glob = str(tmp_path / "more" / "*.parquet")
    assert_same(compute(USER_FEATURES, glob), compute(USER_FEATURES, glob, engine=spark))
    spark.inline_bytes = 0  # a large Arrow table goes to Spark through a Parquet file
    assert_same(expected, compute(USER_FEATURES, events, engine=spark))


def test_engine_spark_by_name_uses_the_shared_session(spark_session: Any) -> None:
    events = random_log(6).table()
    spine = pa.table({"user_id": [1, 2, 99], "as_of": [1_700_500_000, 1_701_000_000, 1]})
    feature = BUILTINS["user_events_all"]
    out = compute(feature, events, spine, engine="spark")
    assert out.equals(compute(feature, events, spine))
    engine = SparkEngine()
    assert engine.session.sparkContext is spark_session.sparkContext
    assert engine.session is not spark_session  # a session of its own: its own views
    engine.close()


def test_the_key_ids_are_unique_and_spread_on_spark(spark: SparkEngine) -> None:
    """Spark numbers keys per hash bucket: ids stay unique with string keys and NULL-free
    tuples, and the numbering is no single-partition window."""
    rng = np.random.default_rng(0)
    keys = pa.table(
        {
            "k0": rng.integers(0, 300, 5_000),
            "k1": rng.choice(np.array(["us", "eu", "latam", "apac"]), 5_000),
        }
    )
    spark.register("keys", keys)
    query = f"SELECT k0, k1, {DIALECTS['spark'].key_ids('k0, k1')} AS id FROM " + (
        "(SELECT DISTINCT k0, k1 FROM keys) d"
    )
    ids = spark.fetch(query)
    assert ids.num_rows == len(set(ids.column("id").to_pylist()))
    plan = spark.session.sql(query)._jdf.queryExecution().executedPlan().toString()
    assert "SinglePartition" not in plan
    assert expand(key_id_mark("a, b"), "duckdb") == "ROW_NUMBER() OVER (ORDER BY a, b)"


def test_a_missing_pyspark_or_java_says_how_to_fix_it(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(DataError, match="unknown engine 'sqlite'; use one of duckdb, spark"):
        compute(USER_FEATURES, random_log(0).table(), engine="sqlite")
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(DataError, match="needs Java 17 or later"):
        _require_java()
    monkeypatch.setitem(sys.modules, "pyspark", None)  # importing it now fails
    with pytest.raises(DataError, match=r'needs pyspark: pip install "reelflow\[spark\]"'):
        compute(USER_FEATURES, random_log(0).table(), engine="spark")


def test_a_java_that_cannot_start_spark_says_which_java_it_needs(
    tmp_path: Path, spark_installed: None
) -> None:
    java = tmp_path / "bin" / "java"  # a Java too old for Spark 4 fails like this one
    java.parent.mkdir()
    java.write_text("#!/bin/sh\necho 'UnsupportedClassVersionError' >&2\nexit 1\n")
    java.chmod(0o755)
    code = "from reelflow.features._spark import local_session; local_session()"
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "JAVA_HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    last = done.stderr.strip().splitlines()[-1]
    assert "DataError: Spark could not start a local session" in last
    assert "Spark 4 needs Java 17 or later" in last


def test_importing_the_spark_engine_does_not_import_pyspark() -> None:
    code = (
        "import sys, reelflow.features as f; f.SparkEngine; f.compute; "
        "print('pyspark' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


def test_a_log_of_a_few_megabytes_does_not_fill_the_driver(spark: SparkEngine) -> None:
    """100,000 synthetic events (4.8 MB of Arrow) and a 20,000-row spine: inlined into the
    query plan, the events filled a 2 GB driver in ``localCheckpoint``; they go as Parquet."""
    from reelflow.data import generate_interactions

    log = generate_interactions(10_000, 2_000, 100_000, seed=0)
    events = events_table(log.interactions)
    assert events.nbytes > spark.inline_bytes
    late = np.sort(np.random.default_rng(0).choice(events.num_rows, 20_000, replace=False))
    picked = events.take(pa.array(late))
    spine = pa.table({"user_id": picked["user_id"], "item_id": picked["item_id"],
                      "region": picked["region"], "as_of": picked["timestamp"]})  # fmt: skip
    items = pa.Table.from_pandas(log.items[["item_id", "genre"]], preserve_index=False)
    duck = compute(EVERY_BUILTIN, events, spine, items=items)
    assert_same(duck, compute(EVERY_BUILTIN, events, spine, items=items, engine=spark))
