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
    from reelflow.guards._drift import DRIFT_METHODS, DriftReport, column_drift, drift
    from reelflow.guards._expectations import expect_like_reference
    from reelflow.guards._interactions import check_interactions
    from reelflow.guards._schema import Column, check_row_count, check_schema

__all__ = [
    "DRIFT_METHODS",
    "SEVERITIES",
    "Column",
    "DriftReport",
    "GuardResult",
    "Severity",
    "check_interactions",
    "check_row_count",
    "check_schema",
    "column_drift",
    "drift",
    "expect_like_reference",
    "raise_on_blocking",
    "verdict",
]

__getattr__ = lazy_exports(
    __name__,
    {
        "DRIFT_METHODS": "reelflow.guards._drift",
        "DriftReport": "reelflow.guards._drift",
        "column_drift": "reelflow.guards._drift",
        "drift": "reelflow.guards._drift",
        "expect_like_reference": "reelflow.guards._expectations",
        "check_interactions": "reelflow.guards._interactions",
        "Column": "reelflow.guards._schema",
        "check_row_count": "reelflow.guards._schema",
        "check_schema": "reelflow.guards._schema",
    },
)
