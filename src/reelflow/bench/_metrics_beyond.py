"""Beyond-accuracy metrics of top-k lists (catalog coverage, Gini index, novelty, popularity
bias), and :func:`evaluate_topk`, which computes any mix of metrics from one hit lookup.

These read only which items were recommended (and, for novelty and popularity bias, how popular
each item was in training); ``-1`` slots are ignored. docs/metrics.md gives the formulas.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from reelflow._errors import DataError
from reelflow.bench._business import BUSINESS, HEAD_SHARE, Proxies
from reelflow.bench._metrics import (
    PAD,
    RANKING,
    MetricResult,
    as_csr,
    check_k,
    check_recommended,
    inputs,
    lookup,
    per_user_result,
)

_NAME = re.compile(r"^([a-z_]+)(?:@(\d+))?$")
_ALIASES = {"hitrate": "hit_rate", "hr": "hit_rate", "catalog_coverage": "coverage"}
BEYOND = ("coverage", "gini", "novelty", "popularity_bias")
DEFAULT_METRICS = ("ndcg@10", "recall@20", "precision@10", "map@10", "mrr", "coverage")
METRIC_KINDS: dict[str, str] = {
    **{kind: "technical" for kind in (*RANKING, *BEYOND, "rmse", "mae")},
    **{kind: "business" for kind in BUSINESS},
}
"""Each metric kind's family: ``"technical"`` (accuracy, beyond-accuracy, rating error) or
``"business"`` (an offline proxy of a business outcome), for reports to show them apart."""
_HIT_BASED = {"retention", "discovery"}  # business proxies that read the shared hit lookup


def item_popularity(train: Any) -> np.ndarray:
    """How many training users interacted with each item (nonzero entries per column)."""
    csr = as_csr(train, "train")
    return np.bincount(csr.indices, minlength=csr.shape[1]).astype(np.int64)


def catalog_coverage(recommended: Any, n_items: int, k: int | None = None) -> MetricResult:
    """Distinct items in the first k slots of any list, over ``n_items``."""
    items, k = _checked(recommended, n_items, k)
    return _coverage(items[:, :k], n_items)


def gini_index(recommended: Any, n_items: int, k: int | None = None) -> MetricResult:
    """Gini coefficient of how often each of the ``n_items`` items is recommended (0 = even)."""
    items, k = _checked(recommended, n_items, k)
    return _gini(items[:, :k], n_items)


def novelty(recommended: Any, train: Any, k: int | None = None) -> MetricResult:
    """Mean self-information -log2(c_i / C) of a user's recommended items, per user.

    c_i is item i's training popularity (:func:`item_popularity`, at least 1 so that items
    unseen in training count as seen once) and C the number of training interactions.
    """
    popularity = item_popularity(train)
    items, k = _checked(recommended, len(popularity), k)
    return _novelty(items[:, :k], popularity)


def popularity_bias(recommended: Any, train: Any, k: int | None = None) -> MetricResult:
    """Mean training popularity c_i (users who interacted) of a user's recommended items."""
    popularity = item_popularity(train)
    items, k = _checked(recommended, len(popularity), k)
    return _popularity(items[:, :k], popularity)


def evaluate_topk(
    recommended: Any,
    relevant: Any,
    metrics: Sequence[str] = DEFAULT_METRICS,
    *,
    users: Any = None,
    train: Any = None,
    min_hits: int = 1,
    head_share: float = HEAD_SHARE,
) -> dict[str, MetricResult]:
    """Several metrics from one hit lookup, keyed by the names asked for ("ndcg@10", "mrr").

    Names: ndcg, recall, precision, map, mrr, hit_rate, coverage, gini, novelty,
    popularity_bias, engagement, retention, discovery, each with an optional ``@k`` (k <= the
    list width, the width without it); novelty, popularity_bias and discovery need ``train``
    (training users x items matrix or Interactions). engagement reads ``relevant``'s values as
    weights; ``min_hits`` is retention's bar and ``head_share`` discovery's head (see the
    "Business proxies" section of docs/metrics.md).
    """
    csr, items = inputs(recommended, relevant, users)
    wanted = {name: parse_metric(name, items.shape[1]) for name in metrics}
    hit_ks = [k for kind, k in wanted.values() if kind in RANKING or kind in _HIT_BASED]
    hits = lookup(csr, items[:, : max(hit_ks)]) if hit_ks else items[:, :0]
    n_rel = np.diff(csr.indptr)
    popularity = _train_popularity(train, csr.shape[1], {kind for kind, _ in wanted.values()})
    cuts: dict[str, list[int]] = {}
    for kind, k in wanted.values():
        cuts.setdefault(kind, []).append(k)
    proxies = Proxies(
        csr,
        items,
        hits,
        {kind: ks for kind, ks in cuts.items() if kind in BUSINESS},
        users=users,
        train=train,
        min_hits=min_hits,
        head_share=head_share,
    )
    results: dict[str, MetricResult] = {}
    for name, (kind, k) in wanted.items():
        if kind in RANKING:
            results[name] = per_user_result(f"{kind}@{k}", RANKING[kind](hits[:, :k], n_rel))
        elif kind in BUSINESS:
            results[name] = proxies.result(kind, k)
        else:
            results[name] = _beyond(kind, items[:, :k], csr.shape[1], popularity)
    return results


def parse_metric(name: str, width: int) -> tuple[str, int]:
    """``"ndcg@10"`` as ``("ndcg", 10)``; without ``@k`` the whole list width is used."""
    match = _NAME.match(name.strip().lower())
    kind = _ALIASES.get(match.group(1), match.group(1)) if match else ""
    if kind not in RANKING and kind not in BEYOND and kind not in BUSINESS:
        known = ", ".join([*RANKING, *BEYOND, *BUSINESS])
        raise DataError(f"unknown metric '{name}'; use one of {known}, optionally with @k")
    cut = match.group(2) if match else None
    return kind, check_k(None if cut is None else int(cut), width)


def _train_popularity(train: Any, n_items: int, kinds: set[str]) -> np.ndarray | None:
    needed = kinds & {"novelty", "popularity_bias"}
    if not needed:
        return None
    if train is None:
        raise DataError(f"{min(needed)} needs the training interactions; pass train=")
    popularity = item_popularity(train)
    if len(popularity) != n_items:
        raise DataError(
            f"train has {len(popularity)} items but relevant has {n_items}; "
            "build both on the same item index"
        )
    return popularity


def _beyond(
    kind: str, items: np.ndarray, n_items: int, popularity: np.ndarray | None
) -> MetricResult:
    if kind == "coverage":
        return _coverage(items, n_items)
    if kind == "gini":
        return _gini(items, n_items)
    assert popularity is not None
    return _novelty(items, popularity) if kind == "novelty" else _popularity(items, popularity)


def _checked(recommended: Any, n_items: int, k: int | None) -> tuple[np.ndarray, int]:
    if isinstance(n_items, bool) or not isinstance(n_items, int | np.integer) or n_items < 1:
        raise DataError(f"n_items={n_items!r} must be a positive integer (the catalog size)")
    items = check_recommended(recommended, int(n_items))
    return items, check_k(k, items.shape[1])


def _counts(items: np.ndarray, n_items: int) -> np.ndarray:
    return np.bincount(items[items != PAD], minlength=n_items)


def _coverage(items: np.ndarray, n_items: int) -> MetricResult:
    covered = np.count_nonzero(_counts(items, n_items))
    return MetricResult(f"coverage@{items.shape[1]}", float(covered / n_items))


def _gini(items: np.ndarray, n_items: int) -> MetricResult:
    counts = np.sort(_counts(items, n_items)).astype(np.float64)
    total = counts.sum()
    if total == 0:
        return MetricResult(f"gini@{items.shape[1]}", float("nan"))
    ranks = np.arange(1, n_items + 1)
    gini = float(((2 * ranks - n_items - 1) * counts).sum() / (n_items * total))
    return MetricResult(f"gini@{items.shape[1]}", gini)


def _novelty(items: np.ndarray, popularity: np.ndarray) -> MetricResult:
    total = popularity.sum()
    if total == 0:
        raise DataError("train holds no interactions; novelty needs item popularity from training")
    information = -np.log2(np.maximum(popularity, 1) / total)
    return per_user_result(f"novelty@{items.shape[1]}", _list_mean(items, information))


def _popularity(items: np.ndarray, popularity: np.ndarray) -> MetricResult:
    values = popularity.astype(np.float64)
    return per_user_result(f"popularity_bias@{items.shape[1]}", _list_mean(items, values))


def _list_mean(items: np.ndarray, per_item: np.ndarray) -> np.ndarray:
    """Mean of ``per_item`` over each row's non-empty slots (NaN for an all-empty row)."""
    valid = items != PAD
    total = np.where(valid, per_item[np.where(valid, items, 0)], 0.0).sum(axis=1)
    count = valid.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(count > 0, total / count, np.nan)
