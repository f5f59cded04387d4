"""Accuracy metrics computed from top-k lists for all users at once, with no loop over users.

``recommended`` is an ``(n_users, k)`` integer array of item indices in rank order (``-1`` marks
an empty slot); ``relevant`` is a users x items sparse matrix whose nonzero entries are the
relevant items. docs/metrics.md gives every formula and how it compares to other libraries.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from reelflow._errors import DataError
from reelflow.data import Interactions

PAD = -1
_TABLE_BYTES = 8 << 20  # the dense lookup table scattered per chunk of users
_MAX_TABLE_BYTES = 256 << 20  # past this (huge catalogs) look hits up with scipy instead


@dataclass(frozen=True, eq=False)
class MetricResult:
    """A metric's value per user (NaN where undefined) and its mean over the defined users.

    ``per_user`` is ``None`` for metrics of the whole run (coverage, Gini, RMSE, MAE).
    """

    name: str
    mean: float
    per_user: np.ndarray | None = None

    def __float__(self) -> float:
        return self.mean

    def __repr__(self) -> str:
        return f"MetricResult({self.name}={self.mean:.6g})"


def per_user_result(name: str, values: np.ndarray) -> MetricResult:
    """Wrap per-user values; the mean skips NaN (users the metric is undefined for)."""
    defined = values[~np.isnan(values)]
    mean = float(defined.mean()) if defined.size else float("nan")
    return MetricResult(name, mean, values)


# --- checking inputs ---------------------------------------------------------------------------


def check_recommended(recommended: Any, n_items: int) -> np.ndarray:
    """``recommended`` as a 2-D int64 array of indices in ``[-1, n_items)`` with no repeats."""
    items = _as_lists(recommended)
    if items.size and (items.min() < PAD or items.max() >= n_items):
        raise DataError(
            f"recommended holds item indices outside [0, {n_items}) other than -1 padding; "
            "use the same item index as the relevance matrix"
        )
    _reject_repeats(items)
    return items


def _as_lists(recommended: Any) -> np.ndarray:
    items = np.asarray(recommended)
    if items.ndim != 2 or items.shape[1] == 0 or not np.issubdtype(items.dtype, np.integer):
        raise DataError(
            f"recommended must be a 2-D integer array (users x k, k >= 1), got shape "
            f"{items.shape} of {items.dtype}; pass the item indices a model's recommend() returns"
        )
    return items.astype(np.int64, copy=False)


def _reject_repeats(items: np.ndarray) -> None:
    ordered = np.sort(items, axis=1)
    repeat = (ordered[:, 1:] == ordered[:, :-1]) & (ordered[:, 1:] != PAD)
    if repeat.any():
        row, col = np.argwhere(repeat)[0]
        raise DataError(
            f"recommended row {row} lists item {ordered[row, col + 1]} more than once; "
            "a top-k list must not repeat items (pad short lists with -1)"
        )


def check_k(k: int | None, width: int) -> int:
    """The cut-off to use: ``k`` itself, or the list width when ``k`` is None."""
    if k is None:
        return width
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 1 <= k <= width:
        raise DataError(
            f"k={k!r} must be an integer from 1 to {width} (the width of recommended); "
            "recommend more items per user or lower k"
        )
    return int(k)


def as_csr(matrix: Any, what: str) -> sp.csr_matrix:
    """A users x items matrix as canonical CSR with no stored zeros (Interactions accepted)."""
    if isinstance(matrix, Interactions):
        return matrix.csr()
    if not sp.issparse(matrix) or matrix.ndim != 2:
        raise DataError(
            f"{what} must be a scipy.sparse users x items matrix or Interactions, got "
            f"{type(matrix).__name__}; build one with Interactions.csr()"
        )
    csr = sp.csr_matrix(matrix)
    if not csr.has_canonical_format or (csr.data == 0).any():
        csr = csr.copy()
        csr.sum_duplicates()
        csr.eliminate_zeros()
    return csr


def inputs(recommended: Any, relevant: Any, users: Any) -> tuple[sp.csr_matrix, np.ndarray]:
    """The relevance rows lined up with ``recommended``, and the checked ``recommended``."""
    items = _as_lists(recommended)
    csr = _aligned(relevant, users, items.shape[0])
    return csr, check_recommended(items, csr.shape[1])


def _aligned(relevant: Any, users: Any, n_rows: int) -> sp.csr_matrix:
    """The rows of ``relevant`` that line up with the rows of ``recommended``."""
    csr = as_csr(relevant, "relevant")
    if users is None:
        if csr.shape[0] != n_rows:
            raise DataError(
                f"recommended has {n_rows} rows but relevant has {csr.shape[0]}; "
                "pass users= (the row of relevant for each row of recommended)"
            )
        return csr
    rows = np.asarray(users)
    if rows.shape != (n_rows,) or not np.issubdtype(rows.dtype, np.integer):
        raise DataError(f"users must be {n_rows} integer row indices, one per recommended row")
    if rows.size and (rows.min() < 0 or rows.max() >= csr.shape[0]):
        raise DataError(f"users holds row indices outside [0, {csr.shape[0]}) of relevant")
    return csr[rows]


# --- hits --------------------------------------------------------------------------------------


def lookup(relevant: sp.csr_matrix, items: np.ndarray, graded: bool = False) -> np.ndarray:
    """``relevant[u, items[u, j]]`` for every slot: a bool hit matrix, or gains when ``graded``.

    Scatters chunks of rows into a dense table and gathers from it, which beats a binary
    search per slot; padding slots are never hits.
    """
    dtype = np.dtype(np.float64 if graded else np.bool_)
    n_users, n_items = relevant.shape
    chunk = min(max(64, _TABLE_BYTES // max(n_items * dtype.itemsize, 1)), max(n_users, 1))
    valid = items != PAD
    safe = np.where(valid, items, 0)
    if chunk * n_items * dtype.itemsize > _MAX_TABLE_BYTES:
        out = np.asarray(relevant[np.arange(n_users).repeat(items.shape[1]), safe.ravel()])
        found = out.reshape(items.shape).astype(dtype)
    else:
        found = _scatter_gather(relevant, safe, chunk, dtype)
    found[~valid] = 0
    return found


def _scatter_gather(
    relevant: sp.csr_matrix, items: np.ndarray, chunk: int, dtype: np.dtype[Any]
) -> np.ndarray:
    n_users, n_items = relevant.shape
    indptr, indices = relevant.indptr, relevant.indices
    values = relevant.data.astype(dtype)  # stored zeros were dropped: every value is a hit
    table = np.zeros(chunk * n_items, dtype)
    found = np.empty(items.shape, dtype)
    for start in range(0, n_users, chunk):
        stop = min(start + chunk, n_users)
        lo, hi = indptr[start], indptr[stop]
        offsets = np.arange(stop - start, dtype=np.int64) * n_items
        cells = np.repeat(offsets, np.diff(indptr[start : stop + 1])) + indices[lo:hi]
        table[cells] = values[lo:hi]
        found[start:stop] = table[offsets[:, None] + items[start:stop]]
        table[cells] = 0
    return found


# --- per-user kernels on a hit matrix (n_users, k) and relevant counts (n_users,) -------------


def _discounts(k: int) -> np.ndarray:
    return 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))


def _ndcg(hits: np.ndarray, n_rel: np.ndarray) -> np.ndarray:
    k = hits.shape[1]
    discounts = _discounts(k)
    ideal = np.concatenate([[np.nan], np.cumsum(discounts)])[np.minimum(n_rel, k)]
    return np.asarray((hits @ discounts) / ideal)


def _recall(hits: np.ndarray, n_rel: np.ndarray, capped: bool = False) -> np.ndarray:
    denominator = np.minimum(n_rel, hits.shape[1]) if capped else n_rel
    return _over(hits.sum(axis=1), denominator)


def _precision(hits: np.ndarray, n_rel: np.ndarray) -> np.ndarray:
    return _undefined_where_none(np.asarray(hits.sum(axis=1) / hits.shape[1]), n_rel)


def _map(hits: np.ndarray, n_rel: np.ndarray, capped: bool = True) -> np.ndarray:
    k = hits.shape[1]
    precision_at = np.cumsum(hits, axis=1) / np.arange(1, k + 1)
    denominator = np.minimum(n_rel, k) if capped else n_rel
    return _over(np.where(hits, precision_at, 0.0).sum(axis=1), denominator)


def _mrr(hits: np.ndarray, n_rel: np.ndarray) -> np.ndarray:
    first = np.asarray(hits.argmax(axis=1) + 1.0)
    return _undefined_where_none(np.where(hits.any(axis=1), np.reciprocal(first), 0.0), n_rel)


def _hit_rate(hits: np.ndarray, n_rel: np.ndarray) -> np.ndarray:
    return _undefined_where_none(np.asarray(hits.any(axis=1), dtype=np.float64), n_rel)


def _over(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(np.where(denominator > 0, numerator / denominator, np.nan))


def _undefined_where_none(values: np.ndarray, n_rel: np.ndarray) -> np.ndarray:
    return np.where(n_rel > 0, values, np.nan)


Kernel = Callable[..., np.ndarray]  # (hits, n_relevant, **options) -> per-user values
RANKING: dict[str, Kernel] = {
    "ndcg": _ndcg,
    "recall": _recall,
    "precision": _precision,
    "map": _map,
    "mrr": _mrr,
    "hit_rate": _hit_rate,
}


# --- public metrics ----------------------------------------------------------------------------


def _ranking(
    kind: str,
    recommended: Any,
    relevant: Any,
    k: int | None,
    users: Any,
    **options: bool,
) -> MetricResult:
    """Check the inputs, look up hits in the first ``k`` slots and run one kernel."""
    csr, items = inputs(recommended, relevant, users)
    k = check_k(k, items.shape[1])
    hits = lookup(csr, items[:, :k])
    n_rel = np.diff(csr.indptr)
    return per_user_result(f"{kind}@{k}", RANKING[kind](hits, n_rel, **options))


def ndcg_at_k(
    recommended: Any,
    relevant: Any,
    k: int | None = None,
    *,
    users: Any = None,
    graded: bool = False,
) -> MetricResult:
    """NDCG@k = DCG@k / IDCG@k, DCG@k = sum_{i<=k} g_i / log2(i + 1).

    Binary gains (g_i = 1 for a relevant item) by default, IDCG from min(k, |R_u|) hits in a
    row; with ``graded`` g_i is the stored value and IDCG sorts the user's k largest values.
    """
    if not graded:
        return _ranking("ndcg", recommended, relevant, k, users)
    csr, items = inputs(recommended, relevant, users)
    k = check_k(k, items.shape[1])
    if (csr.data < 0).any():
        raise DataError("graded NDCG needs gains >= 0 in relevant; shift or clip the values")
    discounts = _discounts(k)
    ideal = _top_values(csr, k) @ discounts
    dcg = lookup(csr, items[:, :k], graded=True) @ discounts
    return per_user_result(f"ndcg@{k}", _over(dcg, np.where(np.diff(csr.indptr) > 0, ideal, 0)))


def _top_values(csr: sp.csr_matrix, k: int) -> np.ndarray:
    """Each row's k largest stored values in descending order, zero-filled: (n_rows, k)."""
    rows = np.repeat(np.arange(csr.shape[0]), np.diff(csr.indptr))
    order = np.lexsort((-csr.data, rows))
    rank = np.arange(len(order)) - csr.indptr[rows]
    keep = rank < k
    top = np.zeros((csr.shape[0], k))
    top[rows[keep], rank[keep]] = csr.data[order][keep]
    return top


def recall_at_k(
    recommended: Any,
    relevant: Any,
    k: int | None = None,
    *,
    users: Any = None,
    capped: bool = False,
) -> MetricResult:
    """Recall@k = hits@k / |R_u| (Microsoft Recommenders, RecBole); ``capped``: / min(|R_u|, k)."""
    return _ranking("recall", recommended, relevant, k, users, capped=capped)


def precision_at_k(
    recommended: Any, relevant: Any, k: int | None = None, *, users: Any = None
) -> MetricResult:
    """Precision@k = hits@k / k, empty (-1) slots counting as misses (Microsoft Recommenders)."""
    return _ranking("precision", recommended, relevant, k, users)


def map_at_k(
    recommended: Any, relevant: Any, k: int | None = None, *, users: Any = None, capped: bool = True
) -> MetricResult:
    """AP@k = sum_{i<=k, hit at i} precision@i / min(|R_u|, k) (Recommenders' map_at_k).

    With ``capped=False`` the divisor is |R_u| (Recommenders' ``map``); MAP is the mean of AP.
    """
    return _ranking("map", recommended, relevant, k, users, capped=capped)


def mrr(
    recommended: Any, relevant: Any, k: int | None = None, *, users: Any = None
) -> MetricResult:
    """Reciprocal rank 1 / i of the first hit within the first k slots (0 without a hit)."""
    return _ranking("mrr", recommended, relevant, k, users)


def hit_rate_at_k(
    recommended: Any, relevant: Any, k: int | None = None, *, users: Any = None
) -> MetricResult:
    """HitRate@k: 1 when any of the first k slots is relevant, else 0, per user."""
    return _ranking("hit_rate", recommended, relevant, k, users)


def rmse(predicted: Any, actual: Any) -> MetricResult:
    """sqrt(mean((predicted - actual)^2)) over all rated pairs."""
    error = _errors(predicted, actual)
    return MetricResult("rmse", float(np.sqrt(np.mean(error**2))))


def mae(predicted: Any, actual: Any) -> MetricResult:
    """mean(|predicted - actual|) over all rated pairs."""
    return MetricResult("mae", float(np.mean(np.abs(_errors(predicted, actual)))))


def _errors(predicted: Any, actual: Any) -> np.ndarray:
    guess = np.asarray(predicted, dtype=np.float64)
    truth = np.asarray(actual, dtype=np.float64)
    if guess.ndim != 1 or guess.shape != truth.shape or guess.size == 0:
        raise DataError(
            f"predicted and actual must be non-empty 1-D arrays of equal length, got shapes "
            f"{guess.shape} and {truth.shape}; pass one rating per (user, item) pair"
        )
    if not (np.isfinite(guess).all() and np.isfinite(truth).all()):
        raise DataError("predicted or actual ratings hold NaN or infinite values; drop them first")
    return guess - truth
