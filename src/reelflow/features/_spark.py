"""The Spark engine: the same feature SQL on Spark SQL, local or on a cluster.

``pyspark`` is imported when an engine is made, never before, so ``import reelflow`` stays
light. Without a session of its own, an engine uses one local session per process, started on
first use and kept (a JVM takes seconds to start): ``local[N]`` with few shuffle partitions,
no UI and only errors logged, sized for a small machine. Each engine works in a
``newSession()`` of it: the same JVM and cache, its own temporary views, so engines never see
each other's tables.

Inputs arrive as Arrow (``createDataFrame`` of an Arrow table; past ``inline_bytes``, through a
Parquet file in a temporary folder, which on a cluster the executors must reach: there, pass
large inputs as Parquet paths on shared storage) or as Parquet read by Spark; results leave as
Arrow (``toArrow``), with Spark's large string and binary types and its
non-nullable fields turned into what DuckDB returns, so both engines give equal tables.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reelflow._errors import DataError

if TYPE_CHECKING:
    import pyarrow as pa

INSTALL_HINT = 'pip install "reelflow[spark]"'

_lock = threading.Lock()
_local: dict[str, Any] = {}  # the process's local session, once started

# Only errors from the JVM's log4j: Spark's start-up warnings (native Hadoop, the UI, the
# loopback address) say nothing a feature computation can act on.
_LOG4J = """\
rootLogger.level = error
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{HH:mm:ss} %p %c{1}: %m%n
"""


def _import_pyspark() -> Any:
    try:
        import pyspark
    except ImportError:
        raise DataError(f"the Spark engine needs pyspark: {INSTALL_HINT}") from None
    major = int(pyspark.__version__.split(".")[0])
    if major < 4:
        raise DataError(
            f"the Spark engine needs pyspark 4 or later (found {pyspark.__version__}): "
            f"{INSTALL_HINT}"
        )
    return pyspark


def require_spark() -> None:
    """Raise a one-line :class:`DataError` saying how to fix it unless pyspark 4 or later and a
    Java are here; no JVM is started (one that starts and fails says so in
    :func:`local_session`)."""
    _import_pyspark()
    _require_java()


def _require_java() -> None:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return
    if shutil.which("java") is None:
        raise DataError(
            "the Spark engine needs Java 17 or later and found none (no java on PATH, no "
            "JAVA_HOME); install a JDK, e.g. apt-get install openjdk-17-jre-headless"
        )


def local_session(
    *, cores: int = 2, shuffle_partitions: int | None = None, memory: str = "2g"
) -> Any:
    """The process's local SparkSession, started on first call with ``local[cores]``,
    ``shuffle_partitions`` shuffle partitions (default: one per core; Spark's 200 cost a task
    each per shuffle, seconds per feature set on small data) and ``memory`` for the driver
    (which in local mode is the executor too); later calls return it as it is."""
    with _lock:
        session = _local.get("session")
        if session is not None and session.sparkContext._jsc is not None:
            return session
        require_spark()
        from pyspark.sql import SparkSession

        folder = tempfile.mkdtemp(prefix="reelflow-spark-")
        log4j = Path(folder) / "log4j2.properties"
        log4j.write_text(_LOG4J, encoding="utf-8")
        settings = {
            "spark.driver.memory": memory,
            "spark.driver.host": "127.0.0.1",
            "spark.driver.bindAddress": "127.0.0.1",
            "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile=file:{log4j}",
            "spark.ui.enabled": "false",
            "spark.ui.showConsoleProgress": "false",
            "spark.sql.shuffle.partitions": str(shuffle_partitions or cores),
            "spark.default.parallelism": str(cores),
            "spark.sql.execution.arrow.pyspark.enabled": "true",
            "spark.sql.session.timeZone": "UTC",
        }
        builder = SparkSession.builder.master(f"local[{cores}]").appName("reelflow-features")
        for key, value in settings.items():
            builder = builder.config(key, value)
        try:
            with _no_pandas_warning():
                session = builder.getOrCreate()
        except Exception as exc:  # the JVM did not start: say why in one line
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0].rstrip(".")
            raise DataError(
                f"Spark could not start a local session: {first} (Spark 4 needs Java 17 or "
                "later: check `java -version`, or point JAVA_HOME at a JDK 17+)"
            ) from exc
        session.sparkContext.setLogLevel("ERROR")
        _local.update(session=session, folder=folder)
        return session


def stop_local_session() -> None:
    """Stop the process's local session, if one was started (engines using it stop working)."""
    with _lock:
        session = _local.pop("session", None)
        if session is not None:
            session.stop()
        shutil.rmtree(_local.pop("folder", ""), ignore_errors=True)


class SparkEngine:
    """Spark SQL: the compiled feature SQL runs as it is, Arrow in and out.

    ``session``: a SparkSession to work in (a cluster's; the engine opens a ``newSession()`` of
    it, so its temporary views stay its own); without one, the process's local session
    (:func:`local_session`, ``local[cores]`` with ``shuffle_partitions`` and ``memory``),
    started on first use and kept for the next engines. ``close`` drops this engine's views
    and cached tables; it does not stop a session.
    """

    name = "spark"
    dialect = "spark"
    #: Arrow tables up to this size go to Spark with ``createDataFrame``, larger ones through a
    #: Parquet file in a temporary folder: ``createDataFrame`` puts the rows in the query plan
    #: itself, which the optimiser copies for every pass that reads them (100,000 events, 4.8 MB,
    #: filled a 2 GB driver; a 0.6 MB spine did not).
    inline_bytes = 2**20

    def __init__(
        self,
        session: Any = None,
        *,
        cores: int = 2,
        shuffle_partitions: int | None = None,
        memory: str = "2g",
    ) -> None:
        _import_pyspark()
        if session is None:
            session = local_session(
                cores=cores, shuffle_partitions=shuffle_partitions, memory=memory
            )
        self._spark: Any = session.newSession()
        self._spark.conf.set("spark.sql.execution.arrow.pyspark.enabled", "true")
        self._views: list[str] = []
        self._cached: list[Any] = []
        self._folder: str | None = None

    @property
    def session(self) -> Any:
        """The SparkSession this engine's views live in."""
        return self._spark

    @property
    def version(self) -> str:
        return str(self._spark.version)

    def register(self, name: str, source: Any) -> None:
        from reelflow.features._engine import parquet_sources

        sources = parquet_sources(source)
        if sources is None and source.nbytes <= self.inline_bytes:
            with _no_pandas_warning():
                frame = self._spark.createDataFrame(_plain(source))
        elif sources is None:  # staged as Parquet: Spark keeps a DataFrame of Arrow in its plan
            frame = self._spark.read.parquet(self._stage(name, _plain(source)))
        else:
            reader = self._spark.read.option("mergeSchema", "true")
            if any(folder for _, folder in sources):
                reader = reader.option("recursiveFileLookup", "true")
            frame = reader.parquet(*(path for path, _ in sources))
        frame.createOrReplaceTempView(name)
        self._views.append(name)

    def _stage(self, name: str, table: pa.Table) -> str:
        import pyarrow.parquet as pq

        if self._folder is None:
            self._folder = tempfile.mkdtemp(prefix="reelflow-spark-input-")
        # not "__rf_...": Spark skips files whose names start with "_" or "."
        path = os.path.join(self._folder, f"{name.lstrip('_.')}.parquet")
        pq.write_table(table, path, compression="lz4")
        return path

    def create(self, name: str, query: str, *, materialize: bool = False) -> None:
        frame = self._spark.sql(query)
        if materialize:
            # Computed now and kept (in memory, spilled to disk past it), its plan cut off: the
            # next queries read the rows, not a plan that grows with every table before them
            # (matching such plans against cached ones costs minutes).
            frame = frame.localCheckpoint(eager=True)
            self._cached.append(frame)
        frame.createOrReplaceTempView(name)
        self._views.append(name)

    def fetch(self, query: str) -> pa.Table:
        with _no_pandas_warning():
            return _like_duckdb(self._spark.sql(query).toArrow())

    def close(self) -> None:
        for name in dict.fromkeys(self._views):
            self._spark.catalog.dropTempView(name)
        self._views.clear()
        for frame in self._cached:
            frame.unpersist()
        self._cached.clear()
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None

    def __enter__(self) -> SparkEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextmanager
def _no_pandas_warning() -> Iterator[None]:
    """Without pyspark's warning (on import, and on each conversion) that it does not support
    pandas 3 yet: the engine passes Arrow in and out, no pandas data."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", "PySpark does not yet fully support pandas", FutureWarning
        )
        yield


def _plain(table: pa.Table) -> pa.Table:
    """``table`` with dictionary columns decoded: Spark takes their values, not the codes."""
    import pyarrow as pa

    for index, field in enumerate(table.schema):
        if pa.types.is_dictionary(field.type):
            column = table.column(index).cast(field.type.value_type)
            table = table.set_column(index, field.name, column)
    return table


def _like_duckdb(table: pa.Table) -> pa.Table:
    """Spark's Arrow result in DuckDB's types: plain strings and binaries, nullable fields."""
    import pyarrow as pa

    fields = []
    for field in table.schema:
        kind = field.type
        if pa.types.is_large_string(kind):
            kind = pa.string()
        elif pa.types.is_large_binary(kind):
            kind = pa.binary()
        fields.append(pa.field(field.name, kind, nullable=True))
    schema = pa.schema(fields)
    return table if schema.equals(table.schema) else table.cast(schema)
