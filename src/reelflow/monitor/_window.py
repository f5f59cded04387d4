"""The time window a monitor reads: ``[since, until)`` in UTC, from any two of since, until and
a length (24 hours by default), as datetimes or text (ISO 8601 times; ``30m``, ``24h``, ``7d``)."""

from __future__ import annotations

import datetime as dt
import re

from reelflow._errors import UsageError

DEFAULT_WINDOW = dt.timedelta(hours=24)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")

TimeLike = dt.datetime | str
DurationLike = dt.timedelta | str


def parse_duration(value: DurationLike) -> dt.timedelta:
    """A positive duration: a ``timedelta`` or text such as ``90s``, ``30m``, ``24h``, ``7d``."""
    if isinstance(value, dt.timedelta):
        length = value
    else:
        match = _DURATION.fullmatch(str(value).strip().lower())
        if match is None:
            raise UsageError(
                f"window {value!r} is not a duration; write a number and a unit (s, m, h, d, w), "
                "e.g. 30m, 24h or 7d"
            )
        length = dt.timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])
    if length <= dt.timedelta(0):
        raise UsageError(f"window {value!r} is not positive; give a length such as 24h")
    return length


def parse_time(value: TimeLike, what: str) -> dt.datetime:
    """An aware UTC datetime from a datetime or ISO 8601 text (no time zone means UTC)."""
    if isinstance(value, dt.datetime):
        moment = value
    else:
        try:
            moment = dt.datetime.fromisoformat(str(value).strip())
        except ValueError:
            raise UsageError(
                f"{what} {value!r} is not a date or time; use ISO 8601, e.g. 2024-05-01 "
                "or 2024-05-01T06:00:00Z (no time zone means UTC)"
            ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


def resolve_window(
    since: TimeLike | None,
    until: TimeLike | None,
    window: DurationLike | None,
    *,
    now: dt.datetime,
) -> tuple[dt.datetime, dt.datetime]:
    """``(since, until)``: until defaults to now (or since + window when both are given), since
    to until - window; giving all three is an error, as is an empty or inverted window."""
    if since is not None and until is not None and window is not None:
        raise UsageError("give at most two of since, until and window; the third follows from them")
    length = DEFAULT_WINDOW if window is None else parse_duration(window)
    start = None if since is None else parse_time(since, "since")
    if until is not None:
        end = parse_time(until, "until")
    elif start is not None and window is not None:
        end = start + length
    else:
        end = now.astimezone(dt.UTC)
    start = end - length if start is None else start
    if start >= end:
        raise UsageError(
            f"the window is empty: since {start.isoformat()} is not before until {end.isoformat()}"
        )
    return start, end
