"""Business proxies: offline stand-ins for engagement, retention and discovery, per user.

Like the accuracy metrics they read top-k lists of item indices (``-1`` = empty slot) against a
users x items ``relevant`` matrix, for all users at once; users without a relevant item get NaN.
``engagement`` reads the stored values of ``relevant`` as weights (watch fraction, minutes).
They estimate what a list would have produced from the logged test interactions, so they are
proxies: docs/metrics.md says what each stands for and where the proxy ends.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import scipy.sparse as sp

from reelflow._errors import DataError
from reelflow.bench._metrics import (
    PAD,
    MetricResult,
    as_csr,
    check_k,
    inputs,
    lookup,
    per_user_result,
)
from reelflow.data import Interactions

BUSINESS = ("engagement", "retention", "discovery")
HEAD_SHARE = 0.2
"""By default the head is the 20% most popular training items: the rest is the long tail."""


# --- public metrics ----------------------------------------------------------------------------


def engagement_at_k(
    recommended: Any, relevant: Any, k: int | None = None, *, users: Any = None
) -> MetricResult:
    """Engagement@k: the summed weight (``relevant``'s stored value: watch fraction, minutes)
    of the relevant items in the first k slots, i.e. the engagement the list would have met."""
    csr, items = inputs(recommended, relevant, users)
    k = check_k(k, items.shape[1])
    check_weights(csr)
    gains = lookup(csr, items[:, :k], graded=True)
    return per_user_result(f"engagement@{k}", engagement(gains, np.diff(csr.indptr)))


def retention_at_k(
    recommended: Any,
    relevant: Any,
    k: int | None = None,
    *,
    users: Any = None,
    min_hits: int = 1,
) -> MetricResult:
    """Retention@k: 1 when at least ``min_hits`` of the first k slots are relevant, else 0.

    With ``min_hits=1`` (the default) this is HitRate@k; a higher ``min_hits`` asks that the
    list satisfy the user more than once, a stricter bar for "would come back".
    """
    csr, items = inputs(recommended, relevant, users)
    k = check_k(k, items.shape[1])
    min_hits = check_min_hits(min_hits, k)
    hits = lookup(csr, items[:, :k])
    return per_user_result(f"retention@{k}", retention(hits, np.diff(csr.indptr), min_hits))


def discovery_at_k(
    recommended: Any,
    relevant: Any,
    train: Any,
    k: int | None = None,
    *,
    users: Any = None,
    head_share: float = HEAD_SHARE,
) -> MetricResult:
    """Discovery@k: the share of the first k slots that are relevant items the user never
    interacted with in ``train`` and that lie outside the training head (see :func:`long_tail`).

    ``train`` is the training users x items matrix (or Interactions) on the same user and item
    indices as ``relevant``; ``users`` selects rows of both.
    """
    csr, items = inputs(recommended, relevant, users)
    k = check_k(k, items.shape[1])
    hits = lookup(csr, items[:, :k])
    found = discoveries(hits, items[:, :k], train, users, head_share, csr.shape[1])
    return per_user_result(f"discovery@{k}", discovery(found, np.diff(csr.indptr)))


def long_tail(popularity: np.ndarray, head_share: float = HEAD_SHARE) -> np.ndarray:
    """True for the items outside the head, given each item's training popularity.

    The head holds every item with popularity > 0 that fewer than ceil(head_share x n_items)
    items beat on popularity: items tied on popularity are always on the same side, so the head
    can hold a few more than the share when ties straddle the edge.
    """
    share = check_head_share(head_share)
    n_head = max(0, math.ceil(share * len(popularity) - 1e-9))
    descending = -np.sort(popularity)[::-1]  # ascending negated popularity, for searchsorted
    beaten_by = np.searchsorted(descending, -popularity, side="left")
    return np.asarray(~((beaten_by < n_head) & (popularity > 0)))


# --- kernels on (n_users, k) slot matrices and relevant counts (n_users,) ------------------------


def engagement(gains: np.ndarray, n_rel: np.ndarray) -> np.ndarray:
    return np.where(n_rel > 0, gains.sum(axis=1), np.nan)


def retention(hits: np.ndarray, n_rel: np.ndarray, min_hits: int) -> np.ndarray:
    return np.where(n_rel > 0, (hits.sum(axis=1) >= min_hits).astype(np.float64), np.nan)


def discovery(found: np.ndarray, n_rel: np.ndarray) -> np.ndarray:
    return np.where(n_rel > 0, found.sum(axis=1) / found.shape[1], np.nan)


def discoveries(
    hits: np.ndarray, items: np.ndarray, train: Any, users: Any, head_share: float, n_items: int
) -> np.ndarray:
    """Which slots are discoveries: a hit, unseen by the user in training, in the long tail."""
    if train is None:
        raise DataError("discovery needs the training interactions; pass train=")
    matrix = train.csr(binary=True) if isinstance(train, Interactions) else as_csr(train, "train")
    if matrix.shape[1] != n_items:
        raise DataError(
            f"train has {matrix.shape[1]} items but relevant has {n_items}; "
            "build both on the same item index"
        )
    tail = long_tail(np.bincount(matrix.indices, minlength=matrix.shape[1]), head_share)
    seen = lookup(_train_rows(matrix, users, items.shape[0]), items)
    return np.asarray(hits & ~seen & tail[np.where(items == PAD, 0, items)])


def _train_rows(matrix: sp.csr_matrix, users: Any, n_rows: int) -> sp.csr_matrix:
    """The rows of ``train`` for the lists (``users`` was already checked against relevant)."""
    if users is None:
        if matrix.shape[0] == n_rows:
            return matrix
        needed = n_rows
    else:
        rows = np.asarray(users)
        needed = int(rows.max()) + 1 if rows.size else 0
        if needed <= matrix.shape[0]:
            return matrix[rows]
    raise DataError(
        f"train has {matrix.shape[0]} users but the lists need {needed}; "
        "build train and relevant on the same user index"
    )


# --- checks ------------------------------------------------------------------------------------


def check_weights(csr: sp.csr_matrix) -> None:
    if not np.isfinite(csr.data).all() or (csr.data < 0).any():
        raise DataError(
            "engagement needs finite weights >= 0 in relevant (watch fraction, minutes); "
            "clip or drop the others"
        )


def check_min_hits(min_hits: Any, k: int) -> int:
    ok = isinstance(min_hits, int | np.integer) and not isinstance(min_hits, bool)
    if not ok or not 1 <= min_hits <= k:
        raise DataError(
            f"min_hits={min_hits!r} must be an integer from 1 to k={k}; "
            "a list of k items cannot hold more hits"
        )
    return int(min_hits)


def check_head_share(head_share: Any) -> float:
    ok = isinstance(head_share, int | float | np.integer | np.floating)
    if not ok or isinstance(head_share, bool) or not 0 <= head_share <= 1:
        raise DataError(f"head_share={head_share!r} must be a number from 0 to 1")
    return float(head_share)


# --- for evaluate_topk -------------------------------------------------------------------------


class Proxies:
    """The business proxies of one ``evaluate_topk`` call: each lookup done once, at the
    largest cut-off asked for, and sliced per metric."""

    def __init__(
        self,
        csr: sp.csr_matrix,
        items: np.ndarray,
        hits: np.ndarray,
        cuts: dict[str, list[int]],
        *,
        users: Any,
        train: Any,
        min_hits: int,
        head_share: float,
    ) -> None:
        self.n_rel = np.diff(csr.indptr)
        self.hits = hits
        self.min_hits = min_hits
        self.gains = self.found = hits[:, :0]
        if "engagement" in cuts:
            check_weights(csr)
            self.gains = lookup(csr, items[:, : max(cuts["engagement"])], graded=True)
        for k in cuts.get("retention", []):
            check_min_hits(min_hits, k)
        if "discovery" in cuts:
            width = max(cuts["discovery"])
            found = discoveries(
                hits[:, :width], items[:, :width], train, users, head_share, csr.shape[1]
            )
            self.found = found

    def result(self, kind: str, k: int) -> MetricResult:
        if kind == "engagement":
            values = engagement(self.gains[:, :k], self.n_rel)
        elif kind == "retention":
            values = retention(self.hits[:, :k], self.n_rel, self.min_hits)
        else:
            values = discovery(self.found[:, :k], self.n_rel)
        return per_user_result(f"{kind}@{k}", values)
