"""``benchmark`` on a small synthetic log: one protocol for every model, CIs, p-values, reports."""

from __future__ import annotations

import functools
import io
from pathlib import Path

import numpy as np
import pytest

from reelflow._errors import DataError, UsageError
from reelflow.bench._benchmark import BenchmarkResult, benchmark, combine
from reelflow.bench._leaderboard import describe_split
from reelflow.bench._report import make_progress
from reelflow.data import Interactions, generate_interactions, per_user_holdout
from reelflow.models import EASE, ItemKNN, MostPopular, Recommender

METRICS = ("ndcg@10", "recall@20", "mrr", "coverage")
SPLIT = functools.partial(per_user_holdout, test_fraction=0.25, seed=42)


@pytest.fixture(scope="module")
def data() -> Interactions:
    return generate_interactions(200, 80, 4_000, seed=3).interactions


@pytest.fixture(scope="module")
def models() -> dict[str, Recommender]:
    return {
        "pop": MostPopular(),
        "knn": ItemKNN(k=20),
        "ease": EASE(l2=50.0),
        "pop2": MostPopular(),
    }


@pytest.fixture(scope="module")
def result(data: Interactions, models: dict[str, Recommender]) -> BenchmarkResult:
    return benchmark(
        models, data, SPLIT, METRICS, baseline="pop", n_bootstrap=200, seed=1, progress=False
    )


def test_the_table_is_tidy(result: BenchmarkResult, models: dict[str, Recommender]) -> None:
    table = result.table
    assert len(table) == len(models) * len(METRICS)
    assert list(table.columns[:7]) == [
        "model",
        "metric",
        "k",
        "mean",
        "ci_low",
        "ci_high",
        "p_value",
    ]
    assert {"n_users", "fit_s", "recommend_s"} <= set(table.columns)
    assert list(dict.fromkeys(table["model"])) == list(models)
    assert result.metrics == ("ndcg@10", "recall@20", "mrr@20", "coverage@20")  # k = max cut-off
    assert result.k == 20
    assert (table["fit_s"] >= 0).all() and (table["recommend_s"] > 0).all()


def test_cis_contain_the_mean(result: BenchmarkResult) -> None:
    per_user = result.table[result.table["metric"] != "coverage@20"]
    assert (per_user["ci_low"] <= per_user["mean"]).all()
    assert (per_user["mean"] <= per_user["ci_high"]).all()
    assert (per_user["ci_low"] < per_user["ci_high"]).all()
    coverage = result.table[result.table["metric"] == "coverage@20"]
    assert coverage["ci_low"].isna().all() and coverage["p_value"].isna().all()


def test_p_values_against_the_baseline(result: BenchmarkResult) -> None:
    table = result.table.set_index(["model", "metric"])
    assert np.isnan(table.loc[("pop", "ndcg@10"), "p_value"])  # the baseline itself
    assert table.loc[("pop2", "ndcg@10"), "p_value"] == 1.0  # the same model again
    assert 0 < table.loc[("ease", "ndcg@10"), "p_value"] <= 1


def test_per_user_values_cover_exactly_the_users_with_test_items(
    result: BenchmarkResult, data: Interactions
) -> None:
    test = SPLIT(data).test.csr()
    n_test_users = int((np.diff(test.indptr) > 0).sum())
    assert result.n_users == n_test_users
    assert set(result.per_user["knn"]) == {"ndcg@10", "recall@20", "mrr@20"}
    values = result.per_user["knn"]["ndcg@10"]
    assert values.shape == (n_test_users,)
    assert np.nanmean(values) == pytest.approx(result.mean("knn", "ndcg@10"))
    assert result.mean("knn", "MRR") == result.mean("knn", "mrr@20")


def test_the_callers_models_are_left_unfitted(
    result: BenchmarkResult, models: dict[str, Recommender]
) -> None:
    for model in models.values():
        assert not hasattr(model, "users_")
    assert result.models["ease"] == {"class": "EASE", "params": {"l2": 50.0}}


def test_a_fixed_split_gives_the_same_numbers(data: Interactions) -> None:
    split = SPLIT(data)
    fixed = benchmark(
        {"pop": MostPopular()}, data, split, ["ndcg@10"], n_bootstrap=0, progress=False
    )
    again = benchmark(
        {"pop": MostPopular()}, data, SPLIT, ["ndcg@10"], n_bootstrap=0, progress=False
    )
    assert fixed.mean("pop", "ndcg@10") == again.mean("pop", "ndcg@10")
    assert fixed.split.startswith("fixed(train=")
    assert again.split == "per_user_holdout(test_fraction=0.25, seed=42, min_train=1)"
    assert describe_split(lambda d: split, split) == fixed.split


def test_combined_results_equal_one_benchmark_of_all_models(data: Interactions) -> None:
    split = SPLIT(data)
    run = functools.partial(
        benchmark, data=data, split=split, metrics=METRICS, n_bootstrap=50, seed=1, progress=False
    )
    together = run({"pop": MostPopular(), "knn": ItemKNN(k=20)})
    combined = combine([run({"pop": MostPopular()}), run({"knn": ItemKNN(k=20)})])
    columns = ["model", "metric", "mean", "ci_low", "ci_high", "n_users"]
    assert combined.table[columns].equals(together.table[columns])
    assert combined.curves.equals(together.curves)
    assert combined.models == together.models and combined.metrics == together.metrics
    np.testing.assert_array_equal(
        combined.per_user["knn"]["ndcg@10"], together.per_user["knn"]["ndcg@10"]
    )


def test_results_of_different_protocols_do_not_combine(data: Interactions) -> None:
    split = SPLIT(data)
    one = benchmark({"pop": MostPopular()}, data, split, ["ndcg@10"], n_bootstrap=0, progress=False)
    other_metric = benchmark(
        {"knn": ItemKNN()}, data, split, ["recall@10"], n_bootstrap=0, progress=False
    )
    with pytest.raises(UsageError, match="different metrics"):
        combine([one, other_metric])
    with pytest.raises(UsageError, match="model 'pop' is in more than one result"):
        combine([one, one])
    with pytest.raises(UsageError, match="at least one"):
        combine([])


def test_curves_follow_k(result: BenchmarkResult) -> None:
    curves = result.curves
    assert set(curves["metric"]) == {"ndcg", "recall"}
    assert sorted(set(curves["k"])) == [1, 5, 10, 20]
    recall = curves[(curves["model"] == "ease") & (curves["metric"] == "recall")]
    assert recall["mean"].is_monotonic_increasing


def test_reports(result: BenchmarkResult, tmp_path: Path) -> None:
    text = result.to_markdown()
    assert "| model | metric | mean | 95% CI | p vs pop |" in text
    assert "per_user_holdout(test_fraction=0.25" in text
    page = result.to_html(tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") == 2
    assert "<script" not in page and 'src="http' not in page and "<link" not in page


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"metrics": ["recall@20"], "k": 10}, "needs lists of 20 items but k=10"),
        ({"metrics": ["nope@10"]}, "unknown metric"),
        ({"baseline": "missing"}, "baseline 'missing' is not one of the models"),
        ({"n_bootstrap": -1}, "n_bootstrap"),
    ],
)
def test_bad_arguments_are_usage_errors(
    data: Interactions, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        benchmark({"pop": MostPopular()}, data, SPLIT, progress=False, **kwargs)  # type: ignore[arg-type]


def test_models_must_be_recommenders_on_the_datas_split(data: Interactions) -> None:
    with pytest.raises(UsageError, match="not a Recommender"):
        benchmark({"x": object()}, data, SPLIT, progress=False)  # type: ignore[dict-item]
    other = SPLIT(generate_interactions(50, 20, 500, seed=9).interactions)
    with pytest.raises(DataError, match="id indices"):
        benchmark({"pop": MostPopular()}, data, other, progress=False)


def test_progress_prints_plain_lines_off_a_terminal(
    data: Interactions, capsys: pytest.CaptureFixture[str]
) -> None:
    benchmark({"pop": MostPopular()}, data, SPLIT, ["ndcg@10"], n_bootstrap=0)
    err = capsys.readouterr().err
    assert "bench pop: fitted in" in err and "bench pop: ranked" in err
    out = io.StringIO()
    shown = make_progress(out=out)
    shown.start_model("m", 10)
    shown.stop()
    assert out.getvalue() == "bench m: fitting\n"
