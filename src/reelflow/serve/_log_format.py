"""The request log's format and layout: what the server writes and ``reelflow monitor`` reads.

Sampled requests are written as Parquet files, one partition per UTC day::

    <store home>/serving/<model name>/requests/date=YYYY-MM-DD/part-<unix ms>-<pid>-<seq>.parquet

Each file is written to a temporary name in the same folder, fsynced and renamed, so a reader
never sees half a file; a crash leaves at most a ``.tmp`` file, which readers skip.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

SERVING_DIR = "serving"
REQUESTS_DIR = "requests"
TEMP_SUFFIX = ".tmp"
CONVERT_ROWS = 256

# Why the fallback answered, when it did (None: the model answered).
FALLBACK_REASONS = ("cold_start", "timeout", "error", "no_model")

COLUMNS: tuple[tuple[str, str], ...] = (
    ("time", "timestamp[us, tz=UTC]: when the request arrived"),
    ("request_id", "string"),
    ("user_id", "string: the user id as sent"),
    ("known_user", "bool: the model knows the user"),
    ("region", "string or null: the request's region context"),
    ("context", "string: the other context fields, as JSON"),
    ("k", "int16"),
    ("model", "string: the registered model name"),
    ("version", "int32: the version that answered (or whose fallback did)"),
    ("fallback", f"string or null: one of {', '.join(FALLBACK_REASONS)}"),
    ("latency_ms", "float32: time spent answering, in the server"),
    ("items", "list<string>: the recommended item ids, best first"),
    ("scores", "list<float32>: their scores (the fallback's when it answered)"),
)


def arrow_schema() -> Any:
    """The Arrow schema of a request-log file."""
    import pyarrow as pa

    return pa.schema(
        [
            ("time", pa.timestamp("us", tz="UTC")),
            ("request_id", pa.string()),
            ("user_id", pa.string()),
            ("known_user", pa.bool_()),
            ("region", pa.string()),
            ("context", pa.string()),
            ("k", pa.int16()),
            ("model", pa.string()),
            ("version", pa.int32()),
            ("fallback", pa.string()),
            ("latency_ms", pa.float32()),
            ("items", pa.list_(pa.string())),
            ("scores", pa.list_(pa.float32())),
        ]
    )


def requests_dir(home: Path, model: str) -> Path:
    """The folder holding one model's request logs (its ``date=`` partitions)."""
    return home / SERVING_DIR / model / REQUESTS_DIR


def partition_dir(home: Path, model: str, day: dt.date) -> Path:
    return requests_dir(home, model) / f"date={day.isoformat()}"


def write_request_log(
    home: Path, model: str, rows: Sequence[Mapping[str, Any]], *, seq: int
) -> list[Path]:
    """Write ``rows`` (dicts with the columns above) atomically, one Parquet file per UTC day."""
    by_day: dict[dt.date, list[Mapping[str, Any]]] = {}
    for row in rows:
        by_day.setdefault(row["time"].astimezone(dt.UTC).date(), []).append(row)
    return [_write_day(home, model, day, day_rows, seq) for day, day_rows in by_day.items()]


def _write_day(
    home: Path, model: str, day: dt.date, rows: Sequence[Mapping[str, Any]], seq: int
) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema, chunks = arrow_schema(), []
    for start in range(0, len(rows), CONVERT_ROWS):  # short GIL holds: the server keeps answering
        chunks.append(pa.Table.from_pylist(list(rows[start : start + CONVERT_ROWS]), schema))
        time.sleep(0)
    table = pa.concat_tables(chunks)
    folder = partition_dir(home, model, day)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = int(rows[0]["time"].timestamp() * 1000)
    final = folder / f"part-{stamp}-{os.getpid()}-{seq}.parquet"
    temp = final.with_name(final.name + TEMP_SUFFIX)
    try:
        with open(temp, "wb") as handle:
            pq.write_table(table, handle, compression="zstd")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, final)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return final


def read_requests(
    home: Path, model: str, *, since: dt.datetime | None = None, until: dt.datetime | None = None
) -> Any:
    """The logged requests of ``model`` in [since, until) as one Arrow table (temporary files
    skipped); an empty table with the schema when there are none."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    folder = requests_dir(home, model)
    files = sorted(folder.glob("date=*/part-*.parquet")) if folder.is_dir() else []
    files = [f for f in files if _day_in_range(f.parent.name, since, until)]
    if not files:
        return arrow_schema().empty_table()
    table = pa.concat_tables([pq.read_table(f, schema=arrow_schema()) for f in files])
    if since is not None:
        table = table.filter(pc.greater_equal(table["time"], pa.scalar(since, table["time"].type)))
    if until is not None:
        table = table.filter(pc.less(table["time"], pa.scalar(until, table["time"].type)))
    return table


def _day_in_range(name: str, since: dt.datetime | None, until: dt.datetime | None) -> bool:
    try:
        day = dt.date.fromisoformat(name.removeprefix("date="))
    except ValueError:
        return False
    if since is not None and day < since.astimezone(dt.UTC).date():
        return False
    return not (until is not None and day > until.astimezone(dt.UTC).date())
