"""A deployment: one registered version loaded, checked and ready to answer, with its fallback.

The service holds exactly one deployment at a time and replaces it with a single reference
assignment, so a request sees either the old deployment or the new one, never a mix.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from reelflow._errors import SmokeCheckFailed
from reelflow.serve._cache import AnswerCache, precompute
from reelflow.serve._fallback import PopularityFallback, fallback_from_counts, fallback_from_model

if TYPE_CHECKING:
    from reelflow.registry import ModelVersion, Registry
    from reelflow.serve._settings import ServeSettings


@dataclass(frozen=True)
class Deployment:
    """A loaded model version and everything needed to answer from it quickly."""

    version: ModelVersion
    model: Any
    fallback: PopularityFallback
    fallback_ref: str | None
    users: dict[str, int]
    context_name: str | None
    loaded_at: float
    cache: AnswerCache | None = None

    def cached(
        self, index: int, k: int, context: str | None, exclude: frozenset[str]
    ) -> tuple[list[str], list[float]] | None:
        """The precomputed answer, when there is one that is exact for this request."""
        if self.cache is None or (self.context_name is not None and context is not None):
            return None
        return self.cache.answer(index, k, exclude)

    def user_index(self, user_id: str) -> int:
        """The model's index of a user id as sent (-1: unknown, a cold start)."""
        return self.users.get(user_id, -1)

    def recommend(
        self, indices: list[int], k: int, context: str | None, exclude: frozenset[str]
    ) -> list[tuple[list[str], list[float]]]:
        """The model's top-k for known users (by index), ``exclude`` and seen items removed."""
        model = self.model
        ids = np.asarray(model.users_.ids)[np.asarray(indices, dtype=np.int64)]
        extra = len(exclude) if exclude else 0
        kwargs: dict[str, Any] = {}
        if self.context_name is not None and context is not None:
            kwargs["context"] = [context] * len(indices)
        recs = model.recommend(ids, k=k + extra, **kwargs)
        answers = []
        for row_items, row_scores, valid in zip(recs.items, recs.scores, recs.valid, strict=True):
            items = [str(v) for v in row_items[valid]]
            scores = row_scores[valid].tolist()
            if exclude:
                kept = [i for i, item in enumerate(items) if item not in exclude][:k]
                items, scores = [items[i] for i in kept], [scores[i] for i in kept]
            answers.append((items[:k], scores[:k]))
        return answers

    def fallback_for(
        self, index: int, k: int, context: str | None, exclude: frozenset[str]
    ) -> tuple[list[str], list[float]]:
        """Popular items for the context, without the user's seen items when the user is known."""
        if index >= 0:
            seen = self.model.seen_
            row = seen.indices[seen.indptr[index] : seen.indptr[index + 1]]
            labels = np.asarray(self.model.items_.ids)[row]
            exclude = exclude | frozenset(str(v) for v in labels)
        return self.fallback.answer(k, context, exclude)


def load_deployment(
    registry: Registry, ref: str, settings: ServeSettings, *, background: bool = False
) -> Deployment:
    """Load ``ref`` (and the fallback model), precompute its lists, then smoke-check it: it
    answers a sample of users with finite scores, within the time budget at the median."""
    version = registry.get(ref)
    model = registry.load(version)
    if settings.fallback:
        fallback = fallback_from_model(registry.load(settings.fallback), settings.max_k)
    else:
        fallback = fallback_from_counts(model, settings.max_k)
    users = {str(v): i for i, v in enumerate(np.asarray(model.users_.ids).tolist())}
    deployment = Deployment(
        version=version,
        model=model,
        fallback=fallback,
        fallback_ref=settings.fallback,
        users=users,
        context_name=getattr(model, "by", None),
        loaded_at=time.time(),
        cache=precompute(
            model, settings.max_k, settings.precompute_mb * 2**20, background=background
        )
        if settings.precompute_mb
        else None,
    )
    smoke_check(deployment, settings)
    return deployment


def smoke_check(deployment: Deployment, settings: ServeSettings) -> None:
    """Raise :class:`SmokeCheckFailed` unless the deployment answers a sample well and fast."""
    ref = deployment.version.ref
    n_users = len(deployment.users)
    if n_users == 0 or not deployment.fallback.global_items:
        raise SmokeCheckFailed(f"{ref} knows no users or items; it cannot answer")
    sample = np.linspace(0, n_users - 1, min(settings.smoke_users, n_users)).astype(int).tolist()
    try:
        deployment.recommend(sample[:5], settings.default_k, None, frozenset())  # warm-up
        latencies = []
        for index in sample:
            start = time.perf_counter()
            ((items, scores),) = deployment.recommend(
                [index], settings.default_k, None, frozenset()
            )
            latencies.append((time.perf_counter() - start) * 1000)
            if not items or not np.isfinite(scores).all():
                raise SmokeCheckFailed(f"{ref} gave an empty list or non-finite scores")
    except SmokeCheckFailed:
        raise
    except Exception as exc:
        raise SmokeCheckFailed(f"{ref} failed to answer: {type(exc).__name__}: {exc}") from None
    p50, p99 = (float(v) for v in np.percentile(latencies, [50, 99]))
    if p50 > settings.budget_ms:  # the median: a swap is checked while serving, whose load
        raise SmokeCheckFailed(  # lands in the tail, not in the model's own cost
            f"{ref} answers in {p50:.1f} ms at the median (p99 {p99:.1f} ms), over the "
            f"{settings.budget_ms:g} ms budget"
        )
