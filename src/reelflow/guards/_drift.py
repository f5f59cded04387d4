"""Drift between a reference and a current sample: per column, for model outputs, per dataset.

``column_drift`` compares one column and returns a :class:`GuardResult`; ``drift`` compares every
column of two frames (pandas, Arrow or polars) and adds a dataset-level verdict. Methods, their
defaults and thresholds are in ``DRIFT_METHODS`` and ``docs/guards.md``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from reelflow._errors import GuardError
from reelflow.guards._drift_columns import as_column, check_compatible
from reelflow.guards._drift_methods import DRIFT_METHODS, check_method
from reelflow.guards._drift_report import DriftReport, drift
from reelflow.guards._drift_result import check_severity, measure_column
from reelflow.guards._result import GuardResult, Severity

__all__ = [
    "DRIFT_METHODS",
    "DriftReport",
    "column_drift",
    "drift",
    "popularity_drift",
    "score_drift",
]


def column_drift(
    reference: Any,
    current: Any,
    *,
    method: str = "auto",
    threshold: float | None = None,
    name: str | None = None,
    severity: Severity = "block",
) -> GuardResult:
    """Whether one column drifted from ``reference`` to ``current``.

    ``reference`` and ``current`` are pandas Series, pyarrow (Chunked)Arrays, polars Series or
    1-D numpy arrays. ``method`` is ``"auto"`` or a key of ``DRIFT_METHODS``; ``threshold``
    overrides the method's default. The result is named ``drift:{name}`` (``name`` defaults to
    the Series' name).
    """
    label = name if name is not None else _series_name(reference)
    check_method(method, f"column '{label}'")
    check_severity(severity)
    ref, cur = as_column(reference, "the reference"), as_column(current, "the current sample")
    check_compatible(ref, cur, label)
    return measure_column(ref, cur, label, method, threshold, {}, severity)


def _series_name(values: Any) -> str:
    name = getattr(values, "name", None)
    return str(name) if isinstance(name, (str, int)) and not isinstance(name, bool) else "values"


def score_drift(
    reference_scores: Any,
    current_scores: Any,
    *,
    method: str = "auto",
    threshold: float | None = None,
    severity: Severity = "block",
) -> GuardResult:
    """Drift of a model's scores (any shape; flattened), named ``drift:scores``."""
    ref, cur = np.ravel(np.asarray(reference_scores)), np.ravel(np.asarray(current_scores))
    return column_drift(
        ref, cur, method=method, threshold=threshold, name="scores", severity=severity
    )


def popularity_drift(
    reference_items: Any,
    current_items: Any,
    popularity: Any,
    *,
    method: str = "auto",
    threshold: float | None = None,
    severity: Severity = "block",
) -> GuardResult:
    """Drift of the popularity of recommended items, named ``drift:popularity``.

    ``popularity`` maps item -> popularity (a Mapping, a pandas Series indexed by item, or an
    array indexed by integer item id); items it does not know count as 0.
    """
    ref = _popularity_of(np.ravel(np.asarray(reference_items)), popularity)
    cur = _popularity_of(np.ravel(np.asarray(current_items)), popularity)
    return column_drift(
        ref, cur, method=method, threshold=threshold, name="popularity", severity=severity
    )


def _popularity_of(items: np.ndarray, popularity: Any) -> np.ndarray:
    import pandas as pd

    if isinstance(popularity, np.ndarray):
        if items.dtype.kind not in "iu":
            raise GuardError("an array popularity needs integer item ids; pass a Series instead")
        inside = (items >= 0) & (items < len(popularity))
        values = np.zeros(len(items), dtype=np.float64)
        values[inside] = popularity[items[inside]]
        return values
    table = popularity if isinstance(popularity, pd.Series) else pd.Series(dict(popularity))
    position = table.index.get_indexer(pd.Index(items))
    values = np.asarray(table.to_numpy(dtype=np.float64))
    return np.where(position >= 0, values[position], 0.0)
