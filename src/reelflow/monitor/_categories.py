"""Drift of category shares when the reference is known only as shares (a profile keeps no rows).

The reference is rebuilt as a sample whose counts follow its shares (at most ``SAMPLE_SIZE``
rows, as a pandas Categorical, so counting reads codes), and handed to ``column_drift`` with the
current values: the distances used here (Jensen-Shannon) depend on shares only, so the rebuilt
size changes nothing but the row count in the details, which is set back to the real one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import pandas as pd

from reelflow.guards import GuardResult, Severity, column_drift

SAMPLE_SIZE = 1_000_000


def shares_drift(
    labels: Sequence[str],
    reference: np.ndarray,
    current: np.ndarray,
    *,
    name: str,
    threshold: float,
    severity: Severity,
    reference_rows: int,
    ordered: bool = False,
) -> GuardResult:
    """``drift:{name}``: the Jensen-Shannon distance between ``reference`` shares (one per
    label) and ``current`` values (labels, None for missing). ``ordered`` keeps the labels'
    order in the plot (bins) instead of the largest first."""
    categories = list(labels) + sorted({v for v in current if v is not None} - set(labels))
    weights = np.asarray(reference, dtype=np.float64)
    counts = np.round(weights / weights.sum() * SAMPLE_SIZE).astype(np.int64)
    codes = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    ref = pd.Categorical.from_codes(codes, dtype=pd.CategoricalDtype(categories))
    cur = pd.Categorical(np.asarray(current, dtype=object), categories=categories)
    result = column_drift(
        pd.Series(ref),
        pd.Series(cur),
        method="jensen_shannon",
        threshold=threshold,
        name=name,
        severity=severity,
    )
    details = dict(result.details) | {"reference_rows": int(reference_rows)}
    if ordered:
        details["plot"] = _ordered_plot(categories, counts, cur)
    return dataclasses.replace(result, details=details)


def _ordered_plot(categories: list[str], ref: np.ndarray, cur: pd.Categorical) -> dict[str, object]:
    codes = np.asarray(cur.codes)
    current = np.bincount(codes[codes >= 0], minlength=len(categories)).astype(np.float64)
    reference = np.pad(ref.astype(np.float64), (0, len(categories) - len(ref)))
    seen = np.flatnonzero((reference > 0) | (current > 0))
    keep = np.arange(seen.min(), seen.max() + 1) if len(seen) else seen
    return {
        "kind": "categories",
        "labels": [categories[i] for i in keep],
        "reference": (reference[keep] / max(reference.sum(), 1.0)).tolist(),
        "current": (current[keep] / max(current.sum(), 1.0)).tolist(),
    }
