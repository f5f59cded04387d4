"""Drift: statistics against scipy, verdicts, input types, and every kind of bad input."""

from __future__ import annotations

import ast
import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

import reelflow.guards._drift_numeric as numeric
from reelflow._errors import GuardError
from reelflow.guards import DRIFT_METHODS, DriftReport, column_drift, drift
from reelflow.guards._drift import popularity_drift, score_drift

RNG = np.random.default_rng(7)


def _frames(rows: int, shift: float = 0.0, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    letters = np.array(list("abcdefgh"))
    weights = np.array([8, 7, 6, 5, 4, 3, 2, 1]) + shift * np.arange(8)
    return pd.DataFrame(
        {
            "minutes": rng.lognormal(1.0 + shift, 1.0, rows),
            "score": rng.normal(shift, 1.0, rows),
            "age": rng.integers(18, 80, rows),
            "rating": rng.integers(1, 6, rows),
            "genre": letters[rng.choice(8, rows, p=weights / weights.sum())],
            "device": pd.Categorical(rng.choice(["tv", "web", "app"], rows)),
            "premium": rng.random(rows) < 0.3 + 0.4 * shift,
        }
    )


# --- the statistics against scipy ---------------------------------------------------------------


def test_ks_matches_scipy() -> None:
    a, b = RNG.normal(size=400), RNG.normal(0.2, 1, size=300)
    result = column_drift(a, b, method="ks")
    assert result.value == pytest.approx(stats.ks_2samp(a, b).pvalue, rel=1e-12)
    assert DRIFT_METHODS["ks"].statistic(a, b) == result.value


def test_wasserstein_is_normalized_by_the_reference_std() -> None:
    a, b = RNG.exponential(1, 700), RNG.exponential(1.3, 450)
    result = column_drift(a, b, method="wasserstein")
    expected = stats.wasserstein_distance(a, b) / np.std(a)
    assert result.value == pytest.approx(expected, rel=1e-10)
    assert "(normalized by the reference std)" in result.message


def test_chi_square_is_scipys_two_sample_test() -> None:
    ref = RNG.choice(["a", "b", "c", "d"], 600, p=[0.4, 0.3, 0.2, 0.1])
    cur = RNG.choice(["a", "b", "c", "d", "e"], 500, p=[0.3, 0.3, 0.2, 0.15, 0.05])
    labels = np.unique(np.concatenate([ref, cur]))
    table = np.array([[(side == label).sum() for label in labels] for side in (ref, cur)])
    expected = stats.chi2_contingency(table, correction=False).pvalue
    result = column_drift(ref, cur, method="chi_square")
    assert result.value == pytest.approx(expected, rel=1e-9)
    assert result.details["plot"]["kind"] == "categories"


def test_jensen_shannon_matches_scipy() -> None:
    ref = RNG.choice(list("abcde"), 3000, p=[0.3, 0.3, 0.2, 0.1, 0.1])
    cur = RNG.choice(list("abcdf"), 2000, p=[0.2, 0.3, 0.2, 0.2, 0.1])
    keys = sorted(set(ref) | set(cur))
    p = np.array([(ref == k).sum() for k in keys], dtype=float)
    q = np.array([(cur == k).sum() for k in keys], dtype=float)
    result = column_drift(pd.Series(ref), pd.Series(cur))
    assert result.details["method"] == "jensen_shannon"
    assert result.value == pytest.approx(jensenshannon(p, q), rel=1e-10)
    assert result.details["categories"]["new_in_current"] == 1


def test_psi_uses_reference_deciles() -> None:
    a, b = RNG.normal(size=2000), RNG.normal(0.3, 1.2, size=1500)
    cuts = np.unique(np.quantile(a, np.linspace(0.1, 0.9, 9)))
    bins = np.concatenate([[-np.inf], cuts, [np.inf]])
    p = np.histogram(a, bins)[0] / len(a)
    q = np.array([((b > lo) & (b <= hi)).sum() for lo, hi in itertools.pairwise(bins)]) / len(b)
    assert column_drift(a, b, method="psi").value == pytest.approx(np.sum((p - q) * np.log(p / q)))


def test_large_columns_use_the_histogram_within_its_bound() -> None:
    a, b = RNG.normal(size=150_000), RNG.normal(0.05, 1.1, size=120_000)
    result = column_drift(a, b)
    assert result.details["method"] == "wasserstein" and result.details["approximate"]
    exact = stats.wasserstein_distance(a, b) / np.std(a)
    assert abs(result.value - exact) <= result.details["max_error"]
    assert result.value == pytest.approx(exact, rel=1e-3)
    ks = column_drift(a, b, method="ks")
    assert ks.details["ks_statistic"] == pytest.approx(stats.ks_2samp(a, b).statistic, abs=1e-12)


def test_float32_values_at_the_top_of_the_range_stay_in_the_last_bin() -> None:
    # float32 rounding of ``value - low`` once put the maximum one bin past the end
    rng = np.random.default_rng(0)
    for _ in range(5):
        scale, shift = rng.uniform(0.5, 3), rng.uniform(0.001, 0.3)
        a = (rng.random(25_000) * scale + shift).astype(np.float32)
        b = (rng.random(25_000) * scale + shift).astype(np.float32)
        result = column_drift(a, b, method="wasserstein")
        assert result.details["approximate"] and result.passed
        exact = stats.wasserstein_distance(a, b) / np.std(a.astype(np.float64))
        assert abs(result.value - exact) <= result.details["max_error"]


def test_heavy_tails_fall_back_to_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = RNG.pareto(1.2, 150_000), RNG.pareto(1.3, 150_000)
    result = column_drift(a, b, method="wasserstein")
    assert result.details["approximate"] is False
    assert result.value == pytest.approx(stats.wasserstein_distance(a, b) / np.std(a), rel=1e-9)
    monkeypatch.setattr(numeric, "EXACT_ROWS", 10**9)
    for method in ("psi", "chi_square", "jensen_shannon"):
        exact = column_drift(a, b, method=method).value
        monkeypatch.setattr(numeric, "EXACT_ROWS", 1)
        assert column_drift(a, b, method=method).value == pytest.approx(exact, rel=1e-6)
        monkeypatch.setattr(numeric, "EXACT_ROWS", 10**9)


# --- verdicts -----------------------------------------------------------------------------------


@pytest.mark.parametrize("rows", [800, 20_000])
def test_same_distribution_does_not_drift_and_a_shift_does(rows: int) -> None:
    reference = _frames(rows, seed=1)
    same = drift(reference, _frames(rows, seed=2))
    assert same.drifted == [] and same.dataset.passed and same.dataset.value == 0
    shifted = drift(reference, _frames(rows, shift=0.5, seed=3))
    assert set(shifted.drifted) >= {"minutes", "score", "genre", "premium"}
    assert "age" not in shifted.drifted and not shifted.dataset.passed
    methods = {r.name: r.details["method"] for r in shifted.columns}
    small = rows <= 1000
    assert methods["drift:score"] == ("ks" if small else "wasserstein")
    assert methods["drift:genre"] == ("chi_square" if small else "jensen_shannon")
    assert methods["drift:rating"] == methods["drift:genre"]  # 5 integer values: categorical


def test_report_shape_and_dataset_verdict() -> None:
    report = drift(_frames(3000, seed=1), _frames(3000, shift=0.5, seed=2), drift_share=0.9)
    assert isinstance(report, DriftReport)
    assert report.results[0] is report.dataset and report.dataset.name == "drift:dataset"
    assert report.dataset.value == pytest.approx(len(report.drifted) / 7)
    assert report.dataset.threshold == 0.9 and report.dataset.passed
    assert report.dataset.severity == "block" and report.columns[0].severity == "warn"
    frame = report.to_frame()
    assert list(frame["column"]) == list(_frames(5).columns)
    assert frame["drifted"].sum() == len(report.drifted)
    json.dumps([r.to_record() for r in report.results])
    minutes = report.columns[0]
    assert minutes.message.startswith("minutes drifted: Wasserstein distance ")
    plot = minutes.details["plot"]
    assert plot["kind"] == "histogram" and len(plot["edges"]) == len(plot["reference"]) + 1
    assert sum(plot["current"]) == pytest.approx(1.0)
    genre = report.columns[4].details["plot"]
    assert genre["labels"][0] == "a" and sum(genre["reference"]) == pytest.approx(1.0)


def test_thresholds_and_methods_can_be_overridden() -> None:
    reference, current = _frames(3000, seed=1), _frames(3000, shift=0.1, seed=2)
    report = drift(
        reference,
        current,
        methods={"score": "psi", "genre": "chi_square"},
        thresholds={"wasserstein": 5.0, "score": 0.9, "jensen_shannon": 0.5},
    )
    by = {r.name.removeprefix("drift:"): r for r in report.columns}
    assert by["score"].details["method"] == "psi" and by["score"].threshold == 0.9
    assert by["minutes"].threshold == 5.0 and by["minutes"].passed
    assert by["device"].threshold == 0.5
    assert column_drift(reference.score, current.score, threshold=10.0).passed


def test_model_output_helpers() -> None:
    scores = score_drift(RNG.random((500, 10)), RNG.random((400, 10)) ** 2)
    assert scores.name == "drift:scores" and not scores.passed
    popularity = np.arange(100.0)
    same = popularity_drift(RNG.integers(0, 100, 5000), RNG.integers(0, 100, 5000), popularity)
    assert same.passed and same.name == "drift:popularity"
    popular = popularity_drift(RNG.integers(0, 100, 5000), RNG.integers(80, 120, 5000), popularity)
    assert not popular.passed
    mapping = popularity_drift(["a", "b"] * 600, ["a"] * 1200, {"a": 10, "b": 1})
    assert not mapping.passed


# --- input types --------------------------------------------------------------------------------


def test_pandas_arrow_and_polars_agree() -> None:
    reference, current = _frames(5000, seed=1), _frames(5000, shift=0.3, seed=2)
    reference.loc[::7, "minutes"] = np.nan
    current.loc[::5, "genre"] = None
    expected = drift(reference, current).to_frame()
    arrow = drift(pa.Table.from_pandas(reference), pa.Table.from_pandas(current)).to_frame()
    pd.testing.assert_frame_equal(expected, arrow)
    polars = pytest.importorskip("polars")
    frame = drift(polars.from_pandas(reference), polars.from_pandas(current)).to_frame()
    pd.testing.assert_frame_equal(expected, frame)


def test_numpy_arrow_chunks_and_masked_pandas_agree() -> None:
    a, b = RNG.normal(size=3000), RNG.normal(0.1, 1, 2000)
    expected = column_drift(a, b).value
    chunked = pa.chunked_array([a[:1000], a[1000:]])
    assert column_drift(chunked, pa.array(b)).value == expected
    masked = pd.Series(a).astype("Float64")
    assert column_drift(masked, pd.Series(b)).value == expected


# --- bad input ----------------------------------------------------------------------------------


def _error(call: object, *args: object, **kwargs: object) -> str:
    with pytest.raises(GuardError) as caught:
        call(*args, **kwargs)  # type: ignore[operator]
    text = str(caught.value)
    assert "\n" not in text
    return text


def test_missing_columns_are_named() -> None:
    reference, current = _frames(100), _frames(100)
    assert "'genre' is missing from the current frame" in _error(
        drift, reference, current.drop(columns="genre")
    )
    extra = current.assign(new=1.0)
    assert "'new' is missing from the reference" in _error(
        drift, reference, extra, columns=["score", "new"]
    )
    assert drift(reference, extra).dataset.details["not_in_reference"] == ["new"]
    assert "not compared" in _error(drift, reference, current, methods={"nope": "ks"})
    assert "neither" in _error(drift, reference, current, thresholds={"nope": 0.1})


def test_all_null_columns_give_a_clear_result() -> None:
    filled = pd.Series(RNG.normal(size=200))
    empty = pd.Series([np.nan] * 200)
    both = column_drift(empty, empty.copy(), name="x")
    assert both.passed and "no values on either side" in both.message
    assert not column_drift(filled, empty, name="x").passed
    missing_reference = column_drift(pd.Series([None] * 50, dtype=object), pd.Series(["a"] * 50))
    assert not missing_reference.passed and "reference has no values" in missing_reference.message
    table = pa.table({"x": pa.nulls(10)})
    assert drift(table, table).columns[0].passed


def test_constant_columns() -> None:
    ones = np.ones(2000)
    assert column_drift(ones, ones.copy()).value == 0.0
    assert not column_drift(ones, ones * 2).passed
    assert column_drift(np.array(["a"] * 500), np.array(["a"] * 400)).passed


def test_a_million_distinct_values_are_capped() -> None:
    ids = pa.compute.cast(pa.array(np.arange(1_000_000)), pa.string())
    other = pa.compute.cast(pa.array(np.arange(500_000, 1_500_000)), pa.string())
    result = column_drift(ids, other, name="user_id")
    categories = result.details["categories"]
    assert categories["other"] and categories["kept"] == 1000
    assert len(result.details["plot"]["labels"]) == 21
    assert result.details["plot"]["labels"][-1] == "other"
    codes = pd.Series(pd.Categorical(np.arange(1_000_000) % 300_000))
    assert column_drift(codes, codes.copy()).passed


def test_nan_and_inf_are_left_out_and_counted() -> None:
    values = RNG.normal(size=1000)
    dirty = values.copy()
    dirty[:10], dirty[10:13], dirty[13] = np.nan, np.inf, -np.inf
    result = column_drift(values[14:], dirty)
    assert result.details["nulls"] == {"reference": 0, "current": 10}
    assert result.details["infinite"] == {"reference": 0, "current": 4}
    assert result.value == pytest.approx(stats.ks_2samp(values[14:], values[14:]).pvalue)


def test_empty_frames_and_columns() -> None:
    frame = _frames(50)
    assert "reference has no rows" in _error(drift, frame.iloc[:0], frame)
    assert "current frame has no rows" in _error(column_drift, frame.score, frame.score.iloc[:0])
    assert "no column drift can compare" in _error(drift, pd.DataFrame(), frame)


def test_mismatched_and_unsupported_types() -> None:
    numbers, text = pd.Series([1.0, 2.0, 3.0]), pd.Series(["a", "b", "c"])
    assert "cast one side" in _error(column_drift, numbers, text, name="x")
    assert column_drift(pd.Series(range(50)), pd.Series(np.arange(50) + 0.5)).passed
    dates = pd.Series(pd.date_range("2024-01-01", periods=3))
    assert "cannot compare" in _error(column_drift, dates, dates)
    report = drift(
        pd.DataFrame({"t": dates, "x": numbers}), pd.DataFrame({"t": dates, "x": numbers})
    )
    assert report.dataset.details["skipped"] == {"t": "datetime64[us]"}
    mixed = pd.Series(["a", 1, None, 2.5] * 30, dtype=object)
    assert column_drift(mixed, mixed.copy()).passed


def test_bad_arguments() -> None:
    a = RNG.normal(size=100)
    assert "unknown drift method" in _error(column_drift, a, a, method="kl")
    assert "(0, 1)" in _error(column_drift, a, a, method="ks", threshold=5)
    assert "needs numbers" in _error(
        column_drift, np.array(["a"] * 9), np.array(["b"] * 9), method="ks"
    )
    assert "severity" in _error(column_drift, a, a, severity="fatal")
    assert "drift_share" in _error(drift, _frames(10), _frames(10), drift_share=0)
    assert "1-D" in _error(column_drift, np.ones((3, 3)), a)
    assert "pass a pandas DataFrame" in _error(drift, {"a": [1]}, {"a": [1]})


def test_scipy_is_imported_only_inside_functions() -> None:
    folder = Path(numeric.__file__).parent
    for path in folder.glob("_drift*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        top = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
        names = [alias.name for node in top for alias in node.names]
        modules = [node.module or "" for node in top if isinstance(node, ast.ImportFrom)]
        assert not [n for n in names + modules if n.startswith("scipy")], path.name
