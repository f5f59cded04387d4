"""Where importances come from: a model's own gain, or permutation importance.

``lightgbm`` and ``sklearn`` are imported inside the functions that need them; ``xgboost`` is
read through its objects' methods and never imported.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from reelflow._errors import GuardError

# --- model-native gain ------------------------------------------------------------------------


def native_gain(model: Any) -> dict[str, float] | None:
    """``{feature: gain}`` from the model itself, or None when it has no native importance."""
    from reelflow.models import LTRReranker

    if isinstance(model, LTRReranker):
        return _reranker_gain(model)
    package = type(model).__module__.partition(".")[0]
    if package == "lightgbm":
        return _lightgbm_gain(model)
    if package == "xgboost":
        return _xgboost_gain(model)
    try:
        values = model.feature_importances_  # NotFittedError is an AttributeError too
    except AttributeError:
        return None
    values = np.asarray(values, dtype=np.float64).ravel()
    return dict(zip(_names_of(model, len(values)), values.tolist(), strict=True))


def _reranker_gain(model: Any) -> dict[str, float]:
    booster = getattr(model, "ranker_", None)
    if booster is None:
        raise GuardError("this LTRReranker is not fitted, so it has no importance; fit it first")
    names = [str(n) for n in getattr(model, "feature_names_", model.features)]
    values = np.asarray(booster.feature_importance(importance_type="gain"), dtype=np.float64)
    if len(values) != len(names):
        raise GuardError(
            f"the LTRReranker's ranker has {len(values)} features but it names {len(names)}; "
            "fit it again"
        )
    return dict(zip(names, values.tolist(), strict=True))


def _lightgbm_gain(model: Any) -> dict[str, float]:
    try:
        booster = model if hasattr(model, "feature_importance") else model.booster_
    except (AttributeError, ValueError):  # LGBMNotFittedError
        raise GuardError(
            f"this {type(model).__name__} is not a fitted LightGBM model; fit it first"
        ) from None
    values = booster.feature_importance(importance_type="gain")
    names = booster.feature_name()
    return dict(zip(names, np.asarray(values, dtype=np.float64).tolist(), strict=True))


def _xgboost_gain(model: Any) -> dict[str, float]:
    try:
        booster = model.get_booster() if hasattr(model, "get_booster") else model
        scores = booster.get_score(importance_type="gain")
    except (AttributeError, ValueError) as exc:  # NotFittedError
        raise GuardError(
            f"this {type(model).__name__} is not a fitted XGBoost model ({exc}); fit it first"
        ) from None
    names = booster.feature_names or [f"f{i}" for i in range(int(booster.num_features()))]
    return {str(n): float(scores.get(n, 0.0)) for n in names}  # unused features are absent


def _names_of(model: Any, n: int) -> list[str]:
    names = getattr(model, "feature_names_in_", None)
    if names is None or len(names) != n:
        return [f"x{i}" for i in range(n)]
    return [str(name) for name in names]


# --- permutation importance -------------------------------------------------------------------


def permutation_values(
    model: Any,
    X: Any,
    y: Any,
    scoring: Any,
    n_repeats: int,
    random_state: int | None,
    feature_names: Sequence[str] | None,
) -> dict[str, float]:
    from sklearn.inspection import permutation_importance

    """Mean permutation importance per feature (scikit-learn's, on ``X`` and ``y``)."""
    kind = type(model).__name__
    if X is None or y is None:
        raise GuardError(
            f"{kind} has no model-native gain importance; pass X and y for permutation importance"
        )
    if isinstance(n_repeats, bool) or not isinstance(n_repeats, int) or n_repeats < 1:
        raise GuardError(f"n_repeats={n_repeats!r} is invalid; pass an int >= 1")
    try:
        found = permutation_importance(
            model, X, y, scoring=scoring, n_repeats=n_repeats, random_state=random_state
        )
    except (AttributeError, TypeError, ValueError, KeyError) as exc:
        raise GuardError(f"permutation importance of {kind} failed: {exc}") from None
    values = np.asarray(found["importances_mean"], dtype=np.float64)
    names = [str(c) for c in X.columns] if isinstance(X, pd.DataFrame) else None
    by_name = dict(zip(names or _names_of(model, len(values)), values.tolist(), strict=True))
    return renamed(by_name, feature_names)


def renamed(values: dict[Any, Any], names: Sequence[str] | None) -> dict[Any, Any]:
    """``values`` with its keys replaced by ``names``, in order (unchanged when None)."""
    if names is None:
        return values
    if isinstance(names, str) or len(names) != len(values):
        raise GuardError(
            f"feature_names has {1 if isinstance(names, str) else len(names)} name(s) "
            f"but the model has {len(values)} feature(s); pass one name per feature, in order"
        )
    return dict(zip(names, values.values(), strict=True))
