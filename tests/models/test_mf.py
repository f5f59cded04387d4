"""BiasedMF: the conformance suite on rated data, predict's contract, and ML-100K accuracy."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

HERE = Path(__file__).parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import conformance  # noqa: E402
from conformance import RecommenderConformance  # noqa: E402

from reelflow._errors import DataError, ModelError  # noqa: E402
from reelflow.data import Interactions  # noqa: E402
from reelflow.models._base import Recommender  # noqa: E402
from reelflow.models._mf import BiasedMF  # noqa: E402

ML100K = Path(__file__).resolve().parents[3] / "shared/data/movielens-100k/ml-100k"
_plain_log = conformance.structured_log


def rated_log(*, string_ids: bool = False, seed: int = 0) -> Interactions:
    """The conformance log with ratings 1..5 that depend on the user's taste cluster."""
    data = _plain_log(string_ids=string_ids, seed=seed)
    rng = np.random.default_rng(seed)
    liked = (data.item // 20) == (data.user % 5)
    rating = np.clip(np.where(liked, 4.0, 2.0) + rng.integers(-1, 2, len(data)), 1, 5)
    return Interactions(
        data.users, data.items, data.user, data.item, rating=rating.astype(np.float32)
    )


class TestBiasedMF(RecommenderConformance):
    bad_params = {"n_factors": -1, "n_epochs": 0, "reg": 0.0, "init_std": -1.0}

    @pytest.fixture(scope="class")
    @classmethod
    def data(cls) -> Interactions:
        return rated_log()

    @pytest.fixture(autouse=True)
    def _rated_logs(self, monkeypatch: pytest.MonkeyPatch) -> None:
        # the suite builds its string-id and save/load logs itself: give them ratings too
        monkeypatch.setattr(conformance, "structured_log", rated_log)

    def make_model(self) -> Recommender:
        return BiasedMF(n_factors=8, n_epochs=5, random_state=0)


def test_fit_needs_ratings() -> None:
    with pytest.raises(DataError, match="no rating column"):
        BiasedMF().fit(_plain_log())


def test_predict_clips_and_score_does_not() -> None:
    data = rated_log()
    model = BiasedMF(n_factors=8, n_epochs=5, random_state=0).fit(data)
    users, items = np.repeat(data.users.ids, 3), np.tile(data.items.ids[:3], data.n_users)
    predicted, scored = model.predict(users, items), model.score(users, items)
    assert predicted.dtype == np.float32
    assert predicted.min() >= 1.0 and predicted.max() <= 5.0
    np.testing.assert_allclose(predicted, np.clip(scored, 1.0, 5.0), rtol=1e-6)


def test_unknown_ids_error_or_fall_back_to_biases() -> None:
    model = BiasedMF(n_factors=4, n_epochs=3, random_state=0).fit(rated_log())
    with pytest.raises(DataError, match="unknown users"):
        model.predict([-5], [0])
    with pytest.raises(ModelError, match="unknown must be"):
        model.predict([0], [0], unknown="guess")  # type: ignore[arg-type]
    got = model.predict([-5, 0, -5], [0, -7, -7], unknown="baseline")
    mu, b_u, b_i = float(model.global_mean_), model.user_bias_[0], model.item_bias_[0]
    np.testing.assert_allclose(got, [mu + b_i, mu + b_u, mu], rtol=1e-6)


def test_zero_factors_is_a_biases_only_model() -> None:
    model = BiasedMF(n_factors=0, random_state=0).fit(rated_log())
    assert model.user_factors_.shape == (200, 0)
    assert np.isfinite(model.score([0, 1], [0, 1])).all()


def test_seed_gives_the_same_factors() -> None:
    data = rated_log()
    fits: list[Any] = [BiasedMF(n_factors=8, random_state=3).fit(data) for _ in range(2)]
    np.testing.assert_array_equal(fits[0].item_factors_, fits[1].item_factors_)
    other = BiasedMF(n_factors=8, random_state=4).fit(data)
    assert not np.array_equal(fits[0].item_factors_, other.item_factors_)


@pytest.mark.skipif(not (ML100K / "u1.base").is_file(), reason="ML-100K is not downloaded")
def test_rmse_on_the_official_u1_fold() -> None:
    from reelflow.bench import mae, rmse
    from reelflow.data import load_movielens_fold

    train, test = load_movielens_fold(ML100K, "u1")
    model = BiasedMF(n_factors=20, n_epochs=8, reg=0.15, random_state=0).fit(train)
    predicted = model.predict(test.users.labels(test.user), test.items.labels(test.item))
    assert float(rmse(predicted, test.rating)) < 0.95
    assert float(mae(predicted, test.rating)) < 0.76
