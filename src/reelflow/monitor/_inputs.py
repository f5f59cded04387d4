"""Checks on what came in: enough traffic, fallbacks, unknown users, contexts, user activity.

Inputs are compared with the training interactions: a request is held to an interaction (its
region and other contexts, and how active its user was in training), so a window "looks like
training" when requests arrive the way the training interactions did.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from collections.abc import Mapping
from typing import Any

import numpy as np

from reelflow.guards import GuardResult
from reelflow.monitor._activity import Activity, bin_codes, bin_labels
from reelflow.monitor._categories import shares_drift
from reelflow.monitor._settings import Settings
from reelflow.monitor._traffic import Traffic

COLD_START = "cold_start"  # the fallback for users the model does not know (see FALLBACK_REASONS)
OTHER = "__other__"  # the profile's bucket for the least common context values


def requests_check(
    n: int, others: Mapping[int, int], window: tuple[dt.datetime, dt.datetime], settings: Settings
) -> GuardResult:
    """``monitor:requests``: the window holds at least ``min_requests`` of the version's."""
    least = settings.min_requests
    since, until = (moment.strftime("%Y-%m-%d %H:%M") for moment in window)
    text = f"{n:,} request(s) between {since} and {until} UTC"
    if others:
        listed = ", ".join(f"v{version}: {count:,}" for version, count in others.items())
        text += f" ({sum(others.values()):,} answered by other versions were left out: {listed})"
    if n < least:
        text += f"; fewer than {least:,}, so nothing else was judged"
    return GuardResult(
        "monitor:requests",
        passed=n >= least,
        severity=settings.severity("requests"),
        value=n,
        threshold=least,
        message=text,
        details={"requests": n, "other_versions": {str(k): v for k, v in others.items()}},
    )


def fallback_check(traffic: Traffic, settings: Settings) -> GuardResult:
    """``monitor:fallback_share``: the share of requests a fallback answered after a failure
    (timeout, error, no model; cold starts are counted apart, as expected for new users)."""
    n = len(traffic)
    reasons = Counter(str(r) for r in traffic.fallback if r is not None)
    failed = sum(count for reason, count in reasons.items() if reason != COLD_START)
    share, limit = failed / n, settings.threshold("fallback_share")
    listed = ", ".join(f"{reason} {count:,}" for reason, count in reasons.most_common())
    text = f"{share:.1%} of {n:,} requests were answered by a fallback after a failure"
    text += f"; fallbacks by reason: {listed}" if listed else ""
    text += f"; at most {limit:.1%} allowed" if share > limit else ""
    labels = ["model", *reasons]
    values = [(n - sum(reasons.values())) / n, *(count / n for count in reasons.values())]
    return GuardResult(
        "monitor:fallback_share",
        passed=share <= limit,
        severity=settings.severity("fallback_share"),
        value=share,
        threshold=limit,
        message=text,
        details={
            "requests": n,
            "by_reason": dict(reasons),
            "cold_start_share": reasons.get(COLD_START, 0) / n,
            "plot": {"kind": "comparison", "labels": labels, "values": values},
        },
    )


def unknown_users_check(traffic: Traffic, settings: Settings) -> GuardResult:
    """``monitor:unknown_users``: the share of requests from users the model does not know."""
    n, unknown = len(traffic), int(np.count_nonzero(~traffic.known))
    share, limit = unknown / n, settings.threshold("unknown_users")
    users = len(set(traffic.user[~traffic.known].tolist()))
    text = f"{share:.1%} of {n:,} requests came from users the model does not know ({users:,})"
    text += f"; at most {limit:.1%} expected" if share > limit else ""
    return GuardResult(
        "monitor:unknown_users",
        passed=share <= limit,
        severity=settings.severity("unknown_users"),
        value=share,
        threshold=limit,
        message=text,
        details={"requests": n, "unknown_requests": unknown, "unknown_users": users},
    )


def context_checks(
    traffic: Traffic, profile: Mapping[str, Any], settings: Settings
) -> list[GuardResult]:
    """``drift:context:<name>`` for each training context the requests carry, then
    ``skew:contexts``: values training never saw, and which contexts were not compared."""
    trained: Mapping[str, Mapping[str, float]] = profile.get("contexts") or {}
    logged = traffic.context_names()
    results, unseen, carried = [], {}, {}
    for name, shares in trained.items():
        if name not in logged:
            continue
        values = traffic.context_values(name)
        carried[name] = sum(value is not None for value in values) / len(values)
        labels = list(shares)
        if OTHER in shares:  # values pooled in training: a new one may be one of them
            values = np.asarray([_pooled(v, shares) for v in values], dtype=object)
        else:
            unseen[name] = _unseen(values, shares)
        results.append(
            shares_drift(
                labels,
                np.asarray([shares[label] for label in labels]),
                values,
                name=f"context:{name}",
                threshold=settings.threshold("context"),
                severity=settings.severity("context"),
                reference_rows=int(profile.get("n_interactions", 0)),
            )
        )
    results.append(_skew(traffic, trained, logged, unseen, carried, settings))
    return results


def _pooled(value: str | None, shares: Mapping[str, float]) -> str | None:
    return value if value is None or value in shares else OTHER


def _unseen(values: np.ndarray, shares: Mapping[str, float]) -> dict[str, Any]:
    present = [v for v in values if v is not None]
    new = Counter(v for v in present if v not in shares)
    return {
        "logged": len(present),
        "share": sum(new.values()) / max(len(present), 1),
        "examples": [value for value, _ in new.most_common(5)],
    }


def _skew(
    traffic: Traffic,
    trained: Mapping[str, Any],
    logged: set[str],
    unseen: dict[str, dict[str, Any]],
    carried: dict[str, float],
    settings: Settings,
) -> GuardResult:
    compared = [name for name in trained if name in logged]
    missing = [name for name in trained if name not in logged]
    extra = sorted(logged - set(trained))
    worst = max(unseen, key=lambda name: unseen[name]["share"], default=None)
    share = unseen[worst]["share"] if worst is not None else 0.0
    limit = settings.threshold("context_unseen")
    parts = [f"{len(compared)} of {len(trained)} training context(s) logged"]
    parts[0] += f" ({', '.join(compared)})" if compared else ""
    if missing:
        parts.append(f"not in the request log, so not compared: {', '.join(missing)}")
    if extra:
        parts.append(f"logged but not in training: {', '.join(extra)}")
    if worst is not None and share > 0:
        examples = ", ".join(map(repr, unseen[worst]["examples"]))
        parts.append(f"{share:.1%} of {worst} values were never seen in training, e.g. {examples}")
    if traffic.malformed_contexts:
        parts.append(f"{traffic.malformed_contexts:,} request(s) had a context that is not JSON")
    return GuardResult(
        "skew:contexts",
        passed=share <= limit,
        severity=settings.severity("context_unseen"),
        value=share,
        threshold=limit,
        message="; ".join(parts),
        details={
            "compared": compared,
            "carried_by": carried,  # the share of requests that carry each compared context
            "not_logged": missing,
            "not_in_training": extra,
            "unseen": unseen,
            "malformed": traffic.malformed_contexts,
        },
    )


def user_activity_check(
    traffic: Traffic, activity: Activity | None, settings: Settings
) -> GuardResult:
    """``drift:user_activity``: the training activity of each known user's requests against
    that of the user behind each training interaction (so heavy users count as often as they
    interacted)."""
    if activity is None:
        return _not_compared("the saved model does not hold its users' training activity", settings)
    counts = activity.of(traffic.user[traffic.known])
    found = counts[counts >= 0]
    reference = activity.interaction_shares
    if len(found) == 0 or reference.sum() == 0:
        return _not_compared("no request came from a user the model knows", settings)
    labels = bin_labels(max(len(reference), int(bin_codes(found).max(initial=0)) + 1))
    current = np.asarray([labels[code] for code in bin_codes(found)], dtype=object)
    result = shares_drift(
        labels[: len(reference)],
        reference,
        current,
        name="user_activity",
        threshold=settings.threshold("user_activity"),
        severity=settings.severity("user_activity"),
        reference_rows=int(activity.counts.sum()),
        ordered=True,
    )
    missing = int(np.count_nonzero(counts < 0))
    details = dict(result.details) | {"unit": "distinct training items per user"}
    details["known_but_not_found"] = missing
    return dataclasses.replace(result, details=details)


def _not_compared(why: str, settings: Settings) -> GuardResult:
    severity = settings.severity("user_activity")
    message = f"not compared: {why}"
    return GuardResult("drift:user_activity", True, severity, message=message, details={})
