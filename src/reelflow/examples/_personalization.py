"""The work behind PersonalizationFlow's steps, kept out of the flow file so that the flow reads
as the pipeline it is and each piece can be tested on its own."""

from __future__ import annotations

import datetime as dt
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from reelflow._errors import UsageError

if TYPE_CHECKING:
    import pandas as pd

    from reelflow.bench import BenchmarkResult
    from reelflow.data import Interactions
    from reelflow.guards import GuardResult
    from reelflow.models import Recommender
    from reelflow.registry import Promotion

DEFAULT_CANDIDATES = (
    "mostpop,mostpop_region,itemknn:k=50|200,ease:l2=100|500,als:factors=64:regularization=10|50,"
    "ease_region:l2=500,rerank_ease:l2=500:n_candidates=50"
)
CORRUPTIONS = ("none", "duplicates", "item-ids", "shift")
DATA_PARAMETERS = ("source", "catalogue", "size", "seed")  # what makes two runs' logs comparable
ENGINES = {"duckdb": "DuckDB", "spark": "Spark"}  # where the features run (not data: same values)
DRIFT_COLUMNS = ("event", "region", "watch_fraction", "stars")  # context columns held steady
TECHNICAL = ("ndcg@10", "recall@20", "precision@10", "map@10")
BUSINESS = ("retention@10", "discovery@10", "coverage@10")
DAY = 86_400
MAX_SYNTHETIC_ITEMS = 10_000


# --- ingest and validate -------------------------------------------------------------------------


def ingest(
    source: str, size: int, seed: int, catalogue: str = "", corrupt: str = "none"
) -> tuple[Interactions, pd.DataFrame]:
    """The interaction log and the item catalogue of ``source`` (``catalogue``, a CSV/Parquet
    file with an ``item_id`` column, replaces the one the source brings), then ``corrupt``."""
    if corrupt not in CORRUPTIONS:
        raise UsageError(f"corrupt={corrupt!r} is unknown; use one of {', '.join(CORRUPTIONS)}")
    log, items = _read_source(source, size, seed)
    if catalogue:
        items = _read_catalogue(catalogue)
    return (log if corrupt == "none" else _corrupted(log, corrupt, seed)), items


def _read_source(source: str, size: int, seed: int) -> tuple[Interactions, pd.DataFrame]:
    import pandas as pd

    from reelflow.data import Interactions, generate_interactions, load_movielens

    if source == "synthetic":
        if size < 1000:
            raise UsageError(f"size={size} is too small; use at least 1000 interactions")
        # a catalogue grows slower than its audience: 10,000 titles at most (EASE's Gram matrix)
        n_users, n_items = max(100, size // 40), min(max(50, size // 100), MAX_SYNTHETIC_ITEMS)
        synthetic = generate_interactions(n_users, n_items, size, seed=seed)
        items = synthetic.items.assign(item_id=synthetic.items["item_id"].astype(str))
        return synthetic.interactions, items
    if source.startswith("movielens:"):
        movielens = load_movielens(source.partition(":")[2])
        ids = movielens.interactions.items.ids
        return movielens.interactions, pd.DataFrame({"item_id": ids})
    if not os.path.isfile(source):
        raise UsageError(f"source {source!r} is not synthetic, movielens:NAME or a file")
    columns = {"user": "user_id", "item": "item_id", "timestamp": "timestamp"}
    reader = (
        Interactions.from_parquet if source.endswith((".parquet", ".pq")) else Interactions.from_csv
    )
    log = reader(source, **columns)
    return log, pd.DataFrame({"item_id": log.items.ids})


def _read_catalogue(path: str) -> pd.DataFrame:
    import pandas as pd

    if not os.path.isfile(path):
        raise UsageError(f"catalogue {path!r} is not a file; pass a CSV or Parquet file")
    reader = pd.read_parquet if path.endswith((".parquet", ".pq")) else pd.read_csv
    items = reader(path)
    if "item_id" not in items.columns:
        found = ", ".join(map(str, items.columns))
        raise UsageError(f"catalogue {path!r} has no item_id column (it has: {found})")
    return items


def _corrupted(log: Interactions, kind: str, seed: int) -> Interactions:
    """``log`` with one of the faults the guard rails exist for, to rehearse them:
    ``duplicates`` (a batch uploaded twice: 5% of events again), ``item-ids`` (a join against
    the wrong id space: 10% of events point at ids the catalogue never had), ``shift`` (a
    geo-IP outage: half the events labelled with the most common region)."""
    from reelflow.data import Interactions

    rng = np.random.default_rng(seed + 1)
    if kind == "duplicates":
        extra = rng.choice(len(log), size=max(1, len(log) // 20), replace=False)
        return log.subset(np.sort(np.concatenate([np.arange(len(log)), extra])))
    frame = log.to_pandas()
    hit = rng.random(len(frame)) < (0.1 if kind == "item-ids" else 0.5)
    if kind == "item-ids":
        frame["item_id"] = frame["item_id"].astype(str)
        frame.loc[hit, "item_id"] = "x" + frame.loc[hit, "item_id"]
    else:
        if "region" not in frame:
            raise UsageError("corrupt=shift relabels the region column, which this log lacks")
        frame.loc[hit, "region"] = frame["region"].mode().iloc[0]
    rating = "rating" if log.rating is not None else None
    return Interactions.from_pandas(
        frame, rating=rating, timestamp="timestamp", context=list(log.context)
    )


def describe(log: Interactions) -> str:
    days = 0.0 if log.timestamp is None else (log.timestamp.max() - log.timestamp.min()) / DAY
    contexts = ", ".join(log.context) or "none"
    return (
        f"{len(log):,} interactions, {log.n_users:,} users x {log.n_items:,} items over "
        f"{days:.0f} days; contexts: {contexts}"
    )


def previous_log(flow_name: str, run_id: int, data: dict[str, Any]) -> Interactions | None:
    """The log of the last successful run of this flow that read the same data (``data``: the
    values of ``DATA_PARAMETERS``): the reference this run's log is held to."""
    from reelflow import Client
    from reelflow._errors import ArtifactNotFoundError

    def same_data(params: dict[str, Any]) -> bool:
        return all(params.get(name) == value for name, value in data.items())

    try:
        runs = [
            r
            for r in Client().runs(flow_name)
            if r.id != run_id and r.successful and same_data(r.params)
        ]
    except ArtifactNotFoundError:
        return None
    for run in runs:
        try:
            found: Interactions = run["start"].task["log"]
            return found
        except (KeyError, ArtifactNotFoundError):
            continue
    return None


def data_guards(
    log: Interactions, catalogue: pd.DataFrame, previous: Interactions | None
) -> list[GuardResult]:
    """Schema, personalization checks and, when there is a previous run, its data as reference:
    rows, null rates, categories, and the distribution of the context columns (ids and times
    move on between runs by design, so their distributions are not compared)."""
    from reelflow.guards import Column, check_interactions, check_schema, expect_like_reference

    frame = _frame(log)
    schema = {
        "user_id": Column(nullable=False),
        "item_id": Column(nullable=False),
        "timestamp": Column(nullable=False, min=0),
    }
    if "rating" in frame:
        schema["rating"] = Column(min=0)
    results = check_schema(frame, schema)
    results += check_interactions(
        frame, catalogue=catalogue["item_id"].astype(str), max_duplicate_rate=0.01
    )
    if previous is not None:
        reference = _frame(previous)
        results += expect_like_reference(frame[list(schema)], reference[list(schema)],
                                         distribution=False)  # fmt: skip
        steady = [c for c in DRIFT_COLUMNS if c in frame and c in reference]
        if steady:
            results += expect_like_reference(
                frame[steady], reference[steady], row_ratio=None, name="context"
            )
    return results


def _frame(log: Interactions) -> pd.DataFrame:
    """The log as a frame with string ids (ids travel as strings through serving, too)."""
    frame = log.to_pandas()
    frame["user_id"], frame["item_id"] = frame["user_id"].astype(str), frame["item_id"].astype(str)
    return frame


# --- features and splits -------------------------------------------------------------------------


def check_engine(engine: str) -> None:
    """A one-line error unless the features can run on ``engine`` here (for Spark: pyspark and
    a Java, checked without starting one), before any work is done."""
    if engine not in ENGINES:
        raise UsageError(f"engine={engine!r} is unknown; use one of {', '.join(ENGINES)}")
    if engine == "spark":
        from reelflow.features._spark import require_spark

        require_spark()


@dataclass(frozen=True)
class FeaturesOn:
    """The built-in user and item features as of the end of a log, computed on ``engine``
    (``"duckdb"`` or ``"spark"``): the features step's snapshot, and the re-ranker's
    ``feature_source``, which calls it on each part it learns from so no feature sees the events
    it is judged on. A picklable value whose repr names the engine (the registry records it)."""

    engine: str = "duckdb"

    def __call__(self, log: Interactions) -> tuple[Any, Any]:
        from reelflow.features import ITEM_FEATURES, USER_FEATURES, compute

        users = compute(USER_FEATURES, log, engine=self.engine)
        return users, compute(ITEM_FEATURES, log, engine=self.engine)


def snapshot_features(log: Interactions, engine: str = "duckdb") -> tuple[Any, Any]:
    """User and item features as of the end of the log (Arrow tables), computed on ``engine``."""
    users, items = FeaturesOn(engine)(log)
    print(
        f"features: {users.num_columns - 1} per user, {items.num_columns - 1} per item "
        f"({ENGINES[engine]})"
    )
    return users, items


def temporal_splits(
    log: Interactions, test_days: int
) -> tuple[Interactions, Interactions, Interactions, Interactions]:
    """train/test: the last ``test_days`` days are test; inner/valid: the same cut inside train."""
    from reelflow.data import temporal_cutoff

    if log.timestamp is None:
        raise UsageError("the log has no timestamps; a temporal split needs them")
    end = int(log.timestamp.max())
    train, test = temporal_cutoff(log, end - test_days * DAY)
    assert train.timestamp is not None
    inner, valid = temporal_cutoff(train, int(train.timestamp.max()) - test_days * DAY)
    return train, test, inner, valid


# --- candidates ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """One candidate: a model kind and its parameters."""

    kind: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        shown = ",".join(f"{k}={v}" for k, v in sorted(self.params.items()))
        return f"{self.kind}({shown})" if shown else self.kind


def parse_candidates(text: str) -> list[Spec]:
    """``"ease:l2=100|500,mostpop"`` as the grid of specs it names."""
    specs: list[Spec] = []
    for entry in filter(None, (e.strip() for e in text.split(","))):
        kind, *assignments = entry.split(":")
        if kind not in BUILDERS:
            raise UsageError(f"unknown candidate {kind!r}; use one of {', '.join(BUILDERS)}")
        grid: list[dict[str, Any]] = [{}]
        for assignment in assignments:
            name, _, values = assignment.partition("=")
            if not name or not values:
                raise UsageError(f"candidate {entry!r}: write NAME=V or NAME=V1|V2")
            grid = [{**g, name: _number(v)} for g in grid for v in values.split("|")]
        specs.extend(Spec(kind, params) for params in grid)
    if not specs:
        raise UsageError("no candidates given; e.g. -p candidates=ease,als")
    return specs


def _number(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _rerank(params: dict[str, Any], seed: int, features: FeaturesOn) -> Recommender:
    """LambdaMART over EASE's top ``n_candidates`` with the run's features (the other
    parameters are EASE's)."""
    from reelflow.models import EASE, LTRReranker

    own = {k: params.pop(k) for k in ("n_candidates",) if k in params}
    return LTRReranker(EASE(**params), random_state=seed, feature_source=features, **own)


def _regional(name: str) -> Any:
    """One model per region (users routed by their most frequent region), via ``PerRegion``."""

    def build(params: dict[str, Any], seed: int, features: FeaturesOn) -> Recommender:
        from reelflow import models

        return models.PerRegion(getattr(models, name)(**params), by="region")

    return build


def _simple(name: str, **fixed: Any) -> Any:
    def build(params: dict[str, Any], seed: int, features: FeaturesOn) -> Recommender:
        from reelflow import models

        cls: type[Recommender] = getattr(models, name)
        extra = {"random_state": seed} if "random_state" in cls().get_params() else {}
        return cls(**{**fixed, **extra, **params})

    return build


# A builder makes a candidate from its parameters, the seed and the run's features (a
# ``FeaturesOn``: the engine the run computes features on), which only the re-ranker uses.
BUILDERS: dict[str, Any] = {
    "mostpop": _simple("MostPopular"),
    "mostpop_region": _regional("MostPopular"),
    "itemknn": _simple("ItemKNN"),
    "ease": _simple("EASE"),
    "als": _simple("ALS", num_threads=1),
    "bpr": _simple("BPR", num_threads=1),
    "ease_region": _regional("EASE"),
    "rerank_ease": _rerank,
}


def build(spec: Spec, seed: int, engine: str = "duckdb") -> Recommender:
    """The candidate ``spec`` names, unfitted; one that uses features computes them on
    ``engine``."""
    model: Recommender = BUILDERS[spec.kind](dict(spec.params), seed, FeaturesOn(engine))
    return model


def validate_candidate(
    spec: Spec,
    inner: Interactions,
    valid: Interactions,
    seed: int,
    budget_s: float = 0.0,
    engine: str = "duckdb",
) -> tuple[BenchmarkResult | None, GuardResult]:
    """The candidate fitted on ``inner`` and ranked for the validation users, on the protocol
    every candidate shares (metrics, bootstrap intervals, seed), within ``budget_s`` seconds
    (0: no limit); a candidate over budget gives no result, and a warning that says so. A
    candidate that uses features computes them on ``engine``."""
    import time

    from reelflow.bench import benchmark
    from reelflow.data import Split
    from reelflow.guards import GuardResult

    started = time.perf_counter()
    try:
        with time_budget(budget_s):
            result = benchmark(
                {spec.label: build(spec, seed, engine)},
                inner,
                Split(inner, valid),
                [*TECHNICAL, *BUSINESS],
                n_bootstrap=200,
                seed=seed,
                progress=False,
                split_name="temporal validation",
            )
    except OverBudget:
        result = None
    took = time.perf_counter() - started
    limit = budget_s if budget_s > 0 else None
    if result is None:
        message = f"{spec.label} was stopped after {took:.1f} s, over its budget of {budget_s:g} s"
    else:
        message = f"{spec.label} fitted and validated in {took:.1f} s" + (
            f" (budget {budget_s:g} s)" if limit else ""
        )
    check = GuardResult(f"budget:{spec.label}", result is not None, "warn", took, limit, message)
    return result, check


class OverBudget(Exception):
    """A candidate ran past its time budget."""


@contextmanager
def time_budget(seconds: float) -> Iterator[None]:
    """Raise ``OverBudget`` in the main thread once ``seconds`` have passed (0: never). Native
    code (a BLAS call, say) is interrupted when it returns to Python."""
    if seconds <= 0:
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise OverBudget(f"over the budget of {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def rank_candidates(results: list[BenchmarkResult | None], metric: str) -> BenchmarkResult:
    """The results of the candidates that finished, as one, best ``metric`` first (the report
    plots them so)."""
    from reelflow.bench import combine

    finished = [r for r in results if r is not None]
    if not finished:
        raise UsageError(
            f"none of the {len(results)} candidates finished within its budget; raise -p budget "
            "or use a smaller log or grid"
        )

    def score(result: BenchmarkResult) -> float:
        return -result.mean(next(iter(result.models)), metric)

    return combine(sorted(finished, key=score))


def leaderboard(result: BenchmarkResult, metric: str) -> pd.DataFrame:
    """One row per candidate: the mean of each metric and the fit time, best ``metric`` first."""
    rows = result.table
    table = rows.pivot(index="model", columns="metric", values="mean")
    table = table[[m for m in result.metrics]]
    table["fit_s"] = rows.groupby("model")["fit_s"].first()
    table = table.sort_values(metric, ascending=False, kind="stable")
    return table.reset_index().rename_axis(columns=None)


def best_spec(specs: list[Spec], board: pd.DataFrame, metric: str) -> Spec:
    best = str(board.iloc[0]["model"])
    return next(s for s in specs if s.label == best)


def refit_and_test(
    spec: Spec, train: Interactions, test: Interactions, seed: int, engine: str = "duckdb"
) -> tuple[Recommender, dict[str, float]]:
    """The chosen candidate fitted on all training data (its features, if it uses any, on
    ``engine``), and its scores on the test period."""
    from reelflow.bench import evaluate_topk

    model = build(spec, seed, engine).fit(train)
    relevant = test.csr(binary=True)
    users = np.flatnonzero(np.diff(relevant.indptr) > 0)
    known = train.users.labels(users)
    recs = model.recommend(known, k=20, unknown_users="popular", **_context(model, train, users))
    items = test.items.indices(recs.items.ravel(), missing=-1).reshape(recs.items.shape)
    items[~recs.valid] = -1
    results = evaluate_topk(items, relevant, [*TECHNICAL, *BUSINESS], users=users, train=train)
    scores = {name: float(r.mean) for name, r in results.items()}
    if "watch_fraction" in test.context:  # engagement: watch fractions of the hit items' views
        import scipy.sparse as sp

        weights = np.asarray(test.context["watch_fraction"], dtype=np.float64)
        watched = sp.csr_matrix((weights, (test.user, test.item)), shape=relevant.shape)
        engagement = evaluate_topk(items, watched, ["engagement@10"], users=users)
        scores["engagement@10"] = float(engagement["engagement@10"].mean)
    return model, scores


def _context(model: Any, train: Interactions, users: np.ndarray) -> dict[str, Any]:
    """Each user's most frequent region, for models ranked per context."""
    if getattr(model, "by", None) is None or model.by not in train.context:
        return {}
    import pandas as pd

    frame = pd.DataFrame({"user": train.user, "value": train.context[model.by]})
    home = frame.groupby("user")["value"].agg(lambda v: v.value_counts().index[0])
    return {"context": home.reindex(users).fillna(home.mode().iloc[0]).to_numpy()}


# --- promotion and summary -----------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    """What the promote step decided, and the evidence."""

    version: int
    promotion: Promotion
    results: list[GuardResult]
    champion_before: int | None


def register_and_gate(
    name: str,
    model: Recommender,
    spec: Spec,
    train: Interactions,
    test: Interactions,
    test_scores: dict[str, float],
    metric: str,
    min_gain: float,
) -> Decision:
    """Register the refitted best and promote it if it beats the champion on the test period."""
    from reelflow.data import Split
    from reelflow.guards import (
        GuardResult,
        beats_champion,
        loads_in_fresh_process,
        no_nan_scores,
        not_degenerate,
    )
    from reelflow.registry import Registry

    registry = Registry()
    version = registry.register(
        name, model, metrics=test_scores, data=train, description=spec.label
    )
    champion = registry._tables.alias_version(name, "champion")
    gates = [
        beats_champion(metric, min_delta=min_gain),
        no_nan_scores(),
        not_degenerate(max_top_item_share=0.9),
        loads_in_fresh_process(),
    ]
    promotion = registry.promote(
        name, version.version, gates=gates, data=Split(train, test), raise_on_refusal=False
    )
    recorded = [
        GuardResult(
            f"gate:{r.name}",
            r.passed,
            "warn",
            r.value,
            r.threshold,
            r.message,
            {**r.details, "gate_severity": r.severity},
        )
        for r in promotion.results
    ]
    return Decision(version.version, promotion, recorded, champion)


def summary(
    run_id: int, board: pd.DataFrame, decision: Decision, name: str, left_out: list[str]
) -> str:
    """What a person reads at the end of the run."""
    shown = board[["model", *TECHNICAL[:2], "retention@10", "coverage@10", "fit_s"]].head(10)
    lines = [
        "",
        "validation leaderboard (temporal, last days of train):",
        shown.to_string(index=False),
    ]
    if left_out:
        lines.append(f"left out, over their time budget: {', '.join(left_out)}")
    lines += ["", "promotion gates (against the champion, on the test period):"]
    lines += [f"  {r.summary()}" for r in decision.results]
    lines += ["", f"decision: {decision.promotion.summary()}"]
    if not decision.promotion.promoted and decision.champion_before is not None:
        lines.append(f"the champion stays {name}:{decision.champion_before}")
    lines += [
        "",
        f"report:   reelflow report {run_id}",
        f"registry: reelflow models show {name}@champion",
        f"serve:    reelflow serve {name}@champion",
        f"at {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
    ]
    return "\n".join(lines)
