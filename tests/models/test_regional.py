"""PerRegion: the conformance suite, routing by home region, the global fallback, persistence,
and per-region against global EASE on synthetic data with regional tastes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

HERE = Path(__file__).parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import conformance  # noqa: E402
from conformance import RecommenderConformance  # noqa: E402

from reelflow._errors import DataError, ModelError  # noqa: E402
from reelflow.data import Interactions  # noqa: E402
from reelflow.models._base import Recommender  # noqa: E402
from reelflow.models._baselines import MostPopular, Random  # noqa: E402
from reelflow.models._ease import EASE  # noqa: E402
from reelflow.models._regional import GLOBAL, PerRegion  # noqa: E402
from reelflow.models._topk import pad_value  # noqa: E402

_plain_log = conformance.structured_log
MODEL = EASE(l2=10.0)  # one instance: fit copies it, so params compare equal


def regional_log(*, string_ids: bool = False, seed: int = 0) -> Interactions:
    """The suite's structured log with a ``region`` per interaction: by user index, 2/5 of the
    users live in north, 2/5 in south (80 each) and 1/5 in west (40, under ``min_users=50``, so
    the global copy serves them); 10% of interactions are logged in a random region."""
    data = _plain_log(string_ids=string_ids, seed=seed)
    rng = np.random.default_rng(seed + 1)
    home = np.array(["north", "north", "south", "south", "west"])[data.user % 5]
    travel = rng.random(len(data)) < 0.1
    logged = np.where(travel, rng.choice(["north", "south", "west"], len(data)), home)
    return Interactions(data.users, data.items, data.user, data.item, context={"region": logged})


class TestPerRegion(RecommenderConformance):
    bad_params = {"model": "ease", "by": "", "min_users": 0, "random_state": -1}

    def make_model(self) -> Recommender:
        return PerRegion(MODEL, min_users=50, random_state=0)

    @pytest.fixture(scope="class")
    @classmethod
    def data(cls) -> Interactions:
        return regional_log()

    @pytest.fixture(autouse=True)
    def _regional_logs(self, monkeypatch: pytest.MonkeyPatch) -> None:
        # the suite's own tests build logs with structured_log(), which has no context column
        monkeypatch.setattr(conformance, "structured_log", regional_log)

    @pytest.mark.parametrize("string_ids", [False, True])
    def test_save_load_round_trip(self, tmp_path: Path, string_ids: bool) -> None:
        # the suite's version compares params.json with get_params(), but model is a model
        # object, rebuilt from a saved copy; the rest of the check is the same
        data = regional_log(string_ids=string_ids)
        model = self.make_model().fit(data)
        model.save(tmp_path / "model")
        meta = json.loads((tmp_path / "model" / "params.json").read_text())
        assert meta["params"]["model"] == {"saved_in": "region-0"}
        assert {p.name for p in (tmp_path / "model").iterdir() if p.is_dir()} == {
            "region-0",
            "region-1",
            "global",
        }
        for loaded in (PerRegion.load(tmp_path / "model"), Recommender.load(tmp_path / "model")):
            assert isinstance(loaded, PerRegion)
            assert repr(loaded) == repr(model)
            assert loaded.users_ == model.users_ and loaded.items_ == model.items_
            assert type(loaded.items_.ids[0]) is type(model.items_.ids[0])
            np.testing.assert_array_equal(loaded.route_, model.route_)
            ours, theirs = (m.recommend(data.users.ids, k=10) for m in (model, loaded))
            np.testing.assert_array_equal(ours.items, theirs.items)
            np.testing.assert_array_equal(ours.scores, theirs.scores)

    def test_k_larger_than_the_catalogue_pads(
        self, fitted: Recommender, data: Interactions
    ) -> None:
        # the suite expects every unseen item in a long list; a region's copy ranks only its
        # own catalogue (the items its users interacted with), so a list holds those unseen
        assert isinstance(fitted, PerRegion)
        users = data.users.ids[:5]
        k = data.n_items + 5
        recs = fitted.recommend(users, k=k)
        seen = np.diff(data.csr(binary=True).indptr)[:5]
        catalogue = [len(_model_of(fitted, u).items_) for u in users]
        np.testing.assert_array_equal(recs.valid.sum(axis=1), np.array(catalogue) - seen)
        assert (recs.scores[~recs.valid] == -np.inf).all()
        assert all(v == pad_value(recs.items.dtype) for v in recs.items[~recs.valid])


def _model_of(model: PerRegion, user: object) -> Recommender:
    route = int(model.route_[model.users_.indices([user])[0]])
    served = model.global_model_ if route == GLOBAL else model.region_models_[route]
    assert served is not None
    return served


# --- routing -------------------------------------------------------------------------------------


def two_regions(n_a: int = 80, n_b: int = 40, seed: int = 0) -> Interactions:
    """Users of region "a" favour items 0-9, users of "b" items 10-19; everyone also meets two
    items of the whole catalogue (0-29), so both region catalogues hold every item. Region a
    has more users, so the global favourites are a's. User 0 logs a third of their
    interactions in "b", and stays an "a" user."""
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(n_a + n_b):
        region, first = ("a", 0) if user < n_a else ("b", 10)
        rows += [(user, first + int(i), region) for i in rng.choice(10, 6, replace=False)]
        rows += [(user, int(i), region) for i in rng.choice(30, 2, replace=False)]
    rows += [(0, 20 + i, "b") for i in range(3)]
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "region"])
    return Interactions.from_pandas(
        frame.drop_duplicates(["user_id", "item_id"]), context=["region"]
    )


def test_users_are_routed_to_their_regions_model() -> None:
    data = two_regions()
    model = PerRegion(MostPopular(), min_users=10).fit(data)
    assert model.regions_.tolist() == ["a", "b"]
    assert model.region_users_.tolist() == [80, 40]
    assert model.global_model_ is None  # every user has a region with its own copy
    np.testing.assert_array_equal(model.route_, np.repeat([0, 1], [80, 40]))
    recs = model.recommend(data.users.ids, k=3, exclude_seen=False)
    assert np.isin(recs.items[:80], np.arange(10)).all()
    assert np.isin(recs.items[80:], np.arange(10, 20)).all()
    glob = MostPopular().fit(data).recommend(data.users.ids[80:], k=3, exclude_seen=False)
    assert np.isin(glob.items, np.arange(10)).all()  # one global model gives b users a's items
    for route, users in ((0, data.users.ids[:80]), (1, data.users.ids[80:])):
        alone = model.region_models_[route].recommend(users, k=3)
        np.testing.assert_array_equal(model.recommend(users, k=3).items, alone.items)
    shuffled = data.users.ids[::-7]  # input order is kept whatever the grouping
    np.testing.assert_array_equal(
        model.recommend(shuffled, k=3, exclude_seen=False).items,
        recs.items[data.users.indices(shuffled)],
    )


def test_home_region_is_the_most_frequent_with_ties_to_the_first_value() -> None:
    frame = pd.DataFrame(
        {
            "user_id": [0, 0, 0, 1, 1, 2, 2, 3],
            "item_id": [0, 1, 2, 0, 1, 1, 2, 0],
            "region": ["b", "b", "a", "b", "a", None, None, "c"],
        }
    )
    data = Interactions.from_pandas(frame, context=["region"])
    model = PerRegion(MostPopular(), min_users=1).fit(data)
    assert model.regions_.tolist() == ["a", "b", "c"]
    assert model.user_region_.tolist() == [1, 0, -1, 2]  # b; a-b tie: a; no region; c
    assert model.route_.tolist() == [1, 0, GLOBAL, 2]
    assert model.global_model_ is not None  # user 2 has no region


def test_small_regions_fall_back_to_the_global_model() -> None:
    data = two_regions(n_a=80, n_b=8)
    model = PerRegion(MostPopular(), min_users=10).fit(data)
    assert list(model.region_models_) == [0]
    assert (model.route_[80:] == GLOBAL).all() and (model.route_[:80] == 0).all()
    assert model.global_model_ is not None
    assert len(model.global_model_.users_) == 88  # fitted on all the data
    users = data.users.ids[80:]
    np.testing.assert_array_equal(
        model.recommend(users, k=5).items, model.global_model_.recommend(users, k=5).items
    )
    region_a = model.region_models_[0]
    assert len(region_a.users_) == 80  # the copy of a sees only a's users


def test_items_outside_a_regions_catalogue_are_never_recommended_and_score_minus_inf() -> None:
    frame = pd.DataFrame(
        {
            "user_id": [0, 0, 1, 1, 2, 2, 3, 3],
            "item_id": [0, 1, 0, 2, 5, 6, 5, 7],
            "region": ["a"] * 4 + ["b"] * 4,
        }
    )
    data = Interactions.from_pandas(frame, context=["region"])
    model = PerRegion(MostPopular(), min_users=1).fit(data)
    recs = model.recommend([0, 2], k=6)
    assert recs.to_lists() == [[2], [7]]  # a knows 0, 1, 2; b knows 5, 6, 7
    assert (recs.items[:, 1:] == -1).all()
    scores = model.score([0, 0, 2, 2], [2, 5, 7, 0])
    assert scores[0] == 1.0 and scores[2] == 1.0
    assert scores[1] == -np.inf and scores[3] == -np.inf
    assert model.recommend([0], k=3, items=[5, 6, 7]).to_lists() == [[]]
    assert model.recommend([0, 2], k=3, items=[2, 6]).to_lists() == [[2], []]


def test_unknown_users_get_their_context_regions_popular_items() -> None:
    data = two_regions()
    model = PerRegion(MostPopular(), min_users=10).fit(data)
    recs = model.recommend(
        [-1, -2, -3], k=3, unknown_users="popular", context=["b", "nowhere", "a"]
    )
    counts = np.bincount(data.item, minlength=data.n_items)
    b_counts = np.bincount(data.item[data.user >= 80], minlength=data.n_items)
    np.testing.assert_array_equal(recs.scores[0], np.sort(b_counts)[::-1][:3])
    assert np.isin(recs.items[0], np.arange(10, 20)).all()
    np.testing.assert_array_equal(recs.scores[1], np.sort(counts)[::-1][:3])  # global
    assert np.isin(recs.items[2], np.arange(10)).all()
    known = model.recommend([81], k=3, context=["a"])  # known users keep their home region
    np.testing.assert_array_equal(known.items, model.recommend([81], k=3).items)
    with pytest.raises(ModelError, match="one region per user"):
        model.recommend([0, 1], context=["a"])


def test_bad_data_and_models_are_rejected() -> None:
    with pytest.raises(DataError, match="no context column 'region'"):
        PerRegion(MostPopular()).fit(_plain_log())
    with pytest.raises(ModelError, match="without context="):
        PerRegion(MostPopular(by="region")).fit(two_regions())
    with pytest.raises(ModelError, match=r"load it with PerRegion.load"):
        PerRegion({"saved_in": "global"}).fit(two_regions())  # type: ignore[arg-type]


def test_score_batch_matches_score_so_it_can_feed_a_reranker() -> None:
    data = regional_log()
    model = PerRegion(MODEL, min_users=50).fit(data)
    users = np.arange(0, 200, 3)
    block = model._score_batch(users, None)
    items = np.tile(np.arange(data.n_items), len(users))
    pairs = model.score(np.repeat(users, data.n_items), items).reshape(block.shape)
    np.testing.assert_allclose(block, pairs, rtol=1e-5, atol=1e-6)
    assert np.isinf(block).any()  # items outside a region's catalogue


def test_a_reranker_can_take_per_region_candidates(tmp_path: Path) -> None:
    from reelflow.models._rerank import LTRReranker

    data = regional_log()
    small = {"n_estimators": 20, "num_leaves": 7, "min_child_samples": 5}
    model = LTRReranker(PerRegion(MODEL), n_candidates=10, lgbm_params=small, random_state=0)
    users = data.users.ids[:20]
    recs = model.fit(data).recommend(users, k=10)
    candidates = model.candidate_
    assert isinstance(candidates, PerRegion)
    for user, row in zip(users, recs.items, strict=True):  # candidates: the region's catalogue
        assert np.isin(row, _model_of(candidates, user).items_.ids).all()
    loaded = Recommender.load(model.save(tmp_path / "m"))
    np.testing.assert_array_equal(loaded.recommend(users, k=10).items, recs.items)


def test_random_state_seeds_each_copy_and_leaves_the_model_alone(tmp_path: Path) -> None:
    template = Random()
    data = regional_log()
    model = PerRegion(template, min_users=50, random_state=7).fit(data)
    seeds = [m.get_params()["random_state"] for m in model.region_models_.values()]
    assert model.global_model_ is not None
    seeds.append(model.global_model_.get_params()["random_state"])
    assert len(set(seeds)) == 3 and None not in seeds
    assert template.get_params() == {"random_state": None} and not hasattr(template, "users_")
    again = PerRegion(Random(), min_users=50, random_state=7).fit(data)
    users = data.users.ids
    np.testing.assert_array_equal(model.recommend(users).items, again.recommend(users).items)
    loaded = PerRegion.load(model.save(tmp_path / "m"))
    assert loaded.model.get_params() == {"random_state": None}  # the template, not a copy's
    np.testing.assert_array_equal(loaded.recommend(users).items, model.recommend(users).items)


def test_exported_from_the_package() -> None:
    import reelflow.models

    assert reelflow.models.PerRegion is PerRegion
    assert "PerRegion" in reelflow.models.__all__


# --- per-region against global, measured ---------------------------------------------------------


def test_per_region_and_global_ease_on_synthetic_regional_tastes() -> None:
    """Regions whose tastes differ (generate_interactions draws a taste offset per region):
    both models are measured the same way; which one wins is printed, not asserted."""
    from reelflow.bench import ndcg_at_k
    from reelflow.data import generate_interactions, per_user_holdout

    log = generate_interactions(3000, 400, 60_000, n_regions=3, seed=3)
    train, test = per_user_holdout(log.interactions, 0.2, seed=0)
    relevant = test.csr(binary=True)
    users = np.flatnonzero(np.diff(relevant.indptr) > 0)
    per_region = PerRegion(EASE(l2=200.0), min_users=50).fit(train)
    assert len(per_region.region_models_) == 3  # each region is big enough for its own copy
    homes = per_region.regions_[per_region.user_region_[users]]
    truth = log.users["region"].to_numpy()[users]
    assert (homes == truth).all()  # the learned home region is the generator's
    scores = {}
    for name, model in (("per-region", per_region), ("global", EASE(l2=200.0).fit(train))):
        recs = model.recommend(train.users.labels(users), k=10)
        items = train.items.indices(recs.items.ravel(), missing=-1).reshape(recs.items.shape)
        items[~recs.valid] = -1
        scores[name] = ndcg_at_k(items, relevant, 10, users=users).mean
    print(f"NDCG@10 per-region EASE {scores['per-region']:.4f}, global {scores['global']:.4f}")
    assert all(0.0 < value < 1.0 for value in scores.values())
