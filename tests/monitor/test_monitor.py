"""``monitor``: a window like training passes, a drifted one fails the right checks with the right
values; empty and small windows, other versions, overrides, skew, reports and bad input."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from reelflow._errors import GuardError, GuardFailedError, RegistryError, UsageError
from reelflow.guards import GuardResult
from reelflow.monitor import MonitorReport, monitor
from reelflow.store import Store

from .conftest import Logged, Trained
from .traffic import DAY, DRIFTED_DAY, at, write

CHECKS = [
    "monitor:requests",
    "monitor:fallback_share",
    "monitor:unknown_users",
    "drift:context:region",
    "skew:contexts",
    "drift:user_activity",
    "drift:scores",
    "drift:recommended_popularity",
    "monitor:coverage",
    "skew:items",
]


def _by_name(report: MonitorReport) -> dict[str, GuardResult]:
    return {result.name: result for result in report.results}


def test_a_window_like_training_passes(logged: Logged, store: Store) -> None:
    report = monitor("recs", since=DAY, window="24h", store=store)
    assert [r.name for r in report.results] == CHECKS
    assert report.verdict == "passed", report.summary()
    assert (report.ref, report.n_requests, report.window) == ("recs:1", 1500, (DAY, DRIFTED_DAY))
    results = _by_name(report)
    assert results["monitor:fallback_share"].value == 0
    assert results["monitor:unknown_users"].value == 0
    assert results["drift:context:region"].value < 0.03
    assert results["drift:scores"].value < 0.05
    assert results["drift:scores"].details["matched_on_activity"] is True
    assert 0.85 < results["monitor:coverage"].value <= 1.1
    skew = results["skew:contexts"].details
    assert skew["compared"] == ["region"] and skew["not_in_training"] == ["device"]
    assert skew["not_logged"] == ["event", "stars"]  # interaction fields, not request contexts
    assert skew["carried_by"] == {"region": 1.0}
    report.raise_on_blocking()  # nothing blocks


def test_a_drifted_window_fails_the_right_checks(logged: Logged, store: Store) -> None:
    report = monitor("recs", since=DRIFTED_DAY, until=DRIFTED_DAY + dt.timedelta(days=1))
    results = _by_name(report)
    status = {name: result.status for name, result in results.items()}
    assert status == {
        "monitor:requests": "passed",
        "monitor:fallback_share": "failed",
        "monitor:unknown_users": "warning",
        "drift:context:region": "warning",
        "skew:contexts": "passed",
        "drift:user_activity": "warning",
        "drift:scores": "failed",
        "drift:recommended_popularity": "failed",
        "monitor:coverage": "failed",
        "skew:items": "passed",
    }
    assert report.verdict == "failed"
    rows = logged.drifted
    reasons = Counter(row["fallback"] for row in rows if row["fallback"])
    fallback = results["monitor:fallback_share"]
    assert fallback.value == pytest.approx(reasons["timeout"] / len(rows))
    assert fallback.details["by_reason"] == dict(reasons)
    unknown = sum(not row["known_user"] for row in rows)
    assert results["monitor:unknown_users"].value == pytest.approx(unknown / len(rows))
    region = results["drift:context:region"]
    assert region.details["plot"]["current"][region.details["plot"]["labels"].index("latam")] == 1
    profile = logged.registry.profile("recs:1")
    assert profile is not None
    coverage = results["monitor:coverage"]
    expected = 10 / profile["n_items"] / profile["coverage"]  # the same 10 items for everyone
    assert coverage.value == pytest.approx(expected)
    assert coverage.details["plot"]["kind"] == "comparison"
    assert results["drift:recommended_popularity"].value > 1
    with pytest.raises(GuardFailedError, match="monitor of recs:1"):
        report.raise_on_blocking()


def test_an_empty_window_reports_no_traffic(logged: Logged, store: Store) -> None:
    report = monitor("recs", until=DAY, window="6h", store=store)
    (only,) = report.results
    assert (only.name, only.status, only.value) == ("monitor:requests", "warning", 0)
    assert "fewer than 100" in only.message
    assert report.verdict == "warning" and report.n_requests == 0
    report.raise_on_blocking()


def test_below_min_requests_nothing_else_is_judged(logged: Logged, store: Store) -> None:
    report = monitor("recs", since=DAY, window="1d", min_requests=2000, store=store)
    assert [r.name for r in report.results] == ["monitor:requests"]
    assert report.results[0].threshold == 2000
    strict = monitor("recs", since=DAY, window="1d", severities={"requests": "block"},
                     thresholds={"requests": 2000}, store=store)  # fmt: skip
    assert strict.verdict == "failed"


def test_a_version_without_profile_is_a_clear_error(store: Store, trained: Trained) -> None:
    from reelflow.registry import Registry

    registry = Registry(store)
    registry.register("recs", trained.model, verify=False)
    with pytest.raises(GuardError, match=r"recs:1 was registered without data="):
        monitor("recs", version=1, store=store)
    with pytest.raises(RegistryError, match="champion"):
        monitor("recs", store=store)  # no champion yet
    with pytest.raises(RegistryError, match="no model named"):
        monitor("other", version=1, store=store)


def test_requests_of_other_versions_are_left_out(
    logged: Logged, store: Store, trained: Trained
) -> None:
    logged.registry.register("recs", trained.model, data=trained.train, verify=False)
    write(store.config.home, at(logged.drifted[:300], time=DAY, version=2), seq=2)
    report = monitor("recs", since=DAY, window="24h", store=store)
    assert report.n_requests == 1500 and report.other_versions == {2: 300}
    assert report.verdict == "passed"
    assert "300 answered by other versions were left out: v2: 300" in report.results[0].message
    second = monitor("recs", version=2, since=DAY, window="24h", store=store)
    assert second.ref == "recs:2" and second.n_requests == 300
    assert second.other_versions == {1: 1500}


def test_thresholds_and_severities_override_the_defaults(logged: Logged, store: Store) -> None:
    report = monitor(
        "recs",
        since=DRIFTED_DAY,
        window="24h",
        store=store,
        thresholds={"fallback_share": 0.2, "coverage": 0.1},
        severities={"context": "block", "scores": "warn", "recommended_popularity": "warn"},
    )
    results = _by_name(report)
    assert results["monitor:fallback_share"].passed
    assert results["monitor:fallback_share"].threshold == 0.2
    assert results["monitor:coverage"].passed
    assert results["drift:context:region"].status == "failed"
    assert results["drift:scores"].status == "warning"
    assert [r.name for r in report.blocking] == ["drift:context:region"]


def test_unseen_values_and_unknown_items_are_skew(
    logged: Logged, store: Store, trained: Trained
) -> None:
    day = DAY + dt.timedelta(days=5)
    rows = at(logged.healthy, time=day)
    for row in rows[:75]:  # 5%: a region training never saw, a served item it never had
        row.update(region="mars", items=["zzz", *row["items"][1:]])
    write(store.config.home, rows, seq=3)
    results = _by_name(monitor("recs", since=day, window="1d", store=store))
    contexts, items = results["skew:contexts"], results["skew:items"]
    assert contexts.status == "warning" and contexts.value == pytest.approx(0.05)
    assert "'mars'" in contexts.message
    assert items.status == "warning" and items.value == pytest.approx(75 / 15000)
    assert items.details["examples"] == ["zzz"]


def test_the_report_is_one_html_file(logged: Logged, store: Store, tmp_path: Path) -> None:
    report = monitor("recs", since=DRIFTED_DAY, window="24h", store=store)
    path = tmp_path / "out" / "monitor.html"
    text = report.to_html(path)
    assert path.read_text(encoding="utf-8") == text
    assert "Monitor of recs:1" in text and "drift:scores" in text
    assert text.count("<img") >= 5  # fallbacks, region, activity, scores, popularity, coverage


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"thresholds": {"fallback": 0.1}}, "unknown monitor threshold 'fallback'"),
        ({"thresholds": {"fallback_share": 2}}, "out of range"),
        ({"thresholds": {"scores": 0}}, "out of range"),
        ({"severities": {"scores": "fatal"}}, "use 'block' or 'warn'"),
        ({"window": "a day"}, "not a duration"),
        ({"since": "yesterday"}, "not a date or time"),
        ({"since": "2024-05-02", "until": "2024-05-01"}, "the window is empty"),
        ({"since": "2024-05-01", "until": "2024-05-02", "window": "1h"}, "at most two"),
    ],
)
def test_bad_arguments_are_one_clear_error(
    logged: Logged, store: Store, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        monitor("recs", store=store, **kwargs)


def test_the_window_follows_from_any_two_of_since_until_and_length() -> None:
    from reelflow.monitor._window import parse_duration, resolve_window

    now = dt.datetime(2024, 5, 3, 12, tzinfo=dt.UTC)
    assert resolve_window(None, None, None, now=now) == (now - dt.timedelta(hours=24), now)
    assert resolve_window("2024-05-01", None, "6h", now=now) == (
        dt.datetime(2024, 5, 1, tzinfo=dt.UTC),
        dt.datetime(2024, 5, 1, 6, tzinfo=dt.UTC),
    )
    assert resolve_window("2024-05-01T00:00:00+02:00", None, None, now=now)[0] == dt.datetime(
        2024, 4, 30, 22, tzinfo=dt.UTC
    )
    assert resolve_window(None, "2024-05-02", "1d", now=now)[0] == dt.datetime(
        2024, 5, 1, tzinfo=dt.UTC
    )
    assert parse_duration("90s") == dt.timedelta(seconds=90)
    assert parse_duration("1.5h") == dt.timedelta(minutes=90)
    assert parse_duration("2w") == dt.timedelta(days=14)


def test_activity_bins_and_matched_samples() -> None:
    from reelflow.monitor._activity import bin_codes, bin_labels, matched_sample, matching_weights

    assert bin_codes(np.array([0, 1, 2, 3, 4, 7, 8])).tolist() == [0, 1, 2, 2, 3, 3, 4]
    assert bin_labels(5) == ["0", "1", "2-3", "4-7", "8-15"]
    codes = np.array([1] * 90 + [2] * 10)  # the window leans to bin 1; training is 50/50
    weights, missing = matching_weights(codes, np.array([0.0, 0.5, 0.5]))
    assert missing == 0
    assert weights[codes == 1].sum() == pytest.approx(weights[codes == 2].sum())
    picked = matched_sample(codes, np.array([0.0, 0.5, 0.5]), 20, np.random.default_rng(0))
    assert len(set(picked.tolist())) == 20
    assert Counter(codes[picked].tolist()) == {1: 10, 2: 10}
    short = matched_sample(codes, np.array([0.0, 0.2, 0.8]), 50, np.random.default_rng(0))
    assert Counter(codes[short].tolist()) == {1: 40, 2: 10}, "bin 2 short: bin 1 fills in"
    _, missing = matching_weights(np.array([1, 1]), np.array([0.0, 0.75, 0.25]))
    assert missing == pytest.approx(0.25)


def test_contexts_logged_as_json_are_compared_too(logged: Logged, store: Store) -> None:
    day = DAY + dt.timedelta(days=7)
    rows = at(logged.healthy, time=day, context='{"event": "view", "device": "tv"}')
    rows[0]["context"] = "not json"
    write(store.config.home, rows, seq=4)
    results = _by_name(monitor("recs", since=day, window="1d", store=store))
    event = results["drift:context:event"]  # training had views, likes and saves
    assert event.status == "warning" and event.details["plot"]["labels"][0] == "view"
    skew = results["skew:contexts"]
    assert skew.details["compared"] == ["event", "region"]
    assert skew.details["carried_by"]["event"] == pytest.approx(1 - 1 / len(rows))
    assert skew.details["malformed"] == 1 and "not JSON" in skew.message
