"""Drift of whole frames: every column, then one dataset verdict (the share that drifted).

Frames are read column by column (a pandas column, or an Arrow ``ChunkedArray`` straight from the
table; polars goes through ``to_arrow``); columns are measured on a small thread pool, since the
numpy and Arrow kernels release the GIL.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pyarrow as pa

from reelflow._errors import GuardError
from reelflow.guards._drift_columns import UNSUPPORTED, Column, as_column, check_compatible
from reelflow.guards._drift_methods import METHODS, check_method, check_threshold
from reelflow.guards._drift_result import check_severity, measure_column
from reelflow.guards._result import GuardResult, Severity

PARALLEL_CELLS = 1_000_000  # below this many values, one thread is faster


@dataclass(frozen=True)
class DriftReport:
    """One result per column (``drift:{column}``) and the dataset verdict (``drift:dataset``)."""

    columns: list[GuardResult]
    dataset: GuardResult

    @property
    def results(self) -> list[GuardResult]:
        """The dataset result first, then one per column."""
        return [self.dataset, *self.columns]

    @property
    def drifted(self) -> list[str]:
        """Names of the columns that drifted."""
        return [_column_of(result) for result in self.columns if not result.passed]

    @property
    def passed(self) -> bool:
        """Whether the dataset-level check passed."""
        return self.dataset.passed

    def to_frame(self) -> pd.DataFrame:
        """One row per column: method, statistic, threshold, verdict, nulls and the sentence."""
        rows = [_row(result) for result in self.columns]
        return pd.DataFrame(rows, columns=list(_row(self.dataset)))

    def summary(self) -> str:
        """The dataset line, then one line per drifted column."""
        lines = [self.dataset.summary()]
        lines += [r.summary() for r in self.columns if not r.passed]
        return "\n".join(lines)


def _column_of(result: GuardResult) -> str:
    return result.name.removeprefix("drift:")


def _row(result: GuardResult) -> dict[str, Any]:
    details = result.details
    nulls = details.get("nulls", {})
    return {
        "column": _column_of(result),
        "kind": details.get("kind"),
        "method": details.get("method"),
        "statistic": details.get("statistic"),
        "value": result.value,
        "threshold": result.threshold,
        "drifted": not result.passed,
        "status": result.status,
        "reference_nulls": nulls.get("reference"),
        "current_nulls": nulls.get("current"),
        "message": result.message,
    }


def drift(
    reference: Any,
    current: Any,
    *,
    columns: Iterable[str] | None = None,
    methods: Mapping[str, str] | None = None,
    thresholds: Mapping[str, float] | None = None,
    drift_share: float = 0.5,
    severity: Severity = "block",
    column_severity: Severity = "warn",
) -> DriftReport:
    """Compare every column of ``current`` with ``reference`` and give a dataset verdict.

    ``columns`` defaults to the reference's columns (date/time and nested ones are skipped);
    ``methods`` maps a column to a method; ``thresholds`` maps a column, or a method, to a
    threshold (a column's entry wins). The dataset drifts when the share of drifted columns is
    at least ``drift_share``.
    """
    check_severity(severity)
    check_severity(column_severity)
    if not 0 < float(drift_share) <= 1:
        raise GuardError(f"drift_share {drift_share!r} must be in (0, 1]: a share of columns")
    ref, cur = _Frame(reference, "reference"), _Frame(current, "current frame")
    names, skipped = _select(ref, cur, columns)
    plan = _plan(names, dict(methods or {}), dict(thresholds or {}))
    tasks = [_task(ref, cur, name, *plan(name), column_severity) for name in names]
    parallel = ref.rows * len(names) >= PARALLEL_CELLS
    results = _run(tasks, parallel)
    return DriftReport(results, _dataset(results, drift_share, severity, skipped, cur, ref))


class _Frame:
    """Column access to a pandas DataFrame, an Arrow Table/RecordBatch or a polars DataFrame."""

    def __init__(self, data: Any, what: str) -> None:
        self.what = what
        if isinstance(data, pa.RecordBatch):
            data = pa.Table.from_batches([data])
        if not isinstance(data, (pd.DataFrame, pa.Table)) and hasattr(data, "to_arrow"):
            data = data.to_arrow()  # polars
        if not isinstance(data, (pd.DataFrame, pa.Table)):
            raise GuardError(
                f"the {what} is a {type(data).__name__}; pass a pandas DataFrame, "
                "a pyarrow Table or a polars DataFrame"
            )
        self.data = data
        self.keys = data.columns.tolist() if isinstance(data, pd.DataFrame) else data.column_names
        self.names = [str(key) for key in self.keys]
        self.rows = len(data) if isinstance(data, pd.DataFrame) else data.num_rows
        doubled = sorted({n for n in self.names if self.names.count(n) > 1})
        if doubled:
            raise GuardError(f"the {what} has two columns named '{doubled[0]}'; rename one")

        self._read: dict[str, Column] = {}

    def column(self, name: str) -> Column:
        """Column ``name``, read once."""
        if name not in self._read:
            key = self.keys[self.names.index(name)]
            frame = self.data
            values = frame[key] if isinstance(frame, pd.DataFrame) else frame.column(key)
            self._read[name] = as_column(values, f"column '{name}' of the {self.what}")
        return self._read[name]


def _select(
    ref: _Frame, cur: _Frame, columns: Iterable[str] | None
) -> tuple[list[str], dict[str, str]]:
    """The columns to compare and those skipped (with why); GuardError for missing ones."""
    if columns is not None:
        names = [str(c) for c in ([columns] if isinstance(columns, str) else columns)]
        for frame in (ref, cur):
            _require(frame, names, "pass only columns both frames have")
        return names, {}
    _require(cur, ref.names, "add it, or pass columns=[...] to compare the shared ones")
    skipped = {n: ref.column(n).dtype for n in ref.names if ref.column(n).base in UNSUPPORTED}
    names = [n for n in ref.names if n not in skipped]
    if not names:
        raise GuardError("the reference has no column drift can compare (numbers or categories)")
    return names, skipped


def _require(frame: _Frame, names: list[str], fix: str) -> None:
    missing = [n for n in names if n not in frame.names]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise GuardError(f"column '{missing[0]}'{more} is missing from the {frame.what}; {fix}")


def _plan(
    names: list[str], methods: dict[str, str], thresholds: dict[str, float]
) -> Callable[[str], tuple[str, float | None, dict[str, float]]]:
    """Validate ``methods`` and ``thresholds``; a function giving each column's settings."""
    for column, method in methods.items():
        if column not in names:
            raise GuardError(f"methods names column '{column}', which is not compared")
        check_method(method, f"column '{column}'")
    by_method: dict[str, float] = {}
    for key, value in thresholds.items():
        if key not in names and key not in METHODS:
            raise GuardError(f"thresholds key '{key}' is neither a compared column nor a method")
        if key not in names:
            by_method[key] = check_threshold(key, value, f"thresholds['{key}']")

    def settings(name: str) -> tuple[str, float | None, dict[str, float]]:
        return methods.get(name, "auto"), thresholds.get(name), by_method

    return settings


def _task(
    ref: _Frame,
    cur: _Frame,
    name: str,
    method: str,
    threshold: float | None,
    by_method: dict[str, float],
    severity: Severity,
) -> Callable[[], GuardResult]:
    ref_column, cur_column = ref.column(name), cur.column(name)
    check_compatible(ref_column, cur_column, name)  # every type error before any work
    return lambda: measure_column(
        ref_column, cur_column, name, method, threshold, by_method, severity
    )


def _run(tasks: list[Callable[[], GuardResult]], parallel: bool) -> list[GuardResult]:
    workers = min(len(tasks), os.cpu_count() or 1, 4)
    if not parallel or workers < 2:
        return [task() for task in tasks]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda task: task(), tasks))


def _dataset(
    results: list[GuardResult],
    drift_share: float,
    severity: Severity,
    skipped: dict[str, str],
    cur: _Frame,
    ref: _Frame,
) -> GuardResult:
    drifted = [_column_of(r) for r in results if not r.passed]
    share = len(drifted) / len(results)
    failed = share >= drift_share
    named = f": {', '.join(drifted[:5])}{', ...' if len(drifted) > 5 else ''}" if drifted else ""
    sign = ">=" if failed else "<"
    message = (
        f"{'dataset drifted' if failed else 'no dataset drift'}: {len(drifted)} of "
        f"{len(results)} columns drifted ({share:.0%} {sign} {drift_share:.0%}){named}"
    )
    details = {
        "drifted": drifted,
        "columns": len(results),
        "skipped": skipped,
        "not_in_reference": [n for n in cur.names if n not in ref.names],
        "reference_rows": ref.rows,
        "current_rows": cur.rows,
    }
    return GuardResult("drift:dataset", not failed, severity, share, drift_share, message, details)
