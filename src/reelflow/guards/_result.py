"""``GuardResult``: the one record every check returns, so runs, the registry, reports and the
CLI can show any of them the same way."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from reelflow._errors import GuardError, GuardFailedError

Severity = Literal["block", "warn"]
SEVERITIES: tuple[Severity, ...] = ("block", "warn")


@dataclass(frozen=True)
class GuardResult:
    """The outcome of one check.

    ``value`` is what was measured and ``threshold`` the bound it was held to (either may be
    None when the check is not numeric); ``message`` is one sentence a person reads; ``details``
    holds what a report plots (JSON-serializable: numbers, strings, lists, dicts).
    """

    name: str
    passed: bool
    severity: Severity = "block"
    value: float | None = None
    threshold: float | None = None
    message: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise GuardError(
                f"guard '{self.name}': severity {self.severity!r} is invalid; use 'block' or 'warn'"
            )
        object.__setattr__(self, "passed", bool(self.passed))
        object.__setattr__(self, "value", _number(self.value))
        object.__setattr__(self, "threshold", _number(self.threshold))

    @property
    def blocking(self) -> bool:
        """True when this result stops what it guards (a failed ``block`` check)."""
        return not self.passed and self.severity == "block"

    @property
    def status(self) -> str:
        """``passed``, ``warning`` (a failed ``warn`` check) or ``failed``."""
        if self.passed:
            return "passed"
        return "warning" if self.severity == "warn" else "failed"

    def summary(self) -> str:
        """One line: status, name and the sentence."""
        return f"[{self.status}] {self.name}: {self.message}" if self.message else self.name

    def to_record(self) -> dict[str, Any]:
        """A JSON-ready dict (non-finite numbers become None; details made JSON-safe)."""
        return {
            "name": self.name,
            "passed": self.passed,
            "severity": self.severity,
            "value": _finite_or_none(self.value),
            "threshold": _finite_or_none(self.threshold),
            "message": self.message,
            "details": json_safe(self.details),
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> GuardResult:
        """The inverse of :meth:`to_record` (also reads rows of the store's guard table)."""
        details = record.get("details") or {}
        if isinstance(details, str):
            details = json.loads(details)
        return cls(
            name=str(record["name"]),
            passed=bool(record["passed"]),
            severity=record.get("severity", "block"),
            value=record.get("value"),
            threshold=record.get("threshold"),
            message=str(record.get("message") or ""),
            details=details,
        )


def raise_on_blocking(results: Iterable[GuardResult], *, what: str = "the step") -> None:
    """Raise :class:`GuardFailedError` naming every failed blocking guard, if there is one."""
    failed = [r for r in results if r.blocking]
    if not failed:
        return
    head = failed[0]
    more = f" (and {len(failed) - 1} more blocking guard(s))" if len(failed) > 1 else ""
    raise GuardFailedError(f"guard '{head.name}' stopped {what}: {head.message}{more}")


def verdict(results: Iterable[GuardResult]) -> str:
    """``failed`` when a blocking guard failed, ``warning`` when only warnings, else ``passed``."""
    statuses = {r.status for r in results}
    if "failed" in statuses:
        return "failed"
    return "warning" if "warning" in statuses else "passed"


def _number(value: Any) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise GuardError(f"guard value {value!r} is not a number; put it in details") from None


def _finite_or_none(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def json_safe(value: Any) -> Any:
    """``value`` with numpy scalars/arrays turned into Python ones and NaN/inf into None."""
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [json_safe(v) for v in value]
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return json_safe(value.tolist())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return str(value)
