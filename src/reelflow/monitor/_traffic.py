"""The logged requests of one model version as numpy arrays, with their context values parsed
(each distinct context text once) and their item and score lists kept flat with offsets.

Served items are read as their position in the training catalogue (-1 when it does not hold
them), looked up in Arrow, so millions of item ids never become Python strings."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

REGION = "region"


@dataclass(frozen=True)
class Lists:
    """A list column, flat: row ``i`` holds ``values[starts[i] : starts[i] + lengths[i]]``."""

    values: np.ndarray
    starts: np.ndarray
    lengths: np.ndarray

    def positions(self, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Where the first ``k`` entries of each of ``rows`` sit in ``values`` (rows x k), and
        which of them exist."""
        slots = np.arange(k)
        valid = slots[None, :] < np.minimum(self.lengths[rows], k)[:, None]
        return np.where(valid, self.starts[rows][:, None] + slots[None, :], 0), valid

    def top(self, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The first ``k`` entries of each of ``rows``: values (rows x k) and which exist."""
        positions, valid = self.positions(rows, k)
        if len(self.values) == 0:
            return np.zeros(positions.shape, dtype=self.values.dtype), valid
        return self.values[positions], valid


@dataclass(frozen=True)
class Traffic:
    """One version's requests in the window: user ids as text, flags, contexts, answers."""

    time: np.ndarray  # int64 microseconds since the epoch, UTC
    user: np.ndarray  # object: the user id as sent (text)
    known: np.ndarray  # bool: the server knew the user
    region: np.ndarray  # object: text or None
    context: np.ndarray  # object: JSON text or None
    fallback: np.ndarray  # object: the fallback's reason, None when the model answered
    items: Lists  # positions in the training catalogue, -1 for items it does not hold
    scores: Lists
    item_ids: Any = None  # the served ids (Arrow), aligned with ``items.values``
    _parsed: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.user)

    @property
    def answered(self) -> np.ndarray:
        """Rows the model itself answered (no fallback)."""
        return np.asarray([reason is None for reason in self.fallback], dtype=bool)

    def context_values(self, name: str) -> np.ndarray:
        """Each request's value of context ``name`` as text (None when absent)."""
        if name == REGION:
            return self.region
        decoded = self._decoded()
        return np.asarray([_text(row.get(name)) for row in decoded], dtype=object)

    def context_names(self) -> set[str]:
        """Every context name at least one request carries."""
        names = {key for row in self._unique_contexts().values() for key in row}
        if any(value is not None for value in self.region):
            names.add(REGION)
        return names

    @property
    def malformed_contexts(self) -> int:
        """Requests whose context text is not a JSON object."""
        self._unique_contexts()
        bad: set[str] = self._parsed["malformed"]
        return sum(1 for text in self.context if text in bad)

    def _decoded(self) -> list[dict[str, Any]]:
        unique = self._unique_contexts()
        return [unique.get(text, {}) if text is not None else {} for text in self.context]

    def _unique_contexts(self) -> dict[str, dict[str, Any]]:
        if "unique" not in self._parsed:
            unique: dict[str, dict[str, Any]] = {}
            malformed: set[str] = set()
            for text in {t for t in self.context if t is not None}:
                try:
                    value = json.loads(text)
                except ValueError:
                    value = None
                if not isinstance(value, dict):
                    malformed.add(text)
                    value = {}
                unique[text] = value
            self._parsed["unique"], self._parsed["malformed"] = unique, malformed
        parsed: dict[str, dict[str, Any]] = self._parsed["unique"]
        return parsed


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def load_traffic(table: Any, version: int, catalogue: list[str]) -> tuple[Traffic, dict[int, int]]:
    """The rows of ``table`` (a request-log Arrow table) answered by ``version``, with served
    items as positions in ``catalogue`` (item ids as text), and how many rows each other
    version answered."""
    import pyarrow as pa
    import pyarrow.compute as pc

    versions = table["version"].to_numpy(zero_copy_only=False)
    others = Counter(int(v) for v in versions if v == v and v is not None and int(v) != version)
    table = table.filter(pc.equal(table["version"], version))
    time = table["time"].cast("int64").to_numpy(zero_copy_only=False)
    items = _list_array(table["items"])
    positions = pc.index_in(items.values, value_set=pa.array(catalogue, pa.string()))
    traffic = Traffic(
        time=np.asarray(time, dtype=np.int64),
        user=_objects(table["user_id"]),
        known=np.asarray(table["known_user"].fill_null(False).to_numpy(zero_copy_only=False)),
        region=_objects(table["region"]),
        context=_objects(table["context"]),
        fallback=_objects(table["fallback"]),
        items=_lists(items, positions.fill_null(-1), np.int64),
        scores=_lists(_list_array(table["scores"]), None, np.float64),
        item_ids=items.values,
    )
    return traffic, dict(sorted(others.items()))


def _objects(column: Any) -> np.ndarray:
    out = np.empty(len(column), dtype=object)
    out[:] = column.to_pylist()
    return out


def _list_array(column: Any) -> Any:
    import pyarrow as pa

    return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column


def _lists(array: Any, values: Any, dtype: Any) -> Lists:
    """A list array as flat values (``values`` replaces its own), starts and lengths (null
    lists are empty)."""
    offsets = np.asarray(array.offsets.to_numpy(zero_copy_only=False), dtype=np.int64)
    lengths = np.diff(offsets)
    lengths[np.asarray(array.is_null().to_numpy(zero_copy_only=False), dtype=bool)] = 0
    flat = array.values if values is None else values
    return Lists(
        np.asarray(flat.to_numpy(zero_copy_only=False), dtype=dtype), offsets[:-1], lengths
    )
