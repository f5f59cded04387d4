"""Previews of artifacts, read from the store within fixed budgets.

Tables (every ``arrow.*`` encoding) are read as Arrow and shown a page of rows at a time; arrays
(``npy``) as shape, dtype and statistics over at most ``MAX_STAT_VALUES`` values, read through a
memory map; sparse matrices by their shape and stored values. Any text shown is built with
bounded work (strings, lists and nesting cut before they are turned into text).

Pickles are never loaded: unpickling runs code, and even a pickle the store wrote can take
unbounded time to load or to ``repr`` (149 bytes of nested shared lists take seconds). A pickled
artifact shows its type, size and encoding and how to load it in Python. One kind is read
without loading it: a pickle of a single ``str`` or ``bytes`` (a rendered HTML report, a PNG),
whose opcodes are parsed (``pickletools.genops``, which executes nothing) and whose payload is
shown as an image, a sandboxed page or text.
"""

from __future__ import annotations

import io
import math
import pickletools
import reprlib
import threading
from collections.abc import Mapping
from typing import Any

from reelflow._errors import StoreError
from reelflow.store import ArtifactRecord, Store
from reelflow.ui import _params as p

MAX_CELL_CHARS = 200
MAX_CELL_ITEMS = 20  # of a list in a table cell
MAX_STAT_VALUES = 5_000_000
MAX_VERIFIED = 10_000  # object keys remembered as hash-checked
MAX_PAYLOAD = 8 << 20  # a pickled str/bytes larger than this is not read for a preview
MAX_TEXT_CHARS = 20_000
IMAGE_TYPES = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg",
               b"GIF87a": "image/gif", b"GIF89a": "image/gif"}  # fmt: skip
_PAYLOAD_OPS = {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "SHORT_BINBYTES", "BINBYTES",
                "BINBYTES8"}  # fmt: skip
_FRAMING_OPS = {"PROTO", "FRAME", "MEMOIZE", "STOP"}
_ARRAY_HEAD = 20


def _short_repr() -> reprlib.Repr:
    short = reprlib.Repr()
    short.maxlevel = 3
    short.maxlist = short.maxtuple = short.maxset = short.maxdict = MAX_CELL_ITEMS
    short.maxfrozenset = short.maxdeque = short.maxarray = MAX_CELL_ITEMS
    short.maxstring = short.maxother = short.maxlong = MAX_CELL_CHARS
    return short


_SHORT = _short_repr()
_verified: set[tuple[str, str]] = set()
_verified_lock = threading.Lock()


def preview(
    store: Store,
    record: ArtifactRecord,
    *,
    offset: int = 0,
    limit: int = 50,
    load_hint: str | None = None,
) -> dict[str, Any]:
    """What the UI shows of an artifact: ``kind`` says which of the other keys are set.

    ``load_hint`` is the Python that loads the artifact (shown for pickles)."""
    base = {"name": record.name, "type": record.type_name, "encoding": record.encoding,
            "size": record.size}  # fmt: skip
    try:
        if record.encoding.startswith("arrow."):
            return {**base, **_table(store, record, offset, limit)}
        if record.encoding == "npy":
            return {**base, **_array(store, record)}
    except (StoreError, OSError, ValueError, TypeError) as exc:  # missing, damaged, malformed
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        note = f"cannot be read: {type(exc).__name__}: {first}"
        return {**base, "kind": "none", "note": note}
    if record.encoding == "npz.sparse":
        return {**base, "kind": "sparse", "note": "a sparse matrix; load it with the Client"}
    if record.encoding == "pickle":
        shown = _payload_preview(store, record)
        if shown is not None:
            return {**base, **shown}
        note = f"a pickled {record.type_name}: the UI never loads pickles; load it in Python"
        return {**base, "kind": "pickle", "note": note, "hint": load_hint}
    return {**base, "kind": "none", "note": f"no preview for encoding {record.encoding}"}


def preview_from_query(
    store: Store, record: ArtifactRecord, query: Mapping[str, str], load_hint: str | None = None
) -> dict[str, Any]:
    """``preview`` with the rows asked for by ``offset`` and ``limit`` in ``query``."""
    p.only_known(query, {"offset", "limit"})
    offset = p.integer(query.get("offset"), "offset", default=0, low=0, high=10**12)
    limit = p.integer(query.get("limit"), "limit", default=50, low=1, high=p.MAX_PAGE_SIZE)
    return preview(store, record, offset=offset, limit=limit, load_hint=load_hint)


def load_hint(run_id: int, step: str, index: int | None, name: str) -> str:
    """The line of Python that loads an artifact (``index``: the task's place in a foreach)."""
    task = "task" if index is None else f"tasks[{index}]"
    return f"Client().run({run_id})[{_quoted(step)}].{task}[{_quoted(name)}]"


def payload(store: Store, record: ArtifactRecord) -> str | bytes | None:
    """The ``str`` or ``bytes`` a pickle holds when that is all it holds, read by parsing its
    opcodes (nothing is executed); None for any other pickle, or one too large."""
    if record.encoding != "pickle" or record.size > MAX_PAYLOAD:
        return None
    try:
        data = _local_path(store, record.key).read_bytes()
        found: list[str | bytes] = []
        for opcode, argument, _ in pickletools.genops(io.BytesIO(data)):
            if opcode.name in _PAYLOAD_OPS and isinstance(argument, str | bytes) and not found:
                found.append(argument)
            elif opcode.name not in _FRAMING_OPS:
                return None
    except (StoreError, OSError, ValueError):
        return None
    return found[0] if found else None


def image_type(value: bytes) -> str | None:
    """The media type of an image by its first bytes (PNG, JPEG, GIF), or None."""
    return next((kind for magic, kind in IMAGE_TYPES.items() if value.startswith(magic)), None)


def looks_like_html(value: str) -> bool:
    head = value[:512].lstrip().lower()
    return head.startswith(("<!doctype html", "<html"))


def _payload_preview(store: Store, record: ArtifactRecord) -> dict[str, Any] | None:
    value = payload(store, record)
    if isinstance(value, bytes):
        kind = image_type(value)
        return None if kind is None else {"kind": "image", "media_type": kind}
    if isinstance(value, str):
        if looks_like_html(value):
            return {"kind": "html"}
        return {"kind": "text", "text": value[:MAX_TEXT_CHARS],
                "cut": len(value) > MAX_TEXT_CHARS}  # fmt: skip
    return None


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _local_path(store: Store, key: str) -> Any:
    """The object's file, its hash checked once per process (objects never change)."""
    objects = store.objects
    seen = (f"{type(objects).__name__}:{getattr(objects, 'root', '')}", key)
    if seen in _verified:
        return objects.local_path(key, verify=False)
    path = objects.local_path(key)
    with _verified_lock:
        if len(_verified) >= MAX_VERIFIED:
            _verified.clear()
        _verified.add(seen)
    return path


def _table(store: Store, record: ArtifactRecord, offset: int, limit: int) -> dict[str, Any]:
    import pyarrow as pa

    path = _local_path(store, record.key)
    whole = pa.ipc.open_file(pa.memory_map(str(path))).read_all()  # mapped, not copied
    rows = whole.num_rows
    table = whole.slice(offset, limit)
    columns = [f.name for f in table.schema]
    types = [str(f.type) for f in table.schema]
    cut = [_bounded(table.column(i)) for i in range(table.num_columns)]
    data = [list(row) for row in zip(*(column.to_pylist() for column in cut), strict=True)]
    data = [[_cell(v) for v in row] for row in data]
    return {"kind": "table", "columns": columns, "types": types, "rows": data,
            "total_rows": rows, "offset": offset, "limit": limit}  # fmt: skip


def _bounded(column: Any) -> Any:
    """A column with its long strings, binaries and lists cut before any becomes Python."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = column.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return pc.utf8_slice_codeunits(column, 0, MAX_CELL_CHARS + 1)
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        return pc.binary_slice(column, 0, MAX_CELL_CHARS + 1)
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return pc.list_slice(column, 0, MAX_CELL_ITEMS + 1)
    return column


def _array(store: Store, record: ArtifactRecord) -> dict[str, Any]:
    import numpy as np

    path = _local_path(store, record.key)
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError:  # an empty array cannot be memory-mapped
        array = np.load(path, allow_pickle=False)
    flat = array.ravel(order="K")[:MAX_STAT_VALUES]  # a view, whatever the memory order
    stats: dict[str, Any] = {}
    note = None
    if flat.size and (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        if np.iscomplexobj(flat):
            values = np.abs(flat).astype(np.float64)
            note = "complex values: the statistics are of their magnitude (abs)"
        else:
            values = flat.astype(np.float64)
        finite = values[np.isfinite(values)]
        stats = {"min": _num(finite.min()) if finite.size else None,
                 "max": _num(finite.max()) if finite.size else None,
                 "mean": _num(finite.mean()) if finite.size else None,
                 "std": _num(finite.std()) if finite.size else None,
                 "nan": int(np.isnan(values).sum())}  # fmt: skip
    head = [_cell(v) for v in array.flat[:_ARRAY_HEAD].tolist()]  # reads 20 values, C order
    return {"kind": "array", "shape": list(array.shape), "dtype": str(array.dtype),
            "stats": stats, "stats_over": int(flat.size), "stats_note": note,
            "head": head}  # fmt: skip


def _num(value: Any) -> float:
    number = float(value)
    return number if math.isfinite(number) else math.nan


def _cell(value: Any) -> Any:
    """A JSON-friendly cell: numbers and booleans as they are, anything else as capped text
    (made by ``reprlib``, which stops at a depth, a number of items and a length)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if abs(value) < 2**63 else _SHORT.repr(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    nested = isinstance(value, list | tuple | dict | set)
    text = _SHORT.repr(value) if nested else str(value)
    return text if len(text) <= MAX_CELL_CHARS else text[: MAX_CELL_CHARS - 1] + "…"
