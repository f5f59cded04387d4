"""Synthetic request logs for the monitor's tests: one window that looks like training, one
that drifted in every way the monitor checks."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np

from reelflow.data import Interactions
from reelflow.models import Recommender
from reelflow.serve._log_format import write_request_log

DAY = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)  # the healthy window: this day
DRIFTED_DAY = DAY + dt.timedelta(days=1)  # the drifted one: the next day


def _row(
    when: dt.datetime,
    n: int,
    user: Any,
    known: bool,
    region: str | None,
    items: list[Any],
    scores: list[float],
    fallback: str | None = None,
    version: int = 1,
) -> dict[str, Any]:
    return {
        "time": when,
        "request_id": f"r{n}",
        "user_id": str(user),
        "known_user": known,
        "region": region,
        "context": json.dumps({"device": "tv"}),
        "k": len(items),
        "model": "recs",
        "version": version,
        "fallback": fallback,
        "latency_ms": 3.0,
        "items": [str(item) for item in items],
        "scores": [float(score) for score in scores],
    }


def healthy_rows(
    model: Recommender, train: Interactions, n: int = 1500, *, day: dt.datetime = DAY, seed: int = 0
) -> list[dict[str, Any]]:
    """Requests drawn like training interactions (the user and region of a random training
    event), every one answered by the model with its own top 10."""
    rng = np.random.default_rng(seed)
    events = rng.integers(0, len(train), n)
    users = train.users.ids[train.user[events]]
    regions = np.asarray(train.context["region"])[events]
    recs = model.recommend(users, k=10)
    seconds = np.sort(rng.uniform(0, 86_399, n))
    return [
        _row(
            day + dt.timedelta(seconds=float(seconds[i])), i, users[i], True, str(regions[i]),
            list(recs.items[i]), list(recs.scores[i]),
        )
        for i in range(n)
    ]  # fmt: skip


def drifted_rows(
    model: Recommender, train: Interactions, n: int = 1000, *, seed: int = 1
) -> list[dict[str, Any]]:
    """One region only; 40% of requests from unknown users (cold-start fallbacks); 10% from the
    lightest known users, answered by a fallback after a timeout; the rest from known users
    drawn uniformly, answered by the model with the 10 most popular items."""
    rng = np.random.default_rng(seed)
    popular = train.items.ids[np.argsort(-np.bincount(train.item, minlength=train.n_items))[:10]]
    activity = np.bincount(train.user, minlength=train.n_users)
    light = train.users.ids[np.argsort(activity, kind="stable")[: max(train.n_users // 10, 1)]]
    rows = []
    for i in range(n):
        when = DRIFTED_DAY + dt.timedelta(seconds=float(i * 86_000 / n))
        draw = rng.random()
        if draw < 0.4:
            rows.append(_row(when, i, f"new-{i}", False, "latam", list(popular), [1.0] * 10,
                             fallback="cold_start"))  # fmt: skip
        elif draw < 0.5:
            user = light[rng.integers(len(light))]
            rows.append(_row(when, i, user, True, "latam", list(popular), [1.0] * 10,
                             fallback="timeout"))  # fmt: skip
        else:
            user = train.users.ids[rng.integers(train.n_users)]
            scores = model.score([user] * 10, popular)
            rows.append(_row(when, i, user, True, "latam", list(popular), list(scores)))
    return rows


def write(home: Path, rows: list[dict[str, Any]], seq: int = 0) -> None:
    write_request_log(home, "recs", rows, seq=seq)


def at(rows: list[dict[str, Any]], **changes: Any) -> list[dict[str, Any]]:
    """``rows`` with some fields changed (e.g. another version or day)."""
    return [{**row, **changes} for row in rows]
