"""Expectations against a reference: row ratio, null rates, categories, distribution shift (via
``column_drift``), and every kind of bad input answered with a result or a one-line GuardError."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as arrow
import pytest

from reelflow._errors import GuardError
from reelflow.guards import GuardResult, expect_like_reference


def _reference(n: int = 2_000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.normal(40, 10, n),
            "genre": rng.choice(["drama", "comedy", "horror"], n),
            "clicks": rng.poisson(3, n),
            "premium": rng.random(n) < 0.3,
            "seen_at": pd.Timestamp("2024-01-01")
            + pd.to_timedelta(rng.integers(0, 2_592_000, n), "s"),
        }
    )


def _current(**changes: Any) -> pd.DataFrame:
    frame = _reference(seed=1)
    for column, values in changes.items():
        frame[column] = values
    return frame


def _by_name(results: list[GuardResult]) -> dict[str, GuardResult]:
    return {r.name: r for r in results}


def _checks(results: list[GuardResult]) -> dict[str, GuardResult]:
    """Results without drift (which another module computes)."""
    return {r.name: r for r in results if not r.name.startswith("drift:")}


def _one_line(error: pytest.ExceptionInfo[GuardError]) -> str:
    text = str(error.value)
    assert "\n" not in text and text
    return text


# --- like the reference ------------------------------------------------------------------------


def test_a_sample_like_the_reference_passes_and_each_check_is_named() -> None:
    results = expect_like_reference(_current(), _reference(), distribution=False)
    assert all(r.passed for r in results), [r.summary() for r in results if not r.passed]
    assert list(_by_name(results)) == [
        "expect:rows",
        "expect:age:nulls",
        "expect:genre:nulls",
        "expect:genre:new_categories",
        "expect:genre:missing_categories",
        "expect:clicks:nulls",
        "expect:premium:nulls",
        "expect:premium:new_categories",
        "expect:premium:missing_categories",
        "expect:seen_at:nulls",
    ]
    for result in results:
        json.dumps(result.to_record(), allow_nan=False)


def test_row_ratio() -> None:
    ref = _reference()
    few = _by_name(expect_like_reference(ref.head(500), ref, distribution=False))["expect:rows"]
    assert (few.passed, few.value, few.threshold) == (False, 0.25, 0.5)
    assert few.message == "500 rows, 0.25x the reference's 2,000 (outside 0.5x-2x)"
    many = pd.concat([ref] * 3)
    assert (
        _by_name(expect_like_reference(many, ref, distribution=False))["expect:rows"].threshold == 2
    )
    wide = expect_like_reference(many, ref, row_ratio=(0.1, 5), distribution=False)
    assert _by_name(wide)["expect:rows"].passed
    assert "expect:rows" not in _by_name(expect_like_reference(many, ref, row_ratio=None))


def test_null_rate_increase() -> None:
    ages = _current()["age"].copy()
    ages[:200] = np.nan  # 10%
    results = expect_like_reference(_current(age=ages), _reference(), distribution=False)
    nulls = _by_name(results)["expect:age:nulls"]
    assert (nulls.passed, nulls.value, nulls.threshold) == (False, 0.1, 0.05)
    assert nulls.message == "null rate of 'age' rose from 0.0% to 10.0% (at most 5.0% allowed)"
    lenient = expect_like_reference(
        _current(age=ages), _reference(), max_null_rate_increase=0.2, distribution=False
    )
    assert _by_name(lenient)["expect:age:nulls"].passed
    skipped = expect_like_reference(_current(age=ages), _reference(), max_null_rate_increase=None)
    assert "expect:age:nulls" not in _by_name(skipped)


def test_new_and_missing_categories_with_their_own_severities() -> None:
    genre = np.where(_current()["genre"] == "horror", "thriller", _current()["genre"])
    results = _by_name(
        expect_like_reference(_current(genre=genre), _reference(), distribution=False)
    )
    new, gone = results["expect:genre:new_categories"], results["expect:genre:missing_categories"]
    assert (new.status, new.value, new.details["categories"]) == ("warning", 1, ["thriller"])
    assert new.message.startswith("1 new category in 'genre' (not in the reference; ")
    assert new.message.endswith("of rows), e.g. 'thriller'")
    assert (gone.status, gone.details["categories"]) == ("warning", ["horror"])
    strict = expect_like_reference(
        _current(genre=genre),
        _reference(),
        new_categories="block",
        missing_categories=None,
        distribution=False,
    )
    assert _by_name(strict)["expect:genre:new_categories"].status == "failed"
    assert "expect:genre:missing_categories" not in _by_name(strict)


def test_a_subset_of_columns() -> None:
    results = expect_like_reference(_current(), _reference(), columns=["age"], distribution=False)
    assert list(_by_name(results)) == ["expect:rows", "expect:age:nulls"]


def test_inputs_in_every_format_and_a_custom_name() -> None:
    ref, cur = _reference(), _current()
    expected = [(r.name, r.passed) for r in expect_like_reference(cur, ref, distribution=False)]
    for frame in (arrow.Table.from_pandas, pl.from_pandas):
        got = expect_like_reference(frame(cur), frame(ref), distribution=False)
        assert [(r.name, r.passed) for r in got] == expected
    named = expect_like_reference(cur, ref, name="features", distribution=False)
    assert named[0].name == "features:rows"


# --- distribution shift (reelflow.guards.column_drift) ------------------------------------------


def test_a_shifted_column_drifts_and_a_like_one_does_not() -> None:
    pytest.importorskip("reelflow.guards._drift", reason="column_drift is not written yet")
    shifted = _current(age=_current()["age"] + 15)
    results = _by_name(expect_like_reference(shifted, _reference()))
    assert not results["drift:age"].passed
    assert all(results[f"drift:{c}"].passed for c in ("genre", "clicks", "premium", "seen_at"))
    assert not _by_name(expect_like_reference(shifted, _reference(), severity="warn"))[
        "drift:age"
    ].blocking


def test_distribution_false_or_a_method_name() -> None:
    pytest.importorskip("reelflow.guards._drift", reason="column_drift is not written yet")
    assert not any(
        n.startswith("drift:")
        for n in _by_name(expect_like_reference(_current(), _reference(), distribution=False))
    )
    results = _by_name(
        expect_like_reference(_current(), _reference(), columns=["age"], distribution="ks")
    )
    assert results["drift:age"].details["method"] == "ks"


# --- bad input ---------------------------------------------------------------------------------


def test_a_column_missing_from_the_current_data_and_a_new_one() -> None:
    cur = _current().drop(columns="clicks").assign(device="ios")
    results = _checks(expect_like_reference(cur, _reference(), distribution=False))
    missing, new = results["expect:clicks:missing"], results["expect:device:new"]
    assert missing.status == "failed"
    assert missing.message == "column 'clicks' is in the reference but not in the current data"
    assert new.status == "warning"
    assert new.message.startswith("column 'device' is new")


def test_a_column_in_neither_frame_is_an_error() -> None:
    with pytest.raises(GuardError) as error:
        expect_like_reference(_current(), _reference(), columns=["nope"])
    assert "column 'nope' is in neither frame" in _one_line(error)


def test_an_all_null_column() -> None:
    results = expect_like_reference(_current(genre=None, age=np.nan), _reference())
    checks = _checks(results)
    assert checks["expect:genre:nulls"].value == 1.0 and not checks["expect:genre:nulls"].passed
    assert "expect:genre:dtype" not in checks and "expect:age:dtype" not in checks
    assert not any(name in _by_name(results) for name in ("drift:age", "drift:genre"))


def test_a_constant_column() -> None:
    results = _checks(
        expect_like_reference(_current(genre="drama"), _reference(), distribution=False)
    )
    constant = results["expect:genre:constant"]
    assert not constant.passed
    assert constant.message.startswith(
        "'genre' holds one value ('drama') in the current data but 3 distinct values"
    )
    same = _reference().assign(region="us")
    assert "expect:region:constant" not in _checks(expect_like_reference(same, same))


def test_a_categorical_with_a_million_distinct_values_is_not_compared() -> None:
    ids = pd.Series(np.arange(1_000_000)).astype(str)
    results = expect_like_reference(pd.DataFrame({"id": ids}), pd.DataFrame({"id": ids[::-1]}))
    named = _by_name(results)
    assert list(named) == ["expect:rows", "expect:id:nulls", "expect:id:cardinality"]
    card = named["expect:id:cardinality"]
    assert card.status == "warning" and card.value == 1_000_000
    assert "more than max_categories=10,000" in card.message


def test_nan_and_inf() -> None:
    ages = _current()["age"].copy()
    ages[:3] = np.inf
    ages[3:5] = np.nan
    results = _checks(expect_like_reference(_current(age=ages), _reference(), distribution=False))
    infinite = results["expect:age:infinite"]
    assert not infinite.passed and infinite.details["infinite"] == 3
    assert infinite.message.startswith("'age' holds 3 infinite values (0.15%; reference 0.0%)")
    assert results["expect:age:nulls"].passed  # 0.1% NaN is within the allowed increase
    both = expect_like_reference(_current(age=ages), _current(age=ages), distribution=False)
    assert _checks(both)["expect:age:infinite"].passed


def test_an_empty_current_frame_and_an_empty_reference() -> None:
    results = expect_like_reference(_current().iloc[:0], _reference())
    assert [(r.name, r.passed) for r in results] == [("expect:rows", False)]
    assert results[0].message == "the current data is empty (0 rows; the reference has 2,000 rows)"
    with pytest.raises(GuardError) as error:
        expect_like_reference(_current(), _reference().iloc[:0])
    assert "the reference is empty (0 rows)" in _one_line(error)


def test_mismatched_dtypes() -> None:
    cur = _current(age=_current()["age"].round().astype(str), clicks=_current()["clicks"] * 1.5)
    results = _checks(expect_like_reference(cur, _reference()))
    dtype = results["expect:age:dtype"]
    assert not dtype.passed
    assert dtype.message == (
        "column 'age' holds text (str) but the reference holds numbers (float64); "
        "cast it back, e.g. .astype('float64')"
    )
    assert "expect:clicks:dtype" not in results  # int vs float: both numbers


def test_unhashable_values_are_compared_as_text() -> None:
    ref = pd.DataFrame({"genres": [["drama"], ["comedy", "drama"], None] * 10})
    cur = pd.DataFrame({"genres": [["drama"], ["horror"], None] * 10})
    results = _checks(expect_like_reference(cur, ref, distribution=False))
    assert results["expect:genres:new_categories"].details["categories"] == ["['horror']"]


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"row_ratio": (2, 1)}, "row_ratio=(2, 1)"),
        ({"row_ratio": 0.5}, "must be (low, high)"),
        ({"distribution": "psy"}, "distribution='psy' is not a drift method"),
        ({"max_null_rate_increase": 1.5}, "between 0 and 1"),
        ({"new_categories": "loud"}, "category severity 'loud'"),
        ({"severity": "fatal"}, "severity 'fatal'"),
        ({"max_categories": 0}, "max_categories=0"),
    ],
)
def test_bad_options_raise_one_line(options: dict[str, Any], fragment: str) -> None:
    with pytest.raises(GuardError) as error:
        expect_like_reference(_current(), _reference(), **options)
    assert fragment in _one_line(error)


def test_an_unsupported_input_raises_one_line() -> None:
    with pytest.raises(GuardError) as error:
        expect_like_reference({"age": [1, 2]}, _reference())
    assert "the current data is a dict" in _one_line(error)
