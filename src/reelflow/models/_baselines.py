"""Baselines every benchmark needs: ``Random`` and ``MostPopular`` (global or per context)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from reelflow._errors import DataError, ModelError
from reelflow.models._base import Recommender, check_seed

if TYPE_CHECKING:
    from reelflow.data import Interactions

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


class Random(Recommender):
    """Uniform random scores, fixed per (seed, user, item).

    A score is a hash of the seed and the pair, so a user's ranking is the same in every call,
    batch size and after save/load. With ``random_state=None`` a seed is drawn at ``fit``.
    """

    _learned = ("seed_",)
    _cell_bytes = 24  # three uint64 temporaries per score while hashing

    def __init__(self, random_state: int | None = None) -> None:
        self.random_state = random_state

    def _check_params(self) -> None:
        check_seed(self)

    def _fit(self, matrix: sp.csr_matrix, data: Interactions) -> None:
        rng = np.random.default_rng(self.random_state)
        self.seed_ = np.asarray(rng.integers(0, 2**63), dtype=np.uint64)

    def _score_batch(self, user_idx: np.ndarray, context: np.ndarray | None) -> np.ndarray:
        n_items = np.uint64(len(self.items_))
        rows = np.asarray(user_idx, dtype=np.uint64)[:, None] * n_items
        cells: np.ndarray = rows + np.arange(n_items, dtype=np.uint64)
        cells ^= self.seed_
        return _uniform(cells)


def _uniform(z: np.ndarray) -> np.ndarray:
    """splitmix64 of each uint64 cell (overwriting ``z``), as float32 in [0, 1)."""
    shifted = np.empty_like(z)
    z += _GOLDEN
    for shift, multiplier in ((30, _MIX1), (27, _MIX2)):
        np.right_shift(z, np.uint64(shift), out=shifted)
        z ^= shifted
        z *= multiplier
    np.right_shift(z, np.uint64(31), out=shifted)
    z ^= shifted
    z >>= np.uint64(40)
    return z.astype(np.float32) / np.float32(2**24)


class MostPopular(Recommender):
    """Items ranked by training interaction count, the same for every user.

    With ``by="region"`` (a context column of the training data), items are ranked by their
    count within the caller's context, ties broken by global count (the score's fractional
    part); ``recommend(..., context=...)`` then takes one context value per user, and contexts
    unseen in training fall back to the global ranking.
    """

    _learned = ("contexts_", "context_counts_")

    def __init__(self, by: str | None = None) -> None:
        self.by = by

    def _check_params(self) -> None:
        if self.by is not None and (not isinstance(self.by, str) or not self.by):
            raise ModelError(
                f"MostPopular(by={self.by!r}) is invalid; pass None or a context column name"
            )

    def _fit(self, matrix: sp.csr_matrix, data: Interactions) -> None:
        if self.by is None:
            self.contexts_ = np.empty(0, dtype=np.int64)
            self.context_counts_ = sp.csr_matrix((0, data.n_items), dtype=np.float32)
            return
        if self.by not in data.context:
            present = ", ".join(data.context) or "none"
            raise DataError(
                f"the data has no context column '{self.by}' (it has: {present}); "
                "build Interactions with context=[...] or change MostPopular(by=...)"
            )
        codes, uniques = pd.factorize(data.context[self.by])
        rows = codes >= 0
        self.contexts_ = np.asarray(uniques)
        self.context_counts_ = sp.csr_matrix(
            (np.ones(int(rows.sum()), dtype=np.float32), (codes[rows], data.item[rows])),
            shape=(len(uniques), data.n_items),
        )

    def _context_codes(self, context: Any, n: int) -> np.ndarray | None:
        if self.by is None:
            return super()._context_codes(context, n)
        if context is None:
            raise ModelError(
                f"MostPopular(by={self.by!r}) needs context=: one {self.by} value per user"
            )
        values = np.asarray(context)
        if values.shape != (n,):
            raise ModelError(f"context= has shape {values.shape} for {n} users; pass one per user")
        return np.asarray(pd.Index(self.contexts_).get_indexer(pd.Index(values)), dtype=np.int64)

    def _score_batch(self, user_idx: np.ndarray, context: np.ndarray | None) -> np.ndarray:
        return self._fallback_scores(len(user_idx), context)

    def _fallback_scores(self, n: int, context: np.ndarray | None) -> np.ndarray:
        counts = self.item_counts_.astype(np.float32)
        if context is None:
            return np.tile(counts, (n, 1))
        tiebreak = counts / np.float32(counts.max() + 1)
        scores = np.tile(counts, (n, 1))
        known = context >= 0
        scores[known] = self.context_counts_[context[known]].toarray() + tiebreak
        return scores

    def _score_pairs(
        self, user_idx: np.ndarray, item_idx: np.ndarray, context: np.ndarray | None
    ) -> np.ndarray:
        if context is None:
            return np.asarray(self.item_counts_[item_idx], dtype=np.float32)
        return super()._score_pairs(user_idx, item_idx, context)
