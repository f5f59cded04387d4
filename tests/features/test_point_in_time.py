"""Point-in-time correctness: no feature sees an event at or after its row's as_of, and every
built-in matches a naive reference on random logs full of ties, on DuckDB and on Spark (the
``engine`` fixture, conftest.py; Spark on one seed, its start-up and per-query cost being what
they are)."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

HERE = Path(__file__).parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from features_reference import DAY, Log, random_log, random_spine, reference  # noqa: E402

from reelflow.features import BUILTINS, FeatureSet, builtin_features, compute  # noqa: E402

EVERY_BUILTIN = FeatureSet("every", tuple(BUILTINS.values()))


def _same(actual: list[Any], expected: list[Any], name: str) -> None:
    assert len(actual) == len(expected)
    for row, (a, e) in enumerate(zip(actual, expected, strict=True)):
        if e is None:
            assert a is None or (isinstance(a, float) and math.isnan(a)), (name, row, a)
        elif isinstance(e, float):
            assert a == pytest.approx(e, rel=1e-9), (name, row, a, e)
        else:
            assert a == e, (name, row, a, e)


@pytest.mark.parametrize(
    ("seed", "engine"),
    [(0, "duckdb"), (1, "duckdb"), (2, "duckdb"), (0, "spark")],
    indirect=["engine"],
)
def test_every_builtin_matches_the_naive_reference(seed: int, engine: Any) -> None:
    log = random_log(seed)
    spine = random_spine(log, seed)
    out = compute(EVERY_BUILTIN, log.table(), spine, items=log.items(), engine=engine)
    assert out.column_names[:4] == ["user_id", "item_id", "region", "as_of"]
    assert out.select(["user_id", "item_id", "as_of"]).equals(
        spine.select(["user_id", "item_id", "as_of"])
    )
    expected = reference(log, spine)
    for name in BUILTINS:
        shares = ("_share", "_trend", "_affinity")
        wanted = pa.float64() if any(s in name for s in shares) else pa.int64()
        assert out.schema.field(name).type == wanted, name
        _same(out.column(name).to_pylist(), expected[name], name)


def _future(log: Log, spine: pa.Table) -> Log:
    """The log plus, for every spine row, events at and after its as_of that would change every
    feature of that row if they leaked: same user, same item, same region, other items of the
    same genre, and pairs with the user's recent items."""
    rows = spine.to_pylist()
    user, item, time, region = [], [], [], []
    for row in rows:
        for delay in (0, 1, 3600, 3 * DAY):
            for other in (row["item_id"], (row["item_id"] + 1) % 15, (row["item_id"] + 2) % 15):
                user.append(row["user_id"])
                item.append(other)
                time.append(row["as_of"] + delay)
                region.append(row["region"])
    n = len(user)
    return Log(
        user=np.concatenate([log.user, np.array(user, dtype=np.int64)]),
        item=np.concatenate([log.item, np.array(item, dtype=np.int64)]),
        timestamp=np.concatenate([log.timestamp, np.array(time, dtype=np.int64)]),
        region=np.concatenate([log.region, np.array(region)]),
        weight=np.concatenate([log.weight, np.ones(n)]),
        genre_of=log.genre_of,
    )


@pytest.mark.parametrize("engine", ["duckdb", "spark"], indirect=True)
def test_future_events_do_not_leak_into_any_feature(engine: Any) -> None:
    log = random_log(7)
    # one spine row per user, at the same time, so future events of one row are the future of
    # every row: any leak changes some value
    as_of = int(np.quantile(log.timestamp, 0.7))
    users = np.unique(log.user)
    spine = pa.table(
        {
            "user_id": users,
            "item_id": (users * 7) % 15,
            "region": np.array(["us", "eu", "latam"])[users % 3],
            "as_of": np.full(len(users), as_of, dtype=np.int64),
        }
    )
    past = Log(
        user=log.user[log.timestamp < as_of],
        item=log.item[log.timestamp < as_of],
        timestamp=log.timestamp[log.timestamp < as_of],
        region=log.region[log.timestamp < as_of],
        weight=log.weight[log.timestamp < as_of],
        genre_of=log.genre_of,
    )
    with_future = _future(log, spine)
    assert (with_future.timestamp >= as_of).sum() > 10 * len(users)  # the future is there
    clean = compute(EVERY_BUILTIN, past.table(), spine, items=log.items(), engine=engine)
    leaky = compute(EVERY_BUILTIN, with_future.table(), spine, items=log.items(), engine=engine)
    assert clean.equals(leaky)

    # and the same events one second earlier are seen: the test can tell a leak apart
    earlier = with_future.timestamp.copy()
    earlier[earlier >= as_of] = as_of - 1
    moved = Log(
        with_future.user,
        with_future.item,
        earlier,
        with_future.region,
        with_future.weight,
        log.genre_of,
    )
    seen = compute(EVERY_BUILTIN, moved.table(), spine, items=log.items(), engine=engine)
    changed = [n for n in BUILTINS if seen.column(n).to_pylist() != clean.column(n).to_pylist()]
    assert set(changed) >= set(BUILTINS) - {"item_events_prev_7d", "item_region_share_30d"}


@pytest.mark.parametrize("engine", ["duckdb", "spark"], indirect=True)
def test_an_event_exactly_at_as_of_is_not_seen(engine: Any) -> None:
    events = pa.table(
        {
            "user_id": [1, 1, 1],
            "item_id": [10, 11, 12],
            "timestamp": [100, 200, 300],
        }
    )
    spine = pa.table({"user_id": [1, 1, 1, 1], "as_of": [100, 101, 300, 301]})
    out = compute(BUILTINS["user_events_all"], events, spine, engine=engine)
    assert out.column("user_events_all").to_pylist() == [0, 1, 2, 3]


def test_the_builtin_set_runs_on_a_candidate_spine() -> None:
    log = random_log(3)
    spine = random_spine(log, 3)
    out = compute(builtin_features(), log.table(), spine, items=log.items())
    assert out.num_rows == spine.num_rows
    assert out.column_names == [*spine.column_names, *builtin_features().names]
    without = compute(builtin_features(genres=False), log.table(), spine)
    assert "user_genre_affinity" not in without.column_names


def test_repeated_spine_rows_get_the_same_values_in_order() -> None:
    log = random_log(8)
    spine = random_spine(log, 8, n=20)
    doubled = pa.concat_tables([spine, spine.slice(3, 5), spine])
    once = compute(EVERY_BUILTIN, log.table(), spine, items=log.items())
    twice = compute(EVERY_BUILTIN, log.table(), doubled, items=log.items())
    assert twice.num_rows == doubled.num_rows
    assert twice.slice(0, 20).equals(once) and twice.slice(25, 20).equals(once)
    assert twice.slice(20, 5).equals(once.slice(3, 5))
