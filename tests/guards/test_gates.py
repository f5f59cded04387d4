"""Model gates against a stub context: the decisions, their numbers, and their edge cases."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from scipy import stats

from reelflow.guards import (
    beats_champion,
    coverage_at_least,
    latency,
    no_nan_scores,
    not_degenerate,
    not_worse_than_champion,
)


class Stub:
    """A GateContext with fixed per-user values and fixed recommendations."""

    def __init__(self, candidate: Any, champion: Any, *, items: Any = None, scores: Any = None):
        self.candidate_label = "recs:2"
        self.champion_label: str | None = "recs:1" if champion is not None else None
        self.values = {"candidate": np.asarray(candidate, float), "champion": champion}
        items = np.asarray(items if items is not None else [[1, 2], [3, 4]])
        scores = np.asarray(scores if scores is not None else np.ones(items.shape), float)
        self.recs = SimpleNamespace(items=items, scores=scores, valid=np.ones(items.shape, bool))

    def metric_values(self, which: str, metric: str) -> np.ndarray:
        return np.asarray(self.values[which], float)

    def recommendations(self, which: str) -> Any:
        return self.recs

    def catalogue_size(self) -> int:
        return 10

    def latencies_ms(self, which: str) -> np.ndarray:
        return np.linspace(1.0, 3.0, 101)


RNG = np.random.default_rng(0)
BASE = RNG.uniform(0.2, 0.4, 400)


def test_beats_champion_uses_a_one_sided_paired_test() -> None:
    better = BASE + RNG.normal(0.01, 0.02, BASE.size)
    result = beats_champion("ndcg@10", min_delta=0.0)(Stub(better, BASE))
    expected = stats.ttest_rel(better, BASE, alternative="greater").pvalue
    assert result.passed and result.details["p_value"] == pytest.approx(expected)
    assert result.value == pytest.approx(float(np.mean(better - BASE)))
    assert not beats_champion("ndcg@10", min_delta=0.05)(Stub(better, BASE)).passed


def test_not_worse_is_a_non_inferiority_bound() -> None:
    slightly_worse = BASE - 0.002
    assert not_worse_than_champion("ndcg@10", tolerance=0.01)(Stub(slightly_worse, BASE)).passed
    much_worse = BASE - 0.05
    result = not_worse_than_champion("ndcg@10", tolerance=0.01)(Stub(much_worse, BASE))
    assert not result.passed and result.value == pytest.approx(-0.05)
    assert result.details["plot"]["labels"] == ["recs:1", "recs:2"]


def test_lower_is_better_metrics_are_compared_the_other_way() -> None:
    less_popular = BASE - 0.05
    assert beats_champion("popularity_bias@10")(Stub(less_popular, BASE)).passed
    assert not beats_champion("ndcg@10")(Stub(less_popular, BASE)).passed


def test_users_undefined_for_either_model_are_left_out() -> None:
    candidate, champion = BASE + 0.05, BASE.copy()
    candidate[:10] = np.nan
    result = beats_champion("ndcg@10")(Stub(candidate, champion))
    assert result.details["users"] == BASE.size - 10 and result.passed


def test_no_champion_passes_and_says_so() -> None:
    result = beats_champion()(Stub(BASE, None))
    assert result.passed and "no champion" in result.message


def test_sanity_gates() -> None:
    nan = Stub(BASE, None, scores=[[1.0, np.nan], [0.5, 0.2]])
    assert not no_nan_scores()(nan).passed
    same_first = Stub(BASE, None, items=[[1, 2], [1, 3], [1, 4]])
    result = not_degenerate(max_top_item_share=0.5)(same_first)
    assert not result.passed and result.value == 1.0
    coverage = coverage_at_least(0.5)(Stub(BASE, None, items=[[1, 2], [3, 4]]))
    assert not coverage.passed and coverage.value == pytest.approx(0.4)
    timing = latency(p99_ms=2.5)(Stub(BASE, None))
    assert not timing.passed and timing.value == pytest.approx(
        np.percentile(np.linspace(1, 3, 101), 99)
    )
