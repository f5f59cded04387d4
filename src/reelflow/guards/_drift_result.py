"""One column's drift result: the statistic, the verdict, the sentence and what a report plots."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from reelflow._errors import GuardError
from reelflow.guards._drift_categorical import CategoryCounts, plot
from reelflow.guards._drift_columns import Column, Kind, resolve_kind
from reelflow.guards._drift_methods import (
    METHODS,
    Pair,
    auto_method,
    check_threshold,
    prepare,
)
from reelflow.guards._drift_numeric import NumericPair
from reelflow.guards._result import SEVERITIES, GuardResult, Severity


def measure_column(
    ref: Column,
    cur: Column,
    name: str,
    method: str,
    threshold: float | None,
    by_method: dict[str, float],
    severity: Severity,
) -> GuardResult:
    """The result for one column already read and checked (``by_method``: method thresholds)."""
    _check_rows(ref, cur)
    kind = resolve_kind(ref, cur, method)
    if kind is None:
        return _no_values(name, ref, cur, severity)
    if method != "auto" and METHODS[method].numeric_only and kind != "numeric":
        raise GuardError(
            f"column '{name}' is categorical ({ref.dtype}); {method} needs numbers: "
            "use 'chi_square', 'jensen_shannon' or 'psi'"
        )
    pair = prepare(ref, cur, kind)
    ref_values, cur_values = _valid(pair)
    if ref_values == 0 or cur_values == 0:
        return _no_values(name, ref, cur, severity, pair)
    chosen = auto_method(kind, ref_values) if method == "auto" else method
    limit = threshold if threshold is not None else by_method.get(chosen, METHODS[chosen].threshold)
    limit = check_threshold(chosen, limit, f"column '{name}'")
    return _judge(name, chosen, kind, pair, limit, (ref, cur), severity)


def _judge(
    name: str,
    method: str,
    kind: Kind,
    pair: Pair,
    limit: float,
    columns: tuple[Column, Column],
    severity: Severity,
) -> GuardResult:
    """Measure ``pair`` with ``method`` and hold it to ``limit``."""
    spec = METHODS[method]
    value, notes = spec.measure(pair)
    drifted = value < limit if spec.kind == "p_value" else value >= limit
    return GuardResult(
        name=f"drift:{name}",
        passed=not (drifted or math.isnan(value)),
        severity=severity,
        value=value,
        threshold=limit,
        message=_sentence(name, method, value, limit, drifted, pair),
        details=_details(method, kind, pair, *columns) | notes,
    )


def _check_rows(ref: Column, cur: Column) -> None:
    for column, what in ((ref, "reference"), (cur, "current frame")):
        if column.rows == 0:
            raise GuardError(
                f"the {what} has no rows; drift needs rows on both sides "
                "(check the query or split that built it)"
            )


def _valid(pair: Pair) -> tuple[int, int]:
    if isinstance(pair, CategoryCounts):
        return int(pair.ref.sum()), int(pair.cur.sum())
    return pair.ref.count, pair.cur.count


def _no_values(
    name: str, ref: Column, cur: Column, severity: Severity, pair: Pair | None = None
) -> GuardResult:
    """A column with no value to compare on one side or both (all null, NaN or inf)."""
    ref_values, cur_values = _valid(pair) if pair is not None else (0, 0)
    details = {"kind": "empty", "reference_rows": ref.rows, "current_rows": cur.rows}
    if ref_values == 0 and cur_values == 0:
        message = f"{name} has no values on either side (all null); nothing to compare"
        return GuardResult(f"drift:{name}", True, severity, None, None, message, details)
    if ref_values == 0:
        message = (
            f"{name} cannot be compared: the reference has no values (all null); use a reference "
            "where it is filled or leave the column out with columns=[...]"
        )
    else:
        message = f"{name} drifted: every value is null in the current frame"
    return GuardResult(f"drift:{name}", False, severity, None, None, message, details)


def _details(method: str, kind: Kind, pair: Pair, ref: Column, cur: Column) -> dict[str, Any]:
    details: dict[str, Any] = {
        "method": method,
        "statistic": METHODS[method].kind,
        "kind": kind,
        "reference_rows": ref.rows,
        "current_rows": cur.rows,
    }
    if isinstance(pair, NumericPair):
        edges, ref_counts, cur_counts = pair.plot_bins()
        details["plot"] = {
            "kind": "histogram",
            "edges": edges.tolist(),
            "reference": (ref_counts / ref_counts.sum()).tolist(),
            "current": (cur_counts / cur_counts.sum()).tolist(),
        }
        details["nulls"] = {"reference": pair.ref.nulls, "current": pair.cur.nulls}
        details["infinite"] = {"reference": pair.ref.infinite, "current": pair.cur.infinite}
        return details
    details["plot"] = plot(pair)
    details["nulls"] = {"reference": pair.ref_nulls, "current": pair.cur_nulls}
    details["categories"] = {
        "distinct": pair.distinct,
        "kept": len(pair.ref) - int(pair.other),
        "other": pair.other,
        "new_in_current": int(np.count_nonzero((pair.ref == 0) & (pair.cur > 0))),
    }
    return details


def _sentence(name: str, method: str, value: float, limit: float, drifted: bool, pair: Pair) -> str:
    spec = METHODS[method]
    if math.isnan(value):
        return f"{name}: the {spec.label} could not be computed (values overflow float64)"
    below = spec.kind == "p_value"
    sign = ("<" if below else ">=") if drifted else (">=" if below else "<")
    verb = "drifted" if drifted else "did not drift"
    text = f"{name} {verb}: {spec.label} {value:.3g} {sign} {limit:g}"
    if method == "wasserstein":
        text += " (normalized by the reference std)"
    if isinstance(pair, CategoryCounts) and drifted:
        new = int(np.count_nonzero((pair.ref == 0) & (pair.cur > 0)))
        text += f" ({new} value(s) absent from the reference)" if new else ""
    return text


def check_severity(severity: str) -> None:
    """Raise a one-line GuardError for a severity that is not ``block`` or ``warn``."""
    if severity not in SEVERITIES:
        raise GuardError(f"severity {severity!r} is invalid; use 'block' or 'warn'")
