"""The popularity fallback: answers for cold-start users, and for anyone when the model fails
or overruns its budget. Lists are computed once at load, so answering costs a lookup."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

EXTRA = 500  # items kept beyond max_k, so that removing a user's seen items still leaves k


@dataclass(frozen=True)
class PopularityFallback:
    """Ranked (item id, score) lists: one global, and one per context value when the fallback
    model was fitted per context (``MostPopular(by="region")``)."""

    global_items: tuple[str, ...]
    global_scores: tuple[float, ...]
    by_context: dict[str, tuple[tuple[str, ...], tuple[float, ...]]]
    context_name: str | None

    def ranked(self, context_value: str | None) -> tuple[tuple[str, ...], tuple[float, ...]]:
        """The list for a context value (the global one when the value is unknown or None)."""
        if context_value is not None and context_value in self.by_context:
            return self.by_context[context_value]
        return self.global_items, self.global_scores

    def answer(
        self, k: int, context_value: str | None, exclude: frozenset[str] = frozenset()
    ) -> tuple[list[str], list[float]]:
        items, scores = self.ranked(context_value)
        if not exclude:
            return list(items[:k]), list(scores[:k])
        kept = [i for i, item in enumerate(items) if item not in exclude][:k]
        return [items[i] for i in kept], [scores[i] for i in kept]


def fallback_from_counts(model: Any, max_k: int) -> PopularityFallback:
    """Global popularity from a fitted model's training counts (every model keeps them)."""
    counts = np.asarray(model.item_counts_, dtype=np.float64)
    order = np.argsort(-counts, kind="stable")[: max_k + EXTRA]
    items = tuple(str(v) for v in np.asarray(model.items_.ids)[order])
    return PopularityFallback(items, tuple(float(c) for c in counts[order]), {}, None)


def fallback_from_model(model: Any, max_k: int) -> PopularityFallback:
    """Lists from a popularity model (``MostPopular``, per context when it has ``by``)."""
    base = fallback_from_counts(model, max_k)
    by = getattr(model, "by", None)
    contexts = np.asarray(getattr(model, "contexts_", []))
    if by is None or contexts.size == 0:
        return base
    k = min(max_k + EXTRA, len(model.items_.ids))
    anyone = np.repeat(np.asarray(model.users_.ids)[:1], contexts.size)
    recs = model.recommend(anyone, k=k, exclude_seen=False, context=contexts)
    per_context = {
        str(value): (
            tuple(str(v) for v in np.asarray(recs.items[row])[recs.valid[row]]),
            tuple(float(s) for s in np.asarray(recs.scores[row])[recs.valid[row]]),
        )
        for row, value in enumerate(contexts)
    }
    return PopularityFallback(base.global_items, base.global_scores, per_context, str(by))
