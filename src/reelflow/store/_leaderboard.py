"""Leaderboard rows in the metadata database: one row per (benchmarked model, metric).

The bench layer decides what a row means (``reelflow.bench.Leaderboard``); this module only
writes and reads the ``leaderboard`` table through a :class:`MetadataStore`'s engines, in short
transactions (``BEGIN IMMEDIATE`` on SQLite, like every other write).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping
from typing import Any, Literal

import sqlalchemy as sa

from reelflow.store import _schema as t
from reelflow.store._metadata import MetadataStore, insert_id
from reelflow.store._records import dumps, loads

COLUMNS = tuple(column.name for column in t.leaderboard.columns)
_OPTIONAL_FLOATS = ("mean", "ci_low", "ci_high")
Order = Literal["best", "worst", "newest"]


class LeaderboardStore:
    """Adds and queries leaderboard rows of one metadata store."""

    def __init__(self, metadata: MetadataStore) -> None:
        self.metadata = metadata

    def add(self, entries: Iterable[Mapping[str, Any]]) -> list[int]:
        """Insert entries (every column but ``id``; ``created_at`` defaults to now), in one
        transaction; returns their ids."""
        now = time.time()
        rows = [_encoded(entry, now) for entry in entries]
        with self.metadata._writer.begin() as conn:
            return [insert_id(conn, t.leaderboard.insert(), row) for row in rows]

    def query(
        self,
        *,
        metric: str | None = None,
        data_fingerprint: str | None = None,
        split: str | None = None,
        order: Order = "newest",
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Rows, filtered (``data_fingerprint`` matches as a prefix) and ordered by ``mean``
        (``best``: highest first, ``worst``: lowest first) or by id (``newest`` first)."""
        table = t.leaderboard
        query = sa.select(table)
        if metric is not None:
            query = query.where(table.c.metric == metric)
        if data_fingerprint is not None:
            query = query.where(
                table.c.data_fingerprint.startswith(data_fingerprint, autoescape=True)
            )
        if split is not None:
            query = query.where(table.c.split == split)
        query = query.order_by(*_ordering(order)).limit(limit)
        with self.metadata._reader.connect() as conn:
            return [_decoded(row._mapping) for row in conn.execute(query)]

    def groups(self) -> list[dict[str, Any]]:
        """Each (data fingerprint, split, metric) with entries: how many, and the newest time."""
        table = t.leaderboard
        keys = (table.c.data_fingerprint, table.c.split, table.c.metric)
        query = (
            sa.select(*keys, sa.func.count().label("entries"), sa.func.max(table.c.created_at))
            .group_by(*keys)
            .order_by(sa.func.max(table.c.id).desc())
        )
        with self.metadata._reader.connect() as conn:
            rows = conn.execute(query).all()
        names = ("data_fingerprint", "split", "metric", "entries", "latest")
        return [dict(zip(names, row, strict=True)) for row in rows]


def _ordering(order: Order) -> list[Any]:
    table = t.leaderboard
    if order == "newest":
        return [table.c.id.desc()]
    by_mean = table.c.mean.desc() if order == "best" else table.c.mean.asc()
    return [table.c.mean.is_(None), by_mean, table.c.id.asc()]  # undefined means last, ties: oldest


def _encoded(entry: Mapping[str, Any], now: float) -> dict[str, Any]:
    row = {name: entry.get(name) for name in COLUMNS if name != "id"}
    row["created_at"] = entry.get("created_at") or now
    row["params"] = dumps(dict(entry.get("params") or {}))
    row["tags"] = dumps(sorted(set(entry.get("tags") or ())))
    for name in _OPTIONAL_FLOATS:
        value = row[name]
        row[name] = None if value is None or math.isnan(float(value)) else float(value)
    return row


def _decoded(mapping: Any) -> dict[str, Any]:
    row = dict(mapping)
    row["params"] = loads(row["params"])
    row["tags"] = loads(row["tags"])
    for name in _OPTIONAL_FLOATS:
        row[name] = math.nan if row[name] is None else row[name]
    return row
