"""Feature importance: computed per model version, compared with the previous champion.

:func:`feature_importance` gives each feature's share of the model's importance: model-native
gain for tree models (LightGBM, XGBoost, scikit-learn ensembles, reelflow's ``LTRReranker``),
permutation importance otherwise. :func:`compare_importance` holds a new version's shares
against the champion's and returns :class:`GuardResult` records. ``lightgbm``, ``sklearn`` and
``scipy`` are imported inside the functions that need them; ``xgboost`` is never imported.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from reelflow._errors import GuardError
from reelflow.guards._importance_sources import native_gain, permutation_values, renamed
from reelflow.guards._result import SEVERITIES, GuardResult, Severity

METHODS = ("auto", "gain", "permutation")
_EPS = 1e-12  # shares moved by exactly max_jump do not count as a jump


def feature_importance(
    model: Any,
    X: Any = None,
    y: Any = None,
    *,
    method: str = "auto",
    scoring: Any = None,
    n_repeats: int = 5,
    random_state: int | None = 0,
    feature_names: Sequence[str] | None = None,
) -> pd.Series[float]:
    """Each feature's share of ``model``'s importance: non-negative, summing to 1, largest first.

    ``method="auto"`` uses the model's own gain when it has one (LightGBM's total gain,
    XGBoost's ``get_score("gain")``, scikit-learn's impurity decrease ``feature_importances_``,
    an ``LTRReranker``'s LightGBM ranker) and else permutation importance on ``X``, ``y``
    (``sklearn.inspection.permutation_importance`` with ``scoring``, ``n_repeats`` and
    ``random_state``); ``"gain"`` or ``"permutation"`` forces one. ``model`` may also be
    importances already computed (a mapping or Series from feature name to importance).
    Negative importances (a permuted feature that helped) count as 0. ``feature_names``
    replaces the names the model knows (``Column_0``... for LightGBM trained on arrays).
    The Series is named after the method used: ``gain``, ``permutation`` or ``given``.
    """
    if method not in METHODS:
        raise GuardError(f"feature_importance(method={method!r}) is invalid; use one of {METHODS}")
    if isinstance(model, Mapping | pd.Series):
        if method != "auto":
            raise GuardError(
                f"importances given as a mapping are used as they are; drop method={method!r}"
            )
        return _normalize(renamed(dict(model), feature_names), _label(model, "given"))
    gains = None if method == "permutation" else native_gain(model)
    if gains is not None:
        return _normalize(renamed(gains, feature_names), "gain")
    if method == "gain":
        raise GuardError(
            f"{type(model).__name__} has no model-native gain importance; "
            "use method='permutation' with X and y"
        )
    values = permutation_values(model, X, y, scoring, n_repeats, random_state, feature_names)
    return _normalize(values, "permutation")


def compare_importance(
    current: Mapping[str, float] | pd.Series[float],
    previous: Mapping[str, float] | pd.Series[float] | None,
    *,
    top_k: int = 10,
    min_rank_correlation: float = 0.7,
    max_jump: float = 0.15,
    severity: Severity = "block",
    membership_severity: Severity = "warn",
    name: str = "feature_importance",
) -> list[GuardResult]:
    """Hold ``current`` importances against the ``previous`` champion's.

    Both are mappings or Series from feature name to importance (e.g. from
    :func:`feature_importance`), turned into shares summing to 1. Four results:
    ``{name}:rank_correlation`` (Spearman over the union of features, a missing feature at 0;
    fails below ``min_rank_correlation``), ``{name}:appeared`` and ``{name}:vanished``
    (features in one side's ``top_k`` with no importance on the other; ``membership_severity``)
    and ``{name}:jumps`` (features whose share moved by more than ``max_jump``).
    ``previous=None`` (a first version) gives one passing result, ``{name}``.
    ``details["plot"]`` (kind ``importance``) holds the features a result is about with both
    sides' shares; it is left out when there is no such feature.
    """
    _check_options(top_k, min_rank_correlation, max_jump, (severity, membership_severity), name)
    now = _shares(current, "current")
    if previous is None:
        message = "no previous champion to compare with; these importances are the baseline"
        details = {"top": list(now.index[:top_k]), **_plot(now, None, list(now.index))}
        return [GuardResult(name, True, severity, message=message, details=details)]
    before = _shares(previous, "previous")
    union = sorted(set(now.index) | set(before.index))
    cur, prev = now.reindex(union, fill_value=0.0), before.reindex(union, fill_value=0.0)
    order = sorted(union, key=lambda f: (-cur[f], -prev[f], f))
    cur, prev = cur[order], prev[order]
    common = int(((cur > 0) & (prev > 0)).sum())
    return [
        _rank_result(cur, prev, common, min_rank_correlation, severity, name),
        _membership("appeared", cur, prev, top_k, membership_severity, name),
        _membership("vanished", cur, prev, top_k, membership_severity, name),
        _jumps(cur, prev, max_jump, severity, name),
    ]


def _rank_result(
    cur: pd.Series[float],
    prev: pd.Series[float],
    common: int,
    threshold: float,
    severity: Severity,
    name: str,
) -> GuardResult:
    rho = _spearman(cur.to_numpy(), prev.to_numpy())
    passed = rho is None or rho >= threshold - _EPS
    if rho is None:  # no ranking on one side: the jumps check still sees the shift
        message = (
            "rank correlation is undefined: one side gives every feature the same share "
            "(see the jumps check)"
        )
    else:
        verb = "at least" if passed else "below"
        message = f"Spearman rank correlation {rho:.3f} is {verb} {threshold:g}"
    if common == 0:
        message += "; no feature matters in both models: were features renamed?"
    details = {
        "n_features": len(cur),
        "common_features": common,
        **_plot(cur, prev, list(cur.index)),
    }
    return GuardResult(
        f"{name}:rank_correlation", passed, severity, rho, threshold, message, details
    )


def _spearman(a: np.ndarray, b: np.ndarray) -> float | None:
    """Spearman's rho (average ranks for ties): 1 for identical rankings, None when one side
    ranks every feature the same (rho is undefined there)."""
    from scipy.stats import rankdata

    ra, rb = rankdata(a), rankdata(b)
    if np.array_equal(ra, rb):
        return 1.0
    if ra.std() == 0 or rb.std() == 0:
        return None
    return float(np.clip(np.corrcoef(ra, rb)[0, 1], -1.0, 1.0))


def _membership(
    kind: str,
    cur: pd.Series[float],
    prev: pd.Series[float],
    top_k: int,
    severity: Severity,
    name: str,
) -> GuardResult:
    """Features in one side's top ``top_k`` whose share on the other side is 0 (or missing)."""
    ranked, other = (cur, prev) if kind == "appeared" else (prev, cur)
    top = sorted(ranked.index[ranked > 0], key=lambda f: (-ranked[f], f))[:top_k]
    found = [str(f) for f in top if other[f] <= 0]
    listed = ", ".join(found[:10]) + (", ..." if len(found) > 10 else "")
    if not found:
        where = "the current" if kind == "appeared" else "the previous champion's"
        message = f"no feature {kind} in {where} top {top_k}"
    elif kind == "appeared":
        message = (
            f"{len(found)} feature(s) in the current top {top_k} had no importance "
            f"in the previous champion: {listed}"
        )
    else:
        message = (
            f"{len(found)} feature(s) in the previous champion's top {top_k} "
            f"have no importance now: {listed}"
        )
    details = {"features": found, "top_k": top_k, **_plot(cur, prev, found)}
    return GuardResult(f"{name}:{kind}", not found, severity, len(found), 0, message, details)


def _jumps(
    cur: pd.Series[float], prev: pd.Series[float], max_jump: float, severity: Severity, name: str
) -> GuardResult:
    change = cur - prev
    moved = change[change.abs() > max_jump + _EPS]
    moved = moved.iloc[np.argsort(-moved.abs().to_numpy(), kind="stable")]
    largest = float(change.abs().max())
    if len(moved):
        listed = ", ".join(f"{f} {v:+.3f}" for f, v in moved.iloc[:10].items())
        message = f"{len(moved)} feature share(s) moved by more than {max_jump:g}: {listed}"
    else:
        message = f"no feature share moved by more than {max_jump:g} (largest {largest:.3f})"
    features = [str(f) for f in moved.index]
    details = {
        "features": features,
        "changes": [float(v) for v in moved],
        **_plot(cur, prev, features),
    }
    return GuardResult(f"{name}:jumps", moved.empty, severity, largest, max_jump, message, details)


def _plot(
    cur: pd.Series[float], prev: pd.Series[float] | None, features: list[str]
) -> dict[str, Any]:
    """``{"plot": ...}`` with both sides' shares of ``features``; empty when there are none."""
    if not features:
        return {}
    plot = {
        "kind": "importance",
        "features": list(features),
        "current": [float(cur.get(f, 0.0)) for f in features],
        "previous": None if prev is None else [float(prev.get(f, 0.0)) for f in features],
    }
    return {"plot": plot}


def _check_options(
    top_k: int, min_rc: float, max_jump: float, severities: tuple[str, ...], name: str
) -> None:
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise GuardError(f"compare_importance(top_k={top_k!r}) is invalid; pass an int >= 1")
    if not _number_in(min_rc, -1.0, 1.0):
        raise GuardError(
            f"compare_importance(min_rank_correlation={min_rc!r}) is invalid; "
            "pass a number in [-1, 1]"
        )
    if not _number_in(max_jump, 0.0, 1.0):
        raise GuardError(
            f"compare_importance(max_jump={max_jump!r}) is invalid; pass a number in [0, 1]"
        )
    for severity in severities:
        if severity not in SEVERITIES:
            raise GuardError(f"severity {severity!r} is invalid; use 'block' or 'warn'")
    if not isinstance(name, str) or not name:
        raise GuardError(f"compare_importance(name={name!r}) is invalid; pass a non-empty str")


def _number_in(value: Any, low: float, high: float) -> bool:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    return ok and math.isfinite(value) and low <= value <= high


# --- shares -----------------------------------------------------------------------------------


def _shares(importances: Any, what: str) -> pd.Series[float]:
    if not isinstance(importances, Mapping | pd.Series):
        raise GuardError(
            f"the {what} importances are a {type(importances).__name__}; pass a mapping or "
            "Series from feature name to importance, e.g. feature_importance(model)"
        )
    return _normalize(dict(importances), what)


def _label(values: Any, default: str) -> str:
    label = values.name if isinstance(values, pd.Series) else None
    return label if isinstance(label, str) and label else default


def _normalize(values: Mapping[Any, Any], label: str) -> pd.Series[float]:
    """Shares summing to 1, largest first (ties by name); a GuardError for unusable input."""
    if not values:
        raise GuardError(f"the {label} importances are empty: there is no feature to rank")
    names = [str(k) for k in values]
    if len(set(names)) != len(names):
        raise GuardError(f"the {label} importances name a feature twice: {names}")
    try:
        numbers = np.array(
            [math.nan if v is None else float(v) for v in values.values()], dtype=np.float64
        )
    except (TypeError, ValueError):
        raise GuardError(f"the {label} importances are not all numbers") from None
    bad = [n for n, v in zip(names, numbers, strict=True) if not math.isfinite(v)]
    if bad:
        raise GuardError(
            f"the {label} importance of {', '.join(bad[:5])} is missing, NaN or infinite"
        )
    numbers = np.maximum(numbers, 0.0)
    total = float(numbers.sum())
    if total <= 0.0:
        raise GuardError(
            f"every {label} importance is zero or negative: none of the {len(names)} "
            "feature(s) matters, so there are no shares to compare"
        )
    order = sorted(range(len(names)), key=lambda i: (-numbers[i], names[i]))
    shares = pd.Series(numbers[order] / total, index=[names[i] for i in order], dtype="float64")
    shares.name = label
    return shares
