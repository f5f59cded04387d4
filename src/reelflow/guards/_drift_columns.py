"""Reading one column for drift: pandas, Arrow, polars or numpy in, a typed ``Column`` out.

Nothing is converted through pandas: an Arrow column stays Arrow (numbers become a numpy view
when they have no nulls), a pandas column gives its numpy buffer, categorical codes or the Arrow
array it already holds. ``base`` is the column's family, from its dtype alone (no data pass).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa

from reelflow._errors import GuardError

Base = Literal["float", "integer", "bool", "text", "category", "null", "temporal", "other"]
Kind = Literal["numeric", "categorical"]
FAMILIES = {"float": "number", "integer": "number", "bool": "bool", "text": "text"}
FAMILIES |= {"category": "text"}
UNSUPPORTED = ("temporal", "other")
NUMPY_BASES: dict[str, Base] = {"f": "float", "i": "integer", "u": "integer", "b": "bool"}
NUMPY_BASES |= {"m": "temporal", "M": "temporal"}
INTEGER_CATEGORY_LIMIT = 10  # integers with at most this many distinct values are categories


@dataclass(frozen=True)
class Column:
    """One side's values: ``data`` is a numpy array, a pandas Categorical or an Arrow array."""

    data: Any
    base: Base
    rows: int
    dtype: str


def as_column(values: Any, what: str) -> Column:
    """``values`` (Series, Arrow array, polars Series, numpy array, list) as a ``Column``."""
    if isinstance(values, pd.Series):
        return _from_pandas(values)
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return _from_arrow(pa.chunked_array([values]) if isinstance(values, pa.Array) else values)
    if hasattr(values, "to_arrow") and not isinstance(values, pd.DataFrame):
        return _from_arrow(pa.chunked_array([values.to_arrow()]))  # polars Series
    if isinstance(values, (np.ndarray, list, tuple)):
        return _from_numpy(np.asarray(values), what)
    raise GuardError(
        f"{what} is a {type(values).__name__}; pass a pandas Series, a pyarrow Array, "
        "a polars Series or a 1-D numpy array"
    )


def _from_numpy(array: np.ndarray, what: str) -> Column:
    if array.ndim != 1:
        raise GuardError(f"{what} has shape {array.shape}; pass one column (a 1-D array)")
    kind = array.dtype.kind
    if kind in "OUS":
        return _from_arrow(pa.chunked_array([_arrow_from_objects(array)]))
    return Column(array, NUMPY_BASES.get(kind, "other"), len(array), str(array.dtype))


def _from_pandas(series: pd.Series) -> Column:
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return Column(series.array, "category", len(series), str(dtype))
    if isinstance(dtype, np.dtype) and dtype.kind in "fiub":
        return _from_numpy(series.to_numpy(), "column")
    if isinstance(dtype, np.dtype) and dtype.kind in "mM":
        return Column(series.to_numpy(), "temporal", len(series), str(dtype))
    if isinstance(dtype, np.dtype) and dtype.kind == "O":
        return _from_arrow(pa.chunked_array([_arrow_from_objects(series.to_numpy())]))
    try:
        return _from_arrow(pa.chunked_array(series))  # Arrow-backed, masked and string dtypes
    except (pa.ArrowException, TypeError, ValueError):
        return Column(series.to_numpy(), "other", len(series), str(dtype))


def _arrow_from_objects(array: np.ndarray) -> pa.Array:
    """Python objects as Arrow; mixed types become their text (nulls stay null)."""
    try:
        return pa.array(array, from_pandas=True)
    except (pa.ArrowException, TypeError, ValueError):
        text = array.astype(str).astype(object)
        text[pd.isna(array)] = None
        return pa.array(text, type=pa.large_string(), from_pandas=True)


def _from_arrow(chunked: pa.ChunkedArray) -> Column:
    kind = chunked.type
    base = _arrow_base(kind)
    if pa.types.is_decimal(kind):
        chunked = chunked.cast(pa.float64())
    if chunked.null_count == len(chunked) and base not in UNSUPPORTED:
        base = "null"
    return Column(chunked, base, len(chunked), str(kind))


def _arrow_base(kind: pa.DataType) -> Base:
    types = pa.types
    if types.is_floating(kind) or types.is_decimal(kind):
        return "float"
    if types.is_integer(kind):
        return "integer"
    if types.is_boolean(kind):
        return "bool"
    if types.is_dictionary(kind):
        return "category"
    if types.is_string(kind) or types.is_large_string(kind) or _is_view(kind):
        return "text"
    if types.is_binary(kind) or types.is_large_binary(kind):
        return "text"
    if types.is_null(kind):
        return "null"
    if types.is_temporal(kind):
        return "temporal"
    return "other"


def _is_view(kind: pa.DataType) -> bool:
    check = getattr(pa.types, "is_string_view", None)
    return bool(check(kind)) if check is not None else False


def check_supported(column: Column, name: str, what: str) -> None:
    """Raise a one-line GuardError when ``column`` holds a type drift cannot compare."""
    if column.base in UNSUPPORTED:
        hint = (
            "e.g. the age in days or the hour" if column.base == "temporal" else "numbers or text"
        )
        raise GuardError(
            f"column '{name}' in the {what} is {column.dtype}, which drift cannot compare; "
            f"convert it ({hint}) or leave it out with columns=[...]"
        )


def check_compatible(ref: Column, cur: Column, name: str) -> None:
    """Raise when reference and current hold different families (numbers vs text, ...)."""
    check_supported(ref, name, "reference")
    check_supported(cur, name, "current frame")
    if "null" in (ref.base, cur.base):
        return
    if FAMILIES[ref.base] != FAMILIES[cur.base]:
        raise GuardError(
            f"column '{name}' is {ref.dtype} in the reference but {cur.dtype} in the current "
            f"frame; cast one side to the other's type or leave the column out with columns=[...]"
        )


def resolve_kind(ref: Column, cur: Column, method: str) -> Kind | None:
    """Numeric or categorical (the reference decides; None when both sides are all null)."""
    base = ref.base if ref.base != "null" else cur.base
    if base == "null":
        return None
    if base == "float":
        return "numeric"
    if base != "integer":
        return "categorical"
    if method in ("ks", "wasserstein"):
        return "numeric"
    side = ref if ref.base == "integer" else cur
    return "categorical" if _few_values(side) else "numeric"


def _few_values(column: Column) -> bool:
    """Whether ``column`` (integers) has at most ``INTEGER_CATEGORY_LIMIT`` distinct values."""
    data = column.data
    values = data if isinstance(data, np.ndarray) else pa.chunked_array(data).drop_null()
    values = np.asarray(values) if isinstance(values, np.ndarray) else values.to_numpy()
    if len(values) == 0:
        return True
    low, high = int(values.min()), int(values.max())
    if high - low < INTEGER_CATEGORY_LIMIT:
        return True
    if len(np.unique(values[:: max(1, len(values) // 10_000)])) > INTEGER_CATEGORY_LIMIT:
        return False
    if high - low < 1 << 20:
        return int(np.count_nonzero(np.bincount(values - low))) <= INTEGER_CATEGORY_LIMIT
    return len(pd.unique(values)) <= INTEGER_CATEGORY_LIMIT
