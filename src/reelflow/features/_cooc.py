"""Item-item co-occurrence: pairs of items one user consumed close together in time.

A *pair* is two events of one user, the later one among the ``max_previous`` events after the
earlier one and at most ``gap`` after it, on two different items; it is counted both ways and
becomes known at the later event's time. Bounding each event to ``max_previous`` partners keeps
the pairs under ``max_previous x events`` whatever the users' histories, and finds them with
``LAG`` over one sort of the log instead of a self-join. A pair counts the same for (a, b) as
for (b, a), so it is kept once, as (smaller item, larger item), and looked up that way.

Two uses: :func:`cooccurrence`, the top ``top_n`` neighbours of every item as of a time (for
candidate generation), and :func:`cooccurrence_feature`, a point-in-time candidate feature: how
often the candidate item co-occurred with the user's ``recent`` last items, counting only pairs
known before ``as_of``. The feature reads the user's event count before ``as_of``
(``user_events_all``, computed by the compiler's sorted pass and shared with that built-in) to
find the recent items by rank, and counts pairs with the same split sorted pass
(:func:`~reelflow.features._compile.before_sql`) as the aggregates.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reelflow._errors import DataError
from reelflow.features._compile import EVENTS, before_sql
from reelflow.features._engine import Engine, resolve_engine
from reelflow.features._feature import Feature, seconds

if TYPE_CHECKING:
    import pyarrow as pa


#: The user's events before ``as_of``: the co-occurrence feature's input (its recent items are
#: the events ranked ``USER_EVENTS_ALL - recent + 1`` to ``USER_EVENTS_ALL``), a built-in too.
USER_EVENTS_ALL = Feature(
    "user_events_all", "user", "COUNT(*)", None, "the user's events before as_of"
)


def _offsets(first: int, last: int, name: str) -> str:
    rows = ", ".join(f"({i})" for i in range(first, last + 1))
    return f"(VALUES {rows}) AS __rf_o({name})"


def pairs_sql(events: str, *, max_previous: int, gap: int) -> str:
    """CTEs ending in ``__rf_pairs`` (a, b, pts): every pair once, as (smaller item, larger
    item), with the time it became known; ``__rf_lagged`` on the way numbers each user's events
    (``__rf_rk``) and holds, for the ``m``-th previous event, its item when it is at most
    ``gap`` earlier (``__rf_i{m}``, else NULL)."""
    partners = ", ".join(
        f"CASE WHEN LAG(timestamp, {m}) OVER __rf_w >= timestamp - {gap} "
        f"THEN LAG(item_id, {m}) OVER __rf_w END AS __rf_i{m}"
        for m in range(1, max_previous + 1)
    )
    pairs = "\n  UNION ALL\n  ".join(
        f"SELECT LEAST(item_id, __rf_i{m}) AS a, GREATEST(item_id, __rf_i{m}) AS b, "
        f"timestamp AS pts FROM __rf_lagged WHERE __rf_i{m} <> item_id"
        for m in range(1, max_previous + 1)
    )
    return f"""__rf_lagged AS (
  SELECT user_id, item_id, timestamp, ROW_NUMBER() OVER __rf_w AS __rf_rk, {partners}
  FROM {events}
  WINDOW __rf_w AS (PARTITION BY user_id ORDER BY timestamp, item_id)
),
__rf_pairs AS (
  {pairs}
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
    counted, counts = before_sql(
        ["a", "b"],
        probes="SELECT a, b, __rf_t FROM __rf_need",
        events="__rf_pairs",
        time="pts",
        dialect=None,  # spelled for the engine when the feature is compiled
        prefix="__rf_c",
    )
    sql = f"""WITH {ctes},
__rf_probes AS (SELECT user_id, item_id, as_of, {USER_EVENTS_ALL.name} FROM {{probes}} __rf_pr),
__rf_wanted AS (
  SELECT p.user_id, p.as_of, p.{USER_EVENTS_ALL.name} - __rf_o.k AS rk
  FROM (SELECT DISTINCT user_id, as_of, {USER_EVENTS_ALL.name} FROM __rf_probes) p
  CROSS JOIN {_offsets(0, recent - 1, "k")}
  WHERE p.{USER_EVENTS_ALL.name} - __rf_o.k >= 1
),
__rf_recent AS (
  SELECT DISTINCT w.user_id, w.as_of, e.item_id AS other
  FROM __rf_wanted w JOIN __rf_lagged e ON e.user_id = w.user_id AND e.__rf_rk = w.rk
),
__rf_need AS (
  SELECT DISTINCT LEAST(p.item_id, r.other) AS a, GREATEST(p.item_id, r.other) AS b,
         p.as_of AS __rf_t
  FROM __rf_probes p JOIN __rf_recent r ON r.user_id = p.user_id AND r.as_of = p.as_of
  WHERE r.other <> p.item_id
),
{counted},
__rf_counts AS ({counts})
SELECT p.user_id, p.item_id, p.as_of, CAST(COALESCE(SUM(c.__rf_n), 0) AS BIGINT) AS value
FROM __rf_probes p
LEFT JOIN __rf_recent r ON r.user_id = p.user_id AND r.as_of = p.as_of
LEFT JOIN __rf_counts c ON c.a = LEAST(p.item_id, r.other) AND c.b = GREATEST(p.item_id, r.other)
  AND c.__rf_t = p.as_of
GROUP BY p.user_id, p.item_id, p.as_of"""
    description = (
        f"co-occurrences (within {gap}, {max_previous} events apart at most) of the candidate "
        f"with the user's {recent} last items, before as_of"
    )
    return Feature.query(name, "user_item", sql, description, default=0, inputs=[USER_EVENTS_ALL])


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
__rf_counted AS (SELECT a, b, COUNT(*) AS n FROM __rf_pairs GROUP BY a, b),
__rf_both AS (
  SELECT a, b, n FROM __rf_counted UNION ALL SELECT b AS a, a AS b, n FROM __rf_counted
),
__rf_ranked AS (
  SELECT a, b, n, CAST(ROW_NUMBER() OVER (PARTITION BY a ORDER BY n DESC, b) AS BIGINT) AS r
  FROM __rf_both
)
SELECT a AS item_id, b AS other_item_id, n AS count, r AS rank
FROM __rf_ranked WHERE r <= {top_n} ORDER BY item_id, rank""")
    finally:
        if owned:
            runner.close()
