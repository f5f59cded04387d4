"""The leaderboard: every benchmarked (model, metric) kept in the store, to compare across time.

An entry is only comparable with entries on the same data (``data_fingerprint``), the same split
(its description, e.g. ``per_user_holdout(test_fraction=0.25, seed=42, min_train=1)``) and the
same metric name (always ``kind@k``); this module defines those canonical names, and
:meth:`Leaderboard.top` and :meth:`Leaderboard.champion` filter on them. Entries added while a
flow step runs record its run, step and task.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from reelflow._errors import ArtifactNotFoundError, DataError, UsageError
from reelflow.bench._metrics_beyond import parse_metric
from reelflow.data import Interactions, Split

if TYPE_CHECKING:
    from reelflow.bench._benchmark import BenchmarkResult
    from reelflow.store import Store
    from reelflow.store._leaderboard import LeaderboardStore, Order

_CURVE_KS = (1, 5, 10, 20)
_WIDE = 2**31 - 1  # parse metric names without capping their cut-off


@dataclass(frozen=True)
class Metric:
    """A metric as benchmarked: its kind (``ndcg``) and cut-off; ``name`` is ``ndcg@10``."""

    kind: str
    k: int

    @property
    def name(self) -> str:
        return f"{self.kind}@{self.k}"


def parse_metrics(names: Sequence[str], k: int | None) -> tuple[list[Metric], int]:
    """The metrics named (``"mrr"`` is ``mrr@k``; repeats dropped) and the list length ``k``,
    by default the largest cut-off named (10 when none is); a cut-off above ``k`` is an error."""
    if isinstance(names, str) or not names:
        raise UsageError("metrics must be a non-empty list of names such as ['ndcg@10', 'mrr']")
    parsed = [_parse_metric(name) for name in names]
    cuts = [cut for _, cut in parsed if cut is not None]
    k = (max(cuts) if cuts else 10) if k is None else k
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise UsageError(f"k={k!r} is invalid; pass an integer >= 1 (the length of each list)")
    for name, (_, cut) in zip(names, parsed, strict=True):
        if cut is not None and cut > k:
            raise UsageError(
                f"metric '{name}' needs lists of {cut} items but k={k}; raise k or lower the metric"
            )
    metrics = [Metric(kind, int(k) if cut is None else cut) for kind, cut in parsed]
    return list(dict.fromkeys(metrics)), int(k)


def _parse_metric(name: str) -> tuple[str, int | None]:
    try:
        kind, cut = parse_metric(str(name), _WIDE)
    except DataError as exc:
        raise UsageError(exc.message) from None
    return kind, None if "@" not in str(name) else cut


def curve_metrics(k: int) -> list[Metric]:
    """NDCG and recall at the cut-offs of ``_CURVE_KS`` that fit in lists of ``k``."""
    return [Metric(kind, cut) for kind in ("ndcg", "recall") for cut in _CURVE_KS if cut <= k]


def describe_split(split: Split | Callable[[Interactions], Split], resolved: Split) -> str:
    """``per_user_holdout(test_fraction=0.25, seed=42, min_train=1)`` for a split function
    (every argument shown, defaults included); for a fixed Split, the fingerprints of its sides."""
    fixed = f"fixed(train={resolved.train.fingerprint[:12]}, test={resolved.test.fingerprint[:12]})"
    function = getattr(split, "func", split)
    label = getattr(function, "__name__", "<lambda>")
    if isinstance(split, Split) or label == "<lambda>":
        return fixed
    try:
        parameters = list(inspect.signature(split).parameters.values())[1:]
    except (TypeError, ValueError):
        return fixed
    shown = [f"{p.name}={p.default!r}" for p in parameters if p.default is not p.empty]
    return f"{label}({', '.join(shown)})"


# --- the leaderboard -----------------------------------------------------------------------------

LOWER_IS_BETTER = frozenset({"gini", "popularity_bias"})
"""Metrics whose best value is the smallest; every other metric ranks highest first."""

SHOWN = [
    "id",
    "created_at",
    "model",
    "model_class",
    "metric",
    "k",
    "mean",
    "ci_low",
    "ci_high",
    "n_users",
    "fit_s",
    "recommend_s",
    "data_fingerprint",
    "split",
    "params",
    "run_id",
    "step",
    "task_id",
    "tags",
]


class Leaderboard:
    """Benchmark results kept in a store (the working directory's store by default)."""

    def __init__(self, store: Store | None = None) -> None:
        if store is None:
            from reelflow.store import Store

            store = Store.open()
        self.store = store

    @cached_property
    def _rows(self) -> LeaderboardStore:
        from reelflow.store._leaderboard import LeaderboardStore

        return LeaderboardStore(self.store.metadata)

    def add(self, result: BenchmarkResult, *, tags: Sequence[str] = ()) -> list[int]:
        """Record every (model, metric) row of ``result``; returns the new entry ids."""
        shared = {
            "data_fingerprint": result.data_fingerprint,
            "split": result.split,
            "tags": list(tags),
            **_running_task(),
        }
        entries = [
            {
                **shared,
                **{key: row[key] for key in ("model", "metric", "k", "mean", "ci_low", "ci_high")},
                "model_class": result.models[row["model"]]["class"],
                "params": result.models[row["model"]]["params"],
                "n_users": int(row["n_users"]),
                "fit_s": float(row["fit_s"]),
                "recommend_s": float(row["recommend_s"]),
            }
            for row in result.table.to_dict("records")
        ]
        return self._rows.add(entries)

    def top(
        self,
        metric: str,
        data_fingerprint: str | None = None,
        split: str | None = None,
        limit: int = 20,
    ) -> pd.DataFrame:
        """The best entries for ``metric`` (``"ndcg@10"``), best first, optionally on one data
        set (a fingerprint or its prefix) and one split."""
        name, kind = _metric(metric)
        order: Order = "worst" if kind in LOWER_IS_BETTER else "best"
        rows = self._rows.query(
            metric=name, data_fingerprint=data_fingerprint, split=split, order=order, limit=limit
        )
        return _frame(rows)

    def champion(self, metric: str, data_fingerprint: str, split: str) -> pd.Series:
        """The best entry for ``metric`` on this data and split (the oldest among ties)."""
        best = self.top(metric, data_fingerprint, split, limit=1)
        if best.empty:
            raise ArtifactNotFoundError(
                f"the leaderboard has no {metric} entry for data {data_fingerprint[:12]} and "
                f"split {split}; benchmark a model on them first"
            )
        return best.iloc[0]

    def entries(
        self, data_fingerprint: str | None = None, split: str | None = None, limit: int = 50
    ) -> pd.DataFrame:
        """All entries, newest first, optionally on one data set and one split."""
        rows = self._rows.query(data_fingerprint=data_fingerprint, split=split, limit=limit)
        return _frame(rows)

    def groups(self) -> list[dict[str, Any]]:
        """The comparable groups: each (``data_fingerprint``, ``split``, ``metric``) with its
        number of ``entries`` and the time of its ``latest``, the most recently added first."""
        return self._rows.groups()


def _metric(metric: str) -> tuple[str, str]:
    """The stored name (``ndcg@10``) and the kind (``ndcg``) of a metric asked for by name."""
    kind, k = _parse_metric(metric)
    if k is None:
        raise UsageError(f"metric '{metric}' needs its cut-off, e.g. '{metric}@10'")
    return f"{kind}@{k}", kind


def _running_task() -> dict[str, Any]:
    from reelflow.flow._current import current

    if not current.is_running:
        return {"run_id": None, "step": None, "task_id": None}
    return {"run_id": current.run_id, "step": current.step_name, "task_id": current.task_id}


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=SHOWN)
    frame["created_at"] = pd.to_datetime(frame["created_at"], unit="s")
    return frame
