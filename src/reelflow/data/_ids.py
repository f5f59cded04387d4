"""Map any hashable ids (ints, strings, ...) to dense indices 0..n-1 and back."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from reelflow._errors import DataError


@dataclass(frozen=True, eq=False)
class IdIndex:
    """The ids of one kind (users or items), in index order: ``ids[i]`` is the id of index ``i``."""

    ids: np.ndarray

    def __post_init__(self) -> None:
        if len(pd.unique(self.ids)) != len(self.ids):
            raise DataError("an id index holds the same id twice; ids must be unique")

    @classmethod
    def encode(cls, values: Sequence[Any] | np.ndarray | pd.Series) -> tuple[IdIndex, np.ndarray]:
        """The index of the distinct ``values`` (sorted when they sort) and each value's code."""
        array = _as_id_array(values)
        try:
            codes, uniques = pd.factorize(array, sort=True)
        except TypeError:
            codes, uniques = pd.factorize(array, sort=False)
        return cls(np.asarray(uniques)), codes.astype(np.int32)

    def __len__(self) -> int:
        return len(self.ids)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, IdIndex):
            return NotImplemented
        return len(self.ids) == len(other.ids) and bool(np.array_equal(self.ids, other.ids))

    __hash__ = None  # type: ignore[assignment]

    def indices(self, ids: Sequence[Any] | np.ndarray, *, missing: int | None = None) -> np.ndarray:
        """The index of each id; unknown ids raise, or map to ``missing`` when it is given."""
        array = _as_id_array(ids)
        if len(array) <= _FEW_IDS:  # one request's users: a dict lookup, not a hash-table probe
            found = np.fromiter((self._positions.get(v, -1) for v in array.tolist()), np.int64)
        else:
            found = self._lookup.get_indexer(pd.Index(array))
        if missing is None and (found < 0).any():
            unknown = np.asarray(ids, dtype=object)[found < 0][:3].tolist()
            raise DataError(f"unknown ids {unknown}: they are not in this data set")
        if missing is not None:
            found = np.where(found < 0, missing, found)
        return np.asarray(found, dtype=np.int64)

    @cached_property
    def _lookup(self) -> pd.Index:
        """The ids as a pandas Index, whose hash table is built once and then reused (a
        server looking up one user per request must not rebuild it each time)."""
        lookup: pd.Index = pd.Index(self.ids)
        return lookup

    @cached_property
    def _positions(self) -> dict[Any, int]:
        """Id -> index as a dict, for lookups of a few ids (built on first use)."""
        return {value: i for i, value in enumerate(self.ids.tolist())}

    def labels(self, indices: np.ndarray) -> np.ndarray:
        """The ids of ``indices`` (any shape)."""
        return np.asarray(self.ids[np.asarray(indices)])


_FEW_IDS = 32


def _as_id_array(values: Any) -> np.ndarray:
    array = values.to_numpy() if isinstance(values, pd.Series | pd.Index) else np.asarray(values)
    if array.ndim != 1:
        raise DataError(f"ids must be one-dimensional, got shape {array.shape}")
    kinds = {type(v) for v in array[:1000]} if array.dtype == object else set()
    if len(kinds) > 1 and not all(issubclass(k, str) for k in kinds):
        names = sorted(k.__name__ for k in kinds)
        raise DataError(f"ids mix types ({', '.join(names)}); convert them to one type first")
    return array
