"""Item-item co-occurrence: pairs of items one user consumed close together in time.

A *pair* is two events of one user, the later one among the ``max_previous`` events after the
earlier one and at most ``gap`` after it, on two different items; it is counted both ways and
becomes known at the later event's time. Bounding each event to ``max_previous`` partners keeps
the pairs under ``2 x max_previous x events`` whatever the users' histories, and finds them with
``LAG`` over one sort of the log instead of a self-join.

Two uses: :func:`cooccurrence`, the top ``top_n`` neighbours of every item as of a time (for
candidate generation), and :func:`cooccurrence_feature`, a point-in-time candidate feature: how
often the candidate item co-occurred with the user's ``recent`` last items, counting only pairs
known before ``as_of``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reelflow._errors import DataError
from reelflow.features._compile import EVENTS
from reelflow.features._engine import Engine, resolve_engine
from reelflow.features._feature import Feature, seconds

if TYPE_CHECKING:
    import pyarrow as pa


def _offsets(first: int, last: int, name: str) -> str:
    rows = ", ".join(f"({i})" for i in range(first, last + 1))
    return f"(VALUES {rows}) AS __rf_o({name})"


def pairs_sql(events: str, *, max_previous: int, gap: int) -> str:
    """CTEs ending in ``__rf_pairs_all`` (a, b, pts): every pair, both ways, with the time it
    became known; ``__rf_lagged`` on the way numbers each user's events (``__rf_rk``)."""
    lags = ", ".join(
        f"LAG(item_id, {m}) OVER __rf_w AS __rf_i{m}, LAG(timestamp, {m}) OVER __rf_w AS __rf_t{m}"
        for m in range(1, max_previous + 1)
    )
    other = " ".join(f"WHEN {m} THEN __rf_i{m}" for m in range(1, max_previous + 1))
    other_time = " ".join(f"WHEN {m} THEN __rf_t{m}" for m in range(1, max_previous + 1))
    return f"""__rf_lagged AS (
  SELECT user_id, item_id, timestamp, ROW_NUMBER() OVER __rf_w AS __rf_rk, {lags}
  FROM {events}
  WINDOW __rf_w AS (PARTITION BY user_id ORDER BY timestamp, item_id)
),
__rf_pairs_one_way AS (
  SELECT x, y, pts FROM (
    SELECT item_id AS x, CASE __rf_o.m {other} END AS y, timestamp AS pts,
           CASE __rf_o.m {other_time} END AS pt
    FROM __rf_lagged CROSS JOIN {_offsets(1, max_previous, "m")}
  ) __rf_p
  WHERE y IS NOT NULL AND x <> y AND pts - pt <= {gap}
),
__rf_pairs_all AS (
  SELECT CASE WHEN d = 0 THEN x ELSE y END AS a, CASE WHEN d = 0 THEN y ELSE x END AS b, pts
  FROM __rf_pairs_one_way CROSS JOIN (VALUES (0), (1)) AS __rf_d(d)
)"""


def _check(recent: int | None, max_previous: int, gap: int | None) -> int:
    if recent is not None and (not isinstance(recent, int) or recent < 1):
        raise DataError(f"recent must be a positive number of items, got {recent!r}")
    if not isinstance(max_previous, int) or not 1 <= max_previous <= 100:
        raise DataError(f"max_previous must be between 1 and 100, got {max_previous!r}")
    if gap is None or gap <= 0:
        raise DataError("gap must be a positive duration such as '1d'")
    return gap


def cooccurrence_feature(
    name: str = "user_item_cooc_recent",
    *,
    recent: int = 10,
    max_previous: int = 5,
    gap: str | int = "1d",
) -> Feature:
    """A ``user_item`` feature: the sum, over the distinct items among the user's ``recent``
    last events before ``as_of``, of their pair counts with the candidate item, counting only
    pairs whose later event is before ``as_of`` too."""
    window = _check(recent, max_previous, seconds(gap))
    ctes = pairs_sql("{events}", max_previous=max_previous, gap=window)
    sql = f"""WITH {ctes},
__rf_users AS (SELECT DISTINCT user_id, as_of FROM {{probes}}),
__rf_walk AS (
  SELECT user_id, __rf_t, __rf_kind,
         ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY __rf_t, __rf_kind) AS __rf_ra
  FROM (
    SELECT user_id, timestamp AS __rf_t, 1 AS __rf_kind FROM {{events}}
    WHERE user_id IN (SELECT user_id FROM __rf_users)
    UNION ALL
    SELECT user_id, as_of AS __rf_t, 0 AS __rf_kind FROM __rf_users
  ) __rf_s
),
__rf_user_rank AS (
  SELECT user_id, as_of, ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY as_of) AS __rf_rp
  FROM __rf_users
),
__rf_before AS (
  SELECT w.user_id, w.__rf_t AS as_of, w.__rf_ra - r.__rf_rp AS n
  FROM __rf_walk w JOIN __rf_user_rank r ON r.user_id = w.user_id AND r.as_of = w.__rf_t
  WHERE w.__rf_kind = 0
),
__rf_wanted AS (
  SELECT b.user_id, b.as_of, b.n - __rf_o.k AS rk
  FROM __rf_before b CROSS JOIN {_offsets(0, recent - 1, "k")}
  WHERE b.n - __rf_o.k >= 1
),
__rf_recent AS (
  SELECT DISTINCT w.user_id, w.as_of, e.item_id AS other
  FROM __rf_wanted w JOIN __rf_lagged e ON e.user_id = w.user_id AND e.__rf_rk = w.rk
),
__rf_need AS (
  SELECT DISTINCT p.item_id AS a, r.other AS b, p.as_of
  FROM {{probes}} p JOIN __rf_recent r ON r.user_id = p.user_id AND r.as_of = p.as_of
  WHERE r.other <> p.item_id
),
__rf_pairs AS (
  SELECT q.a, q.b, q.pts FROM __rf_pairs_all q
  JOIN (SELECT DISTINCT a AS na, b AS nb FROM __rf_need) n ON n.na = q.a AND n.nb = q.b
),
__rf_pair_walk AS (
  SELECT a, b, __rf_t, __rf_kind,
         ROW_NUMBER() OVER (PARTITION BY a, b ORDER BY __rf_t, __rf_kind) AS __rf_ra
  FROM (
    SELECT a, b, pts AS __rf_t, 1 AS __rf_kind FROM __rf_pairs
    UNION ALL
    SELECT a, b, as_of AS __rf_t, 0 AS __rf_kind FROM __rf_need
  ) __rf_s
),
__rf_need_rank AS (
  SELECT a, b, as_of, ROW_NUMBER() OVER (PARTITION BY a, b ORDER BY as_of) AS __rf_rp
  FROM __rf_need
),
__rf_counts AS (
  SELECT w.a, w.b, w.__rf_t AS as_of, w.__rf_ra - r.__rf_rp AS n
  FROM __rf_pair_walk w JOIN __rf_need_rank r
    ON r.a = w.a AND r.b = w.b AND r.as_of = w.__rf_t
  WHERE w.__rf_kind = 0
)
SELECT p.user_id, p.item_id, p.as_of, CAST(COALESCE(SUM(c.n), 0) AS BIGINT) AS value
FROM {{probes}} p
LEFT JOIN __rf_recent r ON r.user_id = p.user_id AND r.as_of = p.as_of
LEFT JOIN __rf_counts c ON c.a = p.item_id AND c.b = r.other AND c.as_of = p.as_of
GROUP BY p.user_id, p.item_id, p.as_of"""
    description = (
        f"co-occurrences (within {gap}, {max_previous} events apart at most) of the candidate "
        f"with the user's {recent} last items, before as_of"
    )
    return Feature.query(name, "user_item", sql, description, default=0)


def cooccurrence(
    events: Any,
    *,
    top_n: int = 50,
    gap: str | int = "1d",
    max_previous: int = 5,
    as_of: int | None = None,
    engine: str | Engine = "duckdb",
    threads: int | None = None,
) -> pa.Table:
    """The ``top_n`` items that co-occur most with each item, from the events before ``as_of``
    (default: all): columns ``item_id``, ``other_item_id``, ``count``, ``rank`` (1 = most;
    ties go to the smaller ``other_item_id``)."""
    window = _check(None, max_previous, seconds(gap))
    if not isinstance(top_n, int) or top_n < 1:
        raise DataError(f"top_n must be a positive integer, got {top_n!r}")
    from reelflow.features._inputs import events_source, events_view

    runner, owned = resolve_engine(engine, threads)
    try:
        runner.register("__rf_events_source", events_source(events))
        schema = runner.fetch("SELECT * FROM __rf_events_source LIMIT 0").schema
        view = events_view(schema, "__rf_events_source")
        if as_of is not None:
            view += f" AND timestamp < {int(as_of)}"
        runner.create(EVENTS, view)
        ctes = pairs_sql(EVENTS, max_previous=max_previous, gap=window)
        return runner.fetch(f"""WITH {ctes},
__rf_counted AS (SELECT a, b, COUNT(*) AS n FROM __rf_pairs_all GROUP BY a, b),
__rf_ranked AS (
  SELECT a, b, n, ROW_NUMBER() OVER (PARTITION BY a ORDER BY n DESC, b) AS r FROM __rf_counted
)
SELECT a AS item_id, b AS other_item_id, n AS count, r AS rank
FROM __rf_ranked WHERE r <= {top_n} ORDER BY item_id, rank""")
    finally:
        if owned:
            runner.close()
