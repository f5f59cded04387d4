"""The conformance suite every recommender must pass (like scikit-learn's ``check_estimator``).

Mix :class:`RecommenderConformance` into a ``Test...`` class and define ``make_model()``
(return a fresh, unfitted model; seed it when it is stochastic) and ``bad_params`` (parameter
values ``fit`` must reject)::

    class TestEASE(RecommenderConformance):
        bad_params = {"l2": -1.0}

        def make_model(self) -> Recommender:
            return EASE(l2=10.0)
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest

from reelflow._errors import DataError, ModelError, NotFittedError
from reelflow.data import IdIndex, Interactions
from reelflow.models._base import Recommender
from reelflow.models._topk import pad_value


def structured_log(*, string_ids: bool = False, seed: int = 0) -> Interactions:
    """200 users x 100 items in 5 taste clusters (80% in-cluster picks), popularity-skewed."""
    rng = np.random.default_rng(seed)
    n_users, n_items, clusters = 200, 100, 5
    per_cluster = n_items // clusters
    weights = 1.0 / np.arange(1, per_cluster + 1)
    rows = []
    for user in range(n_users):
        cluster = user % clusters
        n = int(rng.integers(8, 20))
        home = cluster * per_cluster + rng.choice(per_cluster, n, p=weights / weights.sum())
        away = rng.integers(0, n_items, n)
        rows += [(user, int(i)) for i in np.where(rng.random(n) < 0.8, home, away)]
    frame = pd.DataFrame(rows, columns=["user_id", "item_id"])
    if string_ids:
        frame["user_id"] = "u" + frame["user_id"].astype(str)
        frame["item_id"] = "i" + frame["item_id"].astype(str)
    return Interactions.from_pandas(frame)


class RecommenderConformance:
    """Contract tests; a subclass supplies ``make_model`` and ``bad_params``."""

    bad_params: ClassVar[dict[str, Any]] = {}
    _not_a_policy: Any = "ignore"

    def make_model(self) -> Recommender:
        raise NotImplementedError

    @pytest.fixture(scope="class")
    @classmethod
    def data(cls) -> Interactions:
        return structured_log()

    @pytest.fixture
    def fitted(self, data: Interactions) -> Recommender:
        return self.make_model().fit(data)

    # --- parameters --------------------------------------------------------------------------

    def test_init_only_stores_its_arguments(self) -> None:
        model = self.make_model()
        names = [p for p in inspect.signature(type(model).__init__).parameters if p != "self"]
        assert sorted(vars(model)) == sorted(names)
        assert list(model.get_params()) == names

    def test_params_round_trip(self) -> None:
        model = self.make_model()
        params = model.get_params()
        clone = type(model)(**params)
        assert clone.get_params() == params
        assert model.set_params(**params) is model
        assert repr(clone) == repr(model)

    def test_unknown_param_is_rejected_with_the_valid_names(self) -> None:
        model = self.make_model()
        with pytest.raises(ModelError, match="no parameter 'nope'") as caught:
            model.set_params(nope=1)
        for name in model.get_params():
            assert name in str(caught.value)

    def test_bad_params_are_rejected_by_fit(self, data: Interactions) -> None:
        for name, value in self.bad_params.items():
            model = self.make_model().set_params(**{name: value})  # stored, not checked
            with pytest.raises(ModelError, match=name):
                model.fit(data)

    # --- fitting -----------------------------------------------------------------------------

    def test_fit_returns_self_and_learned_state_ends_in_underscore(
        self, data: Interactions
    ) -> None:
        model = self.make_model()
        before = set(vars(model))
        assert model.fit(data) is model
        assert all(name.endswith("_") for name in set(vars(model)) - before)
        assert model.get_params() == self.make_model().get_params()

    def test_use_before_fit_raises(self, data: Interactions, tmp_path: Path) -> None:
        model = self.make_model()
        first_user, first_item = data.users.ids[:1], data.items.ids[:1]
        with pytest.raises(NotFittedError, match="call fit"):
            model.recommend(first_user)
        with pytest.raises(NotFittedError, match="call fit"):
            model.score(first_user, first_item)
        with pytest.raises(NotFittedError, match="call fit"):
            model.save(tmp_path / "m")

    def test_empty_data_is_rejected(self) -> None:
        empty = np.empty(0, dtype=np.int32)
        data = Interactions(IdIndex(np.arange(3)), IdIndex(np.arange(4)), empty, empty)
        with pytest.raises(DataError, match="no interactions"):
            self.make_model().fit(data)

    def test_fitting_twice_with_the_same_seed_gives_the_same_output(
        self, data: Interactions
    ) -> None:
        users = data.users.ids
        first = self.make_model().fit(data).recommend(users, k=10)
        second = self.make_model().fit(data).recommend(users, k=10)
        np.testing.assert_array_equal(first.items, second.items)
        np.testing.assert_array_equal(first.scores, second.scores)

    # --- recommending ------------------------------------------------------------------------

    def test_recommend_shapes_and_dtypes(self, fitted: Recommender, data: Interactions) -> None:
        users = data.users.ids[:17]
        items, scores = fitted.recommend(users, k=7)
        assert items.shape == scores.shape == (17, 7)
        assert items.dtype == data.items.ids.dtype
        assert scores.dtype == np.float32
        assert np.isfinite(scores).all()
        assert (np.diff(scores, axis=1) <= 0).all(), "rows are not sorted best first"
        assert all(len(set(row)) == 7 for row in items.tolist())
        assert np.isin(items, data.items.ids).all()

    def test_no_seen_item_is_ever_recommended(
        self, fitted: Recommender, data: Interactions
    ) -> None:
        recs = fitted.recommend(data.users.ids, k=30)
        seen = data.csr(binary=True).toarray() > 0
        idx = data.items.indices(recs.items.ravel()).reshape(recs.items.shape)
        assert not np.take_along_axis(seen, idx, axis=1).any()

    def test_batch_size_does_not_change_the_answer(
        self, fitted: Recommender, data: Interactions
    ) -> None:
        whole = fitted.recommend(data.users.ids, k=10)
        batched = fitted.recommend(data.users.ids, k=10, batch_size=7)
        # BLAS may round differently for another batch shape, which can swap near-ties only
        np.testing.assert_allclose(whole.scores, batched.scores, rtol=1e-5, atol=1e-6)
        assert (whole.items == batched.items).mean() > 0.99

    def test_k_larger_than_the_catalogue_pads(
        self, fitted: Recommender, data: Interactions
    ) -> None:
        k = data.n_items + 5
        recs = fitted.recommend(data.users.ids[:5], k=k)
        assert recs.items.shape == (5, k)
        left = data.n_items - np.diff(data.csr(binary=True).indptr)[:5]
        np.testing.assert_array_equal(recs.valid.sum(axis=1), left)
        assert (recs.scores[~recs.valid] == -np.inf).all()
        assert all(v == pad_value(recs.items.dtype) for v in recs.items[~recs.valid])
        assert [len(row) for row in recs.to_lists()] == left.tolist()

    def test_candidate_subset_is_respected(self, fitted: Recommender, data: Interactions) -> None:
        subset = data.items.ids[::3]
        recs = fitted.recommend(data.users.ids, k=len(subset), items=subset)
        assert np.isin(recs.items[recs.valid], subset).all()
        with pytest.raises(DataError, match="unknown items"):
            fitted.recommend(data.users.ids[:1], items=["no-such-item"])

    def test_bad_k_is_rejected(self, fitted: Recommender, data: Interactions) -> None:
        with pytest.raises(ModelError, match="k=0"):
            fitted.recommend(data.users.ids[:1], k=0)

    def test_unknown_users_raise_by_default(self, fitted: Recommender, data: Interactions) -> None:
        users = [data.users.ids[0], -999, -998, -997, -996]
        with pytest.raises(DataError, match=r"-999, -998, -997\] \(and 1 more\)"):
            fitted.recommend(users)

    def test_unknown_users_can_get_popular_items(
        self, fitted: Recommender, data: Interactions
    ) -> None:
        known = data.users.ids[:3]
        recs = fitted.recommend([*known, -999], k=5, unknown_users="popular")
        np.testing.assert_array_equal(recs.items[:3], fitted.recommend(known, k=5).items)
        counts = np.bincount(data.item, minlength=data.n_items)
        np.testing.assert_array_equal(np.sort(counts)[::-1][:5], recs.scores[3])
        with pytest.raises(ModelError, match="unknown_users"):
            fitted.recommend(known, unknown_users=self._not_a_policy)

    # --- scoring -----------------------------------------------------------------------------

    def test_score_agrees_with_recommend(self, fitted: Recommender, data: Interactions) -> None:
        users = data.users.ids[:20]
        recs = fitted.recommend(users, k=3)
        pairs = fitted.score(np.repeat(users, 3), recs.items.ravel())
        assert pairs.dtype == np.float32
        np.testing.assert_allclose(pairs, recs.scores.ravel(), rtol=1e-5, atol=1e-6)

    def test_score_rejects_unknown_ids_and_misaligned_pairs(
        self, fitted: Recommender, data: Interactions
    ) -> None:
        user, item = data.users.ids[:1], data.items.ids[:1]
        with pytest.raises(DataError, match="unknown items"):
            fitted.score(user, ["no-such-item"])
        with pytest.raises(DataError, match="unknown users"):
            fitted.score([-1], item)
        with pytest.raises(ModelError, match="aligned"):
            fitted.score(data.users.ids[:2], item)

    # --- ids and persistence -----------------------------------------------------------------

    def test_string_ids_work(self) -> None:
        data = structured_log(string_ids=True)
        model = self.make_model().fit(data)
        recs = model.recommend(["u0", "u1"], k=5)
        assert recs.items.dtype == object
        assert all(isinstance(v, str) and v.startswith("i") for v in recs.items.ravel())

    @pytest.mark.parametrize("string_ids", [False, True])
    def test_save_load_round_trip(self, tmp_path: Path, string_ids: bool) -> None:
        data = structured_log(string_ids=string_ids)
        model = self.make_model().fit(data)
        model.save(tmp_path / "model")
        meta = json.loads((tmp_path / "model" / "params.json").read_text())
        assert meta["class"] == type(model).__name__
        assert meta["params"] == model.get_params()
        for loaded in (type(model).load(tmp_path / "model"), Recommender.load(tmp_path / "model")):
            assert type(loaded) is type(model)
            assert loaded.users_ == model.users_ and loaded.items_ == model.items_
            assert type(loaded.items_.ids[0]) is type(model.items_.ids[0])
            ours, theirs = (
                model.recommend(data.users.ids, k=10),
                loaded.recommend(data.users.ids, k=10),
            )
            np.testing.assert_array_equal(ours.items, theirs.items)
            np.testing.assert_array_equal(ours.scores, theirs.scores)

    def test_loading_another_class_is_rejected(self, fitted: Recommender, tmp_path: Path) -> None:
        from reelflow.models._baselines import MostPopular, Random

        fitted.save(tmp_path / "model")
        other = MostPopular if isinstance(fitted, Random) else Random
        with pytest.raises(ModelError, match=f"holds a {type(fitted).__name__}"):
            other.load(tmp_path / "model")
