"""A version's reference profile: what its training data and its answers looked like, kept
with the version so that serving traffic can be compared with it later without the raw data.

The profile is JSON (stored as one object in the store): item popularity in training, user
activity as a log-binned histogram with quantiles, the shares of each categorical context value
(region, device, ...; numeric context columns are left out), and the scores and training
popularity of the model's top-k on a sample of users.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from reelflow.registry._verify import sample_context

SAMPLE_USERS = 1000
SAMPLE_K = 10
MAX_CONTEXT_VALUES = 1000
PROFILE_FORMAT = 1


def reference_profile(model: Any, data: Any, *, seed: int = 0) -> dict[str, Any]:
    """The profile of ``model`` trained on ``data`` (an ``Interactions``)."""
    counts = np.bincount(data.item, minlength=data.n_items)
    activity = np.bincount(data.user, minlength=data.n_users)
    profile: dict[str, Any] = {
        "format": PROFILE_FORMAT,
        "n_users": int(data.n_users),
        "n_items": int(data.n_items),
        "n_interactions": len(data),
        "items": [_jsonable(v) for v in data.items.ids],
        "item_counts": counts.tolist(),
        "user_activity": _histogram(activity),
        "contexts": {
            name: _shares(column)
            for name, column in data.context.items()
            if not np.issubdtype(np.asarray(column).dtype, np.floating)
        },
    }
    profile.update(_answers(model, data, counts, seed))
    return profile


def dumps_profile(profile: dict[str, Any]) -> bytes:
    return json.dumps(profile, separators=(",", ":"), allow_nan=False).encode("utf-8")


def loads_profile(raw: bytes) -> dict[str, Any]:
    profile: dict[str, Any] = json.loads(raw)
    return profile


def _answers(model: Any, data: Any, counts: np.ndarray, seed: int) -> dict[str, Any]:
    """Scores and training popularity of the model's top-k for a sample of training users."""
    ids = np.asarray(model.users_.ids)
    rng = np.random.default_rng(seed)
    sample = ids if len(ids) <= SAMPLE_USERS else ids[rng.choice(len(ids), SAMPLE_USERS, False)]
    k = min(SAMPLE_K, len(model.items_.ids))
    recs = model.recommend(sample, k=k, **sample_context(model, len(sample)))
    valid = np.asarray(recs.valid)
    scores = np.asarray(recs.scores, dtype=np.float64)[valid]
    index = data.items.indices(np.asarray(recs.items)[valid], missing=-1)
    popularity = np.where(index >= 0, counts[np.maximum(index, 0)], 0)
    finite = scores[np.isfinite(scores)]
    return {
        "sample_users": len(sample),
        "k": int(recs.items.shape[1]) if recs.items.ndim == 2 else 0,
        "scores": finite.astype(np.float32).tolist(),
        "recommended_popularity": popularity.astype(np.int64).tolist(),
        "coverage": float(np.unique(index[index >= 0]).size / max(data.n_items, 1)),
    }


def _histogram(activity: np.ndarray) -> dict[str, Any]:
    """Interactions per user: counts in log2 bins (1, 2-3, 4-7, ...) and a few quantiles."""
    active = activity[activity > 0]
    if active.size == 0:
        return {"edges": [], "counts": [], "quantiles": {}}
    top = int(np.ceil(np.log2(active.max() + 1))) + 1
    edges = [0, *(2**i for i in range(top))]
    counts, _ = np.histogram(active, bins=edges)
    quantiles = {str(q): float(np.quantile(active, q)) for q in (0.1, 0.25, 0.5, 0.75, 0.9, 0.99)}
    return {"edges": edges, "counts": counts.tolist(), "quantiles": quantiles}


def _shares(column: np.ndarray) -> dict[str, float]:
    """The share of each value (the most common ones; the rest summed under ``__other__``)."""
    values, counts = np.unique(np.asarray(column).astype(str), return_counts=True)
    order = np.argsort(-counts, kind="stable")
    total = counts.sum()
    shares = {str(values[i]): float(counts[i] / total) for i in order[:MAX_CONTEXT_VALUES]}
    rest = counts[order[MAX_CONTEXT_VALUES:]].sum()
    if rest:
        shares["__other__"] = float(rest / total)
    return shares


def _jsonable(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value
