"""The BentoML peer of the serving benchmark: the same ALS factors behind a BentoML service.

``POST /recommend`` with ``{"user_id": "...", "k": 10}`` scores every item (``item_factors @
user_factor``), removes the user's training items, takes the top k with ``argpartition`` and
answers the same JSON shape as ``reelflow serve``. Loaded from ``BENCH_ALS_NPZ`` (written by
``serve_load.py`` from the registered model); runs in benchmarks/.venv-bentoml, started as
``bentoml serve serve_bento:ALSRecs`` (sync API, run in BentoML's thread pool) or
``serve_bento:ALSRecsAsync`` (async API, on the event loop), one worker, access log off.
"""

from __future__ import annotations

import os

import bentoml
import numpy as np
from pydantic import BaseModel


class Recommendations(BaseModel):
    """The answer, typed: BentoML builds a JSON schema per response for an untyped ``dict``
    return value (about a sixth of its time in a first profile), not for a pydantic model."""

    model: str
    version: int
    user_id: str
    items: list[str]
    scores: list[float]
    fallback: str | None = None


class _Model:
    """The ALS factors and the scoring both services share."""

    def __init__(self) -> None:
        data = np.load(os.environ["BENCH_ALS_NPZ"], allow_pickle=False)
        self.user_factors = np.ascontiguousarray(data["user_factors"], dtype=np.float32)
        self.item_factors = np.ascontiguousarray(data["item_factors"], dtype=np.float32)
        self.indptr = data["seen_indptr"]
        self.indices = data["seen_indices"]
        self.item_ids = [str(v) for v in data["item_ids"].tolist()]
        self.users = {str(v): i for i, v in enumerate(data["user_ids"].tolist())}
        self.version = int(data["version"])

    def answer(self, user_id: str, k: int) -> Recommendations:
        row = self.users[user_id]
        scores = self.item_factors @ self.user_factors[row]
        scores[self.indices[self.indptr[row] : self.indptr[row + 1]]] = -np.inf
        top = np.argpartition(scores, len(scores) - k)[len(scores) - k :]
        top = top[np.argsort(-scores[top], kind="stable")]
        return Recommendations(
            model="recs",
            version=self.version,
            user_id=user_id,
            items=[self.item_ids[i] for i in top],
            scores=scores[top].tolist(),
        )


@bentoml.service(name="als_recs", workers=1, logging={"access": {"enabled": False}})
class ALSRecs:
    """A sync API: BentoML runs it in its thread pool (its idiom for blocking work)."""

    def __init__(self) -> None:
        self.model = _Model()

    @bentoml.api
    def recommend(self, user_id: str, k: int = 10) -> Recommendations:
        return self.model.answer(user_id, k)


@bentoml.service(name="als_recs_async", workers=1, logging={"access": {"enabled": False}})
class ALSRecsAsync:
    """An async API: the same scoring on the event loop, no thread hand-off."""

    def __init__(self) -> None:
        self.model = _Model()

    @bentoml.api
    async def recommend(self, user_id: str, k: int = 10) -> Recommendations:
        return self.model.answer(user_id, k)
