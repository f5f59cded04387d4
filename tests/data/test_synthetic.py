"""The synthetic log: deterministic, well-formed, and shaped like a real one."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from reelflow._errors import DataError
from reelflow.data._synthetic import EVENTS, SyntheticLog, generate_interactions


@pytest.fixture(scope="module")
def log() -> SyntheticLog:
    return generate_interactions(3_000, 1_000, 200_000, seed=7)


def test_same_seed_same_log_other_seed_other_log() -> None:
    first = generate_interactions(300, 200, 5_000, seed=1)
    again = generate_interactions(300, 200, 5_000, seed=1)
    other = generate_interactions(300, 200, 5_000, seed=2)
    assert first.interactions.fingerprint == again.interactions.fingerprint
    assert first.interactions.fingerprint != other.interactions.fingerprint
    pd.testing.assert_frame_equal(first.items, again.items)


def test_shapes_and_columns(log: SyntheticLog) -> None:
    data = log.interactions
    assert (len(data), data.n_users, data.n_items) == (200_000, 3_000, 1_000)
    assert data.user.dtype == np.int32 and data.item.dtype == np.int32
    assert set(data.context) == {"event", "region", "watch_fraction", "stars"}
    assert list(log.items.columns) == ["item_id", "genre", "release_day", "release_date"]
    assert list(log.users.columns) == ["user_id", "region"]
    assert len(log.items) == 1_000 and len(log.users) == 3_000
    assert data.items.ids.tolist() == log.items["item_id"].tolist()


def test_signals_are_consistent(log: SyntheticLog) -> None:
    data, context = log.interactions, log.interactions.context
    assert data.rating is not None
    views = context["event"] == "view"
    assert set(np.unique(context["event"]).tolist()) == set(EVENTS)
    assert 0.8 < views.mean() < 0.95
    assert (context["watch_fraction"][views] > 0).all()
    assert (context["watch_fraction"][views] <= 1).all()
    assert (context["watch_fraction"][~views] == 0).all()
    assert np.array_equal(data.rating[views], context["watch_fraction"][views])
    assert (data.rating[~views] == 1.0).all()
    stars = context["stars"]
    assert set(np.unique(stars).tolist()) == {0, 1, 2, 3, 4, 5}
    assert (stars > 0).mean() == pytest.approx(0.2, abs=0.01)
    rated = stars[stars > 0]
    assert 3.2 < rated.mean() < 4.0  # MovieLens averages about 3.5


def test_popularity_has_a_long_tail(log: SyntheticLog) -> None:
    counts = np.sort(np.bincount(log.interactions.item, minlength=1_000))[::-1]
    share_top_1pc = counts[:10].sum() / counts.sum()
    share_bottom_half = counts[500:].sum() / counts.sum()
    assert share_top_1pc > 0.2
    assert share_bottom_half < 0.1


def test_regions_have_different_favourites(log: SyntheticLog) -> None:
    data = log.interactions
    frame = pd.DataFrame({"region": data.context["region"], "item": data.item})
    tops = {
        region: set(group["item"].value_counts().index[:20])
        for region, group in frame.groupby("region")
    }
    assert set(tops) == {"us", "eu", "latam"}
    assert len(tops["us"] & tops["eu"]) < 15
    assert len(tops["us"] & tops["latam"]) < 15
    users_region = log.users["region"].to_numpy()[data.user]
    assert np.array_equal(users_region, data.context["region"])


def test_time_window_releases_and_order(log: SyntheticLog) -> None:
    stamps = log.interactions.timestamp
    assert stamps is not None
    start = int(pd.Timestamp("2024-01-01", tz="UTC").timestamp())
    assert stamps.min() >= start and stamps.max() < start + 180 * 86_400
    assert (np.diff(stamps) >= 0).all()  # the log is in time order
    released = log.items["release_day"].to_numpy()[log.interactions.item]
    assert (stamps >= start + released * 86_400).all()
    new = log.items["release_day"] >= 0
    assert 0.2 < new.mean() < 0.4


def test_popularity_drifts_over_time(log: SyntheticLog) -> None:
    data = log.interactions
    assert data.timestamp is not None
    early = data.timestamp < np.quantile(data.timestamp, 0.2)
    late = data.timestamp >= np.quantile(data.timestamp, 0.8)
    top_early = set(np.argsort(np.bincount(data.item[early], minlength=1_000))[-20:])
    top_late = set(np.argsort(np.bincount(data.item[late], minlength=1_000))[-20:])
    assert len(top_early & top_late) < 18


def test_start_days_and_regions_are_honoured() -> None:
    made = generate_interactions(500, 30, 2_000, n_regions=10, start="2020-06-01", days=3)
    stamps = made.interactions.timestamp
    assert stamps is not None
    start = int(pd.Timestamp("2020-06-01", tz="UTC").timestamp())
    assert stamps.min() >= start and stamps.max() < start + 3 * 86_400
    expected = {"us", "eu", "latam", "apac", "ca", "mena", "anz", "africa", "region-8", "region-9"}
    assert set(made.users["region"]) == expected


def test_no_explicit_ratings_when_asked() -> None:
    made = generate_interactions(50, 30, 2_000, explicit_fraction=0.0)
    assert (made.interactions.context["stars"] == 0).all()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_users": 0}, "n_users"),
        ({"n_interactions": 2.5}, "n_interactions"),
        ({"explicit_fraction": 1.5}, "explicit_fraction"),
        ({"start": "not a date"}, "not a date"),
        ({"days": 0}, "days"),
        ({"seed": -1}, "seed"),
    ],
)
def test_bad_arguments_are_errors(kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {"n_users": 10, "n_items": 10, "n_interactions": 100}
    arguments.update(kwargs)
    with pytest.raises(DataError, match=message):
        generate_interactions(**arguments)


@pytest.mark.slow
def test_a_million_events_in_chunks() -> None:
    made = generate_interactions(20_000, 5_000, 1_000_000, seed=3)
    assert len(made.interactions) == 1_000_000
    assert np.bincount(made.interactions.item, minlength=5_000).max() < 200_000
