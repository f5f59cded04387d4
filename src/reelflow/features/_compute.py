"""``compute``: features for a spine of (keys, as_of) rows, or a snapshot at the end of the log."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from reelflow._errors import DataError
from reelflow.features._compile import (
    EVENTS,
    EVENTS_WITH_ITEMS,
    ROW,
    SPINE,
    Context,
    compile_plan,
)
from reelflow.features._engine import Engine, resolve_engine
from reelflow.features._feature import ENTITY_KEYS, Feature, FeatureSet, closure, flatten
from reelflow.features._inputs import events_source, events_view, items_table, spine_table

if TYPE_CHECKING:
    import pyarrow as pa

_ITEMS = "__rf_items"


def compute(
    features: Feature | FeatureSet | Iterable[Feature | FeatureSet],
    events: Any,
    spine: Any = None,
    *,
    items: Any = None,
    as_of: int | None = None,
    engine: str | Engine = "duckdb",
    threads: int | None = None,
) -> pa.Table:
    """Compute ``features`` from ``events``, each only from events strictly before its time.

    ``events``: :class:`~reelflow.data.Interactions`, an Arrow table or Parquet path(s) with
    ``user_id``, ``item_id``, ``timestamp`` (unix seconds; Arrow timestamps are converted) and
    optionally ``weight`` and context columns such as ``region``.

    ``spine``: an Arrow table (or DataFrame, or Parquet path) with the key columns the features
    need and ``as_of`` (unix seconds or a timestamp): the result has one row per spine row, in
    order, its columns followed by one column per feature, each computed from the events with
    ``timestamp < as_of``. Without a spine: one row per key in the log (the features must share
    one entity, not ``user_item``), as of ``as_of`` (default: just after the last event), for
    serving.

    ``items``: an item table (``item_id`` and attributes such as ``genre``) that features can
    group by. ``engine``: ``"duckdb"`` (the default, with ``threads``) or an :class:`Engine`.
    """
    requested = flatten(features)
    if not requested:
        raise DataError("no features to compute")
    every = closure(requested)
    runner, owned = resolve_engine(engine, threads)
    try:
        return _compute(runner, requested, every, events, spine, items, as_of)
    finally:
        if owned:
            runner.close()


def _compute(
    engine: Engine,
    requested: list[Feature],
    every: list[Feature],
    events: Any,
    spine: Any,
    items: Any,
    as_of: int | None,
) -> pa.Table:
    engine.register("__rf_events_source", events_source(events))
    schema = engine.fetch("SELECT * FROM __rf_events_source LIMIT 0").schema
    engine.create(EVENTS, events_view(schema, "__rf_events_source"))
    event_columns = tuple(engine.fetch(f"SELECT * FROM {EVENTS} LIMIT 0").column_names)

    item_columns: tuple[str, ...] = ()
    if items is not None:
        engine.register(_ITEMS, items_table(items))
        item_columns = _item_attributes(engine)
        attributes = [c for c in item_columns if c not in event_columns]
        chosen = ", ".join(["e.*", *(f"i.{c}" for c in attributes)])
        engine.create(
            EVENTS_WITH_ITEMS,
            f"SELECT {chosen} FROM {EVENTS} e LEFT JOIN {_ITEMS} i ON i.item_id = e.item_id",
        )

    order: tuple[str, ...] = (ROW,)
    if spine is None:
        spine_columns = _snapshot_spine(engine, requested, event_columns, item_columns, as_of)
        outputs, order = spine_columns, spine_columns[:-1]  # ordered by key
    else:
        if as_of is not None:
            raise DataError("pass as_of in the spine's column, or no spine with as_of=")
        spine_columns, outputs = _register_spine(engine, spine, every, item_columns)

    clashes = sorted({f.name for f in every} & set(spine_columns))
    if clashes:
        raise DataError(f"the spine has a column named like the feature '{clashes[0]}'")
    ctx = Context(spine_columns, event_columns, item_columns, engine.dialect, outputs, order)
    plan = compile_plan(requested, every, ctx)
    for name, query in plan.tables:
        engine.create(name, query, materialize=True)
    return engine.fetch(plan.final)


def _item_attributes(engine: Engine) -> tuple[str, ...]:
    row = engine.fetch(f"SELECT COUNT(*) AS n, COUNT(DISTINCT item_id) AS d FROM {_ITEMS}")
    if row.column("n")[0].as_py() != row.column("d")[0].as_py():
        raise DataError("the items table holds an item_id twice (or a missing one)")
    names = engine.fetch(f"SELECT * FROM {_ITEMS} LIMIT 0").column_names
    return tuple(n for n in names if n != "item_id")


def _register_spine(
    engine: Engine, spine: Any, features: list[Feature], item_columns: tuple[str, ...]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Register the spine with the item attributes features group by; its columns with them,
    and its own columns."""
    table = spine_table(spine)
    columns = tuple(table.column_names)
    engine.register("__rf_spine_source", table)
    needed = {k for f in features for k in (*ENTITY_KEYS[f.entity], *f.key_columns)}
    joined = [c for c in item_columns if c in needed and c not in columns]
    if joined and "item_id" not in columns:
        raise DataError(
            f"features group by the item attribute(s) {', '.join(joined)}: the spine needs item_id"
        )
    chosen = ", ".join(["s.*", *(f"i.{c}" for c in joined)])
    query = f"SELECT {chosen} FROM __rf_spine_source s"
    if joined:
        query += f" LEFT JOIN {_ITEMS} i ON i.item_id = s.item_id"
    engine.create(SPINE, query, materialize=True)
    return (*columns, *joined), columns


def _snapshot_spine(
    engine: Engine,
    features: list[Feature],
    event_columns: tuple[str, ...],
    item_columns: tuple[str, ...],
    as_of: int | None,
) -> tuple[str, ...]:
    """Every key of the log before ``as_of`` (default: after its last event), as the spine: its
    columns (the keys, then ``as_of``). The result is ordered by key, not by a row number: a
    global numbering would run on one partition on Spark."""
    keys: list[str] = []
    for feature in features:
        keys += [k for k in ENTITY_KEYS[feature.entity] if k not in keys]
    if "user_id" in keys and "item_id" in keys:
        entities = sorted({f.entity for f in features})
        raise DataError(
            f"features of the entities {', '.join(entities)} need a spine of (user_id, item_id, "
            "as_of) rows: pass one, or compute user and item features separately"
        )
    if as_of is None:
        last = engine.fetch(f"SELECT MAX(timestamp) AS t FROM {EVENTS}").column("t")[0].as_py()
        if last is None:
            raise DataError("the events are empty; there is nothing to compute features from")
        as_of = int(last) + 1
    source = EVENTS if all(k in event_columns for k in keys) else EVENTS_WITH_ITEMS
    if source == EVENTS_WITH_ITEMS and not item_columns:
        raise DataError(f"the events hold no column {', '.join(keys)}")
    listed = ", ".join(keys)
    present = " AND ".join(f"{k} IS NOT NULL" for k in keys)
    engine.create(
        SPINE,
        f"SELECT DISTINCT {listed}, CAST({int(as_of)} AS BIGINT) AS as_of FROM {source} "
        f"WHERE {present} AND timestamp < {int(as_of)}",
        materialize=True,
    )
    return (*keys, "as_of")
