"""The leaderboard pages: each comparable group (data fingerprint, split, metric) and its
entries ranked with their intervals, and a chart of them drawn with matplotlib."""

from __future__ import annotations

import io
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reelflow.bench import Leaderboard
from reelflow.bench._leaderboard import LOWER_IS_BETTER
from reelflow.ui import _params as p
from reelflow.ui._params import BadRequest

MAX_ENTRIES = 200
SORTS = ("mean", "ci_low", "ci_high", "fit_s", "recommend_s", "created_at", "model")


@dataclass(frozen=True)
class Selection:
    """A group picked in the query (``metric``, ``data``, ``split``) and how to order it."""

    metric: str
    data: str
    split: str
    sort: str | None = None
    desc: bool = True


def selection(query: Mapping[str, str], *, sortable: bool = True) -> Selection | None:
    """The group a leaderboard page, its API or its chart is asked for (None: no group), read
    the same way for each: the three keys together or none of them, a known ``sort``."""
    known = {"metric", "data", "split"} | ({"sort", "desc"} if sortable else set())
    p.only_known(query, known)
    metric, data, split = query.get("metric"), query.get("data"), query.get("split")
    if not (metric or data or split):
        return None
    if not (metric and data and split):
        raise BadRequest(400, "give metric, data and split together (or none of them)")
    sort = query.get("sort") or None
    if sort is not None and sort not in SORTS:
        raise BadRequest(400, f"sort must be one of {', '.join(SORTS)}, not {sort!r}")
    return Selection(metric, data, split, sort, query.get("desc") != "0")


def groups(board: Leaderboard) -> list[dict[str, Any]]:
    return board.groups()


def entries(board: Leaderboard, picked: Selection) -> list[dict[str, Any]]:
    """A group's entries, best first by default (or sorted by ``picked.sort``)."""
    sort, desc = picked.sort, picked.desc
    frame = board.top(picked.metric, picked.data, picked.split, limit=MAX_ENTRIES)
    rows: list[dict[str, Any]] = [
        {str(key): value for key, value in row.items()} for row in frame.to_dict("records")
    ]
    for rank, row in enumerate(rows, start=1):
        row["rank"] = rank
        row["created_at"] = row["created_at"].timestamp()
        for key in ("mean", "ci_low", "ci_high"):
            value = row[key]
            row[key] = None if value is None or math.isnan(float(value)) else float(value)
    if sort is not None:
        present = [r for r in rows if r[sort] is not None]
        present.sort(key=lambda r: r[sort], reverse=desc)
        rows = present + [r for r in rows if r[sort] is None]
    return rows


def lower_is_better(metric: str) -> bool:
    return metric.split("@")[0] in LOWER_IS_BETTER


def chart_png(rows: list[dict[str, Any]], metric: str) -> bytes:
    """Horizontal bars of each entry's mean with its interval, best at the top."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    shown = [r for r in rows if r["mean"] is not None][:30]
    figure = Figure(figsize=(7.0, max(2.2, 0.9 + 0.32 * len(shown))), layout="constrained")
    axes = figure.add_subplot(1, 1, 1)
    labels = [f"{r['rank']}. {r['model']}"[:40] for r in shown]
    means = [r["mean"] for r in shown]
    low = [
        max(r["mean"] - (r["ci_low"] if r["ci_low"] is not None else r["mean"]), 0) for r in shown
    ]
    high = [
        max((r["ci_high"] if r["ci_high"] is not None else r["mean"]) - r["mean"], 0) for r in shown
    ]
    axes.barh(range(len(shown)), means, xerr=[low, high], capsize=4, color="C0")
    axes.set_yticks(range(len(shown)), [label.replace("$", r"\$") for label in labels])
    axes.invert_yaxis()
    axes.set_xlabel(f"{metric} (mean, 95% interval)")
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    return buffer.getvalue()
