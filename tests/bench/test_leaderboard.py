"""The leaderboard kept in the store: round trips, ranking, champions and lineage."""

from __future__ import annotations

import functools
import math
from types import MappingProxyType

import pytest

from reelflow._errors import ArtifactNotFoundError, UsageError
from reelflow.bench._benchmark import BenchmarkResult, benchmark
from reelflow.bench._leaderboard import Leaderboard
from reelflow.data import Interactions, generate_interactions, per_user_holdout
from reelflow.flow._current import TaskContext, current
from reelflow.models import EASE, ItemKNN, MostPopular
from reelflow.store import Store

SPLIT = functools.partial(per_user_holdout, test_fraction=0.25, seed=42)


@pytest.fixture(scope="module")
def data() -> Interactions:
    return generate_interactions(150, 60, 3_000, seed=5).interactions


@pytest.fixture(scope="module")
def result(data: Interactions) -> BenchmarkResult:
    models = {"pop": MostPopular(), "knn": ItemKNN(k=20)}
    metrics = ["ndcg@10", "gini@10"]
    return benchmark(models, data, SPLIT, metrics, n_bootstrap=100, progress=False)


def test_round_trip(store: Store, result: BenchmarkResult) -> None:
    ids = Leaderboard(store).add(result, tags=["nightly"])
    assert len(ids) == 4
    entries = Leaderboard(Store.open(store.config.home.parent)).entries()  # reopened
    assert list(entries["id"]) == sorted(ids, reverse=True)
    knn = entries[(entries["model"] == "knn") & (entries["metric"] == "ndcg@10")].iloc[0]
    expected = result.table.set_index(["model", "metric"]).loc[("knn", "ndcg@10")]
    assert knn["mean"] == pytest.approx(expected["mean"])
    assert knn["ci_low"] == pytest.approx(expected["ci_low"])
    assert knn["model_class"] == "ItemKNN"
    assert knn["params"] == {"k": 20, "shrinkage": 10.0}
    assert knn["k"] == 10 and knn["n_users"] == result.n_users
    assert knn["split"] == result.split and knn["data_fingerprint"] == result.data_fingerprint
    assert knn["tags"] == ["nightly"]
    assert knn["run_id"] is None or math.isnan(knn["run_id"])
    gini = entries[entries["metric"] == "gini@10"]
    assert gini["ci_low"].isna().all()  # a whole-run metric has no CI


def test_top_ranks_best_first_and_filters(store: Store, result: BenchmarkResult) -> None:
    board = Leaderboard()  # the working directory's store: the fixture's
    result.save(board)
    top = board.top("NDCG@10", data_fingerprint=result.data_fingerprint[:8], split=result.split)
    assert list(top["mean"]) == sorted(top["mean"], reverse=True)
    gini = board.top("gini@10")
    assert list(gini["mean"]) == sorted(gini["mean"])  # lower is better
    assert board.top("ndcg@10", split="random_holdout()").empty
    assert board.top("ndcg@10", data_fingerprint="ffff").empty
    with pytest.raises(UsageError, match="cut-off"):
        board.top("ndcg")


def test_a_researcher_compares_with_the_champion_in_three_lines(
    store: Store, data: Interactions, result: BenchmarkResult
) -> None:
    Leaderboard().add(result)  # earlier work on the same data and split

    mine = benchmark({"ease": EASE(l2=50.0)}, data, SPLIT, ["ndcg@10"], progress=False)
    champion = Leaderboard().champion("ndcg@10", mine.data_fingerprint, mine.split)
    gain = mine.mean("ease", "ndcg@10") - champion["mean"]

    best = result.table[result.table["metric"] == "ndcg@10"]["mean"].max()
    assert champion["mean"] == pytest.approx(best)
    assert gain == pytest.approx(mine.mean("ease", "ndcg@10") - best)


def test_no_champion_is_a_clear_error(store: Store) -> None:
    with pytest.raises(ArtifactNotFoundError, match="no ndcg@10 entry"):
        Leaderboard().champion("ndcg@10", "abc", "loo")


def test_entries_added_in_a_step_record_the_run(store: Store, result: BenchmarkResult) -> None:
    context = TaskContext("BenchFlow", 7, "evaluate", 42, 0, MappingProxyType({}))
    current._bind(context)
    try:
        benchmark_ids = result.save(Leaderboard())
    finally:
        current._bind(None)
    entries = Leaderboard().entries()
    assert set(entries["id"]) == set(benchmark_ids)
    assert set(entries["run_id"]) == {7} and set(entries["step"]) == {"evaluate"}
    assert set(entries["task_id"]) == {42}
