"""Inputs as Arrow, without pandas in the way: the event log, the spine and the item table.

The event log's columns: ``user_id``, ``item_id``, ``timestamp`` (unix seconds), ``weight``
(1.0 when absent) and any context columns (``region``, ``event``, ...). An :class:`Interactions`
becomes such a table column by column; Parquet files are left for the engine to read.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from reelflow._errors import DataError
from reelflow.features._feature import RESERVED_PREFIX

if TYPE_CHECKING:
    import pyarrow as pa

    from reelflow.data import Interactions

EVENT_COLUMNS = ("user_id", "item_id", "timestamp", "weight")
ROW = "__rf_row"
_UNIT_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}


def events_table(data: Interactions) -> pa.Table:
    """An :class:`Interactions` as an event table: ids looked up per row with Arrow's ``take``
    (numeric id indices are used in place), ``rating`` as ``weight``, context columns as they
    are."""
    import pyarrow as pa

    if data.timestamp is None:
        raise DataError("these interactions have no timestamps; features need the time of events")
    columns: dict[str, Any] = {
        "user_id": _ids(data.users.ids).take(pa.array(data.user)),
        "item_id": _ids(data.items.ids).take(pa.array(data.item)),
        "timestamp": pa.array(np.asarray(data.timestamp, dtype=np.int64)),
        "weight": pa.array(
            np.ones(len(data), dtype=np.float64) if data.rating is None else data.rating
        ),
    }
    for name, column in data.context.items():
        if name in columns:
            raise DataError(f"context column '{name}' clashes with the event column of that name")
        columns[name] = pa.array(column)
    return pa.table(columns)


def events_source(events: Any) -> Any:
    """What to register for ``events``: an Arrow table with integer seconds, or Parquet paths."""
    import pyarrow as pa

    from reelflow.data import Interactions

    if isinstance(events, Interactions):
        return events_table(events)
    if isinstance(events, pa.RecordBatchReader):
        events = events.read_all()
    if isinstance(events, pa.Table):
        _require(events.column_names, ("user_id", "item_id", "timestamp"), "the events")
        return _with_seconds(events, "timestamp")
    if _is_paths(events):
        return events
    raise DataError(
        "events must be Interactions, an Arrow table or Parquet path(s), "
        f"not {type(events).__name__}"
    )


def events_view(schema: pa.Schema, source: str) -> str:
    """The normalising SELECT over the registered events: typed columns, a weight, no event
    without a time."""
    import pyarrow as pa

    names = schema.names
    _require(names, ("user_id", "item_id", "timestamp"), "the events")
    _check_names(names, "event")
    timestamp = schema.field("timestamp").type
    if not (pa.types.is_integer(timestamp) or pa.types.is_floating(timestamp)):
        raise DataError(
            f"the events' timestamp is {timestamp}; store it as integer unix seconds "
            "(an Arrow timestamp column is converted, a Parquet one is not)"
        )
    weight = "CAST(weight AS DOUBLE)" if "weight" in names else "CAST(1 AS DOUBLE)"
    rest = [n for n in names if n not in EVENT_COLUMNS]
    select = [
        "user_id",
        "item_id",
        "CAST(timestamp AS BIGINT) AS timestamp",
        f"{weight} AS weight",
        *rest,
    ]
    return f"SELECT {', '.join(select)} FROM {source} WHERE timestamp IS NOT NULL"


def spine_table(spine: Any) -> pa.Table:
    """The spine as Arrow with ``as_of`` in integer seconds and its row number appended."""
    import pyarrow as pa

    if _is_paths(spine):
        import pyarrow.parquet as pq

        paths = [spine] if isinstance(spine, str | os.PathLike) else list(spine)
        spine = pa.concat_tables([pq.read_table(os.fspath(p)) for p in paths])
    elif _is_pandas(spine):
        spine = pa.Table.from_pandas(spine, preserve_index=False)
    if not isinstance(spine, pa.Table):
        raise DataError(
            f"the spine must be an Arrow table, a DataFrame or Parquet path(s), not "
            f"{type(spine).__name__}"
        )
    _require(spine.column_names, ("as_of",), "the spine")
    _check_names(spine.column_names, "spine")
    spine = _with_seconds(spine, "as_of")
    if not pa.types.is_integer(spine.schema.field("as_of").type):
        raise DataError("the spine's as_of must be unix seconds (integers) or an Arrow timestamp")
    if spine.column("as_of").null_count:
        raise DataError("the spine's as_of holds missing values; every row needs a time")
    return spine.append_column(ROW, pa.array(np.arange(spine.num_rows, dtype=np.int64)))


def items_table(items: Any) -> Any:
    """The item table (``item_id`` and attributes such as ``genre``) as Arrow or Parquet paths."""
    import pyarrow as pa

    if _is_pandas(items):
        items = pa.Table.from_pandas(items, preserve_index=False)
    if isinstance(items, pa.Table):
        _require(items.column_names, ("item_id",), "the items table")
        _check_names(items.column_names, "items")
        return items
    if _is_paths(items):
        return items
    raise DataError(
        f"items must be an Arrow table, a DataFrame or Parquet path(s), not {type(items).__name__}"
    )


def _with_seconds(table: pa.Table, name: str) -> pa.Table:
    """``table`` with its Arrow timestamp column ``name`` as int64 unix seconds."""
    import pyarrow as pa
    import pyarrow.compute as pc

    column = table.column(name)
    if pa.types.is_timestamp(column.type):
        per_second = _UNIT_PER_SECOND[column.type.unit]
        raw = pc.cast(column, pa.int64())
        if per_second > 1:  # floor division (Arrow's integer divide truncates towards zero)
            quotient = pc.divide(raw, per_second)
            inexact = pc.not_equal(pc.multiply(quotient, per_second), raw)
            raw = pc.if_else(pc.and_(pc.less(raw, 0), inexact), pc.subtract(quotient, 1), quotient)
        table = table.set_column(table.schema.get_field_index(name), name, raw)
    elif pa.types.is_date(column.type):
        raise DataError(f"'{name}' holds dates; features need times (unix seconds or timestamps)")
    return table


def _ids(ids: np.ndarray) -> pa.Array:
    import pyarrow as pa

    return pa.array(ids.tolist() if ids.dtype == object else ids)


def _require(names: Sequence[str], wanted: Sequence[str], what: str) -> None:
    missing = [n for n in wanted if n not in names]
    if missing:
        raise DataError(
            f"{what} lack the column '{missing[0]}' (they have: {', '.join(names)}); "
            "rename yours with table.rename_columns"
        )


def _check_names(names: Sequence[str], what: str) -> None:
    for name in names:
        if name.lower().startswith(RESERVED_PREFIX):
            raise DataError(f"{what} column '{name}': names starting with '__rf' are reserved")


def _is_paths(value: Any) -> bool:
    if isinstance(value, str | os.PathLike):
        return True
    return (
        isinstance(value, list | tuple)
        and bool(value)
        and all(isinstance(v, str | os.PathLike) for v in value)
    )


def _is_pandas(value: Any) -> bool:
    return type(value).__module__.startswith("pandas") and hasattr(value, "columns")
