"""Expectations against a reference: the data the champion was trained on, or the last run's.

``expect_like_reference`` returns, in this order (``name`` is ``"expect"`` by default):

- ``expect:rows``: the current row count over the reference's, within ``row_ratio``;
- per column (the reference's columns, then the current's new ones, or ``columns=``):
  - ``expect:<col>:missing`` (failed) when the current data lacks a reference column;
  - ``expect:<col>:new`` (a ``warn``) when the current data has a column the reference lacks;
  - ``expect:<col>:dtype`` (failed) when the two sides hold different kinds of values
    (numbers, booleans, text/categories, datetimes, durations); other checks of that column are
    skipped except the null rate. Widths do not count: int32 vs int64 or int vs float is fine;
  - ``expect:<col>:nulls``: the current null rate (None, NaN, NaT) at most the reference's plus
    ``max_null_rate_increase``;
  - ``expect:<col>:infinite`` (only when a side holds ±inf): fails when the current data holds
    ±inf and the reference did not, or more than ``max_null_rate_increase`` above its rate;
  - ``expect:<col>:constant`` (failed, only then) when the current column holds a single value
    and the reference held several;
  - for text, categorical and boolean columns: ``expect:<col>:new_categories`` and
    ``expect:<col>:missing_categories`` (severities ``new_categories`` and
    ``missing_categories``; None skips them), or a single ``expect:<col>:cardinality`` warning
    when a side has more than ``max_categories`` distinct values (an id column?), which skips
    the category and drift checks of that column;
  - ``drift:<col>``: ``reelflow.guards.column_drift`` with ``method="auto"`` (or the method
    ``distribution`` names), skipped when a side has no value to compare (all null or ±inf:
    the checks above report it); datetimes are compared as unix seconds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from reelflow._errors import GuardError
from reelflow.guards._frames import as_frame, column_names, count, examples, plural, rate, share
from reelflow.guards._result import SEVERITIES, GuardResult, Severity, json_safe

MAX_CATEGORIES = 10_000
MAX_EXAMPLES = 10


def expect_like_reference(
    current: Any,
    reference: Any,
    *,
    columns: Sequence[Any] | None = None,
    row_ratio: tuple[float, float] | None = (0.5, 2.0),
    max_null_rate_increase: float | None = 0.05,
    new_categories: Severity | None = "warn",
    missing_categories: Severity | None = "warn",
    distribution: bool | str = True,
    max_categories: int = MAX_CATEGORIES,
    name: str = "expect",
    severity: Severity = "block",
) -> list[GuardResult]:
    """Hold ``current`` to what ``reference`` looked like (see the module doc for each result).

    Both are pandas DataFrames, pyarrow Tables, polars DataFrames or ``Interactions``.
    ``row_ratio=None`` or ``max_null_rate_increase=None`` skips that check; ``distribution``
    is True (``method="auto"``), False, or a drift method name.
    """
    _validate(row_ratio, max_null_rate_increase, new_categories, missing_categories, severity)
    if max_categories < 1:
        raise GuardError(f"max_categories={max_categories!r} must be at least 1")
    if isinstance(distribution, str) and distribution != "auto":
        from reelflow.guards._drift import DRIFT_METHODS

        if distribution not in DRIFT_METHODS:
            names = ", ".join(["auto", *DRIFT_METHODS])
            raise GuardError(f"distribution={distribution!r} is not a drift method; use {names}")
    ref = as_frame(reference, what="the reference")
    cur = as_frame(current, what="the current data")
    if len(ref) == 0:
        raise GuardError(
            "the reference is empty (0 rows); pass the data the champion was trained on "
            "(or the last good run's)"
        )
    check = _Checks(name, severity, max_null_rate_increase, new_categories, missing_categories)
    if len(cur) == 0:
        message = f"the current data is empty (0 rows; the reference has {plural(len(ref), 'row')})"
        return [check.result("rows", False, 0.0, _low(row_ratio), message, rows=0)]
    results = [] if row_ratio is None else [check.rows(len(cur), len(ref), row_ratio)]
    for column in _columns(columns, ref, cur):
        results.extend(check.column(column, cur, ref, distribution, max_categories))
    return results


def _validate(
    row_ratio: tuple[float, float] | None,
    max_null_rate_increase: float | None,
    *severities: Any,
) -> None:
    if row_ratio is not None:
        try:
            low, high = (float(bound) for bound in row_ratio)
        except (TypeError, ValueError):
            low, high = math.nan, math.nan
        if not 0 <= low <= high:
            raise GuardError(f"row_ratio={row_ratio!r} must be (low, high) with 0 <= low <= high")
    if max_null_rate_increase is not None and not 0 <= max_null_rate_increase <= 1:
        raise GuardError(
            f"max_null_rate_increase={max_null_rate_increase!r} must be between 0 and 1"
        )
    for value in severities[:2]:
        if value is not None and value not in SEVERITIES:
            raise GuardError(f"category severity {value!r} is invalid; use 'block', 'warn' or None")
    if severities[2] not in SEVERITIES:
        raise GuardError(f"severity {severities[2]!r} is invalid; use 'block' or 'warn'")


def _low(row_ratio: tuple[float, float] | None) -> float | None:
    return None if row_ratio is None else row_ratio[0]


def _columns(columns: Sequence[Any] | None, ref: pd.DataFrame, cur: pd.DataFrame) -> list[Any]:
    if columns is None:
        return [*ref.columns, *(c for c in cur.columns if c not in ref.columns)]
    if isinstance(columns, str):
        columns = [columns]
    for column in columns:
        if column not in ref.columns and column not in cur.columns:
            raise GuardError(
                f"column '{column}' is in neither frame (the reference has: "
                f"{column_names(ref)}); fix columns="
            )
    return list(columns)


def _kind(series: pd.Series) -> str:
    """The family of a column's values: widths and nullability do not count."""
    dtype = series.dtype
    if len(series) and bool(series.isna().all()):
        return "nulls"  # an all-null column (float NaN, object None, ...) matches any kind
    if pd.api.types.is_bool_dtype(dtype):
        return "booleans"
    if pd.api.types.is_numeric_dtype(dtype):
        return "numbers"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetimes"
    if pd.api.types.is_timedelta64_dtype(dtype):
        return "durations"
    return "text"


class _Checks:
    """The checks of one call, with its options."""

    def __init__(
        self,
        name: str,
        severity: Severity,
        max_increase: float | None,
        new_categories: Severity | None,
        missing_categories: Severity | None,
    ) -> None:
        self.name, self.severity, self.max_increase = name, severity, max_increase
        self.new_categories, self.missing_categories = new_categories, missing_categories

    def result(
        self,
        check: str,
        passed: bool,
        value: float | None,
        threshold: float | None,
        message: str,
        *,
        severity: Severity | None = None,
        **details: Any,
    ) -> GuardResult:
        return GuardResult(
            name=f"{self.name}:{check}",
            passed=passed,
            severity=severity or self.severity,
            value=value,
            threshold=threshold,
            message=message,
            details=json_safe(details),
        )

    def rows(self, n_cur: int, n_ref: int, row_ratio: tuple[float, float]) -> GuardResult:
        low, high = row_ratio
        ratio = n_cur / n_ref
        bound = low if ratio < low else high if ratio > high else low if ratio < 1 else high
        passed = low <= ratio <= high
        verdict = "within" if passed else "outside"
        message = (
            f"{plural(n_cur, 'row')}, {ratio:.2f}x the reference's {count(n_ref)} "
            f"({verdict} {low:g}x-{high:g}x)"
        )
        return self.result(
            "rows",
            passed,
            ratio,
            bound,
            message,
            rows=n_cur,
            reference_rows=n_ref,
            low=low,
            high=high,
        )

    def column(
        self,
        column: Any,
        cur: pd.DataFrame,
        ref: pd.DataFrame,
        distribution: bool | str,
        max_categories: int,
    ) -> list[GuardResult]:
        label = str(column)
        if column not in cur.columns:
            message = f"column '{label}' is in the reference but not in the current data"
            return [self.result(f"{label}:missing", False, None, None, message)]
        if column not in ref.columns:
            message = (
                f"column '{label}' is new: the reference does not have it, so it is not compared"
            )
            return [self.result(f"{label}:new", False, None, None, message, severity="warn")]
        now, before = cur[column], ref[column]
        if not isinstance(now, pd.Series) or not isinstance(before, pd.Series):
            raise GuardError(f"column '{label}' appears more than once; rename the duplicates")
        now, before = _hashable(now), _hashable(before)
        results = [] if self.max_increase is None else [self.nulls(label, now, before)]
        kinds = _kind(now), _kind(before)
        if "nulls" not in kinds and kinds[0] != kinds[1]:
            return [*results, self.dtype(label, now, before)]
        results.extend(self.infinite(label, now, before))
        distinct = now.nunique(), before.nunique()
        results.extend(self.constant(label, now, distinct))
        if "text" in kinds or "booleans" in kinds:
            if max(distinct) > max_categories:
                return [*results, self.cardinality(label, max(distinct), max_categories)]
            results.extend(self.categories(label, now, before))
        if distribution and _has_values(now) and _has_values(before):
            results.append(self.drift(label, now, before, distribution))
        return results

    def nulls(self, label: str, now: pd.Series, before: pd.Series) -> GuardResult:
        assert self.max_increase is not None
        cur_rate, ref_rate = float(now.isna().mean()), float(before.isna().mean())
        limit = min(ref_rate + self.max_increase, 1.0)
        passed = cur_rate <= limit + 1e-12
        if passed:
            message = f"null rate of '{label}' is {rate(cur_rate)} (reference {rate(ref_rate)})"
        else:
            message = (
                f"null rate of '{label}' rose from {rate(ref_rate)} to {rate(cur_rate)} "
                f"(at most {rate(limit)} allowed)"
            )
        return self.result(
            f"{label}:nulls",
            passed,
            cur_rate,
            limit,
            message,
            reference_rate=ref_rate,
            nulls=int(now.isna().sum()),
        )

    def dtype(self, label: str, now: pd.Series, before: pd.Series) -> GuardResult:
        message = (
            f"column '{label}' holds {_kind(now)} ({now.dtype}) but the reference holds "
            f"{_kind(before)} ({before.dtype}); cast it back, e.g. .astype('{before.dtype}')"
        )
        return self.result(
            f"{label}:dtype",
            False,
            None,
            None,
            message,
            current=str(now.dtype),
            reference=str(before.dtype),
        )

    def infinite(self, label: str, now: pd.Series, before: pd.Series) -> list[GuardResult]:
        cur_inf, ref_inf = _infinite(now), _infinite(before)
        if not cur_inf and not ref_inf:
            return []
        cur_rate, ref_rate = cur_inf / len(now), ref_inf / len(before)
        if ref_inf:
            limit = ref_rate + (self.max_increase or 0.0)
            passed = cur_rate <= limit + 1e-12
        else:
            limit, passed = 0.0, cur_inf == 0
        message = (
            f"'{label}' holds {plural(cur_inf, 'infinite value')} ({share(cur_inf, len(now))}; "
            f"reference {rate(ref_rate)})"
        )
        if not passed:
            message += "; replace them (they break most models and statistics)"
        return [
            self.result(
                f"{label}:infinite",
                passed,
                cur_rate,
                limit,
                message,
                infinite=cur_inf,
                reference_rate=ref_rate,
            )
        ]

    def constant(self, label: str, now: pd.Series, distinct: tuple[int, int]) -> list[GuardResult]:
        if distinct[0] != 1 or distinct[1] <= 1:
            return []
        value = examples(now.dropna().unique(), 1)[0]
        message = (
            f"'{label}' holds one value ({value!r}) in the current data but "
            f"{plural(distinct[1], 'distinct value')} in the reference; a broken join or "
            "a default filled in?"
        )
        return [self.result(f"{label}:constant", False, 1, 1, message, held=value)]

    def cardinality(self, label: str, distinct: int, limit: int) -> GuardResult:
        message = (
            f"'{label}' has {count(distinct)} distinct values (more than max_categories="
            f"{count(limit)}): category and drift checks skipped; an id column? leave it out "
            "with columns="
        )
        return self.result(f"{label}:cardinality", False, distinct, limit, message, severity="warn")

    def categories(self, label: str, now: pd.Series, before: pd.Series) -> list[GuardResult]:
        cur_values, ref_values = pd.Index(now.dropna().unique()), pd.Index(before.dropna().unique())
        results = []
        for check, severity, these, those, rows in (
            ("new_categories", self.new_categories, cur_values, ref_values, now),
            ("missing_categories", self.missing_categories, ref_values, cur_values, before),
        ):
            if severity is None:
                continue
            extra = these[~np.asarray(these.isin(those))]
            carried = int(rows.isin(extra).sum()) if len(extra) else 0
            side = "reference" if check == "new_categories" else "current data"
            what = "new" if check == "new_categories" else "missing"
            if len(extra):
                eg = ", ".join(repr(v) for v in examples(extra, 3))
                message = (
                    f"{plural(len(extra), f'{what} category', f'{what} categories')} in "
                    f"'{label}' (not in the {side}; {share(carried, len(rows))} of rows), "
                    f"e.g. {eg}"
                )
            else:
                message = f"no {what} categories in '{label}'"
            results.append(
                self.result(
                    f"{label}:{check}",
                    not len(extra),
                    len(extra),
                    0,
                    message,
                    severity=severity,
                    categories=examples(extra, MAX_EXAMPLES),
                    rows=carried,
                )
            )
        return results

    def drift(
        self, label: str, now: pd.Series, before: pd.Series, method: bool | str
    ) -> GuardResult:
        from reelflow.guards._drift import column_drift

        chosen = method if isinstance(method, str) else "auto"
        try:
            return column_drift(
                _comparable(before),
                _comparable(now),
                method=chosen,
                name=label,
                severity=self.severity,
            )
        except GuardError as error:
            return GuardResult(
                name=f"drift:{label}",
                passed=False,
                severity=self.severity,
                message=f"drift of '{label}' cannot be measured: {error.message}",
            )


def _hashable(series: pd.Series) -> pd.Series:
    """``series``, with values that cannot be hashed (lists, dicts) replaced by their text so
    they can be counted and compared as categories."""
    if series.dtype != np.dtype(object):
        return series
    try:
        series.nunique()
    except TypeError:
        return series.map(lambda v: v if v is None else repr(v))
    return series


def _has_values(series: pd.Series) -> bool:
    """Whether a distribution can be drawn: a value that is neither null nor ±inf (a side
    without any is already reported by the null-rate and infinite checks)."""
    if pd.api.types.is_float_dtype(series.dtype):
        return bool(np.isfinite(series.to_numpy(dtype=np.float64, na_value=np.nan)).any())
    return bool(series.notna().any())


def _infinite(series: pd.Series) -> int:
    if not pd.api.types.is_float_dtype(series.dtype):
        return 0
    values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    return int(np.isinf(values).sum())


def _comparable(series: pd.Series) -> pd.Series:
    """Datetimes as unix seconds (drift compares numbers and categories)."""
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        series = series.dt.tz_convert("UTC").dt.tz_localize(None)
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        seconds = (series.to_numpy() - np.datetime64(0, "s")) / np.timedelta64(1, "s")
        return pd.Series(np.asarray(seconds, dtype=np.float64), name=series.name)
    if pd.api.types.is_timedelta64_dtype(series.dtype):
        seconds = series.to_numpy() / np.timedelta64(1, "s")
        return pd.Series(np.asarray(seconds, dtype=np.float64), name=series.name)
    return series
