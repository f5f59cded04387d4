"""``monitor``: a window of served traffic against the registered version's reference profile."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reelflow._errors import GuardError
from reelflow.guards import GuardResult, raise_on_blocking, render_guard_report, verdict
from reelflow.monitor._activity import read_activity
from reelflow.monitor._inputs import (
    context_checks,
    fallback_check,
    requests_check,
    unknown_users_check,
    user_activity_check,
)
from reelflow.monitor._outputs import first_answers, output_checks
from reelflow.monitor._settings import make_settings
from reelflow.monitor._traffic import load_traffic
from reelflow.monitor._window import DurationLike, TimeLike, resolve_window

if TYPE_CHECKING:
    from reelflow.registry import ModelVersion, Registry
    from reelflow.store import Store

PROFILE_FORMAT = 1


@dataclass(frozen=True)
class MonitorReport:
    """What ``monitor`` found: every result, the verdict, and the window it read."""

    model: str
    version: int
    since: dt.datetime
    until: dt.datetime
    n_requests: int
    results: list[GuardResult]
    other_versions: Mapping[int, int] = field(default_factory=dict)

    @property
    def ref(self) -> str:
        """``NAME:VERSION`` of the version monitored."""
        return f"{self.model}:{self.version}"

    @property
    def window(self) -> tuple[dt.datetime, dt.datetime]:
        """``(since, until)``: the requests read arrived in ``[since, until)`` (UTC)."""
        return self.since, self.until

    @property
    def verdict(self) -> str:
        """``failed`` when a blocking check failed, ``warning`` when only warnings, else
        ``passed``."""
        return verdict(self.results)

    @property
    def blocking(self) -> list[GuardResult]:
        """The failed blocking results."""
        return [result for result in self.results if result.blocking]

    def summary(self) -> str:
        """One line: the version, the window, the verdict and how many checks ended how."""
        counts = {status: 0 for status in ("failed", "warning", "passed")}
        for result in self.results:
            counts[result.status] += 1
        tally = ", ".join(f"{n} {status}" for status, n in counts.items() if n)
        return (
            f"monitor {self.ref}: {self.verdict} ({tally}) on {self.n_requests:,} request(s) "
            f"from {_stamp(self.since)} to {_stamp(self.until)}"
        )

    def to_html(self, path: str | os.PathLike[str] | None = None) -> str:
        """The HTML report of the results (plots inlined), also written to ``path`` if given."""
        return render_guard_report(
            self.results,
            title=f"Monitor of {self.ref}",
            subtitle=self.summary(),
            path=None if path is None else Path(path),
        )

    def raise_on_blocking(self) -> None:
        """Raise ``GuardFailedError`` naming the failed blocking checks, if there is one."""
        raise_on_blocking(self.results, what=f"the monitor of {self.ref}")


def monitor(
    name: str,
    *,
    alias: str = "champion",
    version: int | None = None,
    since: TimeLike | None = None,
    until: TimeLike | None = None,
    window: DurationLike | None = None,
    store: Store | str | Path | None = None,
    thresholds: Mapping[str, float] | None = None,
    severities: Mapping[str, str] | None = None,
    min_requests: int | None = None,
) -> MonitorReport:
    """Compare the requests ``name`` served in a window with the version's reference profile.

    The version is ``version`` when given, else the holder of ``alias``; only the requests it
    answered are read (others are counted and left out). The window is ``[since, until)`` in
    UTC (datetimes or ISO text; naive means UTC); by default the ``window`` (24h, or text such
    as ``"6h"``) up to now. ``thresholds`` and ``severities`` override defaults by check key
    (see ``docs/monitoring.md``); ``min_requests`` (default 100) is the fewest requests a
    window needs before anything else is judged.
    """
    from reelflow.registry import Registry
    from reelflow.serve._log_format import read_requests

    settings = make_settings(thresholds, severities, min_requests)
    since_, until_ = resolve_window(since, until, window, now=dt.datetime.now(dt.UTC))
    registry = Registry(store)
    registry.versions(name)  # an unknown name says so, rather than that its alias is not set
    chosen = registry.get(name, version=version) if version is not None else None
    chosen = chosen or registry.get(f"{name}@{alias}")
    profile = _profile(registry, chosen)
    table = read_requests(registry.store.config.home, chosen.name, since=since_, until=until_)
    catalogue = [str(item) for item in profile.get("items", [])]
    traffic, others = load_traffic(table, chosen.version, catalogue)
    results = [requests_check(len(traffic), others, (since_, until_), settings)]
    if len(traffic) >= max(settings.min_requests, 1):
        activity = read_activity(registry, chosen)
        results += [fallback_check(traffic, settings), unknown_users_check(traffic, settings)]
        results += context_checks(traffic, profile, settings)
        results.append(user_activity_check(traffic, activity, settings))
        answers = first_answers(traffic, activity, profile)
        results += output_checks(traffic, answers, profile, settings)
    return MonitorReport(chosen.name, chosen.version, since_, until_, len(traffic), results, others)


def _profile(registry: Registry, version: ModelVersion) -> dict[str, Any]:
    profile = registry.profile(version)
    if profile is None:
        raise GuardError(
            f"{version.ref} was registered without data=, so it has no reference profile to "
            "compare traffic with; register it with Registry().register(name, model, data=train)"
        )
    if profile.get("format") != PROFILE_FORMAT:
        raise GuardError(
            f"the reference profile of {version.ref} has format {profile.get('format')!r}; "
            f"this reelflow reads format {PROFILE_FORMAT}: upgrade reelflow"
        )
    return profile


def _stamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
