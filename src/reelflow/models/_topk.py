"""Top-k selection over score batches, and the ``Recommendations`` a model returns.

Scores are computed a batch of users at a time (``batch_rows`` keeps each ``(b, n_items)`` float32
block under ``MEMORY_BUDGET``), seen items are masked to ``-inf``, and ``argpartition`` picks each
row's top k: a dense users x items matrix is never built.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import scipy.sparse as sp

MEMORY_BUDGET = 256 * 2**20
"""Bytes of working memory one batch of scores may take."""


class Recommendations(NamedTuple):
    """``items`` (n, k) original item ids and ``scores`` (n, k) float32, best first per row.

    A row holds fewer than k real recommendations when fewer than k items are left (after
    ``exclude_seen`` and the ``items=`` subset); its trailing slots are padding: their score is
    ``-inf`` and their item is :func:`pad_value` of the id dtype (``None`` for object ids, ``-1``
    for signed integers, ``NaN`` for floats, ``""`` for fixed-width strings). Use :attr:`valid`
    rather than comparing against the fill value.
    """

    items: np.ndarray
    scores: np.ndarray

    @property
    def valid(self) -> np.ndarray:
        """A boolean (n, k) mask: True for real recommendations, False for padding."""
        return np.asarray(self.scores > -np.inf)

    def to_lists(self) -> list[list[Any]]:
        """Per user, the recommended item ids without padding (plain Python values)."""
        valid = self.valid
        return [row[mask].tolist() for row, mask in zip(self.items, valid, strict=True)]


def pad_value(dtype: np.dtype[Any]) -> Any:
    """The item id written in padded slots for ids of ``dtype``."""
    if dtype.kind in "iu":
        return -1 if dtype.kind == "i" else np.iinfo(dtype).max
    if dtype.kind in "fc":
        return np.nan
    if dtype.kind in "US":
        return ""
    return None


def batch_rows(n_items: int, batch_size: int | None = None, *, cell_bytes: int = 4) -> int:
    """Users per batch: ``batch_size`` when given, else as many as fit ``MEMORY_BUDGET``.

    ``cell_bytes`` is the working memory one (user, item) score costs the model.
    """
    if batch_size is not None:
        return batch_size
    return max(1, MEMORY_BUDGET // (cell_bytes * max(n_items, 1)))


def mask_seen(scores: np.ndarray, seen: sp.csr_matrix, user_idx: np.ndarray) -> None:
    """Set each known user's (``user_idx >= 0``) seen items to ``-inf`` in place."""
    rows = np.flatnonzero(user_idx >= 0)
    if not len(rows):
        return
    block = seen[user_idx[rows]]
    counts = np.diff(block.indptr)
    scores[np.repeat(rows, counts), block.indices] = -np.inf


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's k best column positions and scores, best first; ``-1`` / ``-inf`` pad.

    Columns scoring ``-inf`` (masked) never count as recommendations. Rows are partitioned a
    few at a time, so argpartition's int64 temporaries stay small.
    """
    n_rows, n_cols = scores.shape
    positions = np.full((n_rows, k), -1, dtype=np.int64)
    best = np.full((n_rows, k), -np.inf, dtype=np.float32)
    step = max(1, _PARTITION_CELLS // max(n_cols, 1))
    for start in range(0, n_rows, step):
        rows = slice(start, start + step)
        positions[rows], best[rows] = _top_k_rows(scores[rows], k)
    positions[best == -np.inf] = -1
    return positions, best


_PARTITION_CELLS = 2**20


def _top_k_rows(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    n_rows, n_cols = scores.shape
    kept = min(k, n_cols)
    if kept < n_cols:
        part = np.argpartition(scores, n_cols - kept, axis=1)[:, n_cols - kept :]
    else:
        part = np.broadcast_to(np.arange(n_cols), (n_rows, n_cols))
    values = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-values, axis=1, kind="stable")
    positions = np.full((n_rows, k), -1, dtype=np.int64)
    best = np.full((n_rows, k), -np.inf, dtype=np.float32)
    positions[:, :kept] = np.take_along_axis(part, order, axis=1)
    best[:, :kept] = np.take_along_axis(values, order, axis=1)
    return positions, best


def item_labels(ids: np.ndarray, item_idx: np.ndarray) -> np.ndarray:
    """The ids at ``item_idx`` (any shape), with :func:`pad_value` where the index is ``-1``."""
    labels = np.asarray(ids[np.maximum(item_idx, 0)])
    padded = item_idx < 0
    if padded.any():
        labels = labels.copy()
        labels[padded] = pad_value(ids.dtype)
    return labels
