"""Schema checks: column types, nullability, ranges, allowed values, unique keys, row counts.

Validation is pandera's (lazy, so every failure is found in one pass); reelflow adds the
:class:`Column` shorthand, and turns pandera's errors into :class:`GuardResult` records:

- one overall result named ``name`` (``"schema"``), passed when every rule holds; its details
  count the failures of each ``column:rule``;
- one result per failed rule kind of each column, named ``"schema:<column>:<rule>"``, where
  ``rule`` is ``missing``, ``unexpected`` (a strict schema), ``dtype``, ``nullable``, ``unique``,
  ``range`` (``min``/``max``, pandera's ``in_range``/``ge``/``gt``/``le``/``lt``), ``allowed``
  (``isin``/``notin``), ``error`` (a check that raised) or the name of any other pandera check;
  a key over several columns is ``"schema:a,b:unique"``, a frame-level check ``"schema:<check>"``.

Each failed result's ``value`` is the number of failing rows (1 for a missing column or a wrong
dtype), ``threshold`` is 0, and ``details`` hold the rule, the pandera checks and a few failure
cases with their row index.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from reelflow._errors import GuardError
from reelflow.guards._frames import (
    as_frame,
    column_names,
    count,
    is_interactions,
    plural,
    share,
    shown,
)
from reelflow.guards._result import GuardResult, Severity, json_safe

if TYPE_CHECKING:
    import pandera.pandas as pa

MAX_EXAMPLES = 5
_RANGE_CHECKS = {
    "in_range",
    "between",
    "greater_than",
    "greater_than_or_equal_to",
    "less_than",
    "less_than_or_equal_to",
}
_ALLOWED_CHECKS = {"isin", "notin"}
_REASON_RULES = {
    "COLUMN_NOT_IN_DATAFRAME": "missing",
    "COLUMN_NOT_IN_SCHEMA": "unexpected",
    "WRONG_DATATYPE": "dtype",
    "DATATYPE_COERCION": "dtype",
    "SERIES_CONTAINS_NULLS": "nullable",
    "SERIES_CONTAINS_DUPLICATES": "unique",
    "DUPLICATES": "unique",
    "CHECK_ERROR": "error",
}


@dataclass(frozen=True)
class Column:
    """What one column must hold, compiled to a ``pandera.Column``.

    ``dtype`` is anything pandera understands (``int``, ``"int64"``, ``float``, ``str``,
    ``"category"``, ``"datetime64[ns]"``; None leaves it unchecked); ``min``/``max`` are
    inclusive bounds (NaN is a null, ±inf breaks the bounds); ``allowed`` the only values
    accepted; ``unique`` makes the column a key (nulls are not compared: forbid them with
    ``nullable=False``); ``required=False`` lets the column be absent.
    """

    dtype: Any = None
    nullable: bool = True
    min: Any = None
    max: Any = None
    allowed: Collection[Any] | None = None
    unique: bool = False
    required: bool = True

    def __post_init__(self) -> None:
        if self.allowed is not None:
            if isinstance(self.allowed, (str, bytes)) or not isinstance(self.allowed, Iterable):
                raise GuardError(
                    f"Column(allowed={self.allowed!r}) must be a collection of values, "
                    "e.g. allowed={'a', 'b'}"
                )
            object.__setattr__(self, "allowed", tuple(self.allowed))
        if self.min is not None and self.max is not None and _greater(self.min, self.max):
            raise GuardError(f"Column(min={self.min!r}, max={self.max!r}): min is above max")

    def to_pandera(self, name: Any) -> pa.Column:
        """The equivalent ``pandera.Column`` (named ``name``)."""
        import pandera.pandas as pa

        checks = []
        if self.min is not None and self.max is not None:
            checks.append(pa.Check.in_range(self.min, self.max))
        elif self.min is not None:
            checks.append(pa.Check.ge(self.min))
        elif self.max is not None:
            checks.append(pa.Check.le(self.max))
        if self.allowed is not None:
            checks.append(pa.Check.isin(list(self.allowed)))
        try:
            return pa.Column(
                self.dtype,
                checks=checks,
                nullable=self.nullable,
                unique=self.unique,
                required=self.required,
                name=name,
            )
        except (TypeError, ValueError) as error:
            raise GuardError(
                f"column '{name}': dtype {self.dtype!r} is not understood ({error}); "
                "use e.g. int, float, str, 'int32', 'category' or 'datetime64[ns]'"
            ) from None


def _greater(low: Any, high: Any) -> bool:
    try:
        return bool(low > high)
    except TypeError:
        raise GuardError(f"Column(min={low!r}, max={high!r}): min and max do not compare") from None


# --- check_schema ----------------------------------------------------------------------------


@dataclass
class _Failure:
    """The failures of one rule kind on one column (several pandera errors may feed it)."""

    column: str | None
    rule: str
    checks: list[str] = field(default_factory=list)
    count: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)
    coercion: bool = False
    actual: str | None = None


def check_schema(
    data: Any,
    schema: pa.DataFrameSchema | Mapping[Any, Column | pa.Column],
    *,
    name: str = "schema",
    severity: Severity = "block",
) -> list[GuardResult]:
    """Validate ``data`` against ``schema`` (a pandera ``DataFrameSchema`` or a mapping column
    -> :class:`Column`): the overall result first, then one per failed rule of each column.

    ``data`` is a pandas DataFrame, a pyarrow Table, a polars DataFrame or ``Interactions``.
    """
    import pandera.pandas as pa

    frame = as_frame(data, what="the data")
    compiled = _compile(schema)
    try:
        compiled.validate(frame, lazy=True)
        errors: list[Any] = []
    except pa.errors.SchemaErrors as raised:
        errors = list(raised.schema_errors)
    except pa.errors.SchemaError as raised:  # not lazy: a single error
        errors = [raised]
    except (pa.errors.SchemaDefinitionError, pa.errors.BackendNotFoundError) as error:
        raise GuardError(f"the schema cannot be applied: {error}; fix its definition") from None
    failures = _collect(errors, frame)
    n_rows = len(frame)
    results = [
        _result(f, name=name, n_rows=n_rows, frame=frame, severity=severity) for f in failures
    ]
    return [_overall(failures, name, n_rows, len(compiled.columns), severity), *results]


def _compile(schema: Any) -> pa.DataFrameSchema:
    import pandera.pandas as pa

    if isinstance(schema, pa.DataFrameSchema):
        return schema
    if not isinstance(schema, Mapping):
        raise GuardError(
            f"schema is a {type(schema).__name__}; pass a pandera DataFrameSchema or a dict "
            "of column name -> reelflow.guards.Column"
        )
    columns = {}
    for key, spec in schema.items():
        if isinstance(spec, Column):
            columns[key] = spec.to_pandera(key)
        elif isinstance(spec, pa.Column):
            columns[key] = spec
        else:
            raise GuardError(
                f"schema['{key}'] is a {type(spec).__name__}; use reelflow.guards.Column(...) "
                "or pandera.Column(...)"
            )
    return pa.DataFrameSchema(columns)


def _collect(errors: Iterable[Any], frame: pd.DataFrame) -> list[_Failure]:
    """Group pandera's errors by (column, rule kind), in the order pandera found them."""
    groups: dict[tuple[str | None, str], _Failure] = {}
    for error in errors:
        reason = getattr(getattr(error, "reason_code", None), "name", "") or ""
        rule = _REASON_RULES.get(reason) or _rule_of_check(error.check, reason)
        cases = error.failure_cases
        column = _column_of(error, cases, rule)
        if rule == "unique" and _is_empty_frame(cases):
            continue  # only nulls repeat: nulls are not keys (nullability is its own rule)
        failure = groups.setdefault((column, rule), _Failure(column, rule))
        check = _check_text(error.check)
        if check and check not in failure.checks:
            failure.checks.append(check)
        if reason == "WRONG_DATATYPE":
            failure.actual = _dtype_of(frame, error.column_name, cases)
            failure.count = failure.count or 1  # coerced values that failed are counted already
            continue
        if reason == "DATATYPE_COERCION" and not failure.coercion:
            failure.coercion, failure.count = True, 0
            failure.examples.clear()
        n, examples = _cases(cases, rule)
        failure.count += n
        failure.examples.extend(examples[: MAX_EXAMPLES - len(failure.examples)])
    return list(groups.values())


def _check_text(check: Any) -> str:
    if check is None:
        return ""
    text = str(check.error) if getattr(check, "error", None) else str(getattr(check, "name", check))
    return text if len(text) <= 80 else text[:77] + "..."


def _rule_of_check(check: Any, reason: str) -> str:
    check_name = str(getattr(check, "name", None) or check or reason.lower() or "check")
    if check_name in _RANGE_CHECKS:
        return "range"
    if check_name in _ALLOWED_CHECKS:
        return "allowed"
    rule = re.sub(r"[^0-9A-Za-z_]+", "_", check_name).strip("_")
    return rule or "check"


def _column_of(error: Any, cases: Any, rule: str) -> str | None:
    import pandera.pandas as pa

    if error.column_name is not None:
        return str(error.column_name)
    if rule in ("unexpected", "missing") and isinstance(cases, str):
        return cases
    if isinstance(error.schema, pa.Column) and error.schema.name is not None:
        return str(error.schema.name)
    if isinstance(cases, pd.DataFrame) and "column" in cases.columns:
        return ",".join(dict.fromkeys(str(c) for c in cases["column"].dropna()))
    return None


def _is_empty_frame(cases: Any) -> bool:
    return isinstance(cases, (pd.DataFrame, pd.Series)) and len(cases) == 0


def _dtype_of(frame: pd.DataFrame, column: Any, cases: Any) -> str:
    if column in frame.columns and isinstance(frame[column], pd.Series):
        return str(frame[column].dtype)
    return str(cases)


def _cases(cases: Any, rule: str) -> tuple[int, list[dict[str, Any]]]:
    """How many rows fail, and a few ``{"index", "value"}`` cases (a dict of values for a
    several-column failure)."""
    if rule == "error":
        return 1, [{"error": str(cases)[:200]}]
    if rule in ("missing", "unexpected", "dtype") and not _has_rows(cases):
        return 1, []
    if not isinstance(cases, pd.DataFrame) or "failure_case" not in cases.columns:
        return 1, []
    index = cases["index"] if "index" in cases.columns else pd.Series(range(len(cases)))
    if "column" not in cases.columns:
        index, values = index.head(MAX_EXAMPLES), cases["failure_case"].head(MAX_EXAMPLES)
        head = [{"index": i, "value": v} for i, v in zip(index, values, strict=True)]
        return len(cases), head
    rows: dict[Any, dict[str, Any]] = {}
    for i, col, value in zip(index, cases["column"], cases["failure_case"], strict=True):
        if i not in rows and len(rows) == MAX_EXAMPLES:
            continue
        rows.setdefault(i, {})[str(col)] = value
    n = int(index.nunique(dropna=False))
    return n, [{"index": i, "value": values} for i, values in rows.items()]


def _has_rows(cases: Any) -> bool:
    return (
        isinstance(cases, pd.DataFrame)
        and "index" in cases.columns
        and bool(cases["index"].notna().any())
    )


def _plain(value: Any) -> Any:
    """Failure cases for details: numpy scalars made Python, NaN and ±inf spelled out (JSON
    has no such numbers, and ``None`` would hide which it was)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and callable(value.item):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return json_safe(value)


def _result(
    failure: _Failure, *, name: str, n_rows: int, frame: pd.DataFrame, severity: Severity
) -> GuardResult:
    where = (
        f"{name}:{failure.column}:{failure.rule}" if failure.column else f"{name}:{failure.rule}"
    )
    return GuardResult(
        name=where,
        passed=False,
        severity=severity,
        value=failure.count,
        threshold=0,
        message=_message(failure, n_rows, frame),
        details=json_safe(
            {
                "column": failure.column,
                "rule": failure.rule,
                "checks": failure.checks,
                "failures": failure.count,
                "rows": n_rows,
                "examples": _plain(failure.examples),
            }
        ),
    )


def _message(failure: _Failure, n_rows: int, frame: pd.DataFrame) -> str:
    col, k, rule = failure.column, failure.count, failure.rule
    part = f"({share(k, n_rows)} of {plural(n_rows, 'row')})"
    values = [e["value"] for e in failure.examples if "value" in e]
    eg = f", e.g. {shown(values)}" if values else ""
    checks = "; ".join(failure.checks) or rule
    if rule == "missing":
        return f"column '{col}' is missing (the data has: {column_names(frame)})"
    if rule == "unexpected":
        return f"column '{col}' is not in the schema, and the schema is strict"
    if rule == "dtype" and failure.coercion:
        what = plural(k, "value")
        return f"{what} of '{col}' cannot be converted to {_expected(checks)} {part}{eg}"
    if rule == "dtype":
        return f"column '{col}' has dtype {failure.actual}, expected {_expected(checks)}"
    if rule == "nullable":
        return f"column '{col}' holds {plural(k, 'null')} {part} but is not nullable"
    if rule == "unique":
        key = f"key ({col})" if col and "," in col else f"key '{col}'"
        return f"{plural(k, 'row')} share their {key} with another row {part}{eg}"
    if rule == "error":
        error = failure.examples[0].get("error", "") if failure.examples else ""
        return f"check {checks} on '{col}' raised {error}; fix the check"
    if not failure.examples:
        return f"the data fails the check {checks}"
    what = plural(k, "row") if col is None or "," in col else f"{plural(k, 'value')} of '{col}'"
    return f"{what} {'fails' if k == 1 else 'fail'} {checks} {part}{eg}"


def _expected(checks: str) -> str:
    found = re.search(r"dtype\('?([^')]*)'?\)", checks)
    return found.group(1) if found else checks


def _overall(
    failures: list[_Failure], name: str, n_rows: int, n_columns: int, severity: Severity
) -> GuardResult:
    counts = {f"{f.column}:{f.rule}" if f.column else f.rule: f.count for f in failures}
    if failures:
        listed = ", ".join(f"'{f.column}' {f.rule}" if f.column else f.rule for f in failures[:3])
        more = f" and {len(failures) - 3} more" if len(failures) > 3 else ""
        verb = "fails" if len(failures) == 1 else "fail"
        rules = plural(len(failures), "schema rule")
        message = f"{rules} {verb} on {plural(n_rows, 'row')}: {listed}{more}"
    else:
        message = f"{plural(n_rows, 'row')} match the schema ({plural(n_columns, 'column')})"
    return GuardResult(
        name=name,
        passed=not failures,
        severity=severity,
        value=len(failures),
        threshold=0,
        message=message,
        details={"rows": n_rows, "columns": n_columns, "failures": counts},
    )


# --- check_row_count -------------------------------------------------------------------------


def check_row_count(
    data: Any,
    *,
    min: int | None = None,
    max: int | None = None,
    name: str = "row_count",
    severity: Severity = "block",
) -> GuardResult:
    """Passed when ``min <= rows <= max`` (either bound may be left out, not both).

    ``value`` is the row count, ``threshold`` the bound it broke (or ``min`` when it passed)."""
    low, high = min, max
    if low is None and high is None:
        raise GuardError("check_row_count needs min= or max= (or both)")
    if (low is not None and low < 0) or (high is not None and high < 0):
        raise GuardError(f"check_row_count(min={low}, max={high}): bounds must be >= 0")
    if low is not None and high is not None and low > high:
        raise GuardError(f"check_row_count(min={low}, max={high}): min is above max")
    n = _num_rows(data)
    expected = " and ".join(
        f"{word} {count(bound)}"
        for word, bound in (("at least", low), ("at most", high))
        if bound is not None
    )
    threshold: int | None
    if low is not None and n < low:
        passed, threshold = False, low
        text = "the data is empty" if n == 0 else f"{plural(n, 'row')}, too few"
    elif high is not None and n > high:
        passed, threshold, text = False, high, f"{plural(n, 'row')}, too many"
    else:
        passed, threshold, text = True, low if low is not None else high, plural(n, "row")
    return GuardResult(
        name=name,
        passed=passed,
        severity=severity,
        value=n,
        threshold=threshold,
        message=f"{text} ({expected} expected)",
        details={"rows": n, "min": low, "max": high},
    )


def _num_rows(data: Any) -> int:
    if isinstance(data, pd.DataFrame) or is_interactions(data):
        return len(data)
    for attribute in ("num_rows", "height"):  # pyarrow, polars: no conversion needed
        rows = getattr(data, attribute, None)
        if isinstance(rows, int) and type(data).__module__.split(".")[0] in ("pyarrow", "polars"):
            return rows
    return len(as_frame(data, what="the data"))
