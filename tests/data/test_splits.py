"""Splits: determinism, sizes, no (user, item) pair on both sides, temporal order, k-fold cover."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from reelflow._errors import DataError
from reelflow.data import IdIndex, Interactions
from reelflow.data._splits import (
    Split,
    kfold,
    leave_last_n,
    leave_one_out,
    per_user_holdout,
    random_holdout,
    temporal_cutoff,
)


def _log(n: int = 20_000, n_users: int = 300, n_items: int = 200, seed: int = 1) -> Interactions:
    """A random log with repeated (user, item) pairs and tied timestamps."""
    rng = np.random.default_rng(seed)
    return Interactions(
        IdIndex(np.arange(n_users)),
        IdIndex(np.arange(n_items)),
        rng.integers(0, n_users, n).astype(np.int32),
        rng.integers(0, n_items, n).astype(np.int32),
        rating=rng.random(n).astype(np.float32),
        timestamp=rng.integers(0, 5_000, n),
    )


def _pairs(data: Interactions) -> set[tuple[int, int]]:
    return set(zip(data.user.tolist(), data.item.tolist(), strict=True))


def _rows(data: Interactions) -> list[tuple[int, int, int, float]]:
    assert data.timestamp is not None and data.rating is not None
    columns = (data.user, data.item, data.timestamp, data.rating)
    return sorted(zip(*(c.tolist() for c in columns), strict=True))


SPLITTERS: dict[str, Callable[[Interactions], Split]] = {
    "random_holdout": lambda d: random_holdout(d, 0.2, seed=3),
    "per_user_holdout": lambda d: per_user_holdout(d, 0.2, seed=3),
    "leave_one_out": lambda d: leave_one_out(d, seed=3),
    "leave_last_n": lambda d: leave_last_n(d, 2),
    "temporal_cutoff": lambda d: temporal_cutoff(d, 0.8),
    "kfold": lambda d: next(kfold(d, 4, seed=3)),
}


@pytest.mark.parametrize("name", SPLITTERS)
def test_no_pair_is_on_both_sides_and_indices_are_shared(name: str) -> None:
    data = _log()
    train, test = SPLITTERS[name](data)
    assert len(train) and len(test)
    assert not _pairs(train) & _pairs(test)
    assert train.users == data.users == test.users and train.items == test.items


@pytest.mark.parametrize("name", SPLITTERS)
def test_same_seed_same_split(name: str) -> None:
    first, second = SPLITTERS[name](_log()), SPLITTERS[name](_log())
    assert first.test.fingerprint == second.test.fingerprint
    assert first.train.fingerprint == second.train.fingerprint


@pytest.mark.parametrize("name", ["random_holdout", "per_user_holdout", "leave_one_out"])
def test_random_splits_keep_every_row(name: str) -> None:
    data = _log()
    train, test = SPLITTERS[name](data)
    assert sorted(_rows(train) + _rows(test)) == _rows(data)


def test_other_seeds_give_other_splits() -> None:
    data = _log()
    assert (
        random_holdout(data, 0.2, 1).test.fingerprint
        != random_holdout(data, 0.2, 2).test.fingerprint
    )


def test_split_unpacks_as_a_pair() -> None:
    split = random_holdout(_log(), 0.3)
    train, test = split
    assert train is split.train and test is split.test
    assert "train=" in repr(split)


def test_random_holdout_fraction_counts_distinct_pairs() -> None:
    data = _log()
    test = random_holdout(data, 0.25, seed=0).test
    n_pairs = len(_pairs(data))
    assert len(_pairs(test)) == round(0.25 * n_pairs)
    assert len(test) / len(data) == pytest.approx(0.25, abs=0.02)


def test_per_user_holdout_is_stratified_per_user() -> None:
    data = _log()
    test = per_user_holdout(data, 0.3, seed=0).test
    for user in range(0, data.n_users, 37):
        n_pairs = len({i for u, i in _pairs(data) if u == user})
        n_test = len({i for u, i in _pairs(test) if u == user})
        assert n_test == min(int(np.floor(n_pairs * 0.3 + 0.5)), n_pairs - 1)
    assert len(test) / len(data) == pytest.approx(0.3, abs=0.02)


def test_per_user_holdout_keeps_min_train_and_small_users_in_train() -> None:
    users = np.array([0, 0, 0, 1, 1, 2], dtype=np.int32)
    items = np.array([0, 1, 2, 0, 1, 2], dtype=np.int32)
    data = Interactions(IdIndex(np.arange(3)), IdIndex(np.arange(3)), users, items)
    train, test = per_user_holdout(data, 0.9, seed=0, min_train=1)
    assert np.bincount(test.user, minlength=3).tolist() == [2, 1, 0]
    assert np.bincount(train.user, minlength=3).tolist() == [1, 1, 1]


def test_leave_one_out_holds_one_item_per_user() -> None:
    data = _log()
    test = leave_one_out(data, seed=0).test
    per_user: dict[int, set[int]] = {}
    for user, item in _pairs(test):
        per_user.setdefault(user, set()).add(item)
    assert all(len(items) == 1 for items in per_user.values())
    assert len(per_user) == len(set(data.user.tolist()))


def test_leave_last_n_holds_each_users_latest_events() -> None:
    data = _log(n=3_000)
    train, test = leave_last_n(data, 2)
    assert train.timestamp is not None and test.timestamp is not None
    for user in np.unique(test.user):
        last_train = train.timestamp[train.user == user].max()
        assert test.timestamp[test.user == user].min() >= last_train
    assert np.bincount(test.user).max() <= 2


def test_leave_last_n_keeps_short_histories_in_train() -> None:
    users = np.array([0, 0, 0, 1], dtype=np.int32)
    data = Interactions(
        IdIndex(np.arange(2)),
        IdIndex(np.arange(4)),
        users,
        np.arange(4, dtype=np.int32),
        timestamp=np.array([3, 1, 2, 9]),
    )
    train, test = leave_last_n(data, 1)
    assert test.item.tolist() == [0] and sorted(train.item.tolist()) == [1, 2, 3]
    with pytest.raises(DataError, match="test set empty"):
        leave_last_n(data, 3)


def test_temporal_repeats_of_train_pairs_are_dropped_from_test() -> None:
    data = Interactions(
        IdIndex(np.arange(1)),
        IdIndex(np.arange(3)),
        np.zeros(4, dtype=np.int32),
        np.array([0, 1, 0, 2], dtype=np.int32),
        timestamp=np.array([1, 2, 3, 4]),
    )
    train, test = temporal_cutoff(data, 3)
    assert train.item.tolist() == [0, 1] and test.item.tolist() == [2]


def test_temporal_cutoff_by_quantile_timestamp_and_date() -> None:
    data = _log()
    train, test = temporal_cutoff(data, 0.7)
    assert train.timestamp is not None and test.timestamp is not None
    assert train.timestamp.max() < test.timestamp.min()
    assert len(train) / len(data) == pytest.approx(0.7, abs=0.01)
    by_time = temporal_cutoff(data, 3_000)
    assert by_time.train.timestamp is not None and by_time.train.timestamp.max() < 3_000
    dated = temporal_cutoff(data, "1970-01-01 00:50")
    assert dated.test.timestamp is not None and dated.test.timestamp.min() >= 3_000


@pytest.mark.parametrize("stratify", [True, False])
def test_kfold_tests_cover_every_row_exactly_once(stratify: bool) -> None:
    data = _log()
    folds = list(kfold(data, 5, seed=0, stratify=stratify))
    assert len(folds) == 5
    tests = [row for _, test in folds for row in _rows(test)]
    assert sorted(tests) == _rows(data)
    for train, test in folds:
        assert len(train) + len(test) == len(data)
        assert len(test) / len(data) == pytest.approx(0.2, abs=0.03)
        assert not _pairs(train) & _pairs(test)


def test_stratified_kfold_spreads_each_user_evenly() -> None:
    data = _log()
    per_fold = np.zeros((5, data.n_users), dtype=np.int64)
    for fold, (_, test) in enumerate(kfold(data, 5, seed=0)):
        for user, _item in _pairs(test):
            per_fold[fold, user] += 1
    assert (per_fold.max(axis=0) - per_fold.min(axis=0)).max() <= 1


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda d: random_holdout(d, 0.0), "test_fraction"),
        (lambda d: per_user_holdout(d, 1.5), "test_fraction"),
        (lambda d: leave_last_n(d, 0), "n must be"),
        (lambda d: kfold(d, 1), "k must be"),
        (lambda d: temporal_cutoff(d, 1.5), "quantile"),
        (lambda d: temporal_cutoff(d, "not a date"), "not a quantile"),
        (lambda d: temporal_cutoff(d, -1), "train set empty"),
    ],
)
def test_bad_arguments_are_errors(call: Callable[[Interactions], object], message: str) -> None:
    with pytest.raises(DataError, match=message):
        call(_log(n=500))


def test_empty_data_and_missing_timestamps_are_errors() -> None:
    empty = _log().subset(np.zeros(20_000, dtype=bool))
    for call in SPLITTERS.values():
        with pytest.raises(DataError, match="empty"):
            call(empty)
    untimed = Interactions(
        IdIndex(np.arange(2)), IdIndex(np.arange(2)), np.array([0]), np.array([1])
    )
    with pytest.raises(DataError, match="needs timestamps"):
        leave_last_n(untimed)
