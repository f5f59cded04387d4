"""``benchmark``: several recommenders on one data set, one split and one protocol, with CIs.

Every model is a fresh copy (same class, same ``get_params``) fitted on ``split.train``; it then
ranks the top ``k`` items, training items excluded, for every user with at least one test item,
and the lists are scored against the test set. docs/bench.md states the protocol in full.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from reelflow._errors import DataError, UsageError
from reelflow.bench._leaderboard import Metric, curve_metrics, describe_split, parse_metrics
from reelflow.bench._metrics_beyond import DEFAULT_METRICS, evaluate_topk
from reelflow.bench._report import Progress, make_progress
from reelflow.bench._stats import bootstrap_ci, check_count, paired_test
from reelflow.data import Interactions, Split

if TYPE_CHECKING:
    from reelflow.bench._leaderboard import Leaderboard
    from reelflow.models import Recommender

_BATCH = 2048  # users per recommend() call: the unit the progress bar advances by
SplitSpec = Split | Callable[[Interactions], Split]


@dataclass(frozen=True, eq=False)
class BenchmarkResult:
    """What :func:`benchmark` measured: a tidy table, per-user values and the protocol."""

    table: pd.DataFrame
    """One row per (model, metric): mean, ci_low, ci_high, p_value, n_users, fit_s, ..."""
    per_user: dict[str, dict[str, np.ndarray]]
    """model -> metric -> one value per evaluated user (metrics defined per user only)."""
    curves: pd.DataFrame
    """NDCG and recall means at k in (1, 5, 10, 20) up to ``k``: model, metric, k, mean."""
    models: dict[str, dict[str, Any]]
    """model -> {"class": class name, "params": get_params()}."""
    data_fingerprint: str
    split: str
    k: int
    metrics: tuple[str, ...]
    baseline: str | None
    n_users: int
    n_bootstrap: int
    seed: int

    def mean(self, model: str, metric: str) -> float:
        """The mean of ``metric`` (``"ndcg@10"``; ``"mrr"`` means ``mrr@k``) for ``model``."""
        name = parse_metrics([metric], self.k)[0][0].name
        found = self.table[(self.table["model"] == model) & (self.table["metric"] == name)]
        if found.empty:
            raise UsageError(
                f"no result for model '{model}' and metric '{name}'; the result has models "
                f"{', '.join(self.models)} and metrics {', '.join(self.metrics)}"
            )
        return float(found["mean"].iloc[0])

    def to_markdown(self) -> str:
        """The table and protocol as a Markdown document."""
        from reelflow.bench._report import markdown

        return markdown(self)

    def to_html(self, path: str | Path) -> Path:
        """Write a self-contained HTML report (plots inlined as PNG) to ``path``."""
        from reelflow.bench._report import write_html

        return write_html(self, Path(path))

    def save(
        self, leaderboard: Leaderboard | None = None, *, tags: Sequence[str] = ()
    ) -> list[int]:
        """Add every (model, metric) row to ``leaderboard`` (the working directory's store by
        default); returns the new entry ids."""
        from reelflow.bench._leaderboard import Leaderboard

        return (leaderboard or Leaderboard()).add(self, tags=tags)


def benchmark(
    models: Mapping[str, Recommender],
    data: Interactions,
    split: SplitSpec,
    metrics: Sequence[str] = DEFAULT_METRICS,
    k: int | None = None,
    baseline: str | None = None,
    n_bootstrap: int = 1000,
    seed: int = 0,
    leaderboard: Leaderboard | None = None,
    progress: bool = True,
    *,
    split_name: str | None = None,
) -> BenchmarkResult:
    """Fit, rank and score every model under the same protocol; see docs/bench.md.

    ``split`` is a :class:`~reelflow.data.Split` of ``data`` or a function making one
    (``functools.partial(per_user_holdout, test_fraction=0.25, seed=42)``); ``k`` defaults to
    the largest cut-off among ``metrics``. Means get a 95% bootstrap CI over users and, when
    ``baseline`` names a model, a paired sign-flip permutation p-value against it.
    """
    if not isinstance(data, Interactions):
        raise UsageError(f"data must be an Interactions, got {type(data).__name__}")
    parsed, k = parse_metrics(metrics, k)
    _check_models(models, baseline)
    check_count("n_bootstrap", n_bootstrap)
    check_count("seed", seed)
    resolved, description = _resolve_split(data, split, split_name)
    test = resolved.test.csr(binary=True)
    users = np.flatnonzero(np.diff(test.indptr) > 0)
    if not len(users):
        raise DataError("the test set holds no users with test items; use a larger test split")
    names = [m.name for m in parsed] + [m.name for m in curve_metrics(k)]
    shown = make_progress(enabled=progress)
    outcomes = {
        name: _run_model(name, model, resolved, test, users, k, names, shown)
        for name, model in models.items()
    }
    shown.stop()
    protocol = _Protocol(data.fingerprint, description, k, baseline, n_bootstrap, seed, len(users))
    result = _result(outcomes, models, parsed, protocol)
    if leaderboard is not None:
        result.save(leaderboard)
    return result


def combine(results: Sequence[BenchmarkResult]) -> BenchmarkResult:
    """One result from several run under the same protocol (the same data, split, k, metrics,
    bootstrap and seed), e.g. candidates benchmarked in parallel tasks of a ``foreach``."""
    if not results:
        raise UsageError("combine() needs at least one BenchmarkResult")
    first = results[0]
    protocol = ("data_fingerprint", "split", "k", "metrics", "n_bootstrap", "seed", "n_users")
    for other in results[1:]:
        differs = [name for name in protocol if getattr(other, name) != getattr(first, name)]
        if differs or other.baseline != first.baseline:
            field = (differs or ["baseline"])[0]
            raise UsageError(
                f"cannot combine results with different {field} ({getattr(first, field)!r} vs "
                f"{getattr(other, field)!r}); benchmark them under one protocol"
            )
    names = [name for result in results for name in result.models]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise UsageError(f"model {repeated[0]!r} is in more than one result; give it one name")
    return BenchmarkResult(
        table=pd.concat([r.table for r in results], ignore_index=True),
        per_user={name: v for r in results for name, v in r.per_user.items()},
        curves=pd.concat([r.curves for r in results], ignore_index=True),
        models={name: v for r in results for name, v in r.models.items()},
        data_fingerprint=first.data_fingerprint,
        split=first.split,
        k=first.k,
        metrics=first.metrics,
        baseline=first.baseline,
        n_users=first.n_users,
        n_bootstrap=first.n_bootstrap,
        seed=first.seed,
    )


# --- checking and preparing ----------------------------------------------------------------------


def _check_models(models: Mapping[str, Recommender], baseline: str | None) -> None:
    from reelflow.models import Recommender

    if not models:
        raise UsageError("models is empty; pass a mapping of names to recommenders")
    for name, model in models.items():
        if not isinstance(model, Recommender):
            raise UsageError(
                f"model '{name}' is a {type(model).__name__}, not a Recommender; "
                "pass instances such as EASE() or ItemKNN(k=50)"
            )
    if baseline is not None and baseline not in models:
        raise UsageError(f"baseline '{baseline}' is not one of the models: {', '.join(models)}")


def _resolve_split(data: Interactions, split: SplitSpec, name: str | None) -> tuple[Split, str]:
    if isinstance(split, Split):
        resolved = split
    elif callable(split):
        resolved = split(data)
        if not isinstance(resolved, Split):
            raise UsageError(f"the split function returned {type(resolved).__name__}, not a Split")
    else:
        raise UsageError(f"split must be a Split or a function of the data, got {split!r}")
    if resolved.train.users != data.users or resolved.train.items != data.items:
        raise DataError("the split is not on the data's id indices; split this data set itself")
    return resolved, name or describe_split(split, resolved)


def _clone(model: Recommender) -> Recommender:
    return type(model)(**model.get_params())


# --- running one model ---------------------------------------------------------------------------


@dataclass
class _Outcome:
    results: dict[str, Any]  # metric name -> MetricResult
    fit_s: float
    recommend_s: float


def _run_model(
    name: str,
    model: Recommender,
    split: Split,
    test: sp.csr_matrix,
    users: np.ndarray,
    k: int,
    metrics: list[str],
    progress: Progress,
) -> _Outcome:
    fresh = _clone(model)
    progress.start_model(name, len(users))
    started = time.perf_counter()
    fresh.fit(split.train)
    fit_s = time.perf_counter() - started
    progress.fitted(name, fit_s)
    recommended, recommend_s = _recommend(fresh, split.train, users, k, name, progress)
    names = list(dict.fromkeys(metrics))
    results = evaluate_topk(recommended, test, names, users=users, train=split.train)
    return _Outcome(results, fit_s, recommend_s)


def _recommend(
    model: Recommender,
    train: Interactions,
    users: np.ndarray,
    k: int,
    name: str,
    progress: Progress,
) -> tuple[np.ndarray, float]:
    """Top-k item indices for ``users`` (indices into ``train``), ``-1`` padded, and the time."""
    recommended = np.empty((len(users), k), dtype=np.int64)
    ids = train.users.labels(users)
    seconds = 0.0
    for start in range(0, len(users), _BATCH):
        part = slice(start, start + _BATCH)
        started = time.perf_counter()
        recs = model.recommend(ids[part], k=k, exclude_seen=True, unknown_users="popular")
        seconds += time.perf_counter() - started
        positions = train.items.indices(recs.items.ravel(), missing=-1).reshape(recs.items.shape)
        recommended[part] = np.where(recs.valid, positions, -1)
        progress.advance(name, len(ids[part]))
    progress.recommended(name, len(users), seconds)
    return recommended, seconds


# --- assembling the result -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Protocol:
    data_fingerprint: str
    split: str
    k: int
    baseline: str | None
    n_bootstrap: int
    seed: int
    n_users: int


def _result(
    outcomes: dict[str, _Outcome],
    models: Mapping[str, Recommender],
    metrics: list[Metric],
    protocol: _Protocol,
) -> BenchmarkResult:
    per_user = {
        name: {m.name: o.results[m.name].per_user for m in metrics if _has_users(o, m)}
        for name, o in outcomes.items()
    }
    rows = [
        _row(name, outcome, metric, per_user, protocol)
        for name, outcome in outcomes.items()
        for metric in metrics
    ]
    return BenchmarkResult(
        table=pd.DataFrame(rows),
        per_user=per_user,
        curves=_curves(outcomes, protocol.k),
        models={
            n: {"class": type(m).__name__, "params": m.get_params()} for n, m in models.items()
        },
        data_fingerprint=protocol.data_fingerprint,
        split=protocol.split,
        k=protocol.k,
        metrics=tuple(m.name for m in metrics),
        baseline=protocol.baseline,
        n_users=protocol.n_users,
        n_bootstrap=protocol.n_bootstrap,
        seed=protocol.seed,
    )


def _has_users(outcome: _Outcome, metric: Metric) -> bool:
    return outcome.results[metric.name].per_user is not None


def _row(
    name: str,
    outcome: _Outcome,
    metric: Metric,
    per_user: dict[str, dict[str, np.ndarray]],
    protocol: _Protocol,
) -> dict[str, Any]:
    values = per_user[name].get(metric.name)
    low = high = p_value = float("nan")
    draws, seed = protocol.n_bootstrap, protocol.seed
    if values is not None:
        low, high = bootstrap_ci(values, n_bootstrap=draws, seed=seed)
        if protocol.baseline is not None and name != protocol.baseline:
            reference = per_user[protocol.baseline][metric.name]
            p_value = paired_test(values, reference, n_permutations=draws, seed=seed)
    return {
        "model": name,
        "metric": metric.name,
        "k": metric.k,
        "mean": outcome.results[metric.name].mean,
        "ci_low": low,
        "ci_high": high,
        "p_value": p_value,
        "n_users": protocol.n_users if values is None else int(np.count_nonzero(~np.isnan(values))),
        "fit_s": outcome.fit_s,
        "recommend_s": outcome.recommend_s,
    }


def _curves(outcomes: dict[str, _Outcome], k: int) -> pd.DataFrame:
    rows = [
        {"model": name, "metric": m.kind, "k": m.k, "mean": outcome.results[m.name].mean}
        for name, outcome in outcomes.items()
        for m in curve_metrics(k)
    ]
    return pd.DataFrame(rows, columns=["model", "metric", "k", "mean"])
