"""IdIndex and Interactions: building, validation, the CSR matrix, subsets and fingerprints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from reelflow._errors import DataError
from reelflow.data import IdIndex, Interactions


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": ["b", "a", "b", "c", "a"],
            "item_id": [10, 20, 10, 30, 30],
            "rating": [4.0, 3.0, 1.0, 5.0, 2.0],
            "ts": [100, 200, 300, 400, 500],
            "device": ["tv", "web", "tv", "app", "web"],
        }
    )


def _data() -> Interactions:
    return Interactions.from_pandas(_frame(), rating="rating", timestamp="ts", context=["device"])


# --- IdIndex ---------------------------------------------------------------------------------


def test_encode_sorts_ids_and_round_trips() -> None:
    index, codes = IdIndex.encode(["b", "a", "c", "a"])
    assert index.ids.tolist() == ["a", "b", "c"]
    assert codes.tolist() == [1, 0, 2, 0] and codes.dtype == np.int32
    assert index.labels(codes).tolist() == ["b", "a", "c", "a"]
    assert index.indices(["c", "a"]).tolist() == [2, 0]


def test_unknown_ids_raise_or_map_to_missing() -> None:
    index, _ = IdIndex.encode([1, 2, 3])
    with pytest.raises(DataError, match="unknown ids"):
        index.indices([2, 9])
    assert index.indices([2, 9], missing=-1).tolist() == [1, -1]


def test_mixed_id_types_are_an_error() -> None:
    with pytest.raises(DataError, match="mix types"):
        IdIndex.encode(np.array([1, "a", 2], dtype=object))


def test_duplicate_ids_in_an_index_are_an_error() -> None:
    with pytest.raises(DataError, match="same id twice"):
        IdIndex(np.array([1, 2, 1]))


def test_id_indices_compare_by_content() -> None:
    assert IdIndex(np.array([1, 2])) == IdIndex(np.array([1, 2]))
    assert IdIndex(np.array([1, 2])) != IdIndex(np.array([2, 1]))


# --- building ----------------------------------------------------------------------------------


def test_from_pandas_maps_ids_and_keeps_columns() -> None:
    data = _data()
    assert (len(data), data.n_users, data.n_items) == (5, 3, 3)
    assert data.users.labels(data.user).tolist() == ["b", "a", "b", "c", "a"]
    assert data.rating is not None and data.rating.dtype == np.float32
    assert data.timestamp is not None and data.timestamp.tolist() == [100, 200, 300, 400, 500]
    assert data.context["device"].tolist() == ["tv", "web", "tv", "app", "web"]
    assert data.to_pandas()["item_id"].tolist() == [10, 20, 10, 30, 30]


def test_missing_column_names_the_column() -> None:
    with pytest.raises(DataError, match="column 'score' is not in the data"):
        Interactions.from_pandas(_frame(), rating="score")


def test_nan_ratings_are_an_error() -> None:
    frame = _frame().assign(rating=[1.0, np.nan, 2.0, 3.0, 4.0])
    with pytest.raises(DataError, match="NaN"):
        Interactions.from_pandas(frame, rating="rating")


def test_missing_ids_are_an_error() -> None:
    frame = _frame().astype({"item_id": "float64"})
    frame.loc[2, "item_id"] = np.nan
    with pytest.raises(DataError, match="missing ids"):
        Interactions.from_pandas(frame)


def test_mixed_user_id_types_in_a_frame_are_an_error() -> None:
    frame = _frame().astype({"user_id": object})
    frame.loc[0, "user_id"] = 7
    with pytest.raises(DataError, match="mix types"):
        Interactions.from_pandas(frame)


def test_datetime_timestamps_become_unix_seconds() -> None:
    frame = _frame().assign(
        ts=pd.to_datetime(["2024-01-01 00:00:01"] * 4 + ["1970-01-02 00:00:00"])
    )
    data = Interactions.from_pandas(frame, timestamp="ts")
    assert data.timestamp is not None
    assert data.timestamp.tolist() == [1_704_067_201] * 4 + [86_400]


def test_columns_of_the_wrong_length_are_an_error() -> None:
    index = IdIndex(np.array([1, 2]))
    with pytest.raises(DataError, match="column 'rating'"):
        Interactions(index, index, np.array([0, 1]), np.array([1, 0]), rating=np.ones(3))


def test_indices_past_the_index_are_an_error() -> None:
    index = IdIndex(np.array([1, 2]))
    with pytest.raises(DataError, match="past the end"):
        Interactions(index, index, np.array([0, 2]), np.array([1, 0]))


def test_from_csv_and_parquet(tmp_path: Path) -> None:
    _frame().to_csv(tmp_path / "log.csv", index=False)
    _frame().to_parquet(tmp_path / "log.parquet")
    for data in (
        Interactions.from_csv(str(tmp_path / "log.csv"), rating="rating"),
        Interactions.from_parquet(str(tmp_path / "log.parquet"), rating="rating"),
    ):
        assert data.fingerprint == Interactions.from_pandas(_frame(), rating="rating").fingerprint


# --- matrices, subsets, fingerprints -----------------------------------------------------------


def test_csr_has_the_index_shape_and_sums_duplicates() -> None:
    matrix = _data().csr()
    assert matrix.shape == (3, 3)
    assert matrix.nnz == 4  # (b, 10) appears twice
    assert matrix[1, 0] == pytest.approx(5.0)  # b = index 1, item 10 = index 0: 4 + 1
    assert matrix.sum() == pytest.approx(15.0)


def test_binary_csr_holds_ones() -> None:
    matrix = _data().csr(binary=True)
    assert matrix.nnz == 4 and set(matrix.data.tolist()) == {1.0}


def test_csr_without_ratings_counts_interactions() -> None:
    data = Interactions.from_pandas(_frame())
    assert data.csr()[1, 0] == 2.0


def test_subset_keeps_the_id_indices() -> None:
    data = _data()
    part = data.subset(np.array([3]))
    assert part.users == data.users and part.items == data.items
    assert part.csr().shape == data.csr().shape
    assert part.users.labels(part.user).tolist() == ["c"]
    assert part.context["device"].tolist() == ["app"]
    assert len(data.subset(np.array([True, False, True, False, False]))) == 2


def test_fingerprint_is_stable_and_content_sensitive() -> None:
    assert _data().fingerprint == _data().fingerprint
    changed = _frame()
    changed.loc[4, "rating"] = 2.5
    other = Interactions.from_pandas(changed, rating="rating", timestamp="ts", context=["device"])
    assert other.fingerprint != _data().fingerprint
    assert _data().subset(np.arange(4)).fingerprint != _data().fingerprint


def test_repr_names_the_columns() -> None:
    assert "with rating, timestamp, device" in repr(_data())


def test_timezone_aware_timestamps_become_unix_seconds() -> None:
    stamps = pd.to_datetime(["2024-01-01 01:00:01"] * 5).tz_localize("Europe/Paris")
    data = Interactions.from_pandas(_frame().assign(ts=stamps), timestamp="ts")
    assert data.timestamp is not None and data.timestamp.tolist() == [1_704_067_201] * 5


def test_ratings_outside_a_declared_range_are_an_error() -> None:
    frame = pd.DataFrame({"user_id": [1, 2], "item_id": [3, 4], "stars": [4.0, 9.0]})
    with pytest.raises(DataError, match=r"1 values outside \[1, 5\] \(e\.g\. 9\)"):
        Interactions.from_pandas(frame, rating="stars", rating_range=(1, 5))
    assert len(Interactions.from_pandas(frame, rating="stars")) == 2
