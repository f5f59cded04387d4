"""Checks of an interaction log that matter for personalization.

``check_interactions`` returns one result per check it runs, in this order (each named
``"interactions:<check>"``; ``value`` is a share of events for the per-event checks, a count of
events for the activity checks):

- ``missing``: events without a user, an item or (when timestamps are checked) a valid time
  (null, NaN, NaT or ±inf); at most ``max_missing_rate`` of the events.
- ``duplicates``: repeats of an earlier ``(user, item, timestamp)`` event, or ``(user, item)``
  without timestamps; at most ``max_duplicate_rate``.
- ``bots``: users with impossible activity. Caps you set are always applied
  (``max_events_per_user`` in total, ``max_events_per_user_per_day`` in one UTC day, reported
  as ``bots_per_day``). The robust outlier rule (``bot_rule="mad"``, or ``"auto"`` when no user
  cap is set) flags a user whose event count, on a log10 scale, lies more than ``bot_z`` robust
  standard deviations (1.4826 x the median absolute deviation) above the median user, and is
  also at least 10 times the median and at least 100 events; with timestamps the same rule runs
  on each user's busiest day. Activity is heavy-tailed, so on very large logs set caps instead.
- ``item_activity`` (only with ``max_events_per_item``): items with more events than the cap.
- ``future``: events later than ``now`` (default: the time of the call); at most
  ``max_future_rate``. Timestamps that look like milliseconds (or micro/nanoseconds) are named.
- ``order`` (only with ``order="global"`` or ``"user"``): events earlier than the event before
  them in the log (of the same user with ``"user"``); at most ``max_out_of_order_rate``.
- ``catalogue`` (only with ``catalogue``): events whose item is not in the catalogue; at most
  ``max_unknown_item_rate``.

An empty log gives a single failed ``interactions:empty`` result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
import pandas as pd

from reelflow._errors import GuardError
from reelflow.guards._frames import (
    LogArrays,
    count,
    known_ids,
    plain,
    plural,
    read_log,
    seconds_of,
    share,
)
from reelflow.guards._frames import examples as first
from reelflow.guards._result import GuardResult, Severity, json_safe

BotRule = Literal["auto", "mad"] | None
Order = Literal["global", "user"] | None

DEFAULT_BOT_Z = 5.0
BOT_MIN_RATIO = 10.0  # the robust rule never flags a user below 10x the median user...
BOT_MIN_EVENTS = 100  # ...nor below 100 events
DAY = 86_400
MAX_EXAMPLES = 5


@dataclass(frozen=True)
class _Options:
    name: str
    severity: Severity
    max_missing_rate: float
    max_duplicate_rate: float
    max_future_rate: float
    max_out_of_order_rate: float
    max_unknown_item_rate: float

    def result(
        self, check: str, passed: bool, value: float, threshold: float, message: str, **details: Any
    ) -> GuardResult:
        return GuardResult(
            name=f"{self.name}:{check}",
            passed=passed,
            severity=self.severity,
            value=value,
            threshold=threshold,
            message=message,
            details=json_safe(details),
        )

    def rate(
        self, check: str, k: int, n: int, limit: float, message: str, **details: Any
    ) -> GuardResult:
        """A per-event check: ``k`` of ``n`` events fail, at most a share ``limit`` may."""
        return self.result(check, k <= limit * n, k / n, limit, message, events=n, **details)


def check_interactions(
    log: Any,
    *,
    user: str = "user_id",
    item: str = "item_id",
    timestamp: str | None = "timestamp",
    catalogue: Any = None,
    now: Any = None,
    max_events_per_user: int | None = None,
    max_events_per_user_per_day: int | None = None,
    max_events_per_item: int | None = None,
    bot_rule: BotRule = "auto",
    bot_z: float = DEFAULT_BOT_Z,
    order: Order = None,
    max_missing_rate: float = 0.0,
    max_duplicate_rate: float = 0.0,
    max_future_rate: float = 0.0,
    max_out_of_order_rate: float = 0.0,
    max_unknown_item_rate: float = 0.0,
    name: str = "interactions",
    severity: Severity = "block",
) -> list[GuardResult]:
    """Check an interaction log (a pandas DataFrame, a pyarrow Table, a polars DataFrame or
    ``Interactions``) for missing ids, duplicates, bots, future or out-of-order timestamps and
    items unknown to ``catalogue`` (a set, list, array, Series or Index of item ids).

    ``user``/``item``/``timestamp`` name the columns (``timestamp=None`` for a log without
    times; datetimes or unix seconds); an ``Interactions`` brings its own roles. ``now`` is a
    datetime, a string or unix seconds. Returns one result per check (see the module doc).
    """
    rates = {
        "max_missing_rate": max_missing_rate,
        "max_duplicate_rate": max_duplicate_rate,
        "max_future_rate": max_future_rate,
        "max_out_of_order_rate": max_out_of_order_rate,
        "max_unknown_item_rate": max_unknown_item_rate,
    }
    caps = (max_events_per_user, max_events_per_user_per_day, max_events_per_item)
    _validate(rates, bot_rule, bot_z, order, caps)
    options = _Options(name, severity, **rates)
    data = read_log(log, user, item, timestamp)
    known = None if catalogue is None else known_ids(catalogue, data.names[1])
    if len(data) == 0:
        message = "the interaction log is empty (0 events); check the query or file behind it"
        return [options.result("empty", False, 0, 1, message, events=0)]
    results = [_missing(data, options), _duplicates(data, options)]
    robust = bot_rule == "mad" or (bot_rule == "auto" and caps[:2] == (None, None))
    if robust or max_events_per_user is not None:
        results.append(_bots(data, options, max_events_per_user, robust, bot_z, per_day=False))
    if data.seconds is not None and (robust or max_events_per_user_per_day is not None):
        cap = max_events_per_user_per_day
        results.append(_bots(data, options, cap, robust, bot_z, per_day=True))
    if max_events_per_item is not None:
        results.append(_busy_items(data, options, max_events_per_item))
    if data.seconds is not None:
        results.append(_future(data, options, seconds_of(now)))
        if order is not None:
            results.append(_order(data, options, order))
    if known is not None:
        results.append(_catalogue(data, options, known))
    return results


def _validate(
    rates: dict[str, float], bot_rule: Any, bot_z: float, order: Any, caps: tuple[int | None, ...]
) -> None:
    for key, value in rates.items():
        if not 0.0 <= value <= 1.0:
            raise GuardError(f"{key}={value!r} must be a share of events between 0 and 1")
    if bot_rule not in ("auto", "mad", None):
        raise GuardError(f"bot_rule={bot_rule!r} is invalid; use 'auto', 'mad' or None")
    if not bot_z > 0:
        raise GuardError(f"bot_z={bot_z!r} must be positive (the default is {DEFAULT_BOT_Z})")
    if order not in ("global", "user", None):
        raise GuardError(f"order={order!r} is invalid; use 'global', 'user' or None")
    for cap in caps:
        if cap is not None and not cap >= 1:
            raise GuardError(f"an events cap of {cap!r} is invalid; caps are at least 1")


def _events(k: int, n: int) -> str:
    return f"{plural(k, 'event')} ({share(k, n)} of {count(n)})"


def _are(k: int) -> str:
    return "is" if k == 1 else "are"


# --- missing values and duplicates -------------------------------------------------------------


def _missing(log: LogArrays, options: _Options) -> GuardResult:
    n, (user, item, stamp) = len(log), log.names
    counts = {user: int((log.user < 0).sum()), item: int((log.item < 0).sum())}
    if log.seconds is not None:
        counts[stamp] = int(np.isnan(log.seconds).sum())
    bad = int(n - log.valid.sum())
    if bad:
        which = " or ".join(f"{c} ({count(k)})" for c, k in counts.items() if k)
        message = f"{_events(bad, n)} lack a {which}"
    else:
        message = f"all {plural(n, 'event')} have a {', '.join(counts)}"
    return options.rate("missing", bad, n, options.max_missing_rate, message, by_column=counts)


def _duplicates(log: LogArrays, options: _Options) -> GuardResult:
    n, valid = len(log), log.valid
    keys, exact = _event_keys(log, valid, exact=False)
    repeated = _repeats(keys)
    if len(repeated) and not exact:  # the fast keys may collide: recount with exact ones
        keys, _ = _event_keys(log, valid, exact=True)
        repeated = _repeats(keys)
    k = len(repeated)
    key = log.names[: 2 if log.seconds is None else 3]
    if k:
        message = f"{count(k)} duplicate ({', '.join(key)}) events ({share(k, n)} of {count(n)})"
    else:
        message = f"no duplicate ({', '.join(key)}) events among {plural(n, 'event')}"
    values, copies = np.unique(repeated, return_counts=True)
    rows = np.flatnonzero(valid)
    examples = []
    for value, extra in zip(values[:MAX_EXAMPLES], copies[:MAX_EXAMPLES], strict=True):
        row = int(rows[np.flatnonzero(keys == value)[0]])
        examples.append({**_event(log, row), "copies": int(extra) + 1})
    limit = options.max_duplicate_rate
    return options.rate("duplicates", k, n, limit, message, key=list(key), examples=examples)


def _repeats(keys: np.ndarray) -> np.ndarray:
    """The keys that repeat an earlier one (a key held by 3 events appears twice)."""
    ordered = np.sort(keys)
    return np.asarray(ordered[1:][ordered[1:] == ordered[:-1]])


def _event_keys(log: LogArrays, valid: np.ndarray, *, exact: bool) -> tuple[np.ndarray, bool]:
    """One integer per valid event, equal when the events' user, item and timestamp are (one
    sorted integer array is far faster than hashing several columns). The fast keys wrap
    around 2**64 when users x items x seconds is that large, so equal keys only suggest a
    duplicate; ``exact=True`` numbers the distinct values first so keys never wrap. Returns the
    keys and whether they are exact."""
    user, item = log.user[valid], log.item[valid]
    if exact:
        user = np.asarray(pd.factorize(user * max(len(log.item_ids), 1) + item)[0], np.int64)
        item, n_items = np.zeros_like(user), 1
    else:
        n_items = max(len(log.item_ids), 1)
    keys = user.astype(np.uint64) * np.uint64(n_items) + item.astype(np.uint64)
    size = (int(user.max()) + 1 if len(user) else 1) * n_items
    if log.seconds is not None:
        times, span = _time_codes(log.seconds[valid], exact=exact)
        keys = keys * np.uint64(span) + times.astype(np.uint64)
        size *= span
    return keys, exact or size < 2**64


def _time_codes(seconds: np.ndarray, *, exact: bool) -> tuple[np.ndarray, int]:
    """Integer codes of the timestamps, and how many codes there can be."""
    if not exact and len(seconds) and np.array_equal(seconds, np.floor(seconds)):
        times = (seconds - seconds.min()).astype(np.int64)
        return times, int(times.max()) + 1
    codes, uniques = pd.factorize(seconds)
    return np.asarray(codes, dtype=np.int64), max(len(uniques), 1)


def _event(log: LogArrays, row: int) -> dict[str, Any]:
    user, item, stamp = log.names
    event = {user: log.user_ids[log.user[row]], item: log.item_ids[log.item[row]]}
    if log.seconds is not None:
        event[stamp] = _when(float(log.seconds[row]))
    return event


# --- activity ------------------------------------------------------------------------------------


def _bots(
    log: LogArrays, options: _Options, cap: int | None, robust: bool, z: float, *, per_day: bool
) -> GuardResult:
    check, unit = ("bots_per_day", "events in one day") if per_day else ("bots", "events")
    activity = _daily_peaks(log) if per_day else _user_counts(log)
    active = activity[activity > 0]
    cutoffs: dict[str, float | None] = {
        "max_events_per_user" + ("_per_day" if per_day else ""): cap
    }
    if robust:
        cutoffs["robust outlier rule"] = _robust_cutoff(active, z)
    rule, cutoff = min(((r, float(c)) for r, c in cutoffs.items() if c is not None), key=_second)
    flagged = np.flatnonzero(activity > cutoff)
    top = flagged[np.argsort(-activity[flagged], kind="stable")[:MAX_EXAMPLES]]
    busiest = int(active.max()) if len(active) else 0
    limit = f"{count(math.floor(cutoff))} {unit} ({rule})"
    if len(flagged):
        some = f"{plural(len(flagged), 'user')} {'has' if len(flagged) == 1 else 'have'}"
        eg = f"{plain(log.user_ids[top[0]])!r} has {count(activity[top[0]])}"
        fix = "raise the cap" if rule.startswith("max") else f"set {next(iter(cutoffs))}="
        message = f"{some} more than {limit}, e.g. {eg}; if they are real, {fix}"
    else:
        message = f"no user has more than {limit}; the busiest has {count(busiest)}"
    share_of_events = float(activity[flagged].sum() / max(int(activity.sum()), 1))
    return options.result(
        check,
        not len(flagged),
        busiest,
        cutoff,
        message,
        rule=rule,
        users=len(flagged),
        share_of_events=share_of_events,
        median=float(np.median(active)) if len(active) else 0.0,
        top=[{"user": log.user_ids[u], "events": int(activity[u])} for u in top],
    )


def _second(pair: tuple[str, float]) -> float:
    return pair[1]


def _user_counts(log: LogArrays) -> np.ndarray:
    return np.bincount(log.user[log.user >= 0], minlength=len(log.user_ids))


def _daily_peaks(log: LogArrays) -> np.ndarray:
    """Each user's largest number of events in one UTC day (0 for users without any)."""
    assert log.seconds is not None
    valid = (log.user >= 0) & ~np.isnan(log.seconds)
    peaks = np.zeros(len(log.user_ids), dtype=np.int64)
    if not valid.any():
        return peaks
    days = np.floor(log.seconds[valid] / DAY).astype(np.int64)
    days -= days.min()
    span = int(days.max()) + 1
    keys, counts = np.unique(log.user[valid] * span + days, return_counts=True)
    users = keys // span
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    peaks[users[starts]] = np.maximum.reduceat(counts, starts)
    return peaks


def _robust_cutoff(active: np.ndarray, z: float) -> float:
    """The robust outlier rule's count: ``z`` robust standard deviations above the median on a
    log10 scale, and at least 10x the median and 100 events."""
    if not len(active):
        return float(BOT_MIN_EVENTS)
    logs = np.log10(active.astype(np.float64))
    center = float(np.median(logs))
    spread = 1.4826 * float(np.median(np.abs(logs - center)))
    return max(10 ** (center + z * spread), BOT_MIN_RATIO * 10**center, float(BOT_MIN_EVENTS))


def _busy_items(log: LogArrays, options: _Options, cap: int) -> GuardResult:
    counts = np.bincount(log.item[log.item >= 0], minlength=len(log.item_ids))
    flagged = np.flatnonzero(counts > cap)
    top = flagged[np.argsort(-counts[flagged], kind="stable")[:MAX_EXAMPLES]]
    busiest = int(counts.max()) if len(counts) else 0
    if len(flagged):
        some = f"{plural(len(flagged), 'item')} {'has' if len(flagged) == 1 else 'have'}"
        eg = f"{plain(log.item_ids[top[0]])!r} has {count(counts[top[0]])}"
        message = f"{some} more than {count(cap)} events (max_events_per_item), e.g. {eg}"
    else:
        message = f"no item has more than {count(cap)} events; the busiest has {count(busiest)}"
    top_items = [{"item": log.item_ids[i], "events": int(counts[i])} for i in top]
    return options.result(
        "item_activity", not len(flagged), busiest, cap, message, items=len(flagged), top=top_items
    )


# --- time ----------------------------------------------------------------------------------------


def _future(log: LogArrays, options: _Options, now: float) -> GuardResult:
    assert log.seconds is not None
    n, seconds = len(log), log.seconds
    k = int((seconds > now).sum())
    latest = _when(float(np.nanmax(seconds))) if k else None
    if k:
        hint = _unit_hint(seconds, now)
        message = f"{_events(k, n)} {_are(k)} later than now ({_when(now)}), up to {latest}{hint}"
    else:
        message = f"no event is later than now ({_when(now)})"
    limit = options.max_future_rate
    return options.rate("future", k, n, limit, message, now=_when(now), latest=latest)


def _unit_hint(seconds: np.ndarray, now: float) -> str:
    typical = float(np.nanmedian(seconds))
    for unit, factor in (("nanoseconds", 1e9), ("microseconds", 1e6), ("milliseconds", 1e3)):
        if typical > now * factor / 10:
            return f"; the timestamps look like {unit}: divide them by {factor:,.0f}"
    return ""


def _when(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "an unknown time"
    try:
        return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, OSError, ValueError):
        return f"{seconds:,.0f} s after 1970"


def _order(log: LogArrays, options: _Options, order: Literal["global", "user"]) -> GuardResult:
    assert log.seconds is not None
    n, valid = len(log), log.valid
    seconds = log.seconds[valid]
    if order == "user":  # each user's events in log order: sort (user, row) as one int64
        users, m = log.user[valid], len(seconds)
        ranked = np.sort(users * m + np.arange(m))
        users, seconds = ranked // m, seconds[ranked % m]
        earlier = (np.diff(seconds) < 0) & (users[1:] == users[:-1])
    else:
        earlier = np.diff(seconds) < 0
    k = int(earlier.sum())
    user, stamp = log.names[0], log.names[2]
    scope, key = (f" of the same {user}", f"({user}, {stamp})") if order == "user" else ("", stamp)
    if k:
        message = (
            f"{_events(k, n)} {_are(k)} earlier than the event before them{scope}; "
            f"sort the log by {key} or pass order=None"
        )
    else:
        message = f"all {plural(n, 'event')} are in time order{scope}"
    limit = options.max_out_of_order_rate
    return options.rate("order", k, n, limit, message, order=order)


# --- the catalogue -------------------------------------------------------------------------------


def _catalogue(log: LogArrays, options: _Options, known: pd.Index) -> GuardResult:
    n, item = len(log), log.names[1]
    joins = np.asarray(pd.Index(log.item_ids).isin(known), dtype=bool)
    counts = np.bincount(log.item[log.item >= 0], minlength=len(log.item_ids))
    unknown = np.flatnonzero(~joins)
    unknown = unknown[np.argsort(-counts[unknown], kind="stable")]
    k = int(counts[unknown].sum())
    ids = first(log.item_ids[unknown], MAX_EXAMPLES)
    if k:
        message = (
            f"{_events(k, n)} have an {item} missing from the catalogue of "
            f"{plural(len(known), 'item')} ({plural(len(unknown), 'distinct id')}, e.g. "
            f"{ids[0]!r}){_type_hint(log.item_ids, known, joins)}"
        )
    else:
        message = f"every {item} of {plural(n, 'event')} is in the catalogue"
    limit = options.max_unknown_item_rate
    return options.rate("catalogue", k, n, limit, message, unknown_items=len(unknown), examples=ids)


def _type_hint(ids: np.ndarray, known: pd.Index, joins: np.ndarray) -> str:
    if joins.any() or not len(ids):
        return ""
    ours, theirs = _kind(ids[0]), _kind(known[0])
    if ours == theirs:
        return ""
    return f"; no id joins: the log's ids are {ours} and the catalogue's {theirs}, cast one side"


def _kind(value: Any) -> str:
    if isinstance(value, (str, np.str_)):
        return "strings"
    if isinstance(value, (int, float, np.integer, np.floating)):
        return "numbers"
    return type(value).__name__
