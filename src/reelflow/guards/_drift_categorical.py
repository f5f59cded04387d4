"""The categorical side of drift: counts of each value on both sides, over shared labels.

Counting never goes through Python objects: pandas categoricals are counted from their codes,
small integers and booleans with ``bincount``, everything else by one Arrow dictionary encoding
of both sides together (one hash table, so the labels line up). A column with more than
``MAX_CATEGORIES`` distinct values keeps its ``MAX_CATEGORIES`` most frequent ones and pools the
rest into one "other" bucket. When a 50,000-row sample of each side already shows more than that
many distinct values (an id-like column; a 5,000-row glance comes first, so low-cardinality
columns skip it), the kept values are the most frequent in those samples, counted exactly over
every row by an Arrow lookup against them; this avoids hashing a million distinct strings.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from reelflow.guards._drift_columns import Column

MAX_CATEGORIES = 1_000
SAMPLE_ROWS = 50_000
PLOT_CATEGORIES = 20
OTHER = "other"


@dataclass(frozen=True)
class CategoryCounts:
    """Counts per label on both sides (nulls excluded); ``other`` says the last slot pools."""

    labels: Any  # numpy array, pandas Index or Arrow array of the kept labels
    ref: np.ndarray
    cur: np.ndarray
    ref_nulls: int
    cur_nulls: int
    other: bool = False
    distinct: int | None = None  # exact number of distinct values, None when sampled

    def label_list(self, index: np.ndarray) -> list[Any]:
        """The labels at ``index`` as JSON-ready Python values (``other`` past the kept ones)."""
        kept = index[index < len(self.labels)]
        values = _take(self.labels, kept)
        values = values.to_pylist() if isinstance(values, pa.Array) else values.tolist()
        values = [v if isinstance(v, (str, int, float, bool)) else str(v) for v in values]
        return values + [OTHER] * (len(index) - len(kept))


def category_counts(ref: Column, cur: Column) -> CategoryCounts:
    """Counts of ``ref`` and ``cur`` over shared labels, capped at ``MAX_CATEGORIES``."""
    counts = _codes_counts(ref, cur) or _small_int_counts(ref, cur) or _arrow_counts(ref, cur)
    return cap(counts)


def _codes_counts(ref: Column, cur: Column) -> CategoryCounts | None:
    if not isinstance(ref.data, pd.Categorical) or not isinstance(cur.data, pd.Categorical):
        return None
    ref_labels, cur_labels = ref.data.categories, cur.data.categories
    labels = ref_labels.append(cur_labels.difference(ref_labels))
    ref_raw = count_codes(ref.data.codes, -1, len(ref_labels) + 1)  # nulls first
    cur_raw = count_codes(cur.data.codes, -1, len(cur_labels) + 1)
    ref_counts = np.zeros(len(labels), np.int64)
    ref_counts[: len(ref_labels)] = ref_raw[1:]
    cur_counts = np.zeros(len(labels), np.int64)
    cur_counts[labels.get_indexer(cur_labels)] = cur_raw[1:]
    counts = CategoryCounts(labels, ref_counts, cur_counts, int(ref_raw[0]), int(cur_raw[0]))
    return _drop_unseen(counts)


def _small_int_counts(ref: Column, cur: Column) -> CategoryCounts | None:
    arrays = [_plain_ints(column) for column in (ref, cur)]
    if arrays[0] is None or arrays[1] is None or not len(arrays[0]) or not len(arrays[1]):
        return None
    low = min(int(arrays[0].min()), int(arrays[1].min()))
    high = max(int(arrays[0].max()), int(arrays[1].max()))
    if high - low >= 1 << 20:
        return None
    size = high - low + 1
    ref_counts, cur_counts = count_codes(arrays[0], low, size), count_codes(arrays[1], low, size)
    labels: np.ndarray = np.arange(low, high + 1)
    if ref.base == "bool":
        labels = labels.astype(bool)
    return _drop_unseen(CategoryCounts(labels, ref_counts, cur_counts, 0, 0))


def count_codes(codes: np.ndarray, low: int, size: int) -> np.ndarray:
    """Counts of each integer in [low, low + size) among ``codes`` (all in that range)."""
    if size <= 32:  # one vectorized comparison per value beats bincount's cast to intp
        return np.array([np.count_nonzero(codes == low + k) for k in range(size)], np.int64)
    return np.bincount(codes - low if low else codes, minlength=size).astype(np.int64)


def _plain_ints(column: Column) -> np.ndarray | None:
    """Integers or booleans without nulls, as numpy integers."""
    data = column.data
    if isinstance(data, pa.ChunkedArray) and column.base in ("integer", "bool"):
        if data.null_count or data.num_chunks != 1:
            return None
        data = data.chunk(0).to_numpy(zero_copy_only=False)
    if not isinstance(data, np.ndarray) or data.dtype.kind not in "iub":
        return None
    return data.view(np.uint8) if data.dtype.kind == "b" else data


def _drop_unseen(counts: CategoryCounts) -> CategoryCounts:
    """``counts`` without labels neither side has, with its exact number of distinct values."""
    seen = np.flatnonzero((counts.ref > 0) | (counts.cur > 0))
    if len(seen) == len(counts.ref):
        return replace(counts, distinct=len(seen))
    return replace(
        counts,
        labels=_take(counts.labels, seen),
        ref=counts.ref[seen],
        cur=counts.cur[seen],
        distinct=len(seen),
    )


def _take(labels: Any, index: np.ndarray) -> Any:
    if isinstance(labels, (pa.Array, pa.ChunkedArray)):
        return labels.take(pa.array(index))
    return np.asarray(labels)[index]


def _arrow_counts(ref: Column, cur: Column) -> CategoryCounts:
    ref_array, cur_array = _common_arrow(_as_arrow(ref), _as_arrow(cur))
    if len(ref_array) + len(cur_array) > 4 * SAMPLE_ROWS and not pa.types.is_dictionary(
        ref_array.type
    ):
        candidates = _frequent_in_samples(ref_array, cur_array)
        if candidates is not None:
            return _lookup_counts(ref_array, cur_array, candidates)
    both = pa.chunked_array(ref_array.chunks + cur_array.chunks, type=ref_array.type)
    encoded = both.unify_dictionaries() if pa.types.is_dictionary(both.type) else None
    encoded = encoded if encoded is not None else pc.dictionary_encode(both)
    chunks = encoded.chunks
    labels = chunks[0].dictionary if chunks else pa.array([], type=pa.string())
    split = ref_array.num_chunks
    ref_counts = _count_indices(chunks[:split], len(labels))
    cur_counts = _count_indices(chunks[split:], len(labels))
    counts = CategoryCounts(
        labels, ref_counts[:-1], cur_counts[:-1], int(ref_counts[-1]), int(cur_counts[-1])
    )
    return _drop_unseen(counts)


def _count_indices(chunks: list[pa.DictionaryArray], size: int) -> np.ndarray:
    """Counts of each dictionary index; the last slot counts nulls."""
    total = np.zeros(size + 1, dtype=np.int64)
    for chunk in chunks:
        index = chunk.indices
        if index.null_count:
            index = pc.fill_null(index.cast(pa.int64()), size)
        total += count_codes(index.to_numpy(), 0, size + 1)
    return total


def _as_arrow(column: Column) -> pa.ChunkedArray:
    data = column.data
    if isinstance(data, pa.ChunkedArray):
        return data
    if isinstance(data, pd.Categorical):
        return pa.chunked_array([pa.array(data)])
    return pa.chunked_array([pa.array(data, from_pandas=True)])


def _common_arrow(
    ref: pa.ChunkedArray, cur: pa.ChunkedArray
) -> tuple[pa.ChunkedArray, pa.ChunkedArray]:
    """Both sides cast to one Arrow type (dictionaries decoded unless both are dictionaries)."""
    if ref.type.equals(cur.type):
        return ref, cur
    ref, cur = _decoded(ref), _decoded(cur)
    if ref.type.equals(cur.type):
        return ref, cur
    if pa.types.is_null(ref.type) or pa.types.is_null(cur.type):
        target = cur.type if pa.types.is_null(ref.type) else ref.type
        return ref.cast(target), cur.cast(target)
    numeric = [pa.types.is_integer(t) or pa.types.is_floating(t) for t in (ref.type, cur.type)]
    target = pa.float64() if all(numeric) else pa.large_string()
    return ref.cast(target), cur.cast(target)


def _decoded(array: pa.ChunkedArray) -> pa.ChunkedArray:
    if not pa.types.is_dictionary(array.type):
        return array
    return array.cast(array.type.value_type)


def _frequent_in_samples(ref: pa.ChunkedArray, cur: pa.ChunkedArray) -> pa.Array | None:
    """The most frequent values of two samples, or None when the samples show few distinct
    (a 5,000-row look first, so low-cardinality columns pay almost nothing)."""
    glance, _ = _sample_counts(ref, cur, 5_000)
    if len(glance) - glance.null_count <= MAX_CATEGORIES // 2:
        return None
    values, frequency = _sample_counts(ref, cur, SAMPLE_ROWS)
    keep = np.flatnonzero(pc.is_valid(values).to_numpy(zero_copy_only=False))
    if len(keep) <= MAX_CATEGORIES:
        return None
    top = keep[np.argsort(-frequency[keep], kind="stable")[:MAX_CATEGORIES]]
    return values.take(pa.array(top))


def _sample_counts(
    ref: pa.ChunkedArray, cur: pa.ChunkedArray, rows: int
) -> tuple[pa.Array, np.ndarray]:
    """Distinct values and their counts in a seeded sample of ``rows`` rows of each side."""
    rng = np.random.default_rng(0)
    samples = [
        side.take(pa.array(np.sort(rng.integers(0, len(side), min(rows, len(side))))))
        for side in (ref, cur)
        if len(side)
    ]
    chunks = [chunk for sample in samples for chunk in sample.chunks]
    counts = pc.value_counts(pa.chunked_array(chunks, type=ref.type)).flatten()
    return counts[0], counts[1].to_numpy()


def _lookup_counts(
    ref: pa.ChunkedArray, cur: pa.ChunkedArray, candidates: pa.Array
) -> CategoryCounts:
    """Exact counts of ``candidates`` on both sides; every other non-null value is "other"."""
    size = len(candidates)
    sides = []
    for side in (ref, cur):
        index = pc.fill_null(pc.index_in(side, value_set=candidates), size)
        counts = np.bincount(index.to_numpy(), minlength=size + 1)
        counts[-1] -= side.null_count
        sides.append(counts)
    return CategoryCounts(
        candidates, sides[0], sides[1], ref.null_count, cur.null_count, other=True, distinct=None
    )


def cap(counts: CategoryCounts) -> CategoryCounts:
    """Keep the ``MAX_CATEGORIES`` most frequent labels (by combined share), pool the rest."""
    kept = len(counts.ref) - int(counts.other)
    if kept <= MAX_CATEGORIES:
        return counts
    share = -(_shares(counts.ref) + _shares(counts.cur))[:kept]
    top = np.argpartition(share, MAX_CATEGORIES)[:MAX_CATEGORIES]
    top = top[np.lexsort((top, share[top]))]
    pooled_ref = counts.ref.sum() - counts.ref[top].sum()
    pooled_cur = counts.cur.sum() - counts.cur[top].sum()
    return replace(
        counts,
        labels=_take(counts.labels, top),
        ref=np.append(counts.ref[top], pooled_ref),
        cur=np.append(counts.cur[top], pooled_cur),
        other=True,
    )


def _shares(counts: np.ndarray) -> np.ndarray:
    total = counts.sum()
    return counts / total if total else counts.astype(np.float64)


def plot(counts: CategoryCounts) -> dict[str, Any]:
    """The ``PLOT_CATEGORIES`` most frequent labels and one "other", with each side's shares."""
    ref, cur = _shares(counts.ref), _shares(counts.cur)
    kept = len(ref) - int(counts.other)
    order = np.argsort(-(ref[:kept] + cur[:kept]), kind="stable")[:PLOT_CATEGORIES]
    rest = np.setdiff1d(np.arange(len(ref)), order)
    index = np.append(order, len(ref)) if len(rest) else order
    ref_shares = np.append(ref[order], ref[rest].sum()) if len(rest) else ref[order]
    cur_shares = np.append(cur[order], cur[rest].sum()) if len(rest) else cur[order]
    return {
        "kind": "categories",
        "labels": counts.label_list(np.where(index < kept, index, len(ref) + 1)),
        "reference": ref_shares.tolist(),
        "current": cur_shares.tolist(),
    }
