"""Precomputed answers: every known user's top-N lists, computed when a version loads.

Scoring all users in batches (one matrix product per batch) costs a fraction of scoring them one
request at a time, and answering then costs a lookup: the same shape of work as any service that
returns stored lists. Requests the cache cannot answer exactly (a context-aware model asked with
a context, more excluded items than the stored margin) go to the model, within the budget.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

BATCH_USERS = 2048
BACKGROUND_BATCH_USERS = 64  # while serving: short GIL holds, so the event loop keeps running
BACKGROUND_PAUSE_S = 0.001


@dataclass(frozen=True)
class AnswerCache:
    """``items[u]`` (positions into ``labels``) and ``scores[u]`` of user index ``u``'s top N,
    best first, seen items removed; ``-1`` pads lists shorter than N."""

    items: np.ndarray
    scores: np.ndarray
    labels: list[str]
    lengths: np.ndarray

    @property
    def depth(self) -> int:
        return int(self.items.shape[1])

    def answer(
        self, index: int, k: int, exclude: frozenset[str]
    ) -> tuple[list[str], list[float]] | None:
        """The user's top k without ``exclude``; None when the stored depth cannot tell."""
        labels = self.labels
        if not exclude:
            if k > self.depth:
                return None
            size = min(k, int(self.lengths[index]))
            top = self.items[index, :size].tolist()
            return [labels[i] for i in top], self.scores[index, :size].tolist()
        row, scores = self.items[index], self.scores[index]
        kept = [j for j, i in enumerate(row.tolist()) if i >= 0 and labels[i] not in exclude]
        if len(kept) < k and row[-1] >= 0:  # the list went deeper than we stored
            return None
        kept = kept[:k]
        return [labels[row[j]] for j in kept], [float(scores[j]) for j in kept]


def precompute(
    model: Any, depth: int, budget_bytes: int, *, background: bool = False
) -> AnswerCache | None:
    """Every known user's top ``depth`` from ``model``, or None when it would not fit in
    ``budget_bytes`` (8 bytes per stored item).

    ``background`` (a hot swap, while the old version serves): small batches with a pause
    between them, since numpy's top-k holds the GIL and long holds would stall every request.
    """
    n_users = len(model.users_.ids)
    depth = min(depth, len(model.items_.ids))
    if n_users * depth * 8 > budget_bytes or getattr(model, "by", None) is not None:
        return None
    labels = [str(v) for v in np.asarray(model.items_.ids).tolist()]
    items = np.full((n_users, depth), -1, dtype=np.int32)
    scores = np.full((n_users, depth), -np.inf, dtype=np.float32)
    ids = np.asarray(model.users_.ids)
    batch = BACKGROUND_BATCH_USERS if background else BATCH_USERS
    for start in range(0, n_users, batch):
        if background:
            time.sleep(BACKGROUND_PAUSE_S)
        part = slice(start, start + batch)
        recs = model.recommend(ids[part], k=depth)
        valid = recs.valid
        block = np.full(valid.shape, -1, dtype=np.int32)
        block[valid] = model.items_.indices(recs.items[valid])
        items[part] = block
        scores[part] = np.where(valid, recs.scores, -np.inf)
    return AnswerCache(items, scores, labels, np.count_nonzero(items >= 0, axis=1))
