"""Feature definitions, custom SQL features (both plans), inputs, snapshots, co-occurrence, the
engine interface and the errors a user can meet."""

from __future__ import annotations

import dataclasses
import re
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

from features_reference import DAY, pairs, random_log, random_spine  # noqa: E402

from reelflow._errors import DataError  # noqa: E402
from reelflow.data import Interactions, generate_interactions  # noqa: E402
from reelflow.features import (  # noqa: E402
    BUILTINS,
    ITEM_FEATURES,
    USER_FEATURES,
    DuckDBEngine,
    Engine,
    Feature,
    FeatureSet,
    compute,
    cooccurrence,
    cooccurrence_feature,
    events_table,
)
from reelflow.features._compile import Context, compile_plan, running_form  # noqa: E402
from reelflow.features._feature import closure  # noqa: E402

CUSTOM = FeatureSet(
    "custom",
    (
        Feature("distinct_30d", "user", "COUNT(DISTINCT item_id)", "30d", default=0),
        Feature("mean_weight_7d", "user", "AVG(weight)", "7d"),
        Feature("weight_7d", "user", "SUM(weight)", "7d"),
        Feature("us_events", "user", "COUNT(*)", where="region = 'us'"),
        Feature("last_in_7d", "user", "MAX(timestamp)", "7d"),
        Feature("first_event", "user", "MIN(timestamp)"),
        Feature("events_last_week_but_one", "item", "COUNT(*)", "7d", offset="7d"),
        Feature("region_items", "user_region", "COUNT(DISTINCT item_id)", "30d", default=0),
        Feature("us_items", "user", "COUNT(DISTINCT item_id)", where="region = 'us'"),
        Feature("item_users_before_last_week", "item", "COUNT(DISTINCT user_id)", offset="7d"),
    ),
)


def _custom_reference(log: Any, spine: pa.Table) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {name: [] for name in CUSTOM.names}
    for row in spine.to_pylist():
        u, i, t = row["user_id"], row["item_id"], row["as_of"]
        um = (log.user == u) & (log.timestamp < t)
        week, month = um & (log.timestamp >= t - 7 * DAY), um & (log.timestamp >= t - 30 * DAY)
        out["distinct_30d"].append(len(set(log.item[month].tolist())))
        out["mean_weight_7d"].append(float(log.weight[week].mean()) if week.any() else None)
        out["weight_7d"].append(float(log.weight[week].sum()))
        out["us_events"].append(int((um & (log.region == "us")).sum()))
        out["last_in_7d"].append(int(log.timestamp[week].max()) if week.any() else None)
        out["first_event"].append(int(log.timestamp[um].min()) if um.any() else None)
        im = (log.item == i) & (log.timestamp < t - 7 * DAY) & (log.timestamp >= t - 14 * DAY)
        out["events_last_week_but_one"].append(int(im.sum()))
        regional = month & (log.region == row["region"])
        out["region_items"].append(len(set(log.item[regional].tolist())))
        out["us_items"].append(len(set(log.item[um & (log.region == "us")].tolist())))
        early = (log.item == i) & (log.timestamp < t - 7 * DAY)
        out["item_users_before_last_week"].append(len(set(log.user[early].tolist())))
    return out


@pytest.mark.parametrize("seed", [0, 5])
def test_custom_sql_features_match_a_reference(seed: int) -> None:
    log = random_log(seed)
    spine = random_spine(log, seed)
    out = compute(CUSTOM, log.table(), spine)
    expected = _custom_reference(log, spine)
    for name in CUSTOM.names:
        got = out.column(name).to_pylist()
        for a, e in zip(got, expected[name], strict=True):
            assert a == (pytest.approx(e) if isinstance(e, float) else e), name


def test_which_aggregates_run_as_a_sorted_pass() -> None:
    plans = {f.name: running_form(f) for f in CUSTOM}
    assert plans["weight_7d"] == ("sum", "weight")
    assert plans["us_events"] == ("count", None)
    assert plans["last_in_7d"] == ("last", None)
    assert plans["first_event"] == ("first", None)
    assert plans["distinct_30d"] is None and plans["mean_weight_7d"] is None
    assert plans["us_items"] == ("distinct", "item_id")  # without a window: first events
    assert plans["item_users_before_last_week"] == ("distinct", "user_id")
    ratio = Feature("r", "user", "SUM(weight) / SUM(1)")
    assert running_form(ratio) is None  # two calls, not one: a range join
    for sql in ("COUNT(item_id)", "COUNT(DISTINCT item_id, region)", "COUNT(DISTINCT a) + 1"):
        assert running_form(Feature("x", "user", sql)) is None, sql


def test_the_sorted_pass_splits_each_key_at_its_first_and_last_probe() -> None:
    """Events before a key's first probe are counted by a GROUP BY, those in between sorted
    with the probes, the later ones dropped: every combination against a brute force."""
    rng = np.random.default_rng(11)
    n = 400
    events = pa.table(
        {
            "user_id": rng.integers(0, 6, n),
            "item_id": rng.integers(0, 9, n),
            "timestamp": rng.integers(0, 50, n) * 10,  # many ties, on the probes' times too
            "weight": rng.integers(0, 4, n).astype(np.float64),
        }
    )
    spine = pa.table(
        {
            "user_id": [0, 0, 0, 1, 2, 2, 3, 7],  # user 1 probed once, 7 without events
            "as_of": [250, 100, 480, 300, 0, 1000, 250, 100],  # 0: before every event
        }
    )
    features = [
        Feature("n", "user", "COUNT(*)"),
        Feature("n_100", "user", "COUNT(*)", 100, offset=30),
        Feature("w", "user", "SUM(weight)"),
        Feature("last", "user", "MAX(timestamp)"),
        Feature("first", "user", "MIN(timestamp)"),
        Feature("items", "user", "COUNT(DISTINCT item_id)"),
    ]
    out = compute(features, events, spine).to_pylist()
    user, item = events.column("user_id").to_numpy(), events.column("item_id").to_numpy()
    time, weight = events.column("timestamp").to_numpy(), events.column("weight").to_numpy()
    for row in out:
        mine = (user == row["user_id"]) & (time < row["as_of"])
        windowed = (user == row["user_id"]) & (time >= row["as_of"] - 130)
        windowed &= time < row["as_of"] - 30
        assert row["n"] == mine.sum() and row["n_100"] == windowed.sum()
        assert row["w"] == pytest.approx(weight[mine].sum())
        assert row["last"] == (time[mine].max() if mine.any() else None)
        assert row["first"] == (time[mine].min() if mine.any() else None)
        assert row["items"] == len(set(item[mine].tolist()))


def test_a_query_feature_reads_its_inputs_from_the_probes() -> None:
    log = random_log(9)
    spine = random_spine(log, 9)
    every, repeats = BUILTINS["user_events_all"], BUILTINS["user_item_events_all"]
    others = Feature.query(
        "other_items_events",
        "user_item",
        "SELECT p.user_id, p.item_id, p.as_of, p.user_events_all - COUNT(e.item_id) AS value "
        "FROM {probes} p LEFT JOIN {events} e ON e.user_id = p.user_id "
        "AND e.item_id = p.item_id AND e.timestamp < p.as_of "
        "GROUP BY p.user_id, p.item_id, p.as_of, p.user_events_all",
        inputs=[every],
    )
    out = compute([others, every, repeats], log.table(), spine)
    expected = [
        a - b
        for a, b in zip(
            out.column("user_events_all").to_pylist(),
            out.column("user_item_events_all").to_pylist(),
            strict=True,
        )
    ]
    assert out.column("other_items_events").to_pylist() == expected
    hidden = compute(others, log.table(), spine)  # the input is computed, and not returned
    assert hidden.column_names == [*spine.column_names, "other_items_events"]
    assert hidden.column("other_items_events").equals(out.column("other_items_events"))
    with pytest.raises(DataError, match="aggregate over some of its keys"):
        Feature.query("q", "user", "SELECT * FROM {events}, {probes}", inputs=[
            BUILTINS["item_events_all"]])  # fmt: skip
    with pytest.raises(DataError, match="aggregate over some of its keys"):
        Feature.query("q", "user_item", "SELECT * FROM {events}, {probes}", inputs=[
            BUILTINS["user_recency_s"]])  # fmt: skip
    with pytest.raises(DataError, match="only derived and query features take inputs"):
        Feature("x", "user", "COUNT(*)", inputs=(every,))


def test_derived_features_can_stack_and_hidden_inputs_stay_hidden() -> None:
    log = random_log(1)
    spine = random_spine(log, 1)
    week = BUILTINS["user_events_7d"]
    every = BUILTINS["user_events_all"]
    ratio = f"CAST({week.name} AS DOUBLE) / NULLIF({every.name}, 0)"
    share = Feature.derived("week_share", "user", ratio, [week, every])
    percent = Feature.derived("week_percent", "user", "100 * week_share", [share], default=0.0)
    out = compute(percent, log.table(), spine)
    assert out.column_names == [*spine.column_names, "week_percent"]
    both = compute([week, every], log.table(), spine)
    for got, w, a in zip(
        out.column("week_percent").to_pylist(),
        both.column(week.name).to_pylist(),
        both.column(every.name).to_pylist(),
        strict=True,
    ):
        assert got == pytest.approx(100 * w / a if a else 0.0)


def test_interactions_arrow_and_parquet_inputs_agree(tmp_path: Path) -> None:
    log = generate_interactions(300, 80, 5_000, n_regions=3, seed=4)
    data = log.interactions
    table = events_table(data)
    assert table.column_names == [
        "user_id",
        "item_id",
        "timestamp",
        "weight",
        "event",
        "region",
        "watch_fraction",
        "stars",
    ]
    spine = table.slice(4_000, 200).select(["user_id", "item_id", "region", "timestamp"])
    spine = spine.rename_columns(["user_id", "item_id", "region", "as_of"])
    features = [*USER_FEATURES, *ITEM_FEATURES]
    from_interactions = compute(features, data, spine)
    pq.write_table(table.slice(0, 2_500), tmp_path / "a.parquet")
    pq.write_table(table.slice(2_500), tmp_path / "b.parquet")
    from_parquet = compute(features, [tmp_path / "a.parquet", tmp_path / "b.parquet"], spine)
    from_folder = compute(features, tmp_path, spine)
    as_times = table.set_column(2, "timestamp", table.column("timestamp").cast(pa.timestamp("s")))
    as_times = as_times.set_column(
        2, "timestamp", as_times.column("timestamp").cast(pa.timestamp("ms"))
    )
    from_timestamps = compute(features, as_times, spine)
    assert from_interactions.equals(from_parquet)
    assert from_interactions.equals(from_folder)
    assert from_interactions.equals(from_timestamps)


def test_string_ids_and_a_pandas_spine() -> None:
    events = pa.table(
        {
            "user_id": ["ann", "ann", "bob", "ann"],
            "item_id": ["x", "y", "x", "x"],
            "timestamp": [10, 20, 30, 40],
        }
    )
    spine = pa.table(
        {"user_id": ["ann", "bob", "cy"], "item_id": ["x", "x", "y"], "as_of": [41, 31, 50]}
    ).to_pandas()
    out = compute([BUILTINS["user_item_events_all"], BUILTINS["user_recency_s"]], events, spine)
    assert out.column("user_item_events_all").to_pylist() == [2, 1, 0]
    assert out.column("user_recency_s").to_pylist() == [1, 1, None]


def test_a_snapshot_without_a_spine_is_the_spine_at_the_end_of_the_log() -> None:
    log = random_log(4)
    last = int(log.timestamp.max())
    snapshot = compute(USER_FEATURES, log.table())
    users = np.unique(log.user)
    assert snapshot.column("user_id").to_pylist() == users.tolist()
    assert set(snapshot.column("as_of").to_pylist()) == {last + 1}
    spine = pa.table({"user_id": users, "as_of": np.full(len(users), last + 1)})
    assert snapshot.equals(compute(USER_FEATURES, log.table(), spine))
    earlier = compute(USER_FEATURES, log.table(), as_of=last - 10 * DAY)
    assert set(earlier.column("as_of").to_pylist()) == {last - 10 * DAY}
    regional = compute(BUILTINS["item_region_share_30d"], log.table())
    assert regional.column_names == ["item_id", "region", "as_of", "item_region_share_30d"]


def test_cooccurrence_top_n_matches_the_definition() -> None:
    log = random_log(6)
    table = cooccurrence(log.table(), top_n=3)
    counts: dict[tuple[int, int], int] = {}
    for a, b, _ in pairs(log):
        counts[(a, b)] = counts.get((a, b), 0) + 1
    for item in np.unique(log.item).tolist():
        ranked = sorted(((-n, b) for (a, b), n in counts.items() if a == item))[:3]
        rows = [r for r in table.to_pylist() if r["item_id"] == item]
        assert [(r["other_item_id"], r["count"]) for r in rows] == [(b, -n) for n, b in ranked]
        assert [r["rank"] for r in rows] == list(range(1, len(rows) + 1))
    cutoff = int(np.median(log.timestamp))
    early = cooccurrence(log.table(), top_n=100, as_of=cutoff)
    known = sum(1 for _, _, when in pairs(log) if when < cutoff)
    assert sum(early.column("count").to_pylist()) == known


def test_cooccurrence_feature_parameters() -> None:
    log = random_log(2)
    spine = random_spine(log, 2)
    wide = cooccurrence_feature("wide", recent=50, max_previous=5, gap="30d")
    narrow = cooccurrence_feature("narrow", recent=1, max_previous=1, gap="1h")
    out = compute([wide, narrow], log.table(), spine)
    w, n = out.column("wide").to_pylist(), out.column("narrow").to_pylist()
    assert all(a >= b for a, b in zip(w, n, strict=True)) and sum(w) > sum(n)
    with pytest.raises(DataError, match="max_previous"):
        cooccurrence_feature(max_previous=0)


class _Recording:
    """An engine wrapping DuckDB that records what it is asked: the interface is enough."""

    name = "recording"
    dialect = "duckdb"

    def __init__(self) -> None:
        self.inner = DuckDBEngine(threads=1)
        self.calls: list[str] = []

    def register(self, name: str, source: Any) -> None:
        self.calls.append(f"register {name}")
        self.inner.register(name, source)

    def create(self, name: str, query: str, *, materialize: bool = False) -> None:
        self.calls.append(f"create {name}")
        self.inner.create(name, query, materialize=materialize)

    def fetch(self, query: str) -> pa.Table:
        self.calls.append("fetch")
        return self.inner.fetch(query)

    def close(self) -> None:
        self.inner.close()


def test_any_engine_with_the_four_methods_runs_features() -> None:
    log = random_log(0)
    spine = random_spine(log, 0)
    engine = _Recording()
    assert isinstance(engine, Engine)
    out = compute(USER_FEATURES, log.table(), spine, engine=engine)
    assert out.equals(compute(USER_FEATURES, log.table(), spine))
    assert "register __rf_events_source" in engine.calls and engine.calls[-1] == "fetch"
    engine.close()


def test_duckdb_threads_are_settable() -> None:
    with DuckDBEngine(threads=1) as engine:
        assert engine.threads == 1


def test_the_sql_stays_in_the_subset_duckdb_and_spark_share() -> None:
    features = closure([*BUILTINS.values(), *CUSTOM])
    ctx = Context(
        ("user_id", "item_id", "region", "as_of", "genre", "__rf_row"),
        ("user_id", "item_id", "timestamp", "weight", "region"),
        ("genre",),
    )
    plan = compile_plan(features, features, ctx)
    every = "\n".join([*(sql for _, sql in plan.tables), plan.final])
    for construct in ("::", '"', "QUALIFY", "EXCLUDE", "ASOF", "FILTER (", "epoch(", "list("):
        assert construct not in every.upper(), construct
    spark = compile_plan(features, features, dataclasses.replace(ctx, dialect="spark"))
    spark_sql = "\n".join(sql for _, sql in spark.tables)
    assert "END) IGNORE NULLS OVER" in spark_sql and "IGNORE NULLS)" not in spark_sql


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Feature("bad name", "user", "COUNT(*)"), "identifier"),
        (lambda: Feature("x", "session", "COUNT(*)"), "entity"),  # type: ignore[arg-type]
        (lambda: Feature("x", "user", "COUNT(*)", "7 days"), "duration"),
        (lambda: Feature("x", "user", "COUNT(*)", "0d"), "positive"),
        (lambda: Feature("__rf_x", "user", "COUNT(*)"), "reserved"),
        (lambda: Feature.query("x", "user", "SELECT 1"), "{events}"),
        (
            lambda: Feature("x", "user", "COUNT(*)", inputs=(BUILTINS["user_events_all"],)),
            "derived and query",
        ),
        (lambda: FeatureSet("s", (BUILTINS["user_events_all"],) * 2), "twice"),
    ],
)
def test_bad_definitions_say_what_is_wrong(make: Any, message: str) -> None:
    with pytest.raises(DataError, match=message):
        make()


def test_bad_inputs_say_what_is_wrong() -> None:
    log = random_log(0)
    events = log.table()
    users = pa.table({"user_id": [1], "as_of": [1_700_000_000]})
    with pytest.raises(DataError, match="spine column"):
        compute(BUILTINS["item_events_7d"], events, users)
    with pytest.raises(DataError, match="items table"):
        compute(
            BUILTINS["user_genre_affinity"],
            events,
            pa.table({"user_id": [1], "item_id": [1], "as_of": [1]}),
        )
    with pytest.raises(DataError, match="need a spine"):
        compute([*USER_FEATURES, *ITEM_FEATURES], events)
    with pytest.raises(DataError, match="lack the column 'timestamp'"):
        compute(USER_FEATURES, events.drop_columns(["timestamp"]), users)
    with pytest.raises(DataError, match="as_of"):
        compute(USER_FEATURES, events, pa.table({"user_id": [1]}))
    with pytest.raises(DataError, match="unknown engine"):
        compute(USER_FEATURES, events, engine="sqlite")
    with pytest.raises(DataError, match="no Parquet file"):
        compute(USER_FEATURES, "/nowhere/events.parquet")
    with pytest.raises(DataError, match="named like the feature"):
        compute(
            BUILTINS["user_events_all"],
            events,
            users.append_column("user_events_all", pa.array([1])),
        )
    no_time = Interactions.from_pandas(events.to_pandas(), user="user_id", item="item_id")
    with pytest.raises(DataError, match="no timestamps"):
        compute(USER_FEATURES, no_time)


def test_importing_features_stays_light() -> None:
    code = (
        "import sys, reelflow.features as f; f.Feature; f.FeatureSet; "
        "print(sorted(m for m in ('duckdb', 'pandas', 'pyarrow', 'pyspark') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_the_examples_in_the_docs_run() -> None:
    text = (HERE.parents[1] / "docs" / "features.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```python\n(.*?)^```", text, flags=re.DOTALL | re.MULTILINE)
    namespace: dict[str, Any] = {}
    for block in blocks:
        if "class Engine(Protocol)" in block or 'engine="spark"' in block:
            continue  # the protocol, and Spark (which test_spark.py runs), shown for reading
        exec(compile(block, "docs/features.md", "exec"), namespace)
    assert namespace["train"].num_rows == 2
    assert namespace["snapshot"].column_names[-2:] == ["user_events_7d", "user_recency_s"]
    log = namespace["log"]
    spine = namespace["spine"]
    mine = [namespace[n] for n in ("likes_30d", "watch_7d", "breadth", "mean_stars",
                                   "genre_views", "like_rate")]  # fmt: skip
    out = compute(mine, log.interactions, spine, items=namespace["items"])
    assert out.num_rows == 2
