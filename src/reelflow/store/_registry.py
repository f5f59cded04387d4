"""The model registry's tables: versions and their files, aliases, alias moves, promotions.

The registry layer decides what a version or a promotion means (``reelflow.registry``); this
module only reads and writes the rows, each change in one transaction (``BEGIN IMMEDIATE`` on
SQLite, an advisory lock on the model or alias on PostgreSQL: see ``serialize``), so a crash
leaves either the old state or the new one, never half of each, and of two writers that read
the same state only one acts on it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from reelflow._errors import RegistryError
from reelflow.store import _schema as t
from reelflow.store._metadata import MetadataStore, _retry_locked, insert_id, serialize
from reelflow.store._records import dumps, loads

_JSON_COLUMNS = ("params", "metrics", "lineage", "importance")


class RegistryTables:
    """Row-level operations on the registry tables of one metadata store."""

    def __init__(self, metadata: MetadataStore) -> None:
        self.metadata = metadata

    # --- versions ------------------------------------------------------------------------------

    def add_version(
        self, name: str, row: Mapping[str, Any], files: Sequence[tuple[str, str, int]]
    ) -> int:
        """Insert the next version of ``name`` with its files (path, key, size); returns the
        version number, one more than the highest so far."""

        def insert() -> int:
            with self.metadata._writer.begin() as conn:
                serialize(conn, "model_versions", name)
                table = t.model_versions
                last = conn.execute(
                    sa.select(sa.func.max(table.c.version)).where(table.c.name == name)
                ).scalar()
                version = int(last or 0) + 1
                values = _encoded({**row, "name": name, "version": version})
                version_id = insert_id(conn, table.insert(), values)
                rows = [
                    {"version_id": version_id, "path": p, "key": k, "size": s} for p, k, s in files
                ]
                if rows:
                    conn.execute(t.model_files.insert(), rows)
                return version

        try:
            return int(_retry_locked(insert))
        except sa.exc.IntegrityError:  # another writer took the number first (other databases)
            return int(_retry_locked(insert))

    def get_version(self, name: str, version: int) -> dict[str, Any] | None:
        table = t.model_versions
        query = sa.select(table).where((table.c.name == name) & (table.c.version == version))
        with self.metadata._reader.connect() as conn:
            row = conn.execute(query).first()
            if row is None:
                return None
            decoded = _decoded(row._mapping)
            decoded["files"] = _files(conn, decoded["id"])
        return decoded

    def list_versions(self, name: str | None = None) -> list[dict[str, Any]]:
        """Versions, newest first (of every model when ``name`` is None, by name), without their
        files."""
        table = t.model_versions
        query = sa.select(table)
        if name is not None:
            query = query.where(table.c.name == name)
        with self.metadata._reader.connect() as conn:
            rows = [_decoded(row._mapping) for row in conn.execute(query)]
        # sorted here, by code point: a database's collation may order names otherwise
        return sorted(rows, key=lambda row: (row["name"], -row["version"]))

    # --- aliases -------------------------------------------------------------------------------

    def aliases(self, name: str | None = None) -> list[dict[str, Any]]:
        table = t.model_aliases
        query = sa.select(table)
        if name is not None:
            query = query.where(table.c.name == name)
        with self.metadata._reader.connect() as conn:
            rows = [dict(row._mapping) for row in conn.execute(query)]
        return sorted(rows, key=lambda row: (row["name"], row["alias"]))

    def alias_version(self, name: str, alias: str) -> int | None:
        table = t.model_aliases
        query = sa.select(table.c.version).where((table.c.name == name) & (table.c.alias == alias))
        with self.metadata._reader.connect() as conn:
            value = conn.execute(query).scalar()
        return None if value is None else int(value)

    def move_alias(
        self,
        name: str,
        alias: str,
        *,
        expected: int | None,
        to: int | None,
        action: str,
        actor: str | None,
        reason: str | None,
        promotion: tuple[int, str] | None = None,
    ) -> bool:
        """Point ``alias`` at version ``to`` (None removes it) if it still points at
        ``expected``; record the move (and close ``promotion``: id, status) in the same
        transaction. False, with nothing changed but the promotion marked ``conflict``, when
        another writer moved the alias first."""

        def move() -> bool:
            with self.metadata._writer.begin() as conn:
                serialize(conn, "model_aliases", name, alias)
                now = time.time()
                current = _alias_version(conn, name, alias)
                if current != expected:
                    if promotion is not None:
                        _finish_promotion(conn, promotion[0], "conflict", now)
                    return False
                _set_alias(conn, name, alias, to, now)
                event = {
                    "created_at": now,
                    "name": name,
                    "alias": alias,
                    "from_version": current,
                    "to_version": to,
                    "action": action,
                    "actor": actor,
                    "reason": reason,
                    "promotion_id": None if promotion is None else promotion[0],
                }
                conn.execute(t.alias_events.insert(), event)
                if promotion is not None:
                    _finish_promotion(conn, promotion[0], promotion[1], now)
                return True

        return bool(_retry_locked(move))

    def alias_events(self, name: str, alias: str | None = None) -> list[dict[str, Any]]:
        """Every move of the model's aliases, oldest first."""
        table = t.alias_events
        query = sa.select(table).where(table.c.name == name).order_by(table.c.id)
        if alias is not None:
            query = query.where(table.c.alias == alias)
        with self.metadata._reader.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    # --- promotions ----------------------------------------------------------------------------

    def start_promotion(self, values: Mapping[str, Any]) -> int:
        """Record a promotion being evaluated (``status='evaluating'``); returns its id."""
        row = {**values, "created_at": time.time(), "status": "evaluating"}

        def insert() -> int:
            with self.metadata._writer.begin() as conn:
                return insert_id(conn, t.promotions.insert(), row)

        return int(_retry_locked(insert))

    def finish_promotion(self, promotion_id: int, status: str) -> None:
        def update() -> None:
            with self.metadata._writer.begin() as conn:
                _finish_promotion(conn, promotion_id, status, time.time())

        _retry_locked(update)

    def promotions(self, name: str) -> list[dict[str, Any]]:
        table = t.promotions
        query = sa.select(table).where(table.c.name == name).order_by(table.c.id)
        with self.metadata._reader.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]


def _alias_version(conn: Connection, name: str, alias: str) -> int | None:
    table = t.model_aliases
    query = sa.select(table.c.version).where((table.c.name == name) & (table.c.alias == alias))
    value = conn.execute(query).scalar()
    return None if value is None else int(value)


def _set_alias(conn: Connection, name: str, alias: str, version: int | None, now: float) -> None:
    table = t.model_aliases
    where = (table.c.name == name) & (table.c.alias == alias)
    conn.execute(table.delete().where(where))
    if version is not None:
        row = {"name": name, "alias": alias, "version": version, "updated_at": now}
        conn.execute(table.insert(), row)


def _finish_promotion(conn: Connection, promotion_id: int, status: str, now: float) -> None:
    table = t.promotions
    update = table.update().where(table.c.id == promotion_id)
    result = conn.execute(update.values(status=status, finished_at=now))
    if result.rowcount != 1:
        raise RegistryError(f"no promotion {promotion_id} in this store")


def _files(conn: Connection, version_id: int) -> list[tuple[str, str, int]]:
    table = t.model_files
    query = sa.select(table).where(table.c.version_id == version_id)
    return sorted((row.path, row.key, int(row.size)) for row in conn.execute(query))


def _encoded(row: Mapping[str, Any]) -> dict[str, Any]:
    columns = {c.name for c in t.model_versions.columns} - {"id"}
    values = {name: row.get(name) for name in columns}
    for name in _JSON_COLUMNS:
        value = row.get(name)
        values[name] = None if value is None and name == "importance" else dumps(value or {})
    values["description"] = str(row.get("description") or "")
    values["created_at"] = row.get("created_at") or time.time()
    return values


def _decoded(mapping: Any) -> dict[str, Any]:
    row = dict(mapping)
    for name in _JSON_COLUMNS:
        row[name] = loads(row[name])
    return row


def known_names(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """The distinct model names of version rows, in order of first appearance."""
    return list(dict.fromkeys(str(row["name"]) for row in rows))
