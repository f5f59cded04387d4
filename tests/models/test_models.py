"""Every model passes the conformance suite; model-specific behaviour; an ML-100K sanity check."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

HERE = Path(__file__).parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from conformance import RecommenderConformance, structured_log  # noqa: E402

from reelflow._errors import DataError, ModelError  # noqa: E402
from reelflow.data import Interactions  # noqa: E402
from reelflow.models._base import Recommender  # noqa: E402
from reelflow.models._baselines import MostPopular, Random  # noqa: E402
from reelflow.models._ease import EASE  # noqa: E402
from reelflow.models._implicit import ALS, BPR, confidence_weights  # noqa: E402
from reelflow.models._knn import ItemKNN  # noqa: E402

ML100K = Path(__file__).resolve().parents[3] / "shared/data/movielens-100k/ml-100k/u.data"


# --- the suite, once per model -------------------------------------------------------------------


class TestRandom(RecommenderConformance):
    bad_params = {"random_state": -1}

    def make_model(self) -> Recommender:
        return Random(random_state=0)


class TestMostPopular(RecommenderConformance):
    bad_params = {"by": 3}

    def make_model(self) -> Recommender:
        return MostPopular()


class TestItemKNN(RecommenderConformance):
    bad_params = {"k": 0, "shrinkage": -1.0}

    def make_model(self) -> Recommender:
        return ItemKNN(k=20, shrinkage=5.0)


class TestEASE(RecommenderConformance):
    bad_params = {"l2": 0.0}

    def make_model(self) -> Recommender:
        return EASE(l2=10.0)


class TestALS(RecommenderConformance):
    bad_params = {
        "factors": 0,
        "alpha": -1.0,
        "iterations": 1.5,
        "random_state": "x",
        "weighting": "idf",
    }

    def make_model(self) -> Recommender:
        return ALS(factors=8, iterations=5, random_state=0, num_threads=2)


class TestALSWeighted(RecommenderConformance):
    bad_params = {"weighting": None}

    def make_model(self) -> Recommender:
        return ALS(factors=8, iterations=5, random_state=0, num_threads=2, weighting="bm25")


class TestBPR(RecommenderConformance):
    bad_params = {"learning_rate": 0.0, "regularization": float("nan"), "num_threads": -1}

    def make_model(self) -> Recommender:
        return BPR(factors=8, iterations=20, random_state=0)


# --- model-specific ------------------------------------------------------------------------------


def _regional() -> Interactions:
    frame = pd.DataFrame(
        {
            "user_id": [1, 2, 3, 4, 5, 6, 1],
            "item_id": ["a", "a", "b", "b", "b", "c", "c"],
            "region": ["us", "us", "ca", "ca", "ca", "us", "us"],
        }
    )
    return Interactions.from_pandas(frame, context=["region"])


def test_most_popular_ranks_within_the_callers_context() -> None:
    model = MostPopular(by="region").fit(_regional())
    recs = model.recommend([2, 3, 99], k=3, context=["us", "ca", "mx"], unknown_users="popular")
    lists = recs.to_lists()
    # us counts a 2, c 2; ca counts b 3; global a 2, b 3, c 2 (tie-break: global / (3 + 1))
    assert lists[0] == ["c", "b"]  # user 2 saw "a"
    np.testing.assert_allclose(recs.scores[0, :2], [2.5, 0.75])
    assert sorted(lists[1]) == ["a", "c"]  # user 3 saw "b", the only item popular in ca
    assert lists[2][0] == "b" and sorted(lists[2][1:]) == ["a", "c"]  # unseen region: global


def test_most_popular_context_errors() -> None:
    data = _regional()
    with pytest.raises(DataError, match="no context column 'country'"):
        MostPopular(by="country").fit(data)
    model = MostPopular(by="region").fit(data)
    with pytest.raises(ModelError, match="needs context="):
        model.recommend([1])
    with pytest.raises(ModelError, match="one per user"):
        model.recommend([1, 2], context=["us"])
    with pytest.raises(ModelError, match="does not use context="):
        EASE().fit(data).recommend([1], context=["us"])


def test_most_popular_by_context_round_trips(tmp_path: Path) -> None:
    model = MostPopular(by="region").fit(_regional())
    loaded = Recommender.load(model.save(tmp_path / "m"))
    for region in ("us", "ca", "mx"):
        assert (
            loaded.recommend([5], context=[region]).to_lists()
            == model.recommend([5], context=[region]).to_lists()
        )


def test_ease_matches_the_closed_form() -> None:
    data = structured_log()
    x = data.csr(binary=True).toarray().astype(np.float64)
    p = np.linalg.inv(x.T @ x + 10.0 * np.eye(x.shape[1]))
    expected = np.eye(x.shape[1]) - p / np.diag(p)
    np.testing.assert_allclose(EASE(l2=10.0).fit(data).weights_, expected, atol=1e-5)


def test_item_knn_keeps_at_most_k_neighbours() -> None:
    model = ItemKNN(k=5).fit(structured_log())
    per_item = np.diff(model.similarity_.indptr)
    assert per_item.max() <= 5 and (model.similarity_.diagonal() == 0).all()
    assert (model.similarity_.data > 0).all()


def test_bpr_item_factors_carry_a_bias_column() -> None:
    model = BPR(factors=4, iterations=2, random_state=0).fit(structured_log())
    assert model.item_factors_.shape == (100, 5)


@pytest.mark.parametrize("weighting", ["tfidf", "bm25"])
def test_als_weighting_matches_implicits_functions(weighting: str) -> None:
    from implicit.nearest_neighbours import bm25_weight, tfidf_weight

    matrix = structured_log().csr(binary=True)
    if weighting == "tfidf":
        expected = tfidf_weight(matrix.T.tocsr()).T  # implicit's examples: items are documents
    else:
        expected = bm25_weight(matrix.T.tocsr(), K1=100, B=0.8).T
    ours = confidence_weights(matrix, weighting)
    assert ours.dtype == np.float32 and (ours.indptr == matrix.indptr).all()
    np.testing.assert_allclose(ours.toarray(), expected.toarray(), rtol=1e-5)


def test_als_weighting_none_is_the_binary_matrix_and_the_default() -> None:
    matrix = structured_log().csr(binary=True)
    assert confidence_weights(matrix, "none") is matrix
    assert ALS().weighting == "none"


@pytest.mark.parametrize("weighting", ["tfidf", "bm25"])
def test_als_weighting_keeps_confidence_positive_for_users_who_saw_everything(
    weighting: str,
) -> None:
    frame = pd.DataFrame({"user_id": [1, 1, 1, 2, 3, 3], "item_id": ["a", "b", "c", "a", "b", "c"]})
    matrix = Interactions.from_pandas(frame).csr(binary=True)
    weights = confidence_weights(matrix, weighting)
    assert (weights.data > 0).all()  # user 1's idf, log(3) - log(4), is floored
    model = ALS(factors=2, iterations=3, random_state=0, weighting=weighting)
    assert np.isfinite(model.fit(Interactions.from_pandas(frame)).user_factors_).all()


def test_als_weighting_changes_the_model_and_round_trips(tmp_path: Path) -> None:
    data = structured_log()
    users = data.users.ids[:20]
    plain = ALS(factors=8, iterations=5, random_state=0).fit(data)
    tfidf = ALS(factors=8, iterations=5, random_state=0, weighting="tfidf").fit(data)
    assert not np.allclose(plain.user_factors_, tfidf.user_factors_)
    loaded = Recommender.load(tfidf.save(tmp_path / "m"))
    assert isinstance(loaded, ALS) and loaded.weighting == "tfidf"
    np.testing.assert_array_equal(loaded.recommend(users).items, tfidf.recommend(users).items)


def test_als_saved_before_weighting_existed_loads_as_unweighted(tmp_path: Path) -> None:
    import json

    model = ALS(factors=4, iterations=2, random_state=0).fit(structured_log())
    path = model.save(tmp_path / "m")
    meta = json.loads((path / "params.json").read_text())
    del meta["params"]["weighting"]
    (path / "params.json").write_text(json.dumps(meta))
    loaded = ALS.load(path)
    assert loaded.weighting == "none"
    np.testing.assert_array_equal(loaded.item_factors_, model.item_factors_)


def test_random_is_reproducible_across_calls_but_differs_by_seed() -> None:
    data = structured_log()
    a, b = Random(random_state=1).fit(data), Random(random_state=2).fit(data)
    users = data.users.ids[:10]
    np.testing.assert_array_equal(a.recommend(users).items, a.recommend(users).items)
    assert not np.array_equal(a.recommend(users).items, b.recommend(users).items)


def test_a_directory_without_a_model_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="holds no saved model"):
        EASE.load(tmp_path)


def test_unsavable_ids_are_rejected(tmp_path: Path) -> None:
    frame = pd.DataFrame({"user_id": [(1, 2), (3, 4)], "item_id": [1, 2]})
    model = MostPopular().fit(Interactions.from_pandas(frame))
    with pytest.raises(ModelError, match="use int or str ids"):
        model.save(tmp_path / "m")


def test_importing_models_stays_light() -> None:
    import subprocess

    code = (
        "import sys, reelflow.models._base, reelflow.models._implicit, reelflow.models._ease;"
        "print(any(m in sys.modules for m in ('implicit', 'sklearn', 'lightgbm')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --- ML-100K sanity: every model beats popularity (Random loses to it) --------------------------


@pytest.fixture(scope="module")
def ml100k() -> tuple[Interactions, np.ndarray]:
    """A per-user random 75/25 split of ML-100K: the train log and a dense test-truth matrix."""
    if not ML100K.is_file():
        pytest.skip(f"ML-100K is not at {ML100K}; download it there to run the accuracy check")
    frame = pd.read_csv(ML100K, sep="\t", names=["user_id", "item_id", "rating", "ts"])
    data = Interactions.from_pandas(frame)
    key = np.random.default_rng(42).random(len(data))
    order = np.lexsort((key, data.user))
    counts = np.bincount(data.user, minlength=data.n_users)
    rank = np.empty(len(data), dtype=np.int64)
    rank[order] = np.arange(len(data)) - np.repeat(np.cumsum(counts) - counts, counts)
    in_test = rank < np.ceil(0.25 * counts[data.user])
    truth = data.subset(in_test).csr(binary=True).toarray() > 0
    return data.subset(~in_test), truth


def ndcg_at(model: Recommender, train: Interactions, truth: np.ndarray, k: int = 10) -> float:
    """Mean binary-relevance NDCG@k over users with test items (seen items excluded)."""
    recs = model.recommend(train.users.ids, k=k)
    idx = train.items.indices(recs.items.ravel(), missing=-1).reshape(recs.items.shape)
    hits = np.take_along_axis(truth, np.maximum(idx, 0), axis=1) & (idx >= 0)
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    n_relevant = np.minimum(truth.sum(axis=1), k)
    users = n_relevant > 0
    ideal = np.cumsum(discount)[n_relevant[users] - 1]
    return float(((hits * discount).sum(axis=1)[users] / ideal).mean())


MODELS: dict[str, Callable[[], Recommender]] = {
    "Random": lambda: Random(random_state=0),
    "ItemKNN": ItemKNN,
    "EASE": EASE,
    "ALS": lambda: ALS(random_state=0),
    "BPR": lambda: BPR(random_state=0),
}


@pytest.fixture(scope="module")
def popular_ndcg(ml100k: tuple[Interactions, np.ndarray]) -> float:
    return ndcg_at(MostPopular().fit(ml100k[0]), *ml100k)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(MODELS))
def test_ml100k_ndcg_against_popularity(
    name: str, ml100k: tuple[Interactions, np.ndarray], popular_ndcg: float
) -> None:
    train, truth = ml100k
    started = time.perf_counter()
    model = MODELS[name]().fit(train)
    seconds = time.perf_counter() - started
    score = ndcg_at(model, train, truth)
    print(f"{name}: NDCG@10 {score:.4f} (MostPopular {popular_ndcg:.4f}), fit {seconds:.2f}s")
    assert popular_ndcg > 0.2
    if name == "Random":
        assert score < popular_ndcg / 5
    else:
        assert score > popular_ndcg * 1.1
