"""Interaction-log checks: missing ids, duplicates, bots, future and out-of-order times, the
catalogue join; every input format, and bad input answered with a result or a GuardError."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as arrow
import pytest

from reelflow._errors import GuardError
from reelflow.guards import GuardResult, check_interactions

ML_100K = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "movielens-100k"
NOW = 1_700_000_000  # 2023-11-14
DAY = 86_400


def _log(n_users: int = 50, per_user: int = 20, seed: int = 0) -> pd.DataFrame:
    """A clean log: each user has ``per_user`` distinct items at distinct times before NOW."""
    rng = np.random.default_rng(seed)
    users = np.repeat(np.arange(n_users), per_user)
    items = np.concatenate([rng.choice(500, per_user, replace=False) for _ in range(n_users)])
    times = NOW - 30 * DAY + np.arange(len(users)) * 600
    return pd.DataFrame({"user_id": users, "item_id": items, "timestamp": times})


def _by_name(results: list[GuardResult]) -> dict[str, GuardResult]:
    return {r.name.removeprefix("interactions:"): r for r in results}


def _one_line(error: pytest.ExceptionInfo[GuardError]) -> str:
    text = str(error.value)
    assert "\n" not in text and text
    return text


# --- a clean log -------------------------------------------------------------------------------


def test_a_clean_log_passes_every_check() -> None:
    results = check_interactions(_log(), now=NOW, catalogue=range(500), order="user")
    named = _by_name(results)
    assert list(named) == [
        "missing",
        "duplicates",
        "bots",
        "bots_per_day",
        "future",
        "order",
        "catalogue",
    ]
    assert all(r.passed for r in results), [r.summary() for r in results if not r.passed]
    assert named["duplicates"].message == (
        "no duplicate (user_id, item_id, timestamp) events among 1,000 events"
    )
    for result in results:
        json.dumps(result.to_record(), allow_nan=False)


def test_results_are_named_after_name_and_carry_severity() -> None:
    log = pd.concat([_log(), _log().head(2)])
    results = check_interactions(log, now=NOW, name="clicks", severity="warn")
    assert results[1].name == "clicks:duplicates" and results[1].status == "warning"


# --- duplicates --------------------------------------------------------------------------------


def test_duplicates_are_counted_with_examples() -> None:
    log = _log()
    log = pd.concat([log, log.iloc[[3, 3, 7]]], ignore_index=True)
    named = _by_name(check_interactions(log, now=NOW))
    dup = named["duplicates"]
    assert not dup.passed and dup.value == pytest.approx(3 / 1003)
    assert dup.message == "3 duplicate (user_id, item_id, timestamp) events (0.30% of 1,003)"
    assert dup.details["examples"][0]["copies"] in (2, 3)
    assert sorted(e["copies"] for e in dup.details["examples"]) == [2, 3]
    tolerant = _by_name(check_interactions(log, now=NOW, max_duplicate_rate=0.01))
    assert tolerant["duplicates"].passed


def test_without_timestamps_a_repeated_user_item_pair_is_a_duplicate() -> None:
    log = _log().drop(columns="timestamp")
    log = pd.concat([log, log.head(1)])
    named = _by_name(check_interactions(log, timestamp=None))
    assert list(named) == ["missing", "duplicates", "bots"]
    assert named["duplicates"].message.startswith("1 duplicate (user_id, item_id) events")


def test_duplicates_are_exact_when_the_fast_keys_could_collide() -> None:
    rng = np.random.default_rng(3)
    n = 5_000
    log = pd.DataFrame(
        {
            "user_id": rng.integers(0, 300, n),
            "item_id": rng.integers(0, 300, n),
            "timestamp": rng.choice([0.0, 1e15, 2e15, 3e15], n),  # a span of 3e15 seconds
        }
    )
    expected = int(log.duplicated().sum())
    named = _by_name(check_interactions(log, now=4e15, bot_rule=None))
    assert named["duplicates"].details["examples"]
    assert named["duplicates"].value * n == pytest.approx(expected)


# --- bots --------------------------------------------------------------------------------------


def _with_bot(events: int = 5_000) -> pd.DataFrame:
    bot = pd.DataFrame(
        {
            "user_id": 999,
            "item_id": np.arange(events) % 500,
            "timestamp": NOW - DAY + np.arange(events) * 10,
        }
    )
    return pd.concat([_log(), bot], ignore_index=True)


def test_the_robust_rule_flags_a_bot_and_names_it() -> None:
    named = _by_name(check_interactions(_with_bot(), now=NOW))
    bots = named["bots"]
    assert not bots.passed and bots.value == 5_000
    assert bots.message.startswith("1 user has more than")
    assert "(robust outlier rule), e.g. 999 has 5,000" in bots.message
    assert bots.details["top"] == [{"user": 999, "events": 5_000}]
    assert bots.details["share_of_events"] == pytest.approx(5_000 / 6_000)
    assert not named["bots_per_day"].passed


def test_caps_replace_the_robust_rule_under_auto() -> None:
    named = _by_name(check_interactions(_with_bot(), now=NOW, max_events_per_user=10_000))
    assert named["bots"].passed and named["bots"].threshold == 10_000
    assert "bots_per_day" not in named  # no per-day cap and the robust rule is off
    capped = _by_name(check_interactions(_log(), now=NOW, max_events_per_user_per_day=5))
    assert not capped["bots_per_day"].passed and "bots" not in capped
    assert "50 users have more than 5 events in one day" in capped["bots_per_day"].message
    both = _by_name(
        check_interactions(_with_bot(), now=NOW, bot_rule="mad", max_events_per_user=10)
    )
    assert both["bots"].details["rule"] == "max_events_per_user"


def test_bot_rule_none_turns_the_activity_checks_off() -> None:
    assert "bots" not in _by_name(check_interactions(_with_bot(), now=NOW, bot_rule=None))


def test_the_robust_rule_leaves_a_heavy_tailed_log_alone() -> None:
    rng = np.random.default_rng(1)
    activity = np.maximum(1, rng.lognormal(3, 1, 5_000).astype(int))
    users = np.repeat(np.arange(5_000), activity)
    log = pd.DataFrame({"user_id": users, "item_id": rng.integers(0, 1_000, len(users))})
    named = _by_name(check_interactions(log, timestamp=None, max_duplicate_rate=1.0))
    assert named["bots"].passed, named["bots"].message


def test_busy_items_are_checked_only_with_a_cap() -> None:
    log = _with_bot()
    busy = int((log["item_id"].value_counts() > 15).sum())
    named = _by_name(check_interactions(log, now=NOW, max_events_per_item=15))
    assert not named["item_activity"].passed and named["item_activity"].details["items"] == busy
    assert named["item_activity"].message.startswith(f"{busy} items have more than 15 events")
    assert "item_activity" not in _by_name(check_interactions(log, now=NOW))


# --- time --------------------------------------------------------------------------------------


def test_future_events_fail_and_millisecond_timestamps_are_named() -> None:
    log = _log()
    log.loc[[0, 1], "timestamp"] = NOW + DAY
    named = _by_name(check_interactions(log, now=NOW))
    assert not named["future"].passed and named["future"].value == pytest.approx(0.002)
    assert named["future"].message == (
        "2 events (0.20% of 1,000) are later than now (2023-11-14 22:13:20 UTC), "
        "up to 2023-11-15 22:13:20 UTC"
    )
    millis = _log().assign(timestamp=lambda f: f.timestamp * 1000)
    future = _by_name(check_interactions(millis, now=NOW))["future"]
    assert future.message.endswith("the timestamps look like milliseconds: divide them by 1,000")
    assert _by_name(check_interactions(log, now="2024-01-01"))["future"].passed


def test_datetime_timestamps_with_a_time_zone() -> None:
    log = _log()
    log["timestamp"] = pd.to_datetime(log["timestamp"], unit="s").dt.tz_localize("UTC")
    log["timestamp"] = log["timestamp"].dt.tz_convert("Europe/Paris")
    now = pd.Timestamp(NOW, unit="s").tz_localize("UTC")
    assert all(r.passed for r in check_interactions(log, now=now))
    assert not _by_name(check_interactions(log, now=NOW - 25 * DAY))["future"].passed


def test_out_of_order_events_globally_and_per_user() -> None:
    log = _log()
    swapped = log.copy()
    swapped.loc[[0, 1], "timestamp"] = swapped.loc[[1, 0], "timestamp"].to_numpy()
    named = _by_name(check_interactions(swapped, now=NOW, order="user"))
    assert named["order"].value == pytest.approx(0.001)
    assert named["order"].message == (
        "1 event (0.10% of 1,000) is earlier than the event before them of the same user_id; "
        "sort the log by (user_id, timestamp) or pass order=None"
    )
    shuffled = log.sample(frac=1.0, random_state=0)
    assert not _by_name(check_interactions(shuffled, now=NOW, order="global"))["order"].passed
    users_reversed = log.sort_values(["user_id", "timestamp"], ascending=[False, True])
    assert _by_name(check_interactions(users_reversed, now=NOW, order="user"))["order"].passed
    assert not _by_name(check_interactions(users_reversed, now=NOW, order="global"))["order"].passed


# --- the catalogue -----------------------------------------------------------------------------


def test_items_missing_from_the_catalogue() -> None:
    named = _by_name(check_interactions(_log(), now=NOW, catalogue=set(range(250))))
    unknown = named["catalogue"]
    assert not unknown.passed and 0.3 < unknown.value < 0.7
    assert "item_id missing from the catalogue of 250 items" in unknown.message
    assert unknown.details["unknown_items"] > 100
    tolerant = check_interactions(_log(), now=NOW, catalogue=range(250), max_unknown_item_rate=0.9)
    assert _by_name(tolerant)["catalogue"].passed


@pytest.mark.parametrize(
    "catalogue",
    [
        pd.Series(range(500)),
        np.arange(500),
        pd.Index(range(500)),
        list(range(500)),
        dict.fromkeys(range(500)).keys(),
        pd.DataFrame({"item_id": range(500), "title": "x"}),
        arrow.table({"item_id": list(range(500))}),
        arrow.array(range(500)),
        pl.Series(range(500)),
        pl.DataFrame({"item_id": range(500)}),
    ],
)
def test_every_catalogue_format_joins(catalogue: Any) -> None:
    assert _by_name(check_interactions(_log(), now=NOW, catalogue=catalogue))["catalogue"].passed


def test_ids_of_different_types_are_named_as_the_reason_nothing_joins() -> None:
    catalogue = [str(i) for i in range(500)]
    unknown = _by_name(check_interactions(_log(), now=NOW, catalogue=catalogue))["catalogue"]
    assert unknown.value == 1.0
    assert unknown.message.endswith(
        "no id joins: the log's ids are numbers and the catalogue's strings, cast one side"
    )


# --- inputs ------------------------------------------------------------------------------------


def test_arrow_polars_and_interactions_inputs_agree() -> None:
    from reelflow.data import Interactions

    log = pd.concat([_with_bot(), _log().head(3)], ignore_index=True)
    expected = [(r.name, r.passed, r.value) for r in check_interactions(log, now=NOW)]
    for data in (
        arrow.Table.from_pandas(log),
        pl.from_pandas(log),
        Interactions.from_pandas(log, timestamp="timestamp"),
    ):
        got = [(r.name, r.passed, r.value) for r in check_interactions(data, now=NOW)]
        assert got == expected


def test_an_interactions_without_timestamps_skips_the_time_checks() -> None:
    from reelflow.data import Interactions

    data = Interactions.from_pandas(_log())
    assert list(_by_name(check_interactions(data))) == ["missing", "duplicates", "bots"]


# --- bad input ---------------------------------------------------------------------------------


def test_an_empty_log_is_one_failed_result() -> None:
    results = check_interactions(_log().iloc[:0], now=NOW)
    assert [(r.name, r.passed) for r in results] == [("interactions:empty", False)]
    assert results[0].message.startswith("the interaction log is empty (0 events)")


def test_missing_ids_and_bad_timestamps_are_counted_not_crashed_on() -> None:
    log = _log().astype({"timestamp": float})
    log.loc[0, "user_id"] = None
    log.loc[1, "timestamp"] = np.nan
    log.loc[2, "timestamp"] = np.inf
    named = _by_name(check_interactions(log, now=NOW, order="global"))
    missing = named["missing"]
    assert missing.details["by_column"] == {"user_id": 1, "item_id": 0, "timestamp": 2}
    assert missing.message == "3 events (0.30% of 1,000) lack a user_id (1) or timestamp (2)"
    assert all(r.passed for n, r in named.items() if n != "missing")


def test_all_null_columns() -> None:
    log = _log()
    log["user_id"] = None
    log["timestamp"] = None
    named = _by_name(check_interactions(log, now=NOW, order="user", catalogue=range(500)))
    assert named["missing"].value == 1.0
    assert named["bots"].passed and named["future"].passed and named["order"].passed


def test_constant_columns() -> None:
    log = _log().assign(user_id=7, timestamp=NOW - DAY)
    named = _by_name(check_interactions(log, now=NOW))
    assert named["duplicates"].value == pytest.approx(1 - log["item_id"].nunique() / len(log))
    assert named["bots"].passed  # one user: the robust rule has nothing to compare with


def test_hundreds_of_thousands_of_distinct_string_ids() -> None:
    n = 200_000
    ids = pd.Series(np.arange(n)).astype(str).to_numpy()
    log = pd.DataFrame({"user_id": ids, "item_id": ids, "timestamp": NOW - np.arange(n)})
    results = check_interactions(log, now=NOW)
    assert all(r.passed for r in results)


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        (lambda: check_interactions(_log(), user="uid"), "column 'uid' is not in the"),
        (
            lambda: check_interactions(_log().drop(columns="timestamp")),
            "pass timestamp=None for a log without times",
        ),
        (lambda: check_interactions(_log().astype({"timestamp": str})), "pd.to_datetime"),
        (lambda: check_interactions([1, 2]), "the interaction log is a list"),
        (lambda: check_interactions(_log(), catalogue=[]), "the catalogue is empty"),
        (lambda: check_interactions(_log(), catalogue=pd.DataFrame({"id": [1]})), "no 'item_id'"),
        (lambda: check_interactions(_log(), catalogue=3), "catalogue is a int"),
        (lambda: check_interactions(_log(), now="yesterday-ish"), "now='yesterday-ish'"),
        (lambda: check_interactions(_log(), bot_rule="iqr"), "bot_rule='iqr'"),
        (lambda: check_interactions(_log(), bot_z=0), "bot_z=0"),
        (lambda: check_interactions(_log(), order="time"), "order='time'"),
        (lambda: check_interactions(_log(), max_events_per_user=0), "caps are at least 1"),
        (lambda: check_interactions(_log(), max_duplicate_rate=2), "between 0 and 1"),
        (lambda: check_interactions(_log(), severity="fatal"), "severity 'fatal'"),
    ],
)
def test_bad_input_raises_one_line(call: Any, fragment: str) -> None:
    with pytest.raises(GuardError) as error:
        call()
    assert fragment in _one_line(error)


# --- real data ---------------------------------------------------------------------------------


def test_movielens_100k_is_a_clean_log() -> None:
    folder = ML_100K / "ml-100k"
    if not (folder / "u.data").is_file():
        pytest.skip(f"{folder} is missing (real MovieLens data lives in ../shared/data)")
    names = ["user_id", "item_id", "rating", "timestamp"]
    ratings = pd.read_csv(folder / "u.data", sep="\t", names=names)
    items = pd.read_csv(folder / "u.item", sep="|", header=None, encoding="latin-1")[0]
    results = check_interactions(ratings, catalogue=items, now="1998-05-01")
    assert all(r.passed for r in results), [r.summary() for r in results if not r.passed]
    named = _by_name(results)
    assert named["bots"].value == 737  # the busiest rater, far below the robust cutoff
    order = _by_name(check_interactions(ratings, timestamp="timestamp", order="user"))["order"]
    assert not order.passed  # u.data is not sorted by time
    early = _by_name(check_interactions(ratings, now="1998-01-01"))["future"]
    assert not early.passed and early.details["latest"] == "1998-04-22 23:10:38 UTC"
