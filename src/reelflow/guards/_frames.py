"""Shared helpers of the data checks: reading any supported table as pandas (and an
interaction log as arrays), and the number formats their one-sentence messages use."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from reelflow._errors import GuardError

SUPPORTED = "a pandas DataFrame, a pyarrow Table, a polars DataFrame or reelflow Interactions"


def as_frame(data: Any, *, what: str = "data") -> pd.DataFrame:
    """``data`` as a pandas DataFrame: pandas as is, pyarrow and polars converted once,
    ``Interactions`` through ``to_pandas`` (one row per interaction, with the original ids)."""
    if isinstance(data, pd.DataFrame):
        return data
    module = type(data).__module__.split(".")[0]
    if module in ("pyarrow", "polars") and hasattr(data, "to_pandas"):
        frame = data.to_pandas()
        if isinstance(frame, pd.DataFrame):
            return frame
    if is_interactions(data):
        frame = data.to_pandas()
        assert isinstance(frame, pd.DataFrame)
        return frame
    raise GuardError(
        f"{what} is a {type(data).__name__}; pass {SUPPORTED} "
        "(wrap other tables with pd.DataFrame(...))"
    )


def is_interactions(data: Any) -> bool:
    """True for a :class:`reelflow.data.Interactions` (reelflow.data imported only if needed)."""
    if type(data).__name__ != "Interactions":
        return False
    from reelflow.data import Interactions

    return isinstance(data, Interactions)


def column_names(frame: pd.DataFrame, limit: int = 12) -> str:
    """The frame's column names for a message, shortened past ``limit``."""
    names = [str(c) for c in frame.columns]
    if not names:
        return "no columns"
    more = f", ... ({len(names) - limit} more)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def count(n: int | float) -> str:
    """``1,234,567``."""
    return f"{int(n):,}"


def plural(n: int | float, word: str, words: str | None = None) -> str:
    """``1 row``, ``2 rows``, ``1,000 rows`` (``words`` for an irregular plural)."""
    return f"{count(n)} {word if n == 1 else (words or word + 's')}"


def share(part: int | float, whole: int | float) -> str:
    """``part`` as a percentage of ``whole``, with enough digits that a non-zero part never
    reads as 0%: ``12.5%``, ``0.03%``, ``0.0001%``."""
    if not whole:
        return "0%"
    pct = 100.0 * part / whole
    if pct == 0 or pct >= 1:
        return f"{pct:.1f}%"
    digits = 2
    while round(pct, digits) == 0 and digits < 8:
        digits += 1
    return f"{pct:.{digits}f}%"


def rate(value: float) -> str:
    """A fraction as a percentage: ``0.125`` -> ``12.5%``."""
    return share(value, 1.0)


def plain(value: Any) -> Any:
    """A numpy scalar as the Python value it holds (other values as they are)."""
    if isinstance(value, np.generic):
        return value.item()
    return value


def examples(values: Any, limit: int = 5) -> list[Any]:
    """Up to ``limit`` values as plain Python objects (for details and messages)."""
    return [plain(value) for value in list(values)[:limit]]


def shown(values: Any, limit: int = 3) -> str:
    """``'a', 'b', 7.0`` for a message: the first ``limit`` distinct values, each shortened."""
    parts: list[str] = []
    for value in values:
        text = repr(plain(value))
        text = text if len(text) <= 40 else text[:37] + "..."
        if text not in parts:
            parts.append(text)
        if len(parts) == limit:
            break
    return ", ".join(parts)


# --- interaction logs ----------------------------------------------------------------------------


@dataclass(frozen=True)
class LogArrays:
    """An interaction log as arrays: dense user and item codes (-1 when missing) with the ids
    they stand for, and unix seconds as floats (NaN when missing or not finite; None when the
    log has no timestamps). ``names`` are the user, item and timestamp column names."""

    user: np.ndarray
    item: np.ndarray
    user_ids: np.ndarray
    item_ids: np.ndarray
    seconds: np.ndarray | None
    names: tuple[str, str, str]

    def __len__(self) -> int:
        return len(self.user)

    @property
    def valid(self) -> np.ndarray:
        """Rows with a user, an item and (when there are timestamps) a time."""
        ok = (self.user >= 0) & (self.item >= 0)
        return ok if self.seconds is None else ok & ~np.isnan(self.seconds)


def read_log(log: Any, user: str, item: str, timestamp: str | None) -> LogArrays:
    """``log`` (any table :func:`as_frame` reads, or ``Interactions`` with its own roles)."""
    if is_interactions(log):
        stamps = log.timestamp
        return LogArrays(
            log.user.astype(np.int64),
            log.item.astype(np.int64),
            np.asarray(log.users.ids),
            np.asarray(log.items.ids),
            None if stamps is None else finite(stamps),
            ("user_id", "item_id", "timestamp"),
        )
    frame = as_frame(log, what="the interaction log")
    for column, role in ((user, "user"), (item, "item"), (timestamp, "timestamp")):
        if column is not None and column not in frame.columns:
            hint = "; pass timestamp=None for a log without times" if role == "timestamp" else ""
            raise GuardError(
                f"column '{column}' is not in the interaction log (it has: "
                f"{column_names(frame)}); pass the right name with {role}={hint}"
            )
    user_codes, user_ids = pd.factorize(frame[user])
    item_codes, item_ids = pd.factorize(frame[item])
    return LogArrays(
        np.asarray(user_codes, dtype=np.int64),
        np.asarray(item_codes, dtype=np.int64),
        np.asarray(user_ids),
        np.asarray(item_ids),
        None if timestamp is None else to_seconds(frame[timestamp], timestamp),
        (user, item, timestamp or "timestamp"),
    )


def to_seconds(column: pd.Series, name: str) -> np.ndarray:
    """Unix seconds as float64 (NaN for missing or non-finite) from datetimes or numbers."""
    if isinstance(column.dtype, pd.DatetimeTZDtype):
        column = column.dt.tz_convert("UTC").dt.tz_localize(None)
    if pd.api.types.is_datetime64_any_dtype(column.dtype):
        values = column.to_numpy()
        return np.asarray((values - np.datetime64(0, "s")) / np.timedelta64(1, "s"), np.float64)
    if pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column):
        return finite(column.to_numpy(dtype=np.float64, na_value=np.nan))
    if bool(column.isna().all()):
        return np.full(len(column), np.nan)
    raise GuardError(
        f"timestamp column '{name}' holds {column.dtype} values; convert it to datetimes "
        "(pd.to_datetime) or unix seconds first"
    )


def finite(values: np.ndarray) -> np.ndarray:
    """``values`` as float64 with NaN in place of ±inf."""
    values = np.asarray(values, dtype=np.float64)
    return np.where(np.isfinite(values), values, np.nan)


def seconds_of(now: Any) -> float:
    """Unix seconds of ``now``: None (the current time), a number, a datetime or a string
    (naive times are UTC)."""
    if now is None:
        return time.time()
    if isinstance(now, (int, float, np.integer, np.floating)) and not isinstance(now, bool):
        return float(now)
    try:
        stamp = pd.Timestamp(now)
    except (TypeError, ValueError):
        stamp = None
    if not isinstance(stamp, pd.Timestamp):  # unparsable, or NaT
        raise GuardError(f"now={now!r} is not a time; pass a datetime, an ISO string or seconds")
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return float(stamp.timestamp())


def known_ids(catalogue: Any, column: str) -> pd.Index:
    """The ids of ``catalogue`` (a set, list, array, Series, Index, or a table with a
    ``column``), nulls dropped."""
    ids: pd.Index
    if isinstance(catalogue, (set, frozenset, dict)) or type(catalogue).__name__ in (
        "dict_keys",
        "dict_values",
    ):
        ids = pd.Index(list(catalogue))
    elif isinstance(catalogue, pd.DataFrame) or any(
        hasattr(catalogue, table)
        for table in ("column_names", "height")  # pyarrow, polars
    ):
        frame = as_frame(catalogue, what="the catalogue")
        if column not in frame.columns:
            raise GuardError(
                f"the catalogue table has no '{column}' column (it has: {column_names(frame)}); "
                f"pass the ids themselves, e.g. catalogue=items['{column}']"
            )
        ids = pd.Index(frame[column])
    else:
        values = catalogue.to_pandas() if hasattr(catalogue, "to_pandas") else catalogue
        try:
            ids = pd.Index(values)
        except TypeError:
            raise GuardError(
                f"catalogue is a {type(catalogue).__name__}; pass the known item ids as a set, "
                "list, array, Series or Index"
            ) from None
    ids = ids[np.asarray(ids.notna())]
    if len(ids) == 0:
        raise GuardError("the catalogue is empty; pass the ids of the items that exist")
    return ids
