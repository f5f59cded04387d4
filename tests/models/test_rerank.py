"""LTRReranker: the conformance suite, its save format, and NDCG@10 against its candidates."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

HERE = Path(__file__).parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from conformance import RecommenderConformance, structured_log  # noqa: E402

from reelflow._errors import ModelError  # noqa: E402
from reelflow.models._base import Recommender  # noqa: E402
from reelflow.models._baselines import MostPopular  # noqa: E402
from reelflow.models._knn import ItemKNN  # noqa: E402
from reelflow.models._rerank import LTRReranker  # noqa: E402

ML100K = Path(__file__).resolve().parents[3] / "shared/data/movielens-100k/ml-100k/u.data"
SMALL = {"n_estimators": 20, "num_leaves": 7, "min_child_samples": 5}
CANDIDATES = ItemKNN(k=20, shrinkage=5.0)  # one instance: fit copies it, so params compare equal


class TestLTRReranker(RecommenderConformance):
    bad_params = {
        "candidate_model": "itemknn",
        "n_candidates": 0,
        "features": ("score", "nope"),
        "split": "sideways",
        "holdout": 1.0,
        "lgbm_params": [1],
        "random_state": -1,
        "feature_source": "duckdb",
    }

    def make_model(self) -> Recommender:
        return LTRReranker(CANDIDATES, n_candidates=30, lgbm_params=SMALL, random_state=0)

    @pytest.mark.parametrize("string_ids", [False, True])
    def test_save_load_round_trip(self, tmp_path: Path, string_ids: bool) -> None:
        # the suite's version compares params.json with get_params(), but candidate_model is a
        # model object, saved in its own subfolder; the rest of the check is the same
        data = structured_log(string_ids=string_ids)
        model = self.make_model().fit(data)
        model.save(tmp_path / "model")
        meta = json.loads((tmp_path / "model" / "params.json").read_text())
        assert meta["params"]["candidate_model"] == {"candidate": "candidate"}
        assert (tmp_path / "model" / "candidate" / "params.json").is_file()
        loaded = LTRReranker.load(tmp_path / "model")
        theirs_params, ours_params = loaded.get_params(), model.get_params()
        assert repr(theirs_params.pop("candidate_model")) == repr(
            ours_params.pop("candidate_model")
        )
        assert theirs_params == ours_params
        assert type(loaded.items_.ids[0]) is type(model.items_.ids[0])
        ours, theirs = (m.recommend(data.users.ids, k=10) for m in (model, loaded))
        np.testing.assert_array_equal(ours.items, theirs.items)
        np.testing.assert_array_equal(ours.scores, theirs.scores)


def test_the_candidate_model_is_not_fitted_in_place() -> None:
    candidates = MostPopular()
    LTRReranker(candidates, n_candidates=20, lgbm_params=SMALL, random_state=0).fit(
        structured_log()
    )
    assert not hasattr(candidates, "users_")


def test_recommender_load_reads_a_reranker_through_its_own_loader(tmp_path: Path) -> None:
    data = structured_log()
    model = LTRReranker(MostPopular(), n_candidates=20, lgbm_params=SMALL, random_state=0)
    model.fit(data).save(tmp_path / "m")
    loaded = Recommender.load(tmp_path / "m")
    assert isinstance(loaded, LTRReranker)
    users = data.users.ids[:20]
    np.testing.assert_array_equal(
        loaded.recommend(users, k=5).items, model.recommend(users, k=5).items
    )


def test_items_outside_the_candidates_rank_after_them() -> None:
    data = structured_log()
    model = LTRReranker(ItemKNN(k=20), n_candidates=5, lgbm_params=SMALL, random_state=0)
    recs = model.fit(data).recommend(data.users.ids[:10], k=20)
    first = model.candidate_.recommend(data.users.ids[:10], k=5)
    for ours, theirs in zip(recs.items, first.items, strict=True):
        assert set(ours[:5]) == set(theirs)


def test_blocks_bound_memory_without_changing_the_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    import reelflow.models._rerank as rerank

    data = structured_log()
    users = data.users.ids[:40]
    whole = LTRReranker(ItemKNN(k=20), n_candidates=20, lgbm_params=SMALL, random_state=0)
    expected = whole.fit(data).recommend(users, k=10)
    width = data.n_items + data.n_users  # user_knn is a default feature
    monkeypatch.setattr(rerank, "MEMORY_BUDGET", 3 * rerank._BLOCK_CELL_BYTES * width)
    blocked = LTRReranker(ItemKNN(k=20), n_candidates=20, lgbm_params=SMALL, random_state=0)
    blocked.fit(data)
    assert [len(b) for b in blocked._blocks(np.arange(7))] == [3, 3, 1]
    got = blocked.recommend(users, k=10)
    np.testing.assert_array_equal(got.items, expected.items)
    np.testing.assert_allclose(got.scores, expected.scores, rtol=1e-6)


def test_user_knn_reads_a_fixed_sample_of_voters_beyond_max_voters(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import reelflow.models._rerank as rerank

    data = structured_log()
    monkeypatch.setattr(rerank, "MAX_VOTERS", data.n_users // 2)
    model = LTRReranker(MostPopular(), n_candidates=10, lgbm_params=SMALL, random_state=0)
    model.fit(data)
    voters = rerank._voters(data.n_users)
    assert voters is not None and len(voters) == data.n_users // 2
    np.testing.assert_array_equal(voters, rerank._voters(data.n_users))  # the same every time
    users = np.arange(12)
    positions = model._candidates(users)[0]
    seen = model.seen_.toarray().astype(np.float64)
    norms = np.sqrt(np.maximum(seen.sum(axis=1), 1))
    expected = []
    for row, user in enumerate(users):  # brute force: only sampled voters, never oneself
        weights = np.zeros(data.n_users)
        weights[voters] = (seen[voters] @ seen[user]) / (norms[voters] * norms[user])
        weights[user] = 0.0
        votes = weights @ seen
        expected.append(votes[np.maximum(positions[row], 0)] / max(votes.max(), 1e-12))
    np.testing.assert_allclose(model._user_knn(users, positions), expected, rtol=1e-5)


class _Source:
    """A feature source that records what it was given: activity per user, a constant per item
    (and one item it does not know, to show missing rows become NaN)."""

    def __init__(self) -> None:
        self.seen: list[int] = []

    def __call__(self, data: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
        self.seen.append(len(data))
        users = pd.DataFrame({"user_id": data.users.ids, "as_of": 0})
        users["activity"] = np.bincount(data.user, minlength=data.n_users)
        items = pd.DataFrame({"item_id": data.items.ids[1:], "const": 1.0})
        return users, pa.Table.from_pandas(items)


def test_a_feature_source_feeds_the_ranker_without_seeing_the_held_out_part(
    tmp_path: Path,
) -> None:
    data = structured_log()
    source = _Source()
    model = LTRReranker(
        ItemKNN(k=20), n_candidates=30, lgbm_params=SMALL, random_state=0, feature_source=source
    ).fit(data)
    assert source.seen[0] < len(data) and source.seen[1:] == [len(data)]
    assert list(model.side_names_) == ["user:activity", "item:const"]
    np.testing.assert_array_equal(model.user_x_[:, 0], np.bincount(data.user))
    assert np.isnan(model.item_x_[0, 0]) and (model.item_x_[1:, 0] == 1.0).all()
    assert model.ranker_.num_feature() == len(model.features) + 2

    model.save(tmp_path / "m")
    loaded = LTRReranker.load(tmp_path / "m")
    assert loaded.feature_source is None  # the tables travel, the callable does not
    users = data.users.ids[:20]
    np.testing.assert_array_equal(
        loaded.recommend(users, k=10).items, model.recommend(users, k=10).items
    )


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (lambda d: (pd.DataFrame({"who": [1]}), pd.DataFrame({"item_id": [1]})), "no 'user_id'"),
        (
            lambda d: (
                pd.DataFrame({"user_id": [1], "tier": ["gold"]}),
                pd.DataFrame({"item_id": [1]}),
            ),
            "column 'tier' is not numeric",
        ),
    ],
)
def test_a_bad_feature_table_is_a_clear_error(source: Any, message: str) -> None:
    model = LTRReranker(MostPopular(), n_candidates=5, lgbm_params=SMALL, feature_source=source)
    with pytest.raises(ModelError, match=message):
        model.fit(structured_log())


@pytest.mark.skipif(not ML100K.is_file(), reason="ML-100K is not downloaded")
@pytest.mark.parametrize("candidates", [MostPopular(), ItemKNN()])
def test_reranking_beats_its_candidates_on_ml100k(candidates: Recommender) -> None:
    from reelflow.bench import ndcg_at_k
    from reelflow.data import load_movielens, per_user_holdout

    train, test = per_user_holdout(load_movielens(ML100K.parent).interactions, 0.2, seed=42)
    users = train.users.ids
    relevant = test.csr(binary=True)
    base = type(candidates)(**candidates.get_params()).fit(train)
    reranker = LTRReranker(candidates, n_candidates=50, random_state=0).fit(train)
    scores = [
        ndcg_at_k(
            train.items.indices(m.recommend(users, k=10).items.ravel()).reshape(-1, 10), relevant
        ).mean
        for m in (base, reranker)
    ]
    assert scores[1] > scores[0], scores
