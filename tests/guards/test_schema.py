"""Schema checks: the Column shorthand, pandera schemas, one result per failed rule, row counts,
every input format, and bad input answered with a result or a one-line GuardError."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
import polars as pl
import pyarrow as arrow
import pytest

from reelflow._errors import GuardError
from reelflow.guards import Column, GuardResult, check_row_count, check_schema

ML_100K = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "movielens-100k"

SCHEMA = {
    "user_id": Column(int, nullable=False),
    "rating": Column(float, min=1, max=5),
    "genre": Column(str, allowed={"drama", "comedy"}),
}


def _frame(**changes: Any) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "user_id": [1, 2, 3, 4],
            "rating": [1.0, 2.5, np.nan, 5.0],
            "genre": ["drama", "comedy", "drama", None],
        }
    )
    for column, values in changes.items():
        frame[column] = values
    return frame


def _by_name(results: list[GuardResult]) -> dict[str, GuardResult]:
    return {r.name: r for r in results}


def _one_line(error: pytest.ExceptionInfo[GuardError]) -> str:
    text = str(error.value)
    assert "\n" not in text and text
    return text


# --- passing and failing -----------------------------------------------------------------------


def test_a_frame_that_fits_gives_one_passing_result() -> None:
    results = check_schema(_frame(), SCHEMA)
    assert [r.name for r in results] == ["schema"]
    assert results[0].passed and results[0].value == 0
    assert results[0].message == "4 rows match the schema (3 columns)"


def test_each_failed_rule_of_each_column_is_its_own_result_all_found_at_once() -> None:
    frame = _frame(rating=[0.0, 7.0, np.nan, 5.0], genre=["drama", "horror", "x", None])
    frame["user_id"] = [1, 1, 2, 3]
    schema = {**SCHEMA, "user_id": Column(int, nullable=False, unique=True)}
    results = check_schema(frame, schema, severity="warn")
    named = _by_name(results)
    assert list(named) == [
        "schema",
        "schema:user_id:unique",
        "schema:rating:range",
        "schema:genre:allowed",
    ]
    assert all(not r.passed and r.severity == "warn" for r in results)
    assert named["schema"].value == 3
    assert named["schema"].details["failures"] == {
        "user_id:unique": 2,
        "rating:range": 2,
        "genre:allowed": 2,
    }
    rating = named["schema:rating:range"]
    assert (rating.value, rating.threshold) == (2, 0)
    assert (
        rating.message
        == "2 values of 'rating' fail in_range(1, 5) (50.0% of 4 rows), e.g. 0.0, 7.0"
    )
    assert rating.details["examples"] == [{"index": 0, "value": 0.0}, {"index": 1, "value": 7.0}]
    assert named["schema:user_id:unique"].message.startswith(
        "2 rows share their key 'user_id' with another row"
    )


def test_results_are_json_safe_and_name_nan_and_inf() -> None:
    frame = _frame(rating=[np.inf, -np.inf, np.nan, 3.0], user_id=[1.0, np.nan, 3.0, 4.0])
    results = check_schema(frame, SCHEMA)
    named = _by_name(results)
    assert named["schema:rating:range"].details["examples"] == [
        {"index": 0, "value": "inf"},
        {"index": 1, "value": "-inf"},
    ]
    assert "e.g. inf, -inf" in named["schema:rating:range"].message
    nulls = named["schema:user_id:nullable"]
    assert nulls.message == "column 'user_id' holds 1 null (25.0% of 4 rows) but is not nullable"
    assert named["schema:user_id:dtype"].message == (
        "column 'user_id' has dtype float64, expected int64"
    )
    for result in results:
        json.dumps(result.to_record(), allow_nan=False)
        assert GuardResult.from_record(result.to_record()).name == result.name


def test_a_missing_column_and_an_optional_one() -> None:
    schema = {**SCHEMA, "watched": Column(float), "region": Column(str, required=False)}
    named = _by_name(check_schema(_frame(), schema, name="items"))
    assert list(named) == ["items", "items:watched:missing"]
    assert named["items:watched:missing"].message == (
        "column 'watched' is missing (the data has: user_id, rating, genre)"
    )


def test_nulls_do_not_break_uniqueness_but_repeats_do() -> None:
    assert check_schema(pd.DataFrame({"k": [1.0, np.nan, np.nan]}), {"k": Column(unique=True)})[
        0
    ].passed
    failed = check_schema(pd.DataFrame({"k": [1.0, 1.0, np.nan]}), {"k": Column(unique=True)})
    assert [r.name for r in failed] == ["schema", "schema:k:unique"]


def test_bounds_on_one_side_and_datetimes() -> None:
    frame = pd.DataFrame(
        {"n": [-1, 0, 5], "at": pd.to_datetime(["2020-01-01", "2031-01-01", None])}
    )
    schema = {
        "n": Column("int64", min=0),
        "at": Column("datetime64[ns]", max=pd.Timestamp("2030-01-01")),
    }
    named = _by_name(check_schema(frame, schema))
    assert named["schema:n:range"].value == 1
    assert named["schema:at:range"].value == 1
    assert "2031-01-01" in json.dumps(named["schema:at:range"].to_record())


# --- pandera schemas ---------------------------------------------------------------------------


def test_a_pandera_schema_maps_every_kind_of_failure() -> None:
    schema = pa.DataFrameSchema(
        {
            "a": pa.Column(int, checks=pa.Check(lambda s: 1 / 0, name="boom"), coerce=True),
            "b": pa.Column(int, checks=pa.Check(lambda s: s < 5, name="small")),
        },
        unique=["a", "b"],
        strict=True,
        checks=pa.Check(lambda frame: len(frame) > 10, name="enough_rows"),
    )
    frame = pd.DataFrame({"a": [1, 1, "x"], "b": [1, 1, 9], "c": [0, 0, 0]})
    named = _by_name(check_schema(frame, schema))
    assert set(named) == {
        "schema",
        "schema:c:unexpected",
        "schema:a:dtype",
        "schema:a,b:unique",
        "schema:a:error",
        "schema:b:small",
        "schema:enough_rows",
    }
    assert named["schema:a:dtype"].message.startswith("1 value of 'a' cannot be converted to int64")
    assert named["schema:a,b:unique"].details["examples"][0] == {
        "index": 0,
        "value": {"a": 1, "b": 1},
    }
    assert "raised ZeroDivisionError" in named["schema:a:error"].message
    assert named["schema:c:unexpected"].message == (
        "column 'c' is not in the schema, and the schema is strict"
    )
    assert named["schema:enough_rows"].message == "the data fails the check enough_rows"


def test_pandera_columns_mix_with_reelflow_columns() -> None:
    schema = {"user_id": pa.Column(int, pa.Check.gt(1)), "rating": Column(float)}
    named = _by_name(check_schema(_frame(), schema))
    assert list(named) == ["schema", "schema:user_id:range"]


# --- inputs ------------------------------------------------------------------------------------


def test_arrow_polars_and_interactions_inputs() -> None:
    frame = _frame(rating=[1.0, 9.0, 2.0, 3.0])
    for data in (arrow.Table.from_pandas(frame), pl.from_pandas(frame)):
        assert [r.name for r in check_schema(data, SCHEMA)] == ["schema", "schema:rating:range"]
    from reelflow.data import Interactions

    log = Interactions.from_pandas(pd.DataFrame({"user_id": [1, 2], "item_id": [3, 3]}))
    assert check_schema(log, {"user_id": Column(int), "item_id": Column(int)})[0].passed


def test_an_empty_frame() -> None:
    named = _by_name(check_schema(pd.DataFrame(), SCHEMA))
    assert list(named) == [
        "schema",
        "schema:user_id:missing",
        "schema:rating:missing",
        "schema:genre:missing",
    ]
    assert named["schema:genre:missing"].message.endswith("(the data has: no columns)")
    empty = _frame().iloc[:0]
    assert check_schema(empty, SCHEMA)[0].passed


def test_all_null_and_constant_columns() -> None:
    frame = _frame(rating=[np.nan] * 4, genre=["drama"] * 4)
    named = _by_name(check_schema(frame, {**SCHEMA, "rating": Column(float, nullable=False)}))
    assert list(named) == ["schema", "schema:rating:nullable"]
    assert named["schema:rating:nullable"].value == 4


def test_a_text_column_where_numbers_are_expected() -> None:
    named = _by_name(check_schema(_frame(rating=["1", "2", "3", "4"]), SCHEMA))
    assert named["schema:rating:dtype"].message == "column 'rating' has dtype str, expected float64"


def test_a_text_key_with_many_distinct_values() -> None:
    frame = pd.DataFrame({"id": np.arange(200_000).astype(str)})
    assert check_schema(frame, {"id": Column(str, unique=True, nullable=False)})[0].passed


@pytest.mark.parametrize(
    ("build", "fragment"),
    [
        (lambda: Column(allowed="abc"), "must be a collection"),
        (lambda: Column(min=5, max=1), "min is above max"),
        (lambda: Column(min="a", max=1), "do not compare"),
        (lambda: check_schema(_frame(), {"user_id": Column("integr")}), "is not understood"),
        (lambda: check_schema(_frame(), [Column()]), "pass a pandera DataFrameSchema or a dict"),
        (lambda: check_schema(_frame(), {"a": int}), "use reelflow.guards.Column"),
        (lambda: check_schema([[1, 2]], SCHEMA), "the data is a list"),
        (lambda: check_schema(_frame(), SCHEMA, severity="fatal"), "severity 'fatal'"),
    ],
)
def test_bad_definitions_and_inputs_raise_one_line(build: Any, fragment: str) -> None:
    with pytest.raises(GuardError) as error:
        build()
    assert fragment in _one_line(error)


# --- row counts --------------------------------------------------------------------------------


def test_row_count_bounds() -> None:
    frame = _frame()
    inside = check_row_count(frame, min=1, max=10)
    assert inside.passed and inside.message == "4 rows (at least 1 and at most 10 expected)"
    few = check_row_count(frame, min=5)
    assert (few.passed, few.value, few.threshold) == (False, 4, 5)
    assert few.message == "4 rows, too few (at least 5 expected)"
    many = check_row_count(frame, max=3, severity="warn", name="rows")
    assert (many.name, many.status, many.threshold) == ("rows", "warning", 3)
    assert (
        check_row_count(frame.iloc[:0], min=1).message == "the data is empty (at least 1 expected)"
    )


def test_row_count_reads_every_format_without_converting() -> None:
    frame = _frame()
    for data in (arrow.Table.from_pandas(frame), pl.from_pandas(frame)):
        assert check_row_count(data, min=4, max=4).passed


@pytest.mark.parametrize(
    ("bounds", "fragment"),
    [({}, "needs min= or max="), ({"min": -1}, ">= 0"), ({"min": 3, "max": 2}, "min is above max")],
)
def test_row_count_rejects_bad_bounds(bounds: dict[str, int], fragment: str) -> None:
    with pytest.raises(GuardError) as error:
        check_row_count(_frame(), **bounds)
    assert fragment in _one_line(error)


# --- real data ---------------------------------------------------------------------------------


def test_movielens_100k_ratings_fit_their_schema() -> None:
    path = ML_100K / "ml-100k" / "u.data"
    if not path.is_file():
        pytest.skip(f"{path} is missing (real MovieLens data lives in ../shared/data)")
    names = ["user_id", "item_id", "rating", "timestamp"]
    ratings = pd.read_csv(path, sep="\t", names=names)
    schema = {
        "user_id": Column(int, nullable=False, min=1),
        "item_id": Column(int, nullable=False, min=1, max=1682),
        "rating": Column(int, allowed={1, 2, 3, 4, 5}),
        "timestamp": Column(int, min=874_724_710),
    }
    assert [r.name for r in check_schema(ratings, schema)] == ["schema"]
    assert check_row_count(ratings, min=100_000, max=100_000).passed
    keyed = check_schema(ratings, {"user_id": Column(int, unique=True)})
    assert keyed[1].name == "schema:user_id:unique" and keyed[1].value == 100_000
