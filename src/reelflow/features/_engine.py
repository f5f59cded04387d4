"""Engines: where feature SQL runs. Everything engine-specific sits behind :class:`Engine`'s four
methods and its ``dialect`` (:mod:`reelflow.features._dialect`); the SQL the compiler writes is
the subset DuckDB and Spark SQL share.

DuckDB (the default) runs in-process and scans Arrow tables and Parquet files where they are,
without a copy through pandas. Spark (:class:`~reelflow.features._spark.SparkEngine`) runs the
same SQL on a local or a cluster session, Arrow in and out.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from reelflow._errors import DataError
from reelflow.features._spark import SparkEngine

ENGINES = ("duckdb", "spark")

if TYPE_CHECKING:
    import pyarrow as pa


@runtime_checkable
class Engine(Protocol):
    """What the feature compiler needs from an engine, and nothing more.

    ``dialect`` (``"duckdb"`` or ``"spark"``) picks the spellings the two SQL dialects do not
    share in the compiler's SQL (:data:`reelflow.features._dialect.DIALECTS`).
    """

    name: str
    dialect: str

    def register(self, name: str, source: Any) -> None:
        """Make an Arrow table, or Parquet file(s) (paths, globs or folders), queryable as
        ``name`` without copying them."""
        ...

    def create(self, name: str, query: str, *, materialize: bool = False) -> None:
        """Define ``name`` as ``query``: a view, or a temporary table computed now."""
        ...

    def fetch(self, query: str) -> pa.Table:
        """Run ``query`` and return its rows as an Arrow table."""
        ...

    def close(self) -> None:
        """Drop everything this engine registered or created."""
        ...


class DuckDBEngine:
    """DuckDB in-process: Arrow tables are scanned in place, Parquet is read by DuckDB itself.

    ``threads`` defaults to DuckDB's own choice (one per core); ``memory_limit`` (``"4GB"``)
    bounds what it holds before spilling to ``temp_directory``.
    """

    name = "duckdb"
    dialect = "duckdb"

    def __init__(
        self,
        *,
        threads: int | None = None,
        memory_limit: str | None = None,
        temp_directory: str | None = None,
    ) -> None:
        import duckdb

        config: dict[str, Any] = {}
        if threads is not None:
            config["threads"] = int(threads)
        if memory_limit is not None:
            config["memory_limit"] = memory_limit
        if temp_directory is not None:
            config["temp_directory"] = temp_directory
        self._duckdb = duckdb
        self._connection = duckdb.connect(":memory:", config=config)
        self._registered: list[str] = []

    @property
    def threads(self) -> int:
        """The threads DuckDB runs a query on."""
        row = self._connection.execute("SELECT current_setting('threads')").fetchone()
        return int(row[0]) if row else 1

    @property
    def version(self) -> str:
        return str(self._duckdb.__version__)

    def register(self, name: str, source: Any) -> None:
        sources = parquet_sources(source)
        if sources is None:
            self._connection.register(name, source)
            self._registered.append(name)
            return
        paths = [str(Path(p) / "**" / "*.parquet") if folder else p for p, folder in sources]
        listed = ", ".join("'" + p.replace("'", "''") + "'" for p in paths)
        self._connection.execute(
            f"CREATE OR REPLACE TEMP VIEW {name} AS "
            f"SELECT * FROM read_parquet([{listed}], union_by_name = true)"
        )

    def create(self, name: str, query: str, *, materialize: bool = False) -> None:
        what = "TABLE" if materialize else "VIEW"
        self._connection.execute(f"CREATE OR REPLACE TEMP {what} {name} AS {query}")

    def fetch(self, query: str) -> pa.Table:
        relation = self._connection.sql(query)
        if hasattr(relation, "to_arrow_table"):  # duckdb >= 1.4
            table: pa.Table = relation.to_arrow_table()
        else:
            table = relation.arrow()
        return table

    def close(self) -> None:
        for name in self._registered:
            self._connection.unregister(name)
        self._registered.clear()
        self._connection.close()

    def __enter__(self) -> DuckDBEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def resolve_engine(engine: str | Engine, threads: int | None = None) -> tuple[Engine, bool]:
    """The engine to use, and whether the caller owns it (and must close it): ``"duckdb"``
    (with ``threads``), ``"spark"`` (the process's local session) or an :class:`Engine`."""
    if isinstance(engine, str):
        if engine == "duckdb":
            return DuckDBEngine(threads=threads), True
        if engine == "spark":
            return SparkEngine(), True
        raise DataError(f"unknown engine {engine!r}; use one of {', '.join(ENGINES)} or an Engine")
    if not isinstance(engine, Engine):
        raise DataError(f"{engine!r} is not an Engine (register, create, fetch, close)")
    return engine, False


def parquet_sources(source: Any) -> list[tuple[str, bool]] | None:
    """The Parquet paths or globs ``source`` names, each with whether it is a folder (to read
    recursively), or None when ``source`` is not paths."""
    if isinstance(source, str | os.PathLike):
        entries: list[Any] = [source]
    elif (
        isinstance(source, list | tuple)
        and source
        and all(isinstance(s, str | os.PathLike) for s in source)
    ):
        entries = list(source)
    else:
        return None
    sources = []
    for entry in entries:
        path = os.fspath(entry)
        folder = Path(path).is_dir()
        if not folder and not any(c in path for c in "*?[") and not Path(path).exists():
            raise DataError(f"no Parquet file at '{path}'")
        sources.append((path, folder))
    return sources
