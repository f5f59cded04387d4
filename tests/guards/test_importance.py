"""Feature importance: native gain, permutation, and the comparison with the previous champion."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

HERE = Path(__file__).parent
MODELS_TESTS = HERE.parent / "models"
if str(MODELS_TESTS) not in sys.path:
    sys.path.insert(0, str(MODELS_TESTS))

from conformance import structured_log  # noqa: E402

from reelflow._errors import GuardError  # noqa: E402
from reelflow.guards._importance import compare_importance, feature_importance  # noqa: E402
from reelflow.guards._result import json_safe  # noqa: E402
from reelflow.models import ItemKNN, LTRReranker  # noqa: E402

FAST_LGBM = {"n_estimators": 20, "num_leaves": 7, "n_jobs": 1, "verbose": -1}


def signal_data(n: int = 400, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Four features; ``signal`` drives y, ``weak`` a little, the rest is noise."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 4)), columns=["noise_a", "signal", "weak", "noise_b"])
    y = 3.0 * X["signal"].to_numpy() + 0.3 * X["weak"].to_numpy() + 0.1 * rng.normal(size=n)
    return X, y


def check_shares(shares: pd.Series, method: str) -> None:
    assert shares.name == method
    assert shares.sum() == pytest.approx(1.0)
    assert (shares >= 0).all()
    assert list(shares) == sorted(shares, reverse=True)


# --- feature_importance: native gain ---------------------------------------------------------


def test_lightgbm_regressor_gain_ranks_the_signal_first() -> None:
    from lightgbm import LGBMRegressor

    X, y = signal_data()
    shares = feature_importance(LGBMRegressor(**FAST_LGBM).fit(X, y))
    check_shares(shares, "gain")
    assert shares.index[0] == "signal" and shares["signal"] > 0.9
    assert set(shares.index) == set(X.columns)


def test_lightgbm_ranker_and_raw_booster_with_feature_names() -> None:
    import lightgbm
    from lightgbm import LGBMRanker

    rng = np.random.default_rng(1)
    X = rng.normal(size=(600, 3))
    labels = (X[:, 2] > 0.5).astype(int) + (X[:, 2] > 1.2).astype(int)
    ranker = LGBMRanker(objective="lambdarank", min_child_samples=5, **FAST_LGBM)
    ranker.fit(X, labels, group=[10] * 60)
    shares = feature_importance(ranker)
    check_shares(shares, "gain")
    assert shares.index[0] == "Column_2"  # LightGBM's own names for array columns
    named = feature_importance(ranker.booster_, feature_names=["a", "b", "relevant"])
    assert isinstance(ranker.booster_, lightgbm.Booster)
    assert named.index[0] == "relevant"
    assert named.to_numpy() == pytest.approx(shares.to_numpy())


def test_random_forest_uses_impurity_gain_and_names_array_columns() -> None:
    from sklearn.ensemble import RandomForestRegressor

    X, y = signal_data()
    forest = RandomForestRegressor(n_estimators=10, max_depth=4, random_state=0, n_jobs=1)
    shares = feature_importance(forest.fit(X, y))
    check_shares(shares, "gain")
    assert shares.index[0] == "signal"
    on_arrays = feature_importance(forest.fit(X.to_numpy(), y))
    assert on_arrays.index[0] == "x1" and set(on_arrays.index) == {"x0", "x1", "x2", "x3"}


def test_linear_model_falls_back_to_permutation_importance() -> None:
    from sklearn.linear_model import Ridge

    X, y = signal_data()
    model = Ridge(alpha=1.0).fit(X, y)
    shares = feature_importance(model, X, y, n_repeats=3)
    check_shares(shares, "permutation")
    assert list(shares.index[:2]) == ["signal", "weak"]
    again = feature_importance(model, X, y, method="permutation", n_repeats=3)
    pd.testing.assert_series_equal(shares, again)  # random_state=0: reproducible
    arrays = feature_importance(model.fit(X.to_numpy(), y), X.to_numpy(), y, n_repeats=3)
    assert arrays.index[0] == "x1"
    with pytest.raises(GuardError, match="pass X and y"):
        feature_importance(model)
    with pytest.raises(GuardError, match="no model-native gain"):
        feature_importance(model, X, y, method="gain")


def test_ltr_reranker_gain_is_named_by_its_features() -> None:
    model = LTRReranker(
        ItemKNN(k=20, shrinkage=5.0),
        n_candidates=30,
        lgbm_params={"n_estimators": 20, "num_leaves": 7, "min_child_samples": 5},
        random_state=0,
    )
    with pytest.raises(GuardError, match="not fitted"):
        feature_importance(model)
    shares = feature_importance(model.fit(structured_log()))
    check_shares(shares, "gain")
    assert set(shares.index) == set(model.features)


class FakeXGBBooster:
    feature_names = ["a", "b", "c"]

    def get_score(self, importance_type: str = "weight") -> dict[str, float]:
        assert importance_type == "gain"
        return {"a": 2.0, "c": 6.0}  # like XGBoost, features never split on are left out


class FakeXGBRegressor:
    def get_booster(self) -> FakeXGBBooster:
        return FakeXGBBooster()


FakeXGBRegressor.__module__ = "xgboost.sklearn"  # read like XGBoost, without installing it


def test_xgboost_gain_is_read_through_get_booster() -> None:
    shares = feature_importance(FakeXGBRegressor())
    assert shares.to_dict() == {"c": 0.75, "a": 0.25, "b": 0.0}


def test_given_importances_are_normalized_and_negatives_count_as_zero() -> None:
    shares = feature_importance({"a": 3.0, "b": -1.0, "c": 1.0})
    assert shares.to_dict() == {"a": 0.75, "c": 0.25, "b": 0.0}
    assert shares.name == "given"
    assert feature_importance(shares.rename("gain")).name == "gain"
    with pytest.raises(GuardError, match="used as they are"):
        feature_importance({"a": 1.0}, method="permutation")


# --- feature_importance: what cannot be computed ---------------------------------------------


def test_unfitted_models_give_a_guard_error() -> None:
    from lightgbm import LGBMRegressor
    from sklearn.ensemble import RandomForestRegressor

    X, y = signal_data(n=50)
    with pytest.raises(GuardError, match="fit it first"):
        feature_importance(LGBMRegressor())
    with pytest.raises(GuardError, match="permutation importance of RandomForestRegressor"):
        feature_importance(RandomForestRegressor(), X, y)


def test_a_model_that_uses_no_feature_gives_a_guard_error() -> None:
    from lightgbm import LGBMRegressor

    X, _ = signal_data(n=100)
    flat = LGBMRegressor(**FAST_LGBM).fit(X, np.ones(len(X)))  # nothing to split on
    with pytest.raises(GuardError, match="every gain importance is zero"):
        feature_importance(flat)


@pytest.mark.parametrize(
    ("given", "match"),
    [
        ({}, "empty"),
        ({"a": 0.0, "b": 0.0}, "every given importance is zero"),
        ({"a": 1.0, "b": float("nan")}, "importance of b is missing, NaN or infinite"),
        ({"a": 1.0, "b": None}, "importance of b is missing"),
        ({"a": "lots"}, "not all numbers"),
    ],
)
def test_unusable_importances_give_a_guard_error(given: dict[str, Any], match: str) -> None:
    with pytest.raises(GuardError, match=match):
        feature_importance(given)


def test_bad_arguments_give_a_guard_error() -> None:
    from sklearn.linear_model import Ridge

    X, y = signal_data(n=50)
    with pytest.raises(GuardError, match=r"method='shap'\) is invalid"):
        feature_importance({"a": 1.0}, method="shap")
    with pytest.raises(GuardError, match="feature_names has 2 name"):
        feature_importance({"a": 1.0, "b": 2.0, "c": 3.0}, feature_names=["x", "y"])
    with pytest.raises(GuardError, match="n_repeats=0"):
        feature_importance(Ridge().fit(X, y), X, y, n_repeats=0)


# --- compare_importance ----------------------------------------------------------------------


def by_name(results: list[Any]) -> dict[str, Any]:
    return {r.name.partition(":")[2]: r for r in results}


def test_identical_importances_pass_every_check() -> None:
    gains = {"a": 30.0, "b": 20.0, "c": 10.0}  # raw gains are turned into shares
    results = compare_importance(gains, {"a": 3.0, "b": 2.0, "c": 1.0})
    assert [r.name for r in results] == [
        "feature_importance:rank_correlation",
        "feature_importance:appeared",
        "feature_importance:vanished",
        "feature_importance:jumps",
    ]
    assert all(r.passed for r in results)
    found = by_name(results)
    assert found["rank_correlation"].value == 1.0
    assert found["jumps"].value == pytest.approx(0.0)
    assert found["rank_correlation"].details["plot"] == {
        "kind": "importance",
        "features": ["a", "b", "c"],
        "current": pytest.approx([0.5, 1 / 3, 1 / 6]),
        "previous": pytest.approx([0.5, 1 / 3, 1 / 6]),
    }


def test_one_swap_among_four_gives_rho_0_8() -> None:
    # d = (1, 1, 0, 0): rho = 1 - 6 * 2 / (4 * 15) = 0.8
    current = {"a": 0.4, "b": 0.3, "c": 0.2, "d": 0.1}
    previous = {"a": 0.3, "b": 0.4, "c": 0.2, "d": 0.1}
    rank = compare_importance(current, previous)[0]
    assert rank.value == pytest.approx(0.8) and rank.threshold == 0.7 and rank.passed
    strict = compare_importance(current, previous, min_rank_correlation=0.9)[0]
    assert not strict.passed and strict.blocking and "below 0.9" in strict.message


def test_reversed_ranking_fails_the_rank_correlation() -> None:
    results = by_name(compare_importance({"a": 5, "b": 3, "c": 2}, {"a": 2, "b": 3, "c": 5}))
    assert results["rank_correlation"].value == pytest.approx(-1.0)
    assert results["rank_correlation"].status == "failed"


def test_jumps_are_absolute_share_moves_largest_first() -> None:
    # changes: a +0.3, b -0.1, c -0.2; ranks (3, 2, 1) vs (1.5, 3, 1.5) give rho = 0
    results = by_name(
        compare_importance({"a": 0.6, "b": 0.3, "c": 0.1}, {"a": 0.3, "b": 0.4, "c": 0.3})
    )
    jumps = results["jumps"]
    assert not jumps.passed and jumps.severity == "block"
    assert jumps.value == pytest.approx(0.3) and jumps.threshold == 0.15
    assert jumps.details["features"] == ["a", "c"]
    assert jumps.details["changes"] == pytest.approx([0.3, -0.2])
    assert jumps.details["plot"]["previous"] == pytest.approx([0.3, 0.3])
    assert results["rank_correlation"].value == pytest.approx(0.0)


def test_a_move_of_exactly_max_jump_is_not_a_jump() -> None:
    jumps = compare_importance({"a": 0.5, "b": 0.5}, {"a": 0.35, "b": 0.65})[3]
    assert jumps.passed and jumps.value == pytest.approx(0.15)


def test_appeared_and_vanished_features_warn_by_default() -> None:
    current = {"a": 0.5, "b": 0.3, "e": 0.2}
    previous = {"a": 0.5, "b": 0.3, "d": 0.2}
    results = by_name(compare_importance(current, previous, top_k=3))
    assert results["appeared"].details["features"] == ["e"]
    assert results["vanished"].details["features"] == ["d"]
    for kind in ("appeared", "vanished"):
        assert results[kind].status == "warning" and results[kind].value == 1.0
    assert results["appeared"].details["plot"]["previous"] == [0.0]
    assert results["vanished"].details["plot"]["current"] == [0.0]
    assert results["rank_correlation"].value == pytest.approx(0.8)  # d = (0, 0, 1, 1)
    assert results["jumps"].details["features"] == ["e", "d"]
    assert "plot" not in by_name(compare_importance(current, current))["appeared"].details
    top2 = by_name(compare_importance(current, previous, top_k=2, membership_severity="block"))
    assert top2["appeared"].passed and top2["vanished"].passed
    blocking = compare_importance(current, previous, membership_severity="block")[1]
    assert blocking.blocking


def test_first_version_has_no_previous_champion() -> None:
    (result,) = compare_importance({"a": 3.0, "b": 1.0}, None)
    assert result.passed and result.name == "feature_importance"
    assert "no previous champion" in result.message
    assert result.details["plot"]["current"] == [0.75, 0.25]
    assert result.details["plot"]["previous"] is None


def test_details_are_json_safe_and_survive_a_record_round_trip() -> None:
    current = pd.Series({"a": np.float32(0.7), "b": np.float64(0.3)}, name="gain")
    for result in compare_importance(current, {"a": 0.2, "c": 0.8}, name="fi"):
        assert result.name.startswith("fi:")
        assert json_safe(result.details) == result.details
        record = json.loads(json.dumps(result.to_record()))
        assert record["details"]["plot"]["kind"] == "importance"


# --- compare_importance: edge cases ----------------------------------------------------------


def test_a_single_feature_correlates_perfectly() -> None:
    results = compare_importance({"only": 2.0}, {"only": 5.0})
    assert all(r.passed for r in results) and results[0].value == 1.0


def test_renamed_features_fail_with_a_hint() -> None:
    results = by_name(
        compare_importance({"watch_min": 0.7, "age": 0.3}, {"watch_minutes": 0.7, "age_years": 0.3})
    )
    rank = results["rank_correlation"]
    assert not rank.passed and "renamed" in rank.message
    assert rank.details["common_features"] == 0
    assert results["appeared"].details["features"] == ["watch_min", "age"]
    assert results["vanished"].details["features"] == ["watch_minutes", "age_years"]


def test_equal_shares_leave_the_rank_correlation_undefined() -> None:
    results = by_name(compare_importance({"a": 1.0, "b": 1.0}, {"a": 0.9, "b": 0.1}))
    assert results["rank_correlation"].passed and results["rank_correlation"].value is None
    assert "undefined" in results["rank_correlation"].message
    assert not results["jumps"].passed  # the shift is still caught


@pytest.mark.parametrize(
    ("current", "previous", "match"),
    [
        ({}, {"a": 1.0}, "current importances are empty"),
        ({"a": 1.0}, {"a": 0.0}, "every previous importance is zero"),
        ({"a": float("nan")}, {"a": 1.0}, "current importance of a is missing, NaN"),
        ([0.5, 0.5], {"a": 1.0}, "are a list; pass a mapping"),
    ],
)
def test_unusable_comparisons_give_a_guard_error(current: Any, previous: Any, match: str) -> None:
    with pytest.raises(GuardError, match=match):
        compare_importance(current, previous)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"top_k": 0}, "top_k=0"),
        ({"min_rank_correlation": 1.5}, "min_rank_correlation=1.5"),
        ({"max_jump": float("nan")}, "max_jump=nan"),
        ({"severity": "fatal"}, "severity 'fatal'"),
        ({"membership_severity": "info"}, "severity 'info'"),
        ({"name": ""}, "name=''"),
    ],
)
def test_invalid_options_give_a_guard_error(options: dict[str, Any], match: str) -> None:
    with pytest.raises(GuardError, match=match):
        compare_importance({"a": 1.0}, {"a": 1.0}, **options)
