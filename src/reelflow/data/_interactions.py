"""``Interactions``: who interacted with what, when, how strongly, and in which context.

Users and items keep their own ids (any hashable) and are mapped to dense indices, so models work
on a scipy CSR matrix while people keep reading their own ids. Splits keep the same id indices
on both sides, so a train and a test matrix always line up.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from reelflow._errors import DataError
from reelflow.data._ids import IdIndex


@dataclass(frozen=True, eq=False)
class Interactions:
    """An interaction log over fixed user and item indices.

    ``user`` and ``item`` are dense indices into ``users`` and ``items``; ``rating`` (explicit
    feedback or a weight), ``timestamp`` (unix seconds) and ``context`` columns (region, device,
    ...) are optional and aligned with them.
    """

    users: IdIndex
    items: IdIndex
    user: np.ndarray
    item: np.ndarray
    rating: np.ndarray | None = None
    timestamp: np.ndarray | None = None
    context: Mapping[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.user)
        if len(self.item) != n:
            raise DataError("user and item columns differ in length")
        for name, column in self._optional_columns().items():
            if len(column) != n:
                raise DataError(f"column '{name}' has {len(column)} values for {n} interactions")
        if n and (self.user.max() >= len(self.users) or self.item.max() >= len(self.items)):
            raise DataError("an interaction points past the end of its id index")
        if self.rating is not None and not np.isfinite(self.rating).all():
            raise DataError("ratings hold NaN or infinite values; drop or fill them first")

    # --- building ----------------------------------------------------------------------------

    @classmethod
    def from_pandas(
        cls,
        frame: pd.DataFrame,
        *,
        user: str = "user_id",
        item: str = "item_id",
        rating: str | None = None,
        timestamp: str | None = None,
        context: Sequence[str] = (),
        rating_range: tuple[float, float] | None = None,
    ) -> Interactions:
        """Build from a DataFrame, naming which column plays which role.

        With ``rating_range=(low, high)``, a rating outside it is an error (a 0-10 scale fed to
        a 1-5 model, say); without it any finite number is accepted.
        """
        wanted = [user, item, *(c for c in (rating, timestamp) if c), *context]
        missing = [c for c in wanted if c not in frame.columns]
        if missing:
            present = ", ".join(map(str, frame.columns))
            raise DataError(
                f"column '{missing[0]}' is not in the data (it has: {present}); "
                "pass the right name with user=/item=/rating=/timestamp="
            )
        if frame[[user, item]].isna().any().any():
            raise DataError(f"'{user}' or '{item}' holds missing ids; drop those rows first")
        users, user_codes = IdIndex.encode(frame[user])
        items, item_codes = IdIndex.encode(frame[item])
        return cls(
            users,
            items,
            user_codes,
            item_codes,
            rating=None if rating is None else _floats(frame[rating], rating, rating_range),
            timestamp=None if timestamp is None else _seconds(frame[timestamp]),
            context={name: frame[name].to_numpy() for name in context},
        )

    @classmethod
    def from_arrow(cls, table: Any, **columns: Any) -> Interactions:
        """Build from a pyarrow Table (same column arguments as :meth:`from_pandas`)."""
        return cls.from_pandas(table.to_pandas(), **columns)

    @classmethod
    def from_parquet(cls, path: str, **columns: Any) -> Interactions:
        return cls.from_pandas(pd.read_parquet(path), **columns)

    @classmethod
    def from_csv(cls, path: str, *, sep: str = ",", **columns: Any) -> Interactions:
        return cls.from_pandas(pd.read_csv(path, sep=sep), **columns)

    # --- reading -----------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.user)

    @property
    def n_users(self) -> int:
        return len(self.users)

    @property
    def n_items(self) -> int:
        return len(self.items)

    def __repr__(self) -> str:
        extras = [n for n, c in self._optional_columns().items()]
        shown = f", with {', '.join(extras)}" if extras else ""
        return (
            f"<Interactions {len(self):,} of {self.n_users:,} users x {self.n_items:,} items"
            f"{shown}>"
        )

    def csr(self, *, binary: bool = False) -> sp.csr_matrix:
        """The users x items matrix: summed ratings (or 1 per interaction when ``binary``)."""
        values = (
            np.ones(len(self), dtype=np.float32)
            if binary or self.rating is None
            else self.rating.astype(np.float32)
        )
        matrix = sp.csr_matrix(
            (values, (self.user, self.item)), shape=(self.n_users, self.n_items), dtype=np.float32
        )
        matrix.sum_duplicates()
        if binary:
            matrix.data[:] = 1.0
        return matrix

    def to_pandas(self) -> pd.DataFrame:
        """One row per interaction, with the original ids."""
        data: dict[str, Any] = {
            "user_id": self.users.labels(self.user),
            "item_id": self.items.labels(self.item),
        }
        data.update(self._optional_columns())
        return pd.DataFrame(data)

    @cached_property
    def fingerprint(self) -> str:
        """A stable hash of the content (ids, interactions and every column), for lineage."""
        digest = hashlib.blake2b(digest_size=16)
        for name, column in [
            ("users", self.users.ids),
            ("items", self.items.ids),
            ("user", self.user),
            ("item", self.item),
            *sorted(self._optional_columns().items()),
        ]:
            digest.update(name.encode())
            digest.update(_column_bytes(column))
        return digest.hexdigest()

    # --- as a stored artifact -----------------------------------------------------------------

    def __reelflow_to_arrow__(self) -> Any:
        """One Arrow table: user and item as dictionary columns whose dictionaries are the whole
        id indices (so unused ids and the index order survive), plus the optional columns."""
        import pyarrow as pa

        columns = {
            "user": pa.DictionaryArray.from_arrays(self.user, _arrow_ids(self.users.ids)),
            "item": pa.DictionaryArray.from_arrays(self.item, _arrow_ids(self.items.ids)),
        }
        if self.rating is not None:
            columns["rating"] = pa.array(self.rating)
        if self.timestamp is not None:
            columns["timestamp"] = pa.array(self.timestamp)
        for name, column in self.context.items():
            columns[f"context.{name}"] = pa.array(column)
        return pa.table(columns)

    @classmethod
    def __reelflow_from_arrow__(cls, table: Any) -> Interactions:
        """The inverse of :meth:`__reelflow_to_arrow__` (zero-copy where Arrow allows)."""
        user = table.column("user").combine_chunks()
        item = table.column("item").combine_chunks()
        names = set(table.column_names)
        return cls(
            IdIndex(user.dictionary.to_numpy(zero_copy_only=False)),
            IdIndex(item.dictionary.to_numpy(zero_copy_only=False)),
            user.indices.to_numpy(),
            item.indices.to_numpy(),
            rating=_column(table, "rating") if "rating" in names else None,
            timestamp=_column(table, "timestamp") if "timestamp" in names else None,
            context={
                name.removeprefix("context."): _column(table, name)
                for name in table.column_names
                if name.startswith("context.")
            },
        )

    # --- deriving ----------------------------------------------------------------------------

    def subset(self, rows: np.ndarray) -> Interactions:
        """The interactions at ``rows`` (a boolean mask or positions), on the same id indices."""
        return Interactions(
            self.users,
            self.items,
            self.user[rows],
            self.item[rows],
            rating=None if self.rating is None else self.rating[rows],
            timestamp=None if self.timestamp is None else self.timestamp[rows],
            context={name: column[rows] for name, column in self.context.items()},
        )

    def _optional_columns(self) -> dict[str, np.ndarray]:
        columns: dict[str, np.ndarray] = {}
        if self.rating is not None:
            columns["rating"] = self.rating
        if self.timestamp is not None:
            columns["timestamp"] = self.timestamp
        for name, column in self.context.items():
            columns[name] = column
        return columns


def _floats(column: pd.Series, name: str, bounds: tuple[float, float] | None = None) -> np.ndarray:
    try:
        values = column.to_numpy(dtype=np.float32)
    except (TypeError, ValueError):
        raise DataError(f"column '{name}' must hold numbers") from None
    if not np.isfinite(values).all():
        raise DataError(f"column '{name}' holds NaN or infinite values; drop or fill them first")
    if bounds is not None and len(values):
        low, high = bounds
        outside = values[(values < low) | (values > high)]
        if len(outside):
            raise DataError(
                f"column '{name}' holds {len(outside)} values outside [{low}, {high}] "
                f"(e.g. {outside[0]:g}); fix the scale or pass the right rating_range"
            )
    return values


def _seconds(column: pd.Series) -> np.ndarray:
    if pd.api.types.is_datetime64_any_dtype(column):
        if isinstance(column.dtype, pd.DatetimeTZDtype):
            column = column.dt.tz_convert("UTC").dt.tz_localize(None)
        return (column.astype("datetime64[ns]").astype("int64") // 1_000_000_000).to_numpy()
    return column.to_numpy(dtype=np.int64)


def _arrow_ids(ids: np.ndarray) -> Any:
    import pyarrow as pa

    return pa.array(ids.tolist() if ids.dtype == object else ids)


def _column(table: Any, name: str) -> np.ndarray:
    return np.asarray(table.column(name).to_numpy())


def _column_bytes(column: np.ndarray) -> bytes:
    if column.dtype == object:
        return "\x1f".join(map(repr, column.tolist())).encode()
    return np.ascontiguousarray(column).tobytes()
