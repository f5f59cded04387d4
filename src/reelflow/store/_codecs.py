"""Encode each artifact in the format its type deserves, and decode it back.

Tables go to Arrow IPC files and arrays to ``.npy`` so that loading is a memory map rather than a
parse; sparse matrices go to ``.npz`` and everything else to pickle. Heavy libraries are imported
only when a value (or a stored encoding) needs them, so importing this module stays cheap.
"""

from __future__ import annotations

import importlib
import json
import mmap
import pickle
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO

from reelflow._errors import SerializationError, StoreError
from reelflow.store._objects import ObjectInfo, Objects

_SPARSE_FORMATS = ("csr", "csc", "coo", "bsr", "dia")
_SERIES_META = b"reelflow.series"
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed zip timestamps keep .npz bytes (and keys) stable


@dataclass(frozen=True)
class StoredValue:
    """Where an artifact's bytes are (key), how to decode them (encoding), and what it was."""

    key: str
    encoding: str
    type_name: str
    size: int


class _NotTabular(Exception):
    """Arrow cannot represent this value faithfully; fall back to pickle."""


def store_value(objects: Objects, value: Any) -> StoredValue:
    """Store ``value`` with the best encoding for its type and describe where it went."""
    encoding = _encoding_for(value)
    try:
        info = _CODECS[encoding][0](objects, value)
    except _NotTabular:
        encoding, info = "pickle", _store_pickle(objects, value)
    return StoredValue(info.key, encoding, _type_name(value), info.size)


def load_value(objects: Objects, key: str, encoding: str, *, verify: bool = True) -> Any:
    """Decode the object ``key`` stored as ``encoding``, hash-checked unless ``verify`` is False."""
    if encoding not in _CODECS:
        raise StoreError(
            f"object {key} uses the unknown encoding {encoding!r}: upgrade reelflow to a version "
            "that can read it"
        )
    try:
        return _CODECS[encoding][1](objects, key, verify)
    except ModuleNotFoundError as exc:  # e.g. polars, for an "arrow.polars" artifact
        package = (exc.name or "the missing package").split(".")[0]
        raise StoreError(
            f"loading object {key} ({encoding}) needs {package}: install it "
            f"(pip install {package}) and retry"
        ) from exc


# --- choosing an encoding (without importing libraries the value does not come from) --------


def _type_name(value: Any) -> str:
    cls = type(value)
    return (
        cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    )


def _from(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _encoding_for(value: Any) -> str:
    module = type(value).__module__
    if _from(module, "reelflow") and hasattr(type(value), _TO_ARROW):
        return "arrow.object"
    if _from(module, "pandas"):
        import pandas as pd

        if type(value) is pd.DataFrame:
            return "arrow.pandas"
        if type(value) is pd.Series:
            return "arrow.series"
    elif _from(module, "pyarrow"):
        import pyarrow as pa

        if isinstance(value, pa.Table | pa.RecordBatch):
            return "arrow.table"
    elif _from(module, "polars"):
        import polars as pl

        if type(value) is pl.DataFrame:
            return "arrow.polars"
    elif _from(module, "numpy"):
        import numpy as np

        if type(value) in (np.ndarray, np.memmap) and not value.dtype.hasobject:
            return "npy"
    elif _from(module, "scipy"):
        import scipy.sparse as sp

        if sp.issparse(value) and value.format in _SPARSE_FORMATS:
            return "npz.sparse"
    return "pickle"


# --- pickle ---------------------------------------------------------------------------------


def _store_pickle(objects: Objects, value: Any) -> ObjectInfo:
    try:
        data = pickle.dumps(value, protocol=5)
    except (pickle.PicklingError, TypeError, AttributeError, ValueError, RecursionError) as exc:
        raise SerializationError(
            f"cannot store artifact of type {_type_name(value)}: {exc}; keep it in a local "
            "variable instead of on self, or make it picklable"
        ) from exc
    return objects.put_bytes(data)


def _load_pickle(objects: Objects, key: str, verify: bool) -> Any:
    data = objects.read_bytes(key, verify=verify)
    try:
        return pickle.loads(data)
    except (ImportError, AttributeError) as exc:
        raise SerializationError(
            f"cannot unpickle object {key}: {exc}; make the module that defines its class "
            "importable (run from the flow's directory or install the library it needs)"
        ) from exc


# --- numpy and scipy.sparse -----------------------------------------------------------------


def _store_npy(objects: Objects, array: Any) -> ObjectInfo:
    import numpy as np

    return objects.put_writer(lambda f: np.lib.format.write_array(f, array, allow_pickle=False))


def _load_npy(objects: Objects, key: str, verify: bool) -> Any:
    import numpy as np

    path = objects.local_path(key, verify=verify)
    try:
        # Copy-on-write map: zero-copy, yet the user may modify the array (pages are copied
        # privately on first write; the stored object never changes).
        return np.load(path, mmap_mode="c", allow_pickle=False).view(np.ndarray)
    except ValueError:  # an empty array cannot be memory-mapped
        return np.load(path, allow_pickle=False)


def _sparse_arrays(matrix: Any) -> dict[str, Any]:
    """The arrays ``scipy.sparse.save_npz`` writes, so that ``load_npz`` reads ours back."""
    import numpy as np
    import scipy.sparse as sp

    fmt = matrix.format
    if fmt in ("csr", "csc", "bsr"):
        arrays = {"indices": matrix.indices, "indptr": matrix.indptr}
    elif fmt == "dia":
        arrays = {"offsets": matrix.offsets}
    elif matrix.ndim == 2:
        arrays = {"row": matrix.row, "col": matrix.col}
    else:
        arrays = {"coords": np.asarray(matrix.coords)}
    arrays.update(format=np.asarray(fmt.encode("ascii")), shape=np.asarray(matrix.shape))
    arrays["data"] = matrix.data
    if isinstance(matrix, sp.sparray):
        arrays["_is_array"] = np.asarray(True)
    return arrays


def _store_sparse(objects: Objects, matrix: Any) -> ObjectInfo:
    # Written by hand rather than with save_npz, whose zip entries carry the current time and
    # would give the same matrix a new key on every save.
    import numpy as np

    def write(f: BinaryIO) -> None:
        with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
            for name, array in _sparse_arrays(matrix).items():
                info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_EPOCH)
                with archive.open(info, "w", force_zip64=True) as entry:
                    np.lib.format.write_array(entry, np.asanyarray(array), allow_pickle=False)

    return objects.put_writer(write)


def _load_sparse(objects: Objects, key: str, verify: bool) -> Any:
    import scipy.sparse as sp

    return sp.load_npz(objects.local_path(key, verify=verify))


# --- Arrow: pandas, pyarrow and polars tables -----------------------------------------------


def _store_table(objects: Objects, table: Any) -> ObjectInfo:
    import pyarrow as pa

    if isinstance(table, pa.RecordBatch):
        table = pa.Table.from_batches([table])

    def write(f: BinaryIO) -> None:
        with pa.ipc.new_file(f, table.schema) as writer:
            writer.write_table(table)

    return objects.put_writer(write)


def _arrow_from_pandas(frame: Any) -> Any:
    """Convert a DataFrame to Arrow, or raise _NotTabular if the round trip would not be exact."""
    import pyarrow as pa

    # Object columns hold arbitrary Python values that Arrow would coerce (ints with None become
    # floats, lists become arrays): pickle keeps them exactly.
    levels = getattr(frame.index, "levels", [frame.index])
    if any(str(dtype) == "object" for dtype in [*frame.dtypes, *(lv.dtype for lv in levels)]):
        raise _NotTabular
    try:
        return pa.Table.from_pandas(frame, preserve_index=None)
    except (pa.ArrowException, ValueError, TypeError) as exc:
        raise _NotTabular from exc


def _store_pandas(objects: Objects, frame: Any) -> ObjectInfo:
    return _store_table(objects, _arrow_from_pandas(frame))


def _store_series(objects: Objects, series: Any) -> ObjectInfo:
    # The name goes in the schema metadata as JSON; names JSON would change (tuples) are pickled.
    name = series.name
    if name is not None and type(name) not in (str, int, float, bool):
        raise _NotTabular
    meta = json.dumps({"name": name})
    table = _arrow_from_pandas(series.to_frame(name="__series__"))
    table = table.replace_schema_metadata({**table.schema.metadata, _SERIES_META: meta.encode()})
    return _store_table(objects, table)


def _store_polars(objects: Objects, frame: Any) -> ObjectInfo:
    return _store_table(objects, frame.to_arrow())


def _read_table(objects: Objects, key: str, verify: bool) -> Any:
    import pyarrow as pa

    path = objects.local_path(key, verify=verify)
    return pa.ipc.open_file(pa.memory_map(str(path))).read_all()


def _load_polars(objects: Objects, key: str, verify: bool) -> Any:
    import polars as pl

    return pl.from_arrow(_read_table(objects, key, verify))


def _map_frame(objects: Objects, key: str, verify: bool) -> tuple[Any, Any]:
    """Read a stored table into pandas through a private file map; return (frame, table)."""
    import pyarrow as pa

    path = objects.local_path(key, verify=verify)
    with open(path, "rb") as file:
        mapped = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_COPY)
    table = pa.ipc.open_file(pa.py_buffer(mapped)).read_all()
    return _writable_frame(table.to_pandas(split_blocks=True), mapped), table


def _load_pandas(objects: Objects, key: str, verify: bool) -> Any:
    return _map_frame(objects, key, verify)[0]


def _writable_frame(frame: Any, mapped: mmap.mmap) -> Any:
    """Make a frame converted zero-copy from a file map modifiable by the user.

    pyarrow marks zero-copy columns read-only, and under pandas' copy-on-write a plain
    ``df.loc[0, "a"] = 1`` would then fail. Re-viewing those columns through the private
    (copy-on-write) map keeps them zero-copy and shared with the page cache, yet writable: a
    write copies only the touched pages. Other columns pinned in the map (categorical codes,
    tz-aware datetimes) are copied, which is cheap; Arrow-backed ones are immutable anyway.
    """
    import numpy as np
    import pandas as pd

    base = np.frombuffer(mapped, dtype=np.uint8)
    start = base.ctypes.data
    columns: dict[int, Any] = {}
    for i in range(frame.shape[1]):
        column = frame.iloc[:, i]
        array = column.array
        backing: Any = getattr(array, "_ndarray", getattr(array, "_data", None))
        offset = _offset_in(backing, start, base.nbytes)
        if offset is None:
            columns[i] = array
        elif isinstance(column.dtype, np.dtype):
            columns[i] = np.frombuffer(mapped, backing.dtype, backing.size, offset)
        else:
            columns[i] = array.copy()
    result = pd.DataFrame(columns, index=frame.index, copy=False)
    result.columns = frame.columns
    result.attrs = frame.attrs
    return result


def _offset_in(array: Any, start: int, size: int) -> int | None:
    """Where a 1-D contiguous array's data sits inside a map, or None if it is not there."""
    import numpy as np

    if not isinstance(array, np.ndarray) or array.ndim != 1 or not array.flags.c_contiguous:
        return None
    offset = int(array.__array_interface__["data"][0]) - start
    return offset if offset >= 0 and offset + array.nbytes <= size else None


def _load_series(objects: Objects, key: str, verify: bool) -> Any:
    frame, table = _map_frame(objects, key, verify)
    return frame.iloc[:, 0].rename(json.loads(table.schema.metadata[_SERIES_META])["name"])


Writer = Callable[[Objects, Any], ObjectInfo]
Loader = Callable[[Objects, str, bool], Any]

# --- reelflow's own types that know their Arrow form (e.g. Interactions) ------------------------

_TO_ARROW = "__reelflow_to_arrow__"
_FROM_ARROW = "__reelflow_from_arrow__"
_CLASS_META = b"reelflow.class"


def _store_object(objects: Objects, value: Any) -> ObjectInfo:
    """Store a reelflow type as the Arrow table it gives, tagged with its class."""
    table = getattr(value, _TO_ARROW)()
    cls = type(value)
    tag = f"{cls.__module__}:{cls.__qualname__}".encode()
    return _store_table(
        objects, table.replace_schema_metadata({**(table.schema.metadata or {}), _CLASS_META: tag})
    )


def _load_object(objects: Objects, key: str, verify: bool) -> Any:
    """Rebuild a reelflow type from its table; only reelflow's own classes are ever imported."""
    table = _read_table(objects, key, verify)
    module_name, _, qualname = (
        (table.schema.metadata or {}).get(_CLASS_META, b"").decode().partition(":")
    )
    if not _from(module_name, "reelflow"):
        raise StoreError(
            f"object {key} names no reelflow type ({module_name!r}); it was not made by reelflow"
        )
    cls: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        cls = getattr(cls, part)
    return getattr(cls, _FROM_ARROW)(table)


_CODECS: dict[str, tuple[Writer, Loader]] = {
    "arrow.object": (_store_object, _load_object),
    "arrow.pandas": (_store_pandas, _load_pandas),
    "arrow.series": (_store_series, _load_series),
    "arrow.table": (_store_table, _read_table),
    "arrow.polars": (_store_polars, _load_polars),
    "npy": (_store_npy, _load_npy),
    "npz.sparse": (_store_sparse, _load_sparse),
    "pickle": (_store_pickle, _load_pickle),
}
