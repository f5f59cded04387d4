"""Business proxies: hand-computed values, a plain per-user reference, edge cases, the wiring
into evaluate_topk and parse_metric, METRIC_KINDS and the HTML report's grouping."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

from reelflow._errors import DataError
from reelflow.bench import (
    METRIC_KINDS,
    discovery_at_k,
    engagement_at_k,
    evaluate_topk,
    hit_rate_at_k,
    retention_at_k,
)
from reelflow.bench._business import long_tail
from reelflow.bench._metrics import RANKING
from reelflow.bench._metrics_beyond import BEYOND, DEFAULT_METRICS, parse_metric
from reelflow.data import IdIndex, Interactions

# --- a hand example ------------------------------------------------------------------------------
#
# train (3 users x 5 items): u0 {0, 1}, u1 {0, 2}, u2 {0, 1, 3}
#   popularity (users per item): [3, 2, 1, 1, 0]
# test weights (watch fraction): u0 {1: 0.8, 2: 0.5, 4: 0.0}, u1 {0: 2.0, 3: 0.25}, u2 {}
#   u0's item 4 weighs 0: a stored zero, so it is not relevant at all
# lists (k = 3): u0 [1, 4, 2], u1 [3, 4, -1], u2 [4, 2, 3]

TRAIN = sp.csr_matrix((np.ones(7), ([0, 0, 1, 1, 2, 2, 2], [0, 1, 0, 2, 0, 1, 3])), shape=(3, 5))
TEST = sp.csr_matrix(([0.8, 0.5, 0.0, 2.0, 0.25], ([0, 0, 0, 1, 1], [1, 2, 4, 0, 3])), shape=(3, 5))
LISTS = np.array([[1, 4, 2], [3, 4, -1], [4, 2, 3]])


def nan_equal(actual: np.ndarray | None, expected: list[float]) -> None:
    assert actual is not None
    np.testing.assert_allclose(actual, expected, rtol=0, atol=1e-12, equal_nan=True)


def test_engagement_hand_example() -> None:
    result = engagement_at_k(LISTS, TEST, 3)
    nan_equal(result.per_user, [0.8 + 0.5, 0.25, math.nan])  # u2 has no test item: NaN
    assert result.name == "engagement@3"
    assert result.mean == pytest.approx((1.3 + 0.25) / 2)
    nan_equal(engagement_at_k(LISTS, TEST, 1).per_user, [0.8, 0.25, math.nan])


def test_retention_hand_example() -> None:
    nan_equal(retention_at_k(LISTS, TEST, 3).per_user, [1.0, 1.0, math.nan])
    two = retention_at_k(LISTS, TEST, 3, min_hits=2)  # u0 hits 1 and 2, u1 only 3
    nan_equal(two.per_user, [1.0, 0.0, math.nan])
    assert two.mean == 0.5
    nan_equal(retention_at_k(LISTS, TEST, 2, min_hits=2).per_user, [0.0, 0.0, math.nan])


def test_discovery_hand_example() -> None:
    # head_share 0.2: the head is item 0 (ceil(0.2 * 5) = 1), the tail items 1-4.
    # u0 hits 1 (seen in training: no discovery) and 2 (unseen, tail): 1 of 3 slots.
    # u1 hits 3 (unseen, tail): 1 of 3 slots (the empty slot counts as a miss).
    result = discovery_at_k(LISTS, TEST, TRAIN, 3)
    nan_equal(result.per_user, [1 / 3, 1 / 3, math.nan])
    assert result.name == "discovery@3"
    nan_equal(discovery_at_k(LISTS, TEST, TRAIN, 1).per_user, [0.0, 1.0, math.nan])
    # head_share 0.6: ceil(3) = 3 head places, and items 2 and 3 tie for the third: both head
    nan_equal(discovery_at_k(LISTS, TEST, TRAIN, 3, head_share=0.6).per_user, [0, 0, math.nan])
    # head_share 0: no head, only the seen-in-training condition is left
    nan_equal(
        discovery_at_k(LISTS, TEST, TRAIN, 3, head_share=0).per_user, [1 / 3, 1 / 3, math.nan]
    )


def test_long_tail_keeps_ties_together_and_never_puts_unseen_items_in_the_head() -> None:
    popularity = np.array([3, 2, 1, 1, 0])
    assert long_tail(popularity, 0.2).tolist() == [False, True, True, True, True]
    assert long_tail(popularity, 0.4).tolist() == [False, False, True, True, True]
    assert long_tail(popularity, 0.6).tolist() == [False, False, False, False, True]
    assert long_tail(popularity, 1.0).tolist() == [False, False, False, False, True]
    assert long_tail(popularity, 0.0).all()
    assert long_tail(np.array([5, 5, 5, 5]), 0.3).tolist() == [False] * 4  # 0.3 * 4 -> 2, ties
    assert long_tail(np.arange(10, 0, -1), 0.3).sum() == 7  # 0.3 * 10 is 3, not 4


# --- edge cases -----------------------------------------------------------------------------------


def test_zero_weights_are_not_relevant_and_add_nothing() -> None:
    only_zero = sp.csr_matrix(([0.0, 1.0], ([0, 1], [2, 2])), shape=(2, 3))
    lists = np.array([[2, 0], [2, 1]])
    nan_equal(engagement_at_k(lists, only_zero).per_user, [math.nan, 1.0])
    nan_equal(retention_at_k(lists, only_zero).per_user, [math.nan, 1.0])


def test_users_without_test_items_are_nan_and_left_out_of_the_mean() -> None:
    empty = sp.csr_matrix((2, 3))
    for result in (
        engagement_at_k(np.array([[0, 1], [1, 2]]), empty),
        retention_at_k(np.array([[0, 1], [1, 2]]), empty),
        discovery_at_k(np.array([[0, 1], [1, 2]]), empty, empty),
    ):
        assert result.per_user is not None and np.isnan(result.per_user).all()
        assert math.isnan(result.mean)


def test_empty_slots_and_short_lists() -> None:
    relevant = sp.csr_matrix(([2.0, 3.0], ([0, 0], [0, 1])), shape=(1, 4))
    lists = np.array([[-1, 1, -1, 0]])  # holes keep the ranks of the items after them
    nan_equal(engagement_at_k(lists, relevant, 2).per_user, [3.0])
    nan_equal(engagement_at_k(lists, relevant).per_user, [5.0])
    nan_equal(discovery_at_k(lists, relevant, sp.csr_matrix((1, 4)), 4).per_user, [0.5])


@pytest.mark.parametrize(
    "call",
    [
        lambda: engagement_at_k(LISTS, TEST, 4),
        lambda: retention_at_k(LISTS, TEST, 4),
        lambda: discovery_at_k(LISTS, TEST, TRAIN, 4),
        lambda: evaluate_topk(LISTS, TEST, ["engagement@4"]),
    ],
)
def test_k_larger_than_the_lists_is_rejected(call: Any) -> None:
    with pytest.raises(DataError, match="k=4 must be an integer from 1 to 3"):
        call()


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: engagement_at_k(LISTS, -TEST), "weights >= 0"),
        (lambda: evaluate_topk(LISTS, TEST * np.nan, ["engagement"]), "finite weights"),
        (lambda: retention_at_k(LISTS, TEST, 2, min_hits=3), "min_hits=3 must be"),
        (lambda: retention_at_k(LISTS, TEST, min_hits=0), "min_hits=0"),
        (lambda: evaluate_topk(LISTS, TEST, ["retention@1"], min_hits=2), "min_hits=2"),
        (lambda: discovery_at_k(LISTS, TEST, TRAIN, head_share=1.5), "head_share=1.5"),
        (lambda: evaluate_topk(LISTS, TEST, ["discovery"]), "pass train="),
        (lambda: discovery_at_k(LISTS, TEST, sp.csr_matrix((3, 4))), "train has 4 items"),
        (lambda: discovery_at_k(LISTS, TEST, sp.csr_matrix((2, 5))), "train has 2 users"),
        (lambda: discovery_at_k(LISTS, TEST, TRAIN[:2], users=[0, 1, 2]), "train has 2 users"),
    ],
)
def test_errors_say_what_is_wrong(call: Any, match: str) -> None:
    with pytest.raises(DataError, match=match):
        call()


def test_users_select_rows_of_relevant_and_train() -> None:
    users = np.array([1, 0])
    nan_equal(discovery_at_k(LISTS[[1, 0]], TEST, TRAIN, users=users).per_user, [1 / 3, 1 / 3])
    nan_equal(engagement_at_k(LISTS[[1, 0]], TEST, users=users).per_user, [0.25, 1.3])


def test_train_as_interactions() -> None:
    rows, cols = TRAIN.nonzero()
    train = Interactions(
        IdIndex(np.arange(3)),
        IdIndex(np.arange(5)),
        rows.astype(np.int32),
        cols.astype(np.int32),
        rating=np.zeros(len(rows)),  # zero ratings: the interactions still count as seen
    )
    nan_equal(discovery_at_k(LISTS, TEST, train, 3).per_user, [1 / 3, 1 / 3, math.nan])


# --- a plain per-user reference on random data ----------------------------------------------------


def reference(
    lists: np.ndarray, test: sp.csr_matrix, train: sp.csr_matrix, k: int, min_hits: int, head: float
) -> dict[str, list[float]]:
    dense_test, dense_train = test.toarray(), train.toarray() > 0
    popularity = dense_train.sum(axis=0)
    n_head = math.ceil(head * len(popularity) - 1e-9)
    in_head = [p > 0 and (popularity > p).sum() < n_head for p in popularity]
    out: dict[str, list[float]] = {"engagement": [], "retention": [], "discovery": []}
    for user, row in enumerate(lists):
        if not (dense_test[user] != 0).any():
            for values in out.values():
                values.append(math.nan)
            continue
        top = [int(i) for i in row[:k] if i != -1]
        hits = [i for i in top if dense_test[user, i] != 0]
        out["engagement"].append(sum(dense_test[user, i] for i in hits))
        out["retention"].append(float(len(hits) >= min_hits))
        found = [i for i in hits if not dense_train[user, i] and not in_head[i]]
        out["discovery"].append(len(found) / k)
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_a_plain_per_user_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_users, n_items, width = 60, 25, 8
    test = sp.random(n_users, n_items, density=0.15, random_state=seed, format="csr")
    test.data = np.round(test.data * 4, 1)  # some weights round to 0: stored zeros
    train = sp.random(n_users, n_items, density=0.2, random_state=seed + 10, format="csr")
    lists = np.array([rng.permutation(n_items)[:width] for _ in range(n_users)])
    lists[rng.random(lists.shape) < 0.1] = -1
    for k, min_hits, head in ((8, 1, 0.2), (5, 2, 0.35), (1, 1, 0.0)):
        expected = reference(lists, test, train, k, min_hits, head)
        names = [f"engagement@{k}", f"retention@{k}", f"discovery@{k}"]
        got = evaluate_topk(lists, test, names, train=train, min_hits=min_hits, head_share=head)
        for name in names:
            nan_equal(got[name].per_user, expected[name.split("@")[0]])
        alone = [
            engagement_at_k(lists, test, k),
            retention_at_k(lists, test, k, min_hits=min_hits),
            discovery_at_k(lists, test, train, k, head_share=head),
        ]
        for name, result in zip(names, alone, strict=True):
            nan_equal(result.per_user, list(np.asarray(got[name].per_user)))
            assert result.name == name


# --- wiring ---------------------------------------------------------------------------------------


def test_retention_with_one_hit_is_hit_rate() -> None:
    rng = np.random.default_rng(3)
    test = sp.random(40, 30, density=0.1, random_state=3, format="csr")
    lists = np.array([rng.permutation(30)[:10] for _ in range(40)])
    nan_equal(
        retention_at_k(lists, test, 10).per_user, list(hit_rate_at_k(lists, test, 10).per_user)
    )


def test_adding_business_proxies_leaves_the_other_metrics_unchanged() -> None:
    rng = np.random.default_rng(4)
    test = sp.random(50, 40, density=0.1, random_state=4, format="csr")
    train = sp.random(50, 40, density=0.2, random_state=5, format="csr")
    lists = np.array([rng.permutation(40)[:20] for _ in range(50)])
    names = [*DEFAULT_METRICS, "hit_rate@5", "novelty@10"]
    before = evaluate_topk(lists, test, names, train=train)
    after = evaluate_topk(
        lists, test, [*names, "engagement@20", "retention", "discovery@15"], train=train
    )
    for name in names:
        assert after[name].mean == before[name].mean
        if before[name].per_user is not None:
            np.testing.assert_array_equal(after[name].per_user, before[name].per_user)
    assert after["retention"].name == "retention@20"


def test_metric_names_and_kinds() -> None:
    assert parse_metric("engagement@10", 20) == ("engagement", 10)
    assert parse_metric("Retention", 20) == ("retention", 20)
    assert parse_metric("discovery@5", 20) == ("discovery", 5)
    with pytest.raises(DataError, match="engagement, retention, discovery"):
        parse_metric("revenue@10", 20)
    assert {k for k, v in METRIC_KINDS.items() if v == "business"} == {
        "engagement",
        "retention",
        "discovery",
    }
    assert set(METRIC_KINDS) >= {*RANKING, *BEYOND, "rmse", "mae"}
    assert set(METRIC_KINDS.values()) == {"technical", "business"}


def test_the_html_report_shows_business_proxies_apart(tmp_path: Path) -> None:
    from reelflow.bench import benchmark
    from reelflow.data import generate_interactions, per_user_holdout
    from reelflow.models import MostPopular

    data = generate_interactions(150, 60, 3_000, seed=1).interactions
    split = per_user_holdout(data, 0.25, seed=0)
    names = ["ndcg@10", "precision@10", "hit_rate@10", "engagement@10", "retention@10"]
    result = benchmark({"pop": MostPopular()}, data, split, names, n_bootstrap=20, progress=False)
    page = result.to_html(tmp_path / "report.html").read_text(encoding="utf-8")
    technical = page.index("<h2>Technical metrics</h2>")
    business = page.index("<h2>Business proxies</h2>")
    assert technical < page.index("ndcg@10") < business < page.index("engagement@10")
    # benchmark() scores against binary relevance: engagement counts hits, retention@k with
    # one hit is the hit rate
    values = result.per_user["pop"]
    np.testing.assert_allclose(values["engagement@10"], 10 * values["precision@10"])
    np.testing.assert_array_equal(values["retention@10"], values["hit_rate@10"])
    plain = benchmark(
        {"pop": MostPopular()}, data, split, ["ndcg@10"], n_bootstrap=0, progress=False
    )
    assert "Business proxies" not in plain.to_html(tmp_path / "plain.html").read_text("utf-8")
