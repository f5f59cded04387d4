"""The five drift statistics, on numeric pairs (values or histograms) and category counts.

Conventions follow Evidently's: Kolmogorov-Smirnov and chi-square are tests whose statistic is a
p-value (drift when p < threshold, 0.05 by default); Wasserstein (normalized by the reference
std), Jensen-Shannon (distance, natural log) and PSI are distances (drift when >= threshold,
0.1 by default; 0.2 is the usual "significant" PSI level).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import numpy as np

from reelflow._errors import GuardError
from reelflow.guards._drift_categorical import CategoryCounts, category_counts
from reelflow.guards._drift_columns import Column, Kind, as_column, check_compatible, resolve_kind
from reelflow.guards._drift_numeric import (
    MAX_ERROR,
    NumericPair,
    ks_sorted,
    numeric_side,
    wasserstein_histogram,
    wasserstein_sorted,
)

Pair = NumericPair | CategoryCounts
StatisticKind = Literal["p_value", "distance"]
SMALL_REFERENCE = 1_000  # Evidently's switch from tests to distances


class DriftMethod(NamedTuple):
    """``DRIFT_METHODS`` entry: ``statistic(reference, current)``, its default threshold, and
    whether the statistic is a ``"p_value"`` (drift below) or a ``"distance"`` (drift at/above)."""

    statistic: Callable[[Any, Any], float]
    threshold: float
    kind: StatisticKind


@dataclass(frozen=True)
class Method:
    """How one method measures a prepared pair, and how a sentence names it."""

    name: str
    label: str
    measure: Callable[[Pair], tuple[float, dict[str, Any]]]
    threshold: float
    kind: StatisticKind
    numeric_only: bool = False


def psi_counts(ref: np.ndarray, cur: np.ndarray) -> float:
    """PSI of two count vectors; empty bins get Evidently's small share (0.0001, or less)."""
    ref_share, cur_share = _filled(ref), _filled(cur)
    return float(np.sum((ref_share - cur_share) * np.log(ref_share / cur_share)))


def _filled(counts: np.ndarray) -> np.ndarray:
    share = counts / counts.sum()
    smallest = share[share > 0].min()
    return np.where(share > 0, share, smallest / 1e6 if smallest <= 1e-4 else 1e-4)


def js_counts(ref: np.ndarray, cur: np.ndarray) -> float:
    """Jensen-Shannon distance (natural log) of two count vectors, as scipy computes it."""
    p, q = ref / ref.sum(), cur / cur.sum()
    m = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        left = np.where(p > 0, p * np.log(p / m), 0.0).sum()
        right = np.where(q > 0, q * np.log(q / m), 0.0).sum()
    return float(np.sqrt(max((left + right) / 2, 0.0)))


def chi_square_counts(ref: np.ndarray, cur: np.ndarray) -> float:
    """p-value of the chi-square test that both samples share one distribution (homogeneity of
    the 2 x k table, as ``scipy.stats.chi2_contingency(..., correction=False)``)."""
    from scipy.special import chdtrc

    seen = (ref > 0) | (cur > 0)
    table = np.stack([ref[seen], cur[seen]]).astype(np.float64)
    if table.shape[1] < 2:
        return 1.0
    expected = np.outer(table.sum(1), table.sum(0)) / table.sum()
    return float(chdtrc(table.shape[1] - 1, ((table - expected) ** 2 / expected).sum()))


def _psi(pair: Pair) -> tuple[float, dict[str, Any]]:
    if isinstance(pair, CategoryCounts):
        return psi_counts(pair.ref, pair.cur), {}
    ref, cur, snapped = pair.decile_bins()
    return psi_counts(ref, cur), _binning("reference deciles", snapped)


def _jensen_shannon(pair: Pair) -> tuple[float, dict[str, Any]]:
    if isinstance(pair, CategoryCounts):
        return js_counts(pair.ref, pair.cur), {}
    _, ref, cur = pair.plot_bins()
    return js_counts(ref, cur), _binning("30 equal-width bins", False)


def _chi_square(pair: Pair) -> tuple[float, dict[str, Any]]:
    if isinstance(pair, CategoryCounts):
        return chi_square_counts(pair.ref, pair.cur), {}
    ref, cur, snapped = pair.decile_bins()
    return chi_square_counts(ref, cur), _binning("reference deciles", snapped)


def _binning(bins: str, snapped: bool) -> dict[str, Any]:
    notes: dict[str, Any] = {"bins": bins, "approximate": snapped}
    if snapped:
        notes["approximation"] = "cuts snapped to a 1/61,440 grid, moving < 1% of the reference"
    return notes


def _ks(pair: Pair) -> tuple[float, dict[str, Any]]:
    from scipy import stats

    assert isinstance(pair, NumericPair)
    if pair.exact:
        result = stats.ks_2samp(pair.ref.values, pair.cur.values)
        return float(result.pvalue), {"ks_statistic": float(result.statistic)}
    n, m = pair.ref.count, pair.cur.count  # scipy's large-sample p-value, on the exact statistic
    gap = ks_sorted(*pair.sorted)
    return float(stats.kstwo.sf(gap, round(n * m / (n + m)))), {"ks_statistic": gap}


def _wasserstein(pair: Pair) -> tuple[float, dict[str, Any]]:
    assert isinstance(pair, NumericPair)
    if pair.exact or pair.histogram_error > MAX_ERROR:
        distance = wasserstein_sorted(*pair.sorted)
        return distance / pair.ref_std, {"approximate": False, "reference_std": pair.ref_std}
    distance = wasserstein_histogram(*pair.fine, pair.width)
    notes = {"approximate": True, "max_error": pair.histogram_error, "reference_std": pair.ref_std}
    return distance / pair.ref_std, notes


METHODS: dict[str, Method] = {
    "psi": Method("psi", "PSI", _psi, 0.1, "distance"),
    "ks": Method("ks", "Kolmogorov-Smirnov p-value", _ks, 0.05, "p_value", numeric_only=True),
    "chi_square": Method("chi_square", "chi-square p-value", _chi_square, 0.05, "p_value"),
    "jensen_shannon": Method(
        "jensen_shannon", "Jensen-Shannon distance", _jensen_shannon, 0.1, "distance"
    ),
    "wasserstein": Method(
        "wasserstein", "Wasserstein distance", _wasserstein, 0.1, "distance", numeric_only=True
    ),
}


def auto_method(kind: Kind, reference_values: int) -> str:
    """Evidently's defaults: tests up to 1,000 reference values, distances beyond."""
    small = reference_values <= SMALL_REFERENCE
    if kind == "numeric":
        return "ks" if small else "wasserstein"
    return "chi_square" if small else "jensen_shannon"


def check_method(method: str, where: str) -> None:
    """Raise a one-line GuardError for an unknown method name."""
    if method != "auto" and method not in METHODS:
        names = ", ".join(["auto", *METHODS])
        raise GuardError(f"{where}: unknown drift method {method!r}; use one of {names}")


def check_threshold(method: str, threshold: float, where: str) -> float:
    """``threshold`` as a float, or a GuardError when it makes no sense for ``method``."""
    try:
        value = float(threshold)
    except (TypeError, ValueError):
        raise GuardError(f"{where}: threshold {threshold!r} is not a number") from None
    if METHODS[method].kind == "p_value" and not 0 < value < 1:
        raise GuardError(f"{where}: {method} compares a p-value; use a threshold in (0, 1)")
    if not (np.isfinite(value) and value > 0):
        raise GuardError(f"{where}: {method} compares a distance; use a threshold > 0")
    return value


def prepare(ref: Column, cur: Column, kind: Kind) -> Pair:
    """The pair every statistic of ``kind`` reads."""
    if kind == "numeric":
        return NumericPair(numeric_side(ref), numeric_side(cur))
    return category_counts(ref, cur)


def _statistic(name: str) -> Callable[[Any, Any], float]:
    method = METHODS[name]

    def statistic(reference: Any, current: Any) -> float:
        ref, cur = as_column(reference, "reference"), as_column(current, "current")
        check_compatible(ref, cur, "values")
        kind = resolve_kind(ref, cur, name)
        if kind is None or (method.numeric_only and kind != "numeric"):
            raise GuardError(f"{name} needs numbers on both sides; got {ref.dtype} and {cur.dtype}")
        return method.measure(prepare(ref, cur, kind))[0]

    statistic.__name__ = name
    statistic.__doc__ = f"The {method.label} between two samples (array-likes)."
    return statistic


DRIFT_METHODS: Mapping[str, DriftMethod] = {
    name: DriftMethod(_statistic(name), method.threshold, method.kind)
    for name, method in METHODS.items()
}
