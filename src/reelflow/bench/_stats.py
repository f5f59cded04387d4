"""Uncertainty of a benchmark: bootstrap confidence intervals and paired tests over users.

Both resample users, the unit a recommender is evaluated on. Users whose value is NaN (the
metric is undefined for them) are left out. Resampling is vectorised in chunks, so memory stays
bounded (about ``_CHUNK_CELLS`` numbers at a time) whatever the number of users.

- :func:`bootstrap_ci`: the percentile bootstrap of the mean. Draw ``n_bootstrap`` samples of
  n users with replacement, take each sample's mean, and report the 2.5th and 97.5th percentiles
  (for 95%).
- :func:`paired_test`: is model A's mean different from model B's on the same users? By default
  a two-sided paired sign-flip permutation test on the per-user differences d_u = a_u - b_u:
  under the null hypothesis each d_u is as likely to be -d_u, so the p-value is the share of
  random sign flips whose mean difference is at least as far from zero as the observed one,
  ``(1 + #{|mean(s * d)| >= |mean(d)|}) / (1 + n_permutations)``. It assumes no distribution
  (per-user metrics are bounded, skewed and often zero-inflated); its smallest possible p-value
  is ``1 / (1 + n_permutations)``. ``method="t"`` runs the paired t-test
  instead (a one-sample t-test of d, the same as ``scipy.stats.ttest_rel``), which has no such
  floor but assumes the mean difference is roughly normal.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from reelflow._errors import DataError, UsageError

_CHUNK_CELLS = 4_000_000  # random numbers drawn at once: ~32 MB of int64 or float64
_TIE = 1e-12  # relative tolerance when comparing permuted means with the observed one

TestMethod = Literal["permutation", "t"]


def bootstrap_ci(
    values: np.ndarray,
    *,
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """The percentile bootstrap confidence interval of the mean of ``values`` (NaN skipped).

    Returns ``(nan, nan)`` with fewer than two defined values or ``n_bootstrap=0``.
    """
    check_count("n_bootstrap", n_bootstrap)
    if not 0 < confidence < 1:
        raise UsageError(f"confidence={confidence!r} must be between 0 and 1, e.g. 0.95")
    defined = _defined(values)
    if len(defined) < 2 or n_bootstrap == 0:
        return float("nan"), float("nan")
    means = _resampled_means(defined, n_bootstrap, np.random.default_rng(seed))
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


def paired_test(
    a: np.ndarray,
    b: np.ndarray,
    *,
    method: TestMethod = "permutation",
    n_permutations: int = 10_000,
    seed: int = 0,
) -> float:
    """The two-sided p-value that per-user values ``a`` and ``b`` (same users) differ in mean.

    Users where either value is NaN are dropped. Identical inputs give p = 1.
    """
    diff = _differences(a, b)
    if len(diff) == 0:
        return float("nan")
    if method == "t":
        return _t_test(diff)
    if method != "permutation":
        raise UsageError(f"method={method!r} is unknown; use 'permutation' or 't'")
    check_count("n_permutations", n_permutations)
    if n_permutations == 0:
        return float("nan")
    return _sign_flip(diff, n_permutations, np.random.default_rng(seed))


# --- helpers -------------------------------------------------------------------------------------


def _defined(values: np.ndarray) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise DataError(f"per-user values must be a 1-D array, got shape {array.shape}")
    return array[~np.isnan(array)]


def _differences(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    first = np.asarray(a, dtype=np.float64)
    second = np.asarray(b, dtype=np.float64)
    if first.ndim != 1 or first.shape != second.shape:
        raise DataError(
            f"paired values must be 1-D arrays of equal length (one value per user), got shapes "
            f"{first.shape} and {second.shape}; evaluate both models on the same users"
        )
    both = ~(np.isnan(first) | np.isnan(second))
    return np.asarray(first[both] - second[both])


def _rows_per_chunk(n: int) -> int:
    return max(1, _CHUNK_CELLS // max(n, 1))


def _resampled_means(values: np.ndarray, n_samples: int, rng: np.random.Generator) -> np.ndarray:
    n = len(values)
    means = np.empty(n_samples)
    rows = _rows_per_chunk(n)
    for start in range(0, n_samples, rows):
        stop = min(start + rows, n_samples)
        picks = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = values[picks].mean(axis=1)
    return means


def _sign_flip(diff: np.ndarray, n_permutations: int, rng: np.random.Generator) -> float:
    n = len(diff)
    observed = abs(diff.mean())
    threshold = observed - _TIE * max(observed, np.abs(diff).mean())
    extreme = 0
    rows = _rows_per_chunk(n)
    for start in range(0, n_permutations, rows):
        count = min(rows, n_permutations - start)
        signs = rng.integers(0, 2, size=(count, n), dtype=np.int8) * 2 - 1
        flipped = np.abs(signs @ diff) / n
        extreme += int((flipped >= threshold).sum())
    return (1 + extreme) / (1 + n_permutations)


def _t_test(diff: np.ndarray) -> float:
    from scipy import stats

    if not np.any(diff):
        return 1.0
    if len(diff) < 2:
        return float("nan")
    if not np.any(diff != diff[0]):
        return 0.0  # the same nonzero difference for every user: no spread, a sure difference
    return float(stats.ttest_1samp(diff, 0.0).pvalue)


def check_count(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        raise UsageError(f"{name}={value!r} is invalid; pass an integer >= 0")
