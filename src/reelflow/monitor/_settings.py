"""Each check's default threshold and severity, and the overrides a caller gives by key."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

from reelflow._errors import UsageError
from reelflow.guards import SEVERITIES, Severity


class Default(NamedTuple):
    """A check's default threshold and severity, what the threshold means, its upper bound."""

    threshold: float
    severity: Severity
    meaning: str
    upper: float | None = None


DEFAULTS: dict[str, Default] = {
    "requests": Default(100, "warn", "fewest requests for a window to be judged"),
    "fallback_share": Default(
        0.05, "block", "largest share of requests answered by a fallback after a failure", 1.0
    ),
    "unknown_users": Default(0.3, "warn", "largest share of requests from unknown users", 1.0),
    "context": Default(0.1, "warn", "Jensen-Shannon distance of each context's shares", 1.0),
    "context_unseen": Default(
        0.01, "warn", "largest share of a context's values never seen in training", 1.0
    ),
    "user_activity": Default(
        0.15, "warn", "Jensen-Shannon distance of the requesting users' training activity", 1.0
    ),
    "scores": Default(0.1, "block", "Wasserstein distance of scores, in reference stds"),
    "recommended_popularity": Default(0.2, "block", "PSI of the served items' popularity"),
    "coverage": Default(0.5, "block", "smallest coverage, as a ratio of the reference's", 1.0),
    "unknown_items": Default(0.0, "warn", "largest share of served items unknown to training", 1.0),
}
_MAY_BE_ZERO = {"requests", "fallback_share", "unknown_users", "context_unseen", "unknown_items"}


@dataclass(frozen=True)
class Settings:
    """Thresholds and severities by check key (defaults where not overridden)."""

    thresholds: Mapping[str, float]
    severities: Mapping[str, Severity]

    def threshold(self, key: str) -> float:
        return self.thresholds.get(key, DEFAULTS[key].threshold)

    def severity(self, key: str) -> Severity:
        return self.severities.get(key, DEFAULTS[key].severity)

    @property
    def min_requests(self) -> int:
        return int(self.threshold("requests"))


def make_settings(
    thresholds: Mapping[str, float] | None,
    severities: Mapping[str, str] | None,
    min_requests: int | None,
) -> Settings:
    """Validated settings: unknown keys, values out of range and bad severities are refused."""
    values = {key: _threshold(key, value) for key, value in (thresholds or {}).items()}
    if min_requests is not None:
        values["requests"] = _threshold("requests", min_requests)
    levels: dict[str, Severity] = {}
    for key, level in (severities or {}).items():
        _check_key(key, "severity")
        if level not in SEVERITIES:
            raise UsageError(f"severity {level!r} of {key!r} is invalid; use 'block' or 'warn'")
        levels[key] = "block" if level == "block" else "warn"
    return Settings(values, levels)


def _threshold(key: str, value: object) -> float:
    _check_key(key, "threshold")
    try:
        number = float(value)  # type: ignore[arg-type]  # anything float() takes
    except (TypeError, ValueError):
        raise UsageError(f"threshold {key}={value!r} is not a number") from None
    upper = DEFAULTS[key].upper
    low = 0.0 if key in _MAY_BE_ZERO else math.nextafter(0.0, 1.0)
    if not math.isfinite(number) or number < low or (upper is not None and number > upper):
        floor = ">= 0" if key in _MAY_BE_ZERO else "> 0"
        bound = f"a number {floor}" + (f" and <= {upper:g}" if upper is not None else "")
        raise UsageError(f"threshold {key}={value!r} is out of range; use {bound}")
    if key == "requests" and number != int(number):
        raise UsageError(f"threshold requests={value!r} is a count; use a whole number")
    return number


def _check_key(key: str, what: str) -> None:
    if key not in DEFAULTS:
        known = ", ".join(DEFAULTS)
        raise UsageError(f"unknown monitor {what} {key!r}; use one of {known}")
