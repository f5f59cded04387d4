"""Guard rails: data checks, drift, feature-importance tracking and model gates.

Every check returns a :class:`GuardResult`. Inside a flow step, ``self.check(result, ...)``
records results with the task and fails the step on a blocking failure.
"""

from typing import TYPE_CHECKING

from reelflow._lazy import lazy_exports
from reelflow.guards._result import (
    SEVERITIES,
    GuardResult,
    Severity,
    raise_on_blocking,
    verdict,
)

if TYPE_CHECKING:
    from reelflow.guards._drift import (
        DRIFT_METHODS,
        DriftReport,
        column_drift,
        drift,
        popularity_drift,
        score_drift,
    )
    from reelflow.guards._expectations import expect_like_reference
    from reelflow.guards._gates import (
        Gate,
        GateContext,
        beats_champion,
        coverage_at_least,
        default_gates,
        importance_stable,
        latency,
        loads_in_fresh_process,
        no_nan_scores,
        not_degenerate,
        not_worse_than_champion,
    )
    from reelflow.guards._importance import compare_importance, feature_importance
    from reelflow.guards._interactions import check_interactions
    from reelflow.guards._report import render_guard_report
    from reelflow.guards._schema import Column, check_row_count, check_schema

__all__ = [
    "DRIFT_METHODS",
    "SEVERITIES",
    "Column",
    "DriftReport",
    "Gate",
    "GateContext",
    "GuardResult",
    "Severity",
    "beats_champion",
    "check_interactions",
    "check_row_count",
    "check_schema",
    "column_drift",
    "compare_importance",
    "coverage_at_least",
    "default_gates",
    "drift",
    "expect_like_reference",
    "feature_importance",
    "importance_stable",
    "latency",
    "loads_in_fresh_process",
    "no_nan_scores",
    "not_degenerate",
    "not_worse_than_champion",
    "popularity_drift",
    "raise_on_blocking",
    "render_guard_report",
    "score_drift",
    "verdict",
]

__getattr__ = lazy_exports(
    __name__,
    {
        "DRIFT_METHODS": "reelflow.guards._drift",
        "DriftReport": "reelflow.guards._drift",
        "column_drift": "reelflow.guards._drift",
        "drift": "reelflow.guards._drift",
        "popularity_drift": "reelflow.guards._drift",
        "score_drift": "reelflow.guards._drift",
        "expect_like_reference": "reelflow.guards._expectations",
        "Gate": "reelflow.guards._gates",
        "GateContext": "reelflow.guards._gates",
        "beats_champion": "reelflow.guards._gates",
        "coverage_at_least": "reelflow.guards._gates",
        "default_gates": "reelflow.guards._gates",
        "importance_stable": "reelflow.guards._gates",
        "latency": "reelflow.guards._gates",
        "loads_in_fresh_process": "reelflow.guards._gates",
        "no_nan_scores": "reelflow.guards._gates",
        "not_degenerate": "reelflow.guards._gates",
        "not_worse_than_champion": "reelflow.guards._gates",
        "compare_importance": "reelflow.guards._importance",
        "feature_importance": "reelflow.guards._importance",
        "render_guard_report": "reelflow.guards._report",
        "check_interactions": "reelflow.guards._interactions",
        "Column": "reelflow.guards._schema",
        "check_row_count": "reelflow.guards._schema",
        "check_schema": "reelflow.guards._schema",
    },
)
