"""Train/test splits of an ``Interactions`` log, on the same id indices and without leakage.

Random splits decide per distinct (user, item) pair, so repeated interactions with one item stay
on one side. Temporal splits decide per event and drop the test events that repeat a pair seen
in train, so no pair is on both sides and no test event comes before a train event.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from reelflow._errors import DataError
from reelflow.data._interactions import Interactions


@dataclass(frozen=True, eq=False)
class Split:
    """A train and a test set on the same id indices; unpacks as ``train, test = split``."""

    train: Interactions
    test: Interactions

    def __iter__(self) -> Iterator[Interactions]:
        return iter((self.train, self.test))

    def __repr__(self) -> str:
        return f"<Split train={len(self.train):,} test={len(self.test):,}>"


def random_holdout(data: Interactions, test_fraction: float = 0.2, seed: int = 0) -> Split:
    """A random ``test_fraction`` of the distinct (user, item) pairs, all their rows, to test."""
    _check_fraction(test_fraction)
    inverse, pair_user = _pairs(data)
    n = len(pair_user)
    if n < 2:
        raise DataError("random_holdout needs at least two distinct (user, item) pairs")
    n_test = min(max(round(test_fraction * n), 1), n - 1)
    chosen = np.zeros(n, dtype=bool)
    chosen[np.random.default_rng(seed).permutation(n)[:n_test]] = True
    return _split(data, chosen[inverse], "random_holdout")


def per_user_holdout(
    data: Interactions, test_fraction: float = 0.2, seed: int = 0, *, min_train: int = 1
) -> Split:
    """For each user, a random ``test_fraction`` of their distinct items (rounded) to test, keeping
    at least ``min_train`` items in train; users with no more than ``min_train`` stay in train."""
    _check_fraction(test_fraction)
    _check_count("min_train", min_train, 0)
    inverse, pair_user = _pairs(data)
    ranks, counts = _shuffled_ranks(pair_user, data.n_users, seed)
    n_test = np.minimum(np.floor(counts * test_fraction + 0.5), counts - min_train)
    return _split(data, (ranks < n_test)[inverse], "per_user_holdout")


def leave_one_out(data: Interactions, seed: int = 0) -> Split:
    """For each user with at least two distinct items, one random item (all its rows) to test."""
    inverse, pair_user = _pairs(data)
    ranks, counts = _shuffled_ranks(pair_user, data.n_users, seed)
    return _split(data, ((ranks == 0) & (counts > 1))[inverse], "leave_one_out")


def kfold(
    data: Interactions, k: int = 5, seed: int = 0, *, stratify: bool = True
) -> Iterator[Split]:
    """``k`` splits whose tests partition the data by (user, item) pair: every row is in exactly
    one test. ``stratify`` spreads each user's pairs evenly over the folds."""
    inverse, pair_user = _pairs(data)
    _check_count("k", k, 2)
    if k > len(pair_user):
        raise DataError(f"k={k} is more than the {len(pair_user)} distinct pairs; lower k")
    rng = np.random.default_rng(seed)
    if stratify:
        ranks, _ = _shuffled_ranks(pair_user, data.n_users, rng)
        pair_fold = (ranks + rng.integers(0, k, data.n_users)[pair_user]) % k
    else:
        pair_fold = rng.permutation(len(pair_user)) % k
    return _folds(data, pair_fold[inverse], k)


def leave_last_n(data: Interactions, n: int = 1) -> Split:
    """For each user with more than ``n`` events, their last ``n`` events (by timestamp, ties in
    row order) to test; users with ``n`` or fewer events keep them all in train."""
    _check_count("n", n, 1)
    stamps = _timestamps(data, "leave_last_n")
    order = np.lexsort((stamps, data.user))
    counts = np.bincount(data.user, minlength=data.n_users)
    from_end = np.empty(len(data), dtype=np.int64)
    from_end[order] = np.cumsum(counts)[data.user[order]] - 1 - np.arange(len(data))
    test = (from_end < n) & (counts[data.user] > n)
    return _temporal(data, test, "leave_last_n")


def temporal_cutoff(data: Interactions, at: Any) -> Split:
    """Events before the cutoff to train, the rest to test. ``at`` is a quantile of the
    timestamps (a float in (0, 1)), unix seconds (an int), or a date (str, datetime)."""
    stamps = _timestamps(data, "temporal_cutoff")
    return _temporal(data, stamps >= _cutoff(stamps, at), "temporal_cutoff")


# --- helpers -----------------------------------------------------------------------------------


def _pairs(data: Interactions) -> tuple[np.ndarray, np.ndarray]:
    """Each row's distinct (user, item) pair number, and each pair's user."""
    if len(data) == 0:
        raise DataError("the data is empty, so there is nothing to split")
    key = data.user.astype(np.int64) * data.n_items + data.item
    unique, inverse = np.unique(key, return_inverse=True)
    return inverse.reshape(-1), unique // data.n_items


def _shuffled_ranks(
    owner: np.ndarray, n_owners: int, seed: int | np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Each element's rank among its owner's elements in a random order, and that owner's count."""
    rng = np.random.default_rng(seed)
    shuffled = rng.permutation(len(owner))
    order = shuffled[np.argsort(owner[shuffled], kind="stable")]
    counts = np.bincount(owner, minlength=n_owners)
    starts = np.cumsum(counts) - counts
    ranks = np.empty(len(owner), dtype=np.int64)
    ranks[order] = np.arange(len(owner)) - starts[owner[order]]
    return ranks, counts[owner]


def _split(data: Interactions, test: np.ndarray, what: str) -> Split:
    return _checked(data, ~test, test, what)


def _temporal(data: Interactions, test: np.ndarray, what: str) -> Split:
    """Drop the test events whose (user, item) pair is also in train."""
    key = data.user.astype(np.int64) * data.n_items + data.item
    rows = np.flatnonzero(test)
    repeats = rows[_isin(key[rows], key[~test])]
    kept = test.copy()
    kept[repeats] = False
    return _checked(data, ~test, kept, what)


def _isin(values: np.ndarray, table: np.ndarray) -> np.ndarray:
    """``np.isin`` by sorting and binary search: several times faster on large int arrays."""
    table = np.sort(table)
    found = np.minimum(np.searchsorted(table, values), max(len(table) - 1, 0))
    return np.asarray(table[found] == values) if len(table) else np.zeros(len(values), bool)


def _checked(data: Interactions, train: np.ndarray, test: np.ndarray, what: str) -> Split:
    for side, mask in (("train", train), ("test", test)):
        if not mask.any():
            raise DataError(
                f"{what} leaves the {side} set empty; the data is too small or too sparse for "
                "these settings"
            )
    return Split(data.subset(train), data.subset(test))


def _folds(data: Interactions, fold: np.ndarray, k: int) -> Iterator[Split]:
    for number in range(k):
        test = fold == number
        yield Split(data.subset(~test), data.subset(test))


def _timestamps(data: Interactions, what: str) -> np.ndarray:
    if len(data) == 0:
        raise DataError("the data is empty, so there is nothing to split")
    if data.timestamp is None:
        raise DataError(f"{what} needs timestamps; build the data with timestamp=")
    return data.timestamp


def _cutoff(stamps: np.ndarray, at: Any) -> int:
    """The first second of the test side."""
    if isinstance(at, bool):
        raise DataError("at must be a quantile, unix seconds or a date, not a bool")
    if isinstance(at, numbers.Integral):
        return int(at)
    if isinstance(at, numbers.Real):
        if not 0 < float(at) < 1:
            raise DataError(
                f"a float at={at} is a quantile and must be between 0 and 1; pass unix seconds "
                "as an int"
            )
        position = min(int(float(at) * len(stamps)), len(stamps) - 1)
        return int(np.partition(stamps, position)[position])
    try:
        stamp = pd.Timestamp(at)
    except (TypeError, ValueError):
        raise DataError(f"at={at!r} is not a quantile, unix seconds or a date") from None
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return math.ceil(stamp.timestamp())


def _check_fraction(test_fraction: float) -> None:
    if not 0 < test_fraction < 1:
        raise DataError(f"test_fraction must be between 0 and 1 (exclusive), got {test_fraction}")


def _check_count(name: str, value: int, least: int) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < least:
        raise DataError(f"{name} must be an integer of at least {least}, got {value!r}")
