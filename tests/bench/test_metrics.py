"""The vectorized metrics match a plain per-user reference, hand-computed values and their docs."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from reelflow._errors import DataError
from reelflow.bench import _metrics
from reelflow.bench._metrics import (
    hit_rate_at_k,
    mae,
    map_at_k,
    mrr,
    ndcg_at_k,
    precision_at_k,
    recall_at_k,
    rmse,
)
from reelflow.bench._metrics_beyond import (
    catalog_coverage,
    evaluate_topk,
    gini_index,
    item_popularity,
    novelty,
    popularity_bias,
)
from reelflow.data import Interactions

# --- a plain per-user reference, written from the formulas in docs/metrics.md -----------------


def ref_user(kind: str, recs: list[int], gains: dict[int, float], k: int, **opt: Any) -> float:
    """One user's value: ``recs`` in rank order (-1 = empty), ``gains`` item -> stored value."""
    if not gains:
        return math.nan
    top = recs[:k]
    hit = [item != -1 and item in gains for item in top]
    n_hits = sum(hit)
    if kind == "ndcg":
        graded = opt.get("graded", False)
        gain = [gains[i] if h and graded else float(h) for i, h in zip(top, hit, strict=True)]
        ideal_gains = sorted(gains.values(), reverse=True) if graded else [1.0] * len(gains)
        dcg = sum(g / math.log2(i + 2) for i, g in enumerate(gain))
        idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal_gains[:k]))
        return dcg / idcg if idcg > 0 else math.nan
    if kind == "recall":
        return n_hits / (min(len(gains), k) if opt.get("capped") else len(gains))
    if kind == "precision":
        return n_hits / k
    if kind == "map":
        total, seen = 0.0, 0
        for i, h in enumerate(hit):
            if h:
                seen += 1
                total += seen / (i + 1)
        return total / (min(len(gains), k) if opt.get("capped", True) else len(gains))
    if kind == "mrr":
        return next((1.0 / (i + 1) for i, h in enumerate(hit) if h), 0.0)
    assert kind == "hit_rate"
    return float(n_hits > 0)


def ref_metric(kind: str, rec: np.ndarray, rel: sp.csr_matrix, k: int, **opt: Any) -> np.ndarray:
    rows = opt.pop("users", range(rec.shape[0]))
    out = []
    for row, user in zip(rec, rows, strict=True):
        start, stop = rel.indptr[user], rel.indptr[user + 1]
        gains = {
            int(i): float(v)
            for i, v in zip(rel.indices[start:stop], rel.data[start:stop], strict=True)
            if v != 0
        }
        out.append(ref_user(kind, [int(i) for i in row], gains, k, **opt))
    return np.array(out)


def ref_counts(rec: np.ndarray, n_items: int) -> list[int]:
    counts = [0] * n_items
    for row in rec:
        for item in row:
            if item != -1:
                counts[int(item)] += 1
    return counts


def ref_list_mean(rec: np.ndarray, per_item: list[float]) -> np.ndarray:
    out = []
    for row in rec:
        values = [per_item[int(i)] for i in row if i != -1]
        out.append(sum(values) / len(values) if values else math.nan)
    return np.array(out)


# --- random data with the edge cases -----------------------------------------------------------


def random_case(seed: int, n_users: int = 300, n_items: int = 80, width: int = 12) -> tuple:
    """Lists with padding (short lists, a hole, an empty list) and users with nothing relevant."""
    rng = np.random.default_rng(seed)
    rec = np.array([rng.permutation(n_items)[:width] for _ in range(n_users)])
    lengths = rng.integers(0, width + 1, n_users)
    lengths[rng.random(n_users) < 0.6] = width
    rec[np.arange(width)[None, :] >= lengths[:, None]] = -1
    rec[0, 1] = -1  # an empty slot inside a list
    dense = (rng.random((n_users, n_items)) < rng.uniform(0, 0.3, (n_users, 1))).astype(float)
    dense *= rng.integers(1, 6, (n_users, n_items))  # graded gains 1..5
    dense[rng.random(n_users) < 0.1] = 0.0  # users with no relevant items
    # make hits likely: copy some recommended items into the relevant set
    rows, cols = np.nonzero((rng.random(rec.shape) < 0.3) & (rec >= 0))
    dense[rows, rec[rows, cols]] = rng.integers(1, 6, len(rows))
    dense[5] = 0.0
    return rec, sp.csr_matrix(dense)


METRICS = {
    "ndcg": ndcg_at_k,
    "recall": recall_at_k,
    "precision": precision_at_k,
    "map": map_at_k,
    "mrr": mrr,
    "hit_rate": hit_rate_at_k,
}


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("kind", list(METRICS))
@pytest.mark.parametrize("k", [1, 5, 12])
def test_matches_the_per_user_reference(seed: int, kind: str, k: int) -> None:
    rec, rel = random_case(seed)
    result = METRICS[kind](rec, rel, k)
    expected = ref_metric(kind, rec, rel, k)
    np.testing.assert_allclose(result.per_user, expected, rtol=1e-12, equal_nan=True)
    assert result.name == f"{kind}@{k}"
    assert result.mean == pytest.approx(np.nanmean(expected), rel=1e-12)
    assert np.isnan(result.per_user[5])


@pytest.mark.parametrize("kind,option", [("recall", "capped"), ("map", "capped")])
@pytest.mark.parametrize("flag", [True, False])
def test_denominator_variants(kind: str, option: str, flag: bool) -> None:
    rec, rel = random_case(3)
    result = METRICS[kind](rec, rel, 6, **{option: flag})
    expected = ref_metric(kind, rec, rel, 6, **{option: flag})
    np.testing.assert_allclose(result.per_user, expected, rtol=1e-12, equal_nan=True)


@pytest.mark.parametrize("k", [1, 4, 12])
def test_graded_ndcg(k: int) -> None:
    rec, rel = random_case(4)
    result = ndcg_at_k(rec, rel, k, graded=True)
    expected = ref_metric("ndcg", rec, rel, k, graded=True)
    np.testing.assert_allclose(result.per_user, expected, rtol=1e-12, equal_nan=True)


def test_users_select_rows_of_relevant() -> None:
    rec, rel = random_case(5)
    users = np.random.default_rng(5).integers(0, rel.shape[0], 40)
    for kind, metric in METRICS.items():
        result = metric(rec[:40], rel, 7, users=users)
        expected = ref_metric(kind, rec[:40], rel, 7, users=users)
        np.testing.assert_allclose(result.per_user, expected, rtol=1e-12, equal_nan=True)


def test_the_scipy_lookup_for_huge_catalogs_agrees(monkeypatch: pytest.MonkeyPatch) -> None:
    rec, rel = random_case(6)
    table = ndcg_at_k(rec, rel, 8).per_user
    graded = ndcg_at_k(rec, rel, 8, graded=True).per_user
    monkeypatch.setattr(_metrics, "_MAX_TABLE_BYTES", 0)
    np.testing.assert_array_equal(ndcg_at_k(rec, rel, 8).per_user, table)
    np.testing.assert_array_equal(ndcg_at_k(rec, rel, 8, graded=True).per_user, graded)


def test_small_tables_process_users_in_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    rec, rel = random_case(7, n_users=1000)
    monkeypatch.setattr(_metrics, "_TABLE_BYTES", 1)  # 64 users per chunk
    np.testing.assert_allclose(
        map_at_k(rec, rel, 9).per_user, ref_metric("map", rec, rel, 9), equal_nan=True
    )


def test_stored_zeros_and_duplicate_entries_in_relevant() -> None:
    rec = np.array([[0, 1, 2]])
    rel = sp.csr_matrix((np.array([0.0, 1.0, 1.0]), np.array([0, 2, 2]), np.array([0, 3])), (1, 4))
    assert not rel.has_canonical_format
    assert recall_at_k(rec, rel).mean == 1.0  # item 0 stored as zero is not relevant
    assert ndcg_at_k(rec, rel, graded=True).per_user[0] == pytest.approx(1 / math.log2(4))


def test_accepts_interactions_and_sparse_arrays() -> None:
    frame = pd.DataFrame({"user_id": ["a", "a", "b"], "item_id": ["x", "y", "z"]})
    log = Interactions.from_pandas(frame)
    rec = np.array([[0, 2], [2, -1]])
    assert precision_at_k(rec, log).mean == pytest.approx((1 / 2 + 1 / 2) / 2)
    assert precision_at_k(rec, sp.csr_array(log.csr())).mean == pytest.approx(0.5)


# --- a hand-made example, checked against Microsoft Recommenders' formulas ---------------------

HAND_REC = np.array([[1, 2, 3], [4, 0, -1], [5, 4, 2], [0, 1, 2]])
HAND_REL = sp.csr_matrix(
    np.array(
        [
            [0, 1, 0, 1, 0, 1],  # user 0: {1, 3, 5}; hits at ranks 1 and 3
            [1, 0, 0, 0, 0, 0],  # user 1: {0}; a hit at rank 2, a short list
            [0, 0, 0, 0, 0, 0],  # user 2: nothing relevant, so excluded from every mean
            [0, 0, 0, 0, 1, 1],  # user 3: {4, 5}; no hit
        ]
    )
)


def test_hand_example_matches_recommenders_definitions() -> None:
    ndcg0 = (1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3) + 1 / math.log2(4))
    ndcg1 = 1 / math.log2(3)
    expected = {
        # Recommenders: sum(hits / k) / n_users, n_users = users with relevant items
        "precision@3": (2 / 3 + 1 / 3 + 0) / 3,
        # Recommenders' recall_at_k: hits / |R_u|
        "recall@3": (2 / 3 + 1 / 1 + 0) / 3,
        "ndcg@3": (ndcg0 + ndcg1 + 0) / 3,
        # Recommenders' map_at_k: sum of precision@i at hits / min(|R_u|, k)
        "map@3": ((1 / 1 + 2 / 3) / 3 + (1 / 2) / 1 + 0) / 3,
        "mrr@3": (1 + 1 / 2 + 0) / 3,
        "hit_rate@3": 2 / 3,
    }
    results = evaluate_topk(HAND_REC, HAND_REL, [name.replace("@3", "") for name in expected])
    for name, value in expected.items():
        result = results[name.replace("@3", "")]
        assert result.name == name
        assert result.mean == pytest.approx(value, rel=1e-12), name
        assert np.isnan(result.per_user[2])
    # Recommenders' older map (divide by |R_u|) is capped=False
    assert map_at_k(HAND_REC, HAND_REL, 2, capped=False).mean == pytest.approx(
        (1 / 3 + (1 / 2) / 1 + 0) / 3
    )
    assert recall_at_k(HAND_REC, HAND_REL, 1, capped=True).mean == pytest.approx(1 / 3)


def test_hand_example_beyond_accuracy() -> None:
    # counts at k=3: item 0: 2, 1: 2, 2: 3, 3: 1, 4: 2, 5: 1 (11 slots filled)
    assert catalog_coverage(HAND_REC, 6).mean == 1.0
    assert catalog_coverage(HAND_REC, 6, k=2).mean == pytest.approx(5 / 6)
    assert catalog_coverage(HAND_REC, 12).mean == pytest.approx(0.5)
    assert gini_index(HAND_REC, 6).mean == pytest.approx(13 / 66)
    assert gini_index(np.array([[0, 1], [1, 0]]), 2).mean == 0.0
    train = sp.csr_matrix(np.array([[1, 1, 0, 1, 0, 0], [1, 0, 0, 1, 1, 0], [1, 0, 0, 0, 0, 1]]))
    np.testing.assert_array_equal(item_popularity(train), [3, 1, 0, 2, 1, 1])
    bias = popularity_bias(HAND_REC, train)
    assert bias.per_user[1] == pytest.approx((1 + 3) / 2)  # items 4 and 0, a padded slot
    info = [-math.log2(max(c, 1) / 8) for c in [3, 1, 0, 2, 1, 1]]
    assert novelty(HAND_REC, train).per_user[0] == pytest.approx((info[1] + info[2] + info[3]) / 3)


@pytest.mark.parametrize("k", [1, 6, 12])
def test_beyond_accuracy_matches_the_reference(k: int) -> None:
    rec, rel = random_case(8)
    n_items = rel.shape[1]
    counts = ref_counts(rec[:, :k], n_items)
    assert catalog_coverage(rec, n_items, k).mean == sum(c > 0 for c in counts) / n_items
    ordered = sorted(counts)
    mean_abs = sum(abs(a - b) for a in ordered for b in ordered) / (2 * n_items**2)
    assert gini_index(rec, n_items, k).mean == pytest.approx(mean_abs / (sum(counts) / n_items))
    popularity = [int(c) for c in (rel != 0).sum(axis=0).A1]
    info = [-math.log2(max(c, 1) / sum(popularity)) for c in popularity]
    np.testing.assert_allclose(
        novelty(rec, rel, k).per_user, ref_list_mean(rec[:, :k], info), equal_nan=True
    )
    np.testing.assert_allclose(
        popularity_bias(rec, rel, k).per_user,
        ref_list_mean(rec[:, :k], [float(c) for c in popularity]),
        equal_nan=True,
    )


# --- evaluate_topk -----------------------------------------------------------------------------


def test_evaluate_topk_equals_the_single_metrics() -> None:
    rec, rel = random_case(9)
    names = ["ndcg@10", "recall@12", "precision@3", "map@10", "mrr", "HR@1", "coverage@5"]
    names += ["gini", "novelty@4", "popularity_bias"]
    results = evaluate_topk(rec, rel, names, train=rel)
    singles = [
        ndcg_at_k(rec, rel, 10),
        recall_at_k(rec, rel, 12),
        precision_at_k(rec, rel, 3),
        map_at_k(rec, rel, 10),
        mrr(rec, rel),
        hit_rate_at_k(rec, rel, 1),
        catalog_coverage(rec, rel.shape[1], 5),
        gini_index(rec, rel.shape[1]),
        novelty(rec, rel, 4),
        popularity_bias(rec, rel),
    ]
    assert list(results) == names
    for name, single in zip(names, singles, strict=True):
        assert results[name].name == single.name
        assert results[name].mean == single.mean
        if single.per_user is not None:
            np.testing.assert_array_equal(results[name].per_user, single.per_user)
    assert results["mrr"].name == "mrr@12" and results["HR@1"].name == "hit_rate@1"
    assert float(results["gini"]) == results["gini"].mean


def test_means_with_no_relevant_items_at_all_are_nan() -> None:
    result = ndcg_at_k(np.array([[0, 1]]), sp.csr_matrix((1, 3)))
    assert math.isnan(result.mean) and math.isnan(result.per_user[0])


def test_rmse_and_mae() -> None:
    assert rmse([1.0, 2.0, 4.0], [1.0, 3.0, 2.0]).mean == pytest.approx(math.sqrt(5 / 3))
    assert mae(np.array([1.0, 2.0, 4.0]), np.array([1.0, 3.0, 2.0])).mean == pytest.approx(1.0)
    assert rmse([1.0], [1.0]).per_user is None


# --- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: ndcg_at_k(np.array([[0, 1, 0]]), sp.csr_matrix((1, 3))), "more than once"),
        (lambda: ndcg_at_k(np.array([[0, 1]]), sp.csr_matrix((1, 3)), 3), "k=3"),
        (lambda: ndcg_at_k(np.array([[0, 1]]), sp.csr_matrix((1, 3)), 0), "k=0"),
        (lambda: ndcg_at_k(np.array([[0, 3]]), sp.csr_matrix((1, 3))), "outside"),
        (lambda: ndcg_at_k(np.array([[0, -2]]), sp.csr_matrix((1, 3))), "outside"),
        (lambda: ndcg_at_k(np.array([0, 1]), sp.csr_matrix((1, 3))), "2-D integer"),
        (lambda: ndcg_at_k(np.array([[0.0, 1.0]]), sp.csr_matrix((1, 3))), "2-D integer"),
        (lambda: ndcg_at_k(np.array([[0, 1]]), sp.csr_matrix((2, 3))), "pass users="),
        (lambda: ndcg_at_k(np.array([[0, 1]]), np.zeros((1, 3))), "scipy.sparse"),
        (
            lambda: ndcg_at_k(np.array([[0, 1]]), sp.csr_matrix((2, 3)), users=np.array([2])),
            "outside",
        ),
        (
            lambda: ndcg_at_k(np.array([[0, 1]]), sp.csr_matrix(-np.ones((1, 3))), graded=True),
            ">= 0",
        ),
        (lambda: evaluate_topk(np.array([[0, 1]]), sp.csr_matrix((1, 3)), ["auc"]), "unknown"),
        (lambda: evaluate_topk(np.array([[0, 1]]), sp.csr_matrix((1, 3)), ["ndcg@5"]), "k=5"),
        (lambda: evaluate_topk(np.array([[0, 1]]), sp.csr_matrix((1, 3)), ["novelty"]), "train="),
        (
            lambda: evaluate_topk(
                np.array([[0, 1]]), sp.csr_matrix((1, 3)), ["novelty"], train=sp.csr_matrix((1, 4))
            ),
            "same item index",
        ),
        (lambda: novelty(np.array([[0, 1]]), sp.csr_matrix((1, 3))), "no interactions"),
        (lambda: catalog_coverage(np.array([[0, 1]]), 0), "n_items"),
        (lambda: rmse([1.0, 2.0], [1.0]), "equal length"),
        (lambda: mae([1.0, np.nan], [1.0, 2.0]), "NaN"),
    ],
)
def test_errors_say_what_is_wrong(call: Any, match: str) -> None:
    with pytest.raises(DataError, match=match):
        call()
