"""Top-k selection over score batches, and the ``Recommendations`` a model returns.

Scores are computed a batch of users at a time (``batch_rows`` keeps each ``(b, n_items)`` float32
block under ``MEMORY_BUDGET``), seen items are masked to ``-inf``, and ``argpartition`` picks each
row's top k: a dense users x items matrix is never built.

Models whose scores are mostly exact zeros (ItemKNN) hand a sparse block to :func:`top_k_sparse`
instead, which gives the same result as :func:`top_k` on the dense block without its cost:
``argpartition`` is slow on rows made mostly of one tied value.
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
    if len(rows) <= _FEW_ROWS:  # a server's single users: slice, skip building a sparse block
        for row in rows:
            user = user_idx[row]
            scores[row, seen.indices[seen.indptr[user] : seen.indptr[user + 1]]] = -np.inf
        return
    block = seen[user_idx[rows]]
    counts = np.diff(block.indptr)
    scores[np.repeat(rows, counts), block.indices] = -np.inf


_FEW_ROWS = 16


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's k best column positions and scores, best first; ``-1`` / ``-inf`` pad.

    Columns scoring ``-inf`` (masked) never count as recommendations. Rows are partitioned a
    few at a time, so argpartition's int64 temporaries stay small. Between equal scores (at the
    k-th place, or inside the top k) the order is ``argpartition``'s: the same for the same row
    on every call, but not otherwise defined.
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


def top_k_sparse(
    scores: sp.csr_matrix,
    k: int,
    *,
    exclude: sp.csr_matrix | None = None,
    columns: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`top_k` of a sparse score block, densifying only the rows that need it.

    The result is exactly ``top_k(dense, k)``, positions and scores, where ``dense`` is
    ``scores`` as a float32 array (absent entries score 0) with the entries stored in
    ``exclude`` (same shape, e.g. the users' seen items) set to ``-inf`` as :func:`mask_seen`
    does, then restricted to the sorted column positions ``columns`` when given.

    A row is answered from its stored entries alone when its top k is unambiguous: at least k
    finite positive scores left after ``exclude``, the k best all different and strictly above
    the next score. Then every correct top k is this one, so ``argpartition`` would give it too.
    Every other row (fewer than k positive scores, so zeros fill its tail; a tie inside or at
    the edge of its top k; a non-finite score) is densified and goes through :func:`top_k`
    itself, so its ties are settled by ``argpartition`` exactly as on the dense path.
    ``scores`` must not hold duplicate entries (a product of CSR matrices does not).
    """
    scores = sp.csr_matrix(scores, dtype=np.float32)
    if exclude is not None:
        exclude = sp.csr_matrix(exclude)
    if columns is not None:
        scores = sp.csr_matrix(scores[:, columns])
        exclude = None if exclude is None else sp.csr_matrix(exclude[:, columns])
    n_rows, n_cols = scores.shape
    positions = np.full((n_rows, k), -1, dtype=np.int64)
    best = np.full((n_rows, k), -np.inf, dtype=np.float32)
    col_bits = max(1, (n_cols - 1).bit_length())
    solved = np.zeros(n_rows, dtype=bool)
    if k <= n_cols and col_bits < _KEY_BITS - _VALUE_BITS:
        step = 1 << (_KEY_BITS - _VALUE_BITS - col_bits)  # rows whose keys fit 64 bits
        for start in range(0, n_rows, step):
            stop = min(start + step, n_rows)
            _unambiguous_rows(scores, exclude, start, stop, k, col_bits, positions, best, solved)
    slow = np.flatnonzero(~solved)
    if len(slow):
        dense = np.asarray(scores[slow].toarray(), dtype=np.float32)
        if exclude is not None:
            mask_seen(dense, exclude, slow)
        positions[slow], best[slow] = top_k(dense, k)
    return positions, best


_KEY_BITS = 64
_VALUE_BITS = 31
"""Bits of a positive finite float32 (its sign bit is 0); as integers they order like values."""
_TOP_BITS = np.uint64(0x7F7FFFFF)
"""The bits of float32's largest finite value."""


def _unambiguous_rows(
    scores: sp.csr_matrix,
    exclude: sp.csr_matrix | None,
    start: int,
    stop: int,
    k: int,
    col_bits: int,
    positions: np.ndarray,
    best: np.ndarray,
    solved: np.ndarray,
) -> None:
    """Fill ``positions``/``best`` for the unambiguous rows in ``start:stop``; mark them ``solved``.

    Each finite positive entry becomes one uint64 key, (row, value descending, column) from
    high bits to low, so one sort orders every row best first. Excluded entries are dropped only
    from each row's first ``k + 1 + (row's excluded count)`` keys, which hold its k + 1 best
    unexcluded ones whenever it has that many.
    """
    n_rows = stop - start
    indptr = scores.indptr[start : stop + 1]
    data = scores.data[indptr[0] : indptr[-1]]
    cols = scores.indices[indptr[0] : indptr[-1]]
    per_row = np.diff(indptr).astype(np.int64)
    usable = np.ones(n_rows, dtype=bool)
    if len(data) and not (data.min() > 0 and np.isfinite(data.max())):
        row_of = np.repeat(np.arange(n_rows), per_row)
        finite = np.isfinite(data)
        usable[row_of[~finite]] = False  # a non-finite score: leave the row to top_k
        keep = finite & (data > 0)
        data, cols = data[keep], cols[keep]
        per_row = np.bincount(row_of[keep], minlength=n_rows)
    keys = data.view(np.uint32).astype(np.uint64)
    np.subtract(_TOP_BITS, keys, out=keys)
    keys <<= np.uint64(col_bits)
    keys |= cols.view(np.uint32 if cols.dtype.itemsize == 4 else np.uint64)
    row_bits = np.arange(n_rows, dtype=np.uint64) << np.uint64(_VALUE_BITS + col_bits)
    keys |= np.repeat(row_bits, per_row)
    keys.sort()
    usable &= per_row >= k  # fewer positives: zeros tie in the top k (`ok` below agrees)
    if exclude is None:
        n_excluded = np.zeros(n_rows, dtype=np.int64)
    else:
        n_excluded = np.diff(exclude.indptr[start : stop + 1]).astype(np.int64)
    # Each usable row's first `take` keys, decoded; then its excluded entries dropped.
    cand = np.flatnonzero(usable)
    take = np.minimum(per_row[cand], k + 1 + n_excluded[cand])
    which = np.repeat(np.arange(len(cand)), take)
    rank = np.arange(len(which)) - np.repeat(np.cumsum(take) - take, take)
    picked = keys[(np.cumsum(per_row) - per_row)[cand][which] + rank]
    col_mask = np.uint64((1 << col_bits) - 1)
    col = (picked & col_mask).astype(np.int64)
    picked >>= np.uint64(col_bits)
    picked &= np.uint64((1 << _VALUE_BITS) - 1)
    val = (_TOP_BITS - picked).astype(np.uint32).view(np.float32)
    if exclude is not None and n_excluded.any():
        ex_rows = np.repeat(np.arange(n_rows, dtype=np.int64), n_excluded)
        ex_cols = exclude.indices[exclude.indptr[start] : exclude.indptr[stop]]
        ex_keys = np.sort((ex_rows << col_bits) | ex_cols)
        own = (cand[which] << col_bits) | col
        found = np.minimum(np.searchsorted(ex_keys, own), len(ex_keys) - 1)
        left = ex_keys[found] != own
        which, col, val = which[left], col[left], val[left]
        counts = np.bincount(which, minlength=len(cand))
        rank = np.arange(len(which)) - np.repeat(np.cumsum(counts) - counts, counts)
    # The k + 1 best unexcluded per row, -inf past a row's last positive: zeros and masked
    # columns rank below a k-th score > 0, so they never make the edge ambiguous.
    top_val = np.full((len(cand), k + 1), -np.inf, dtype=np.float32)
    top_col = np.full((len(cand), k + 1), -1, dtype=np.int64)
    front = rank <= k
    top_val[which[front], rank[front]] = val[front]
    top_col[which[front], rank[front]] = col[front]
    ok = np.all(top_val[:, :k] > top_val[:, 1:], axis=1)  # k positives, no tie, strict edge
    done = start + cand[ok]
    positions[done] = top_col[ok, :k]
    best[done] = top_val[ok, :k]
    solved[done] = True


def item_labels(ids: np.ndarray, item_idx: np.ndarray) -> np.ndarray:
    """The ids at ``item_idx`` (any shape), with :func:`pad_value` where the index is ``-1``."""
    labels = np.asarray(ids[np.maximum(item_idx, 0)])
    padded = item_idx < 0
    if padded.any():
        labels = labels.copy()
        labels[padded] = pad_value(ids.dtype)
    return labels
