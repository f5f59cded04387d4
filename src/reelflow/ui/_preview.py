"""Previews of artifacts, read from the store within fixed budgets.

Tables (every ``arrow.*`` encoding) are read as Arrow and shown a page of rows at a time; arrays
(``npy``) as shape, dtype and statistics over at most ``MAX_STAT_VALUES`` values, read through a
memory map; sparse matrices by their shape and stored values. Only pickles the store wrote for a
run (the object's hash checked) and at most ``MAX_PICKLE_BYTES`` large are ever loaded, to show
their ``repr`` (capped), a string of HTML inline (in a sandboxed frame) or image bytes as an
image. Nothing that did not come from the store is ever unpickled.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from reelflow.store import ArtifactRecord, Store
from reelflow.ui import _params as p

MAX_PICKLE_BYTES = 2 * 1024 * 1024
MAX_REPR_CHARS = 20_000
MAX_CELL_CHARS = 200
MAX_STAT_VALUES = 5_000_000
MAX_INLINE_BYTES = 5 * 1024 * 1024
_IMAGES = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg", b"GIF8": "image/gif"}


def preview(
    store: Store, record: ArtifactRecord, *, offset: int = 0, limit: int = 50
) -> dict[str, Any]:
    """What the UI shows of an artifact: ``kind`` says which of the other keys are set."""
    base = {"name": record.name, "type": record.type_name, "encoding": record.encoding,
            "size": record.size}  # fmt: skip
    if record.encoding.startswith("arrow."):
        return {**base, **_table(store, record, offset, limit)}
    if record.encoding == "npy":
        return {**base, **_array(store, record)}
    if record.encoding == "npz.sparse":
        return {**base, "kind": "sparse", "note": "a sparse matrix; load it with the Client"}
    if record.encoding == "pickle":
        return {**base, **_pickled(store, record)}
    return {**base, "kind": "none", "note": f"no preview for encoding {record.encoding}"}


def preview_from_query(
    store: Store, record: ArtifactRecord, query: Mapping[str, str]
) -> dict[str, Any]:
    """``preview`` with the rows asked for by ``offset`` and ``limit`` in ``query``."""
    p.only_known(query, {"offset", "limit"})
    offset = p.integer(query.get("offset"), "offset", default=0, low=0, high=10**12)
    limit = p.integer(query.get("limit"), "limit", default=50, low=1, high=p.MAX_PAGE_SIZE)
    return preview(store, record, offset=offset, limit=limit)


def inline_body(store: Store, record: ArtifactRecord) -> tuple[bytes, str] | None:
    """The bytes and media type of an artifact shown inline (HTML text or image bytes)."""
    if record.encoding != "pickle" or record.size > MAX_INLINE_BYTES:
        return None
    value = store.load(record)
    if isinstance(value, str) and _looks_like_html(value):
        return value.encode("utf-8"), "text/html; charset=utf-8"
    if isinstance(value, bytes | bytearray):
        media = _image_type(bytes(value))
        if media is not None:
            return bytes(value), media
    return None


def _table(store: Store, record: ArtifactRecord, offset: int, limit: int) -> dict[str, Any]:
    import pyarrow as pa

    path = store.objects.local_path(record.key)
    whole = pa.ipc.open_file(pa.memory_map(str(path))).read_all()  # mapped, not copied
    rows = whole.num_rows
    table = whole.slice(offset, limit)
    columns = [f.name for f in table.schema]
    types = [str(f.type) for f in table.schema]
    data = [[_cell(v) for v in row.values()] for row in table.to_pylist()]
    return {"kind": "table", "columns": columns, "types": types, "rows": data,
            "total_rows": rows, "offset": offset, "limit": limit}  # fmt: skip


def _array(store: Store, record: ArtifactRecord) -> dict[str, Any]:
    import numpy as np

    path = store.objects.local_path(record.key)
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError:  # an empty array cannot be memory-mapped
        array = np.load(path, allow_pickle=False)
    flat = array.reshape(-1)[:MAX_STAT_VALUES]
    stats: dict[str, Any] = {}
    if flat.size and (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        values = flat.astype(np.float64)
        finite = values[np.isfinite(values)]
        stats = {"min": _num(finite.min()) if finite.size else None,
                 "max": _num(finite.max()) if finite.size else None,
                 "mean": _num(finite.mean()) if finite.size else None,
                 "std": _num(finite.std()) if finite.size else None,
                 "nan": int(np.isnan(values).sum())}  # fmt: skip
    head = [_cell(v) for v in flat[:20].tolist()]
    return {"kind": "array", "shape": list(array.shape), "dtype": str(array.dtype),
            "stats": stats, "stats_over": int(flat.size), "head": head}  # fmt: skip


def _pickled(store: Store, record: ArtifactRecord) -> dict[str, Any]:
    if record.size > MAX_PICKLE_BYTES:
        note = f"a pickled {record.type_name} of {record.size:,} bytes (previews load at most "
        return {"kind": "none", "note": f"{note}{MAX_PICKLE_BYTES:,}); load it with the Client"}
    try:
        value = store.load(record)
    except Exception as exc:  # e.g. its class's module is not importable here
        return {"kind": "none", "note": f"cannot be loaded here: {type(exc).__name__}: {exc}"}
    if isinstance(value, str) and _looks_like_html(value):
        return {"kind": "html"}
    if isinstance(value, bytes | bytearray) and _image_type(bytes(value)):
        return {"kind": "image"}
    text = repr(value)
    cut = len(text) > MAX_REPR_CHARS
    return {"kind": "value", "repr": text[:MAX_REPR_CHARS], "truncated": cut}


def _looks_like_html(text: str) -> bool:
    head = text[:200].lstrip().lower()
    return head.startswith(("<!doctype html", "<html"))


def _image_type(data: bytes) -> str | None:
    return next((media for magic, media in _IMAGES.items() if data.startswith(magic)), None)


def _num(value: Any) -> float:
    number = float(value)
    return number if math.isfinite(number) else math.nan


def _cell(value: Any) -> Any:
    """A JSON-friendly cell: numbers and booleans as they are, anything else as capped text."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    text = str(value)
    return text if len(text) <= MAX_CELL_CHARS else text[: MAX_CELL_CHARS - 1] + "…"
