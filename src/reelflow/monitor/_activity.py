"""Training activity of a version's users, and samples of served users matched on it.

A user's activity is the number of distinct items they interacted with in training: the row
sizes of the model's ``seen_`` matrix, read from the version's saved files (only the user ids and
the matrix's row pointers are loaded, not the model). Activity is binned on a log2 scale:
``0``, ``1``, ``2-3``, ``4-7``, ...
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from reelflow.registry import ModelVersion, Registry

_PARAMS, _ARRAYS = "params.json", "arrays.npz"


@dataclass(frozen=True)
class Activity:
    """Each training user's id (as text) and activity."""

    users: pd.Index
    counts: np.ndarray

    def of(self, user_ids: np.ndarray) -> np.ndarray:
        """The activity of each id; -1 for ids the model does not know."""
        position = self.users.get_indexer(pd.Index(user_ids, dtype=object))
        return np.where(position >= 0, self.counts[np.maximum(position, 0)], -1)

    @property
    def user_shares(self) -> np.ndarray:
        """The share of training users in each activity bin."""
        codes = bin_codes(self.counts)
        return np.bincount(codes, minlength=int(codes.max(initial=0)) + 1) / max(len(codes), 1)

    @property
    def interaction_shares(self) -> np.ndarray:
        """The share of training interactions made by users of each activity bin."""
        codes = bin_codes(self.counts)
        weights = np.bincount(codes, weights=self.counts, minlength=int(codes.max(initial=0)) + 1)
        total = weights.sum()
        return weights / total if total else weights


def read_activity(registry: Registry, version: ModelVersion) -> Activity | None:
    """The version's training activity, or None when its files do not hold it."""
    folder = registry.folder(version)
    try:
        users, indptr = _saved_state(folder)
    except (OSError, KeyError, ValueError):
        users, indptr = _loaded_state(registry, version)
    if users is None or indptr is None or len(indptr) != len(users) + 1:
        return None
    ids = pd.Index(np.asarray(users).astype(str).astype(object))
    return Activity(ids, np.diff(np.asarray(indptr, dtype=np.int64)))


def _saved_state(folder: Path) -> tuple[Any, Any]:
    """The user ids and ``seen_`` row pointers, read from ``arrays.npz`` without the rest."""
    kinds = json.loads((folder / _PARAMS).read_text(encoding="utf-8"))["arrays"]
    if not str(kinds["users_"]).startswith("ids:") or kinds["seen_"] != "csr":
        raise ValueError("an unknown layout")
    with np.load(folder / _ARRAYS, allow_pickle=False) as stored:
        return stored["users_"], stored["seen_.indptr"]


def _loaded_state(registry: Registry, version: ModelVersion) -> tuple[Any, Any]:
    """The same, from the loaded model (a model saved in a layout of its own)."""
    model = registry.load(version)
    users, seen = getattr(model, "users_", None), getattr(model, "seen_", None)
    if users is None or seen is None:
        return None, None
    return np.asarray(users.ids), np.asarray(seen.indptr)


def bin_codes(activity: np.ndarray) -> np.ndarray:
    """The log2 bin of each activity: 0 for 0, 1 for 1, 2 for 2-3, 3 for 4-7, ..."""
    values = np.maximum(np.asarray(activity, dtype=np.int64), 0)
    codes = np.zeros(len(values), dtype=np.int64)
    positive = values > 0
    codes[positive] = np.floor(np.log2(values[positive])).astype(np.int64) + 1
    return codes


def bin_labels(n: int) -> list[str]:
    """Labels of the first ``n`` bins: ``0``, ``1``, ``2-3``, ``4-7``, ..."""
    labels = []
    for code in range(n):
        low, high = (0, 0) if code == 0 else (2 ** (code - 1), 2**code - 1)
        labels.append(str(low) if low == high else f"{low}-{high}")
    return labels


def matching_weights(codes: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, float]:
    """A weight per row so the rows' bins follow ``target`` shares, and the target share of
    bins no row falls in (which no weighting can bring back)."""
    size = max(len(target), int(codes.max(initial=0)) + 1)
    target = np.pad(target, (0, size - len(target)))
    present = np.bincount(codes, minlength=size) / max(len(codes), 1)
    weights = target[codes] / np.where(present[codes] > 0, present[codes], 1.0)
    missing = float(target[present == 0].sum())
    return weights, missing


def matched_sample(
    codes: np.ndarray, target: np.ndarray, size: int, rng: np.random.Generator
) -> np.ndarray:
    """Up to ``size`` distinct row indices whose bins follow ``target`` shares as closely as
    the rows allow (bins short of rows give their places to the others, in proportion)."""
    bins = max(len(target), int(codes.max(initial=0)) + 1)
    target = np.pad(target, (0, bins - len(target)))
    available = np.bincount(codes, minlength=bins)
    take = np.zeros(bins, dtype=np.int64)
    size = min(size, len(codes))
    open_bins = available > 0
    while take.sum() < size and open_bins.any():
        share = np.where(open_bins, target, 0.0)
        share = share / share.sum() if share.sum() > 0 else open_bins / open_bins.sum()
        want = np.floor(share * (size - take.sum())).astype(np.int64)
        if want.sum() == 0:
            want[int(np.argmax(share))] = 1
        take += np.minimum(want, available - take)
        open_bins &= take < available
    chosen = [
        rng.choice(np.flatnonzero(codes == code), int(count), replace=False)
        for code, count in enumerate(take)
        if count
    ]
    return np.sort(np.concatenate(chosen)) if chosen else np.empty(0, dtype=np.int64)
