"""A naive reference for every built-in feature: one spine row at a time, numpy masks over the
whole log, ``timestamp < as_of`` written out each time. Slow and obviously right, for small data."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

DAY = 86_400


@dataclass
class Log:
    user: np.ndarray
    item: np.ndarray
    timestamp: np.ndarray
    region: np.ndarray
    weight: np.ndarray
    genre_of: dict[int, str]

    def table(self) -> pa.Table:
        return pa.table(
            {
                "user_id": self.user,
                "item_id": self.item,
                "timestamp": self.timestamp,
                "weight": self.weight,
                "region": self.region,
            }
        )

    def items(self) -> pa.Table:
        ids = sorted(self.genre_of)
        return pa.table({"item_id": ids, "genre": [self.genre_of[i] for i in ids]})


def random_log(seed: int, n: int = 600, users: int = 12, items: int = 15, days: int = 40) -> Log:
    """Few users, items and hours, so ties in time and repeats are common."""
    rng = np.random.default_rng(seed)
    hours = rng.integers(0, days * 24, n)
    timestamp = (1_700_000_000 + hours * 3600).astype(np.int64)
    off_the_hour = rng.random(n) < 0.3
    timestamp[off_the_hour] += rng.integers(0, 3600, int(off_the_hour.sum()))
    return Log(
        user=rng.integers(0, users, n).astype(np.int64),
        item=rng.integers(0, items, n).astype(np.int64),
        timestamp=timestamp,
        region=rng.choice(np.array(["us", "eu", "latam"]), n),
        weight=rng.random(n).round(3),
        genre_of={
            i: str(rng.choice(["drama", "comedy", "action", "horror"])) for i in range(items)
        },
    )


def random_spine(log: Log, seed: int, n: int = 150) -> pa.Table:
    """Rows at event times (ties with as_of), between them, and before the log starts."""
    rng = np.random.default_rng(seed + 1000)
    at_events = rng.choice(log.timestamp, n // 2)
    between = rng.integers(log.timestamp.min() - 3 * DAY, log.timestamp.max() + DAY, n - n // 2)
    return pa.table(
        {
            "user_id": rng.integers(0, log.user.max() + 2, n),  # one user without history
            "item_id": rng.integers(0, log.item.max() + 1, n),
            "region": rng.choice(np.array(["us", "eu", "latam"]), n),
            "as_of": np.concatenate([at_events, between]).astype(np.int64),
        }
    )


def pairs(log: Log, max_previous: int = 5, gap: int = DAY) -> list[tuple[int, int, int]]:
    """(a, b, time known) for every pair, both ways, straight from the definition."""
    found = []
    for user in np.unique(log.user):
        rows = np.flatnonzero(log.user == user)
        rows = rows[np.lexsort((log.item[rows], log.timestamp[rows]))]
        for p, later in enumerate(rows):
            for m in range(1, max_previous + 1):
                if p - m < 0:
                    break
                earlier = rows[p - m]
                x, y = int(log.item[later]), int(log.item[earlier])
                if x != y and log.timestamp[later] - log.timestamp[earlier] <= gap:
                    found += [(x, y, int(log.timestamp[later])), (y, x, int(log.timestamp[later]))]
    return found


def reference(log: Log, spine: pa.Table, recent: int = 10) -> dict[str, list[Any]]:
    """Every built-in feature for every spine row."""
    out: dict[str, list[Any]] = {}
    genre = np.array([log.genre_of[int(i)] for i in log.item])
    known_pairs = pairs(log)
    order = np.lexsort((log.item, log.timestamp))
    for row in spine.to_pylist():
        u, i, r, t = row["user_id"], row["item_id"], row["region"], row["as_of"]
        before = log.timestamp < t
        um, im = before & (log.user == u), before & (log.item == i)
        rm = log.region == r

        def within(mask: np.ndarray, days: int, ago: int = 0, t: int = t) -> int:
            low, high = t - (ago + days) * DAY, t - ago * DAY
            return int((mask & (log.timestamp >= low) & (log.timestamp < high)).sum())

        def share(a: int, b: int) -> float | None:
            return a / b if b else None

        user_all = int(um.sum())
        item_30 = within(im, 30)
        values: dict[str, Any] = {
            "user_events_7d": within(um, 7),
            "user_events_30d": within(um, 30),
            "user_events_all": user_all,
            "user_last_event_at": int(log.timestamp[um].max()) if user_all else None,
            "user_recency_s": int(t - log.timestamp[um].max()) if user_all else None,
            "user_distinct_items": len(set(log.item[um].tolist())),
            "item_events_7d": within(im, 7),
            "item_events_30d": item_30,
            "item_events_all": int(im.sum()),
            "item_events_prev_7d": within(im, 7, ago=7),
            "item_trend_7d": (within(im, 7) + 1) / (within(im, 7, ago=7) + 1),
            "item_region_events_7d": within(im & rm, 7),
            "item_region_events_30d": within(im & rm, 30),
            "item_region_share_30d": share(within(im & rm, 30), item_30),
            "user_region_events_all": int((um & rm).sum()),
            "user_region_share": share(int((um & rm).sum()), user_all),
            "user_item_events_all": int((um & (log.item == i)).sum()),
            "user_genre_events_all": int((um & (genre == log.genre_of[i])).sum()),
            "user_genre_affinity": share(int((um & (genre == log.genre_of[i])).sum()), user_all),
        }
        history = [k for k in order if um[k]]
        last_items = {int(log.item[k]) for k in history[-recent:]}
        counts = Counter((a, b) for a, b, known in known_pairs if known < t)
        values["user_item_cooc_recent"] = sum(counts[(i, j)] for j in last_items if j != i)
        for name, value in values.items():
            out.setdefault(name, []).append(value)
    return out
