"""Bootstrap confidence intervals and paired tests on synthetic per-user values."""

from __future__ import annotations

import numpy as np
import pytest

from reelflow._errors import DataError, UsageError
from reelflow.bench import _stats
from reelflow.bench._stats import bootstrap_ci, paired_test


def test_bootstrap_ci_brackets_the_mean_and_narrows_with_more_users() -> None:
    rng = np.random.default_rng(1)
    small = rng.random(100)
    large = rng.random(10_000)
    low, high = bootstrap_ci(small, n_bootstrap=500)
    assert low < small.mean() < high
    wide = high - low
    low, high = bootstrap_ci(large, n_bootstrap=500)
    assert low < large.mean() < high
    assert high - low < wide / 5  # the width shrinks like 1 / sqrt(n)


def test_bootstrap_ci_matches_the_normal_approximation() -> None:
    values = np.random.default_rng(2).normal(0.3, 0.2, 2_000)
    low, high = bootstrap_ci(values, n_bootstrap=2_000)
    half = 1.96 * values.std(ddof=1) / np.sqrt(len(values))
    assert low == pytest.approx(values.mean() - half, abs=half * 0.1)
    assert high == pytest.approx(values.mean() + half, abs=half * 0.1)


def test_bootstrap_ci_skips_nan_is_seeded_and_chunked(monkeypatch: pytest.MonkeyPatch) -> None:
    values = np.r_[np.random.default_rng(3).random(300), [np.nan] * 50]
    first = bootstrap_ci(values, n_bootstrap=300, seed=7)
    assert all(np.isfinite(first))
    assert bootstrap_ci(values, n_bootstrap=300, seed=7) == first
    monkeypatch.setattr(_stats, "_CHUNK_CELLS", 1_000)  # many small chunks, same draws
    assert bootstrap_ci(values, n_bootstrap=300, seed=7) == pytest.approx(first)


def test_bootstrap_ci_is_undefined_without_data_or_resamples() -> None:
    assert all(np.isnan(bootstrap_ci(np.array([np.nan, 0.5]))))
    assert all(np.isnan(bootstrap_ci(np.ones(10), n_bootstrap=0)))
    with pytest.raises(UsageError, match="n_bootstrap"):
        bootstrap_ci(np.ones(10), n_bootstrap=-1)


@pytest.mark.parametrize("method", ["permutation", "t"])
def test_a_known_difference_is_significant(method: str) -> None:
    rng = np.random.default_rng(4)
    baseline = rng.random(500)
    better = baseline + 0.05 + rng.normal(0, 0.1, 500)
    assert paired_test(better, baseline, method=method, n_permutations=2_000) < 0.01  # type: ignore[arg-type]


@pytest.mark.parametrize("method", ["permutation", "t"])
def test_identical_models_are_not_significant(method: str) -> None:
    values = np.random.default_rng(5).random(400)
    assert paired_test(values, values.copy(), method=method) == 1.0  # type: ignore[arg-type]


def test_noise_without_a_difference_gives_a_high_p_value() -> None:
    rng = np.random.default_rng(6)
    base = rng.random(300)
    noise = rng.normal(0, 0.1, 150)
    other = base + np.r_[noise, -noise]  # differences symmetric around zero: mean exactly 0
    assert paired_test(other, base, n_permutations=2_000) > 0.9
    assert paired_test(other, base, method="t") > 0.9


def test_paired_test_drops_users_undefined_for_either_model() -> None:
    a = np.array([0.5, np.nan, 0.2, 0.9])
    b = np.array([0.5, 0.1, np.nan, 0.9])
    assert paired_test(a, b) == 1.0
    assert np.isnan(paired_test(np.array([np.nan]), np.array([1.0])))


def test_paired_test_rejects_unpaired_input() -> None:
    with pytest.raises(DataError, match="same users"):
        paired_test(np.ones(3), np.ones(4))
    with pytest.raises(UsageError, match="method"):
        paired_test(np.ones(3), np.ones(3), method="wilcoxon")  # type: ignore[arg-type]
