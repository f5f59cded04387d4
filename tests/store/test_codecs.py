"""Codecs: every encoding round-trips, dedups, stays modifiable and fails clearly."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import threading
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import scipy.sparse as sp

from reelflow._errors import CorruptObjectError, SerializationError, StoreError
from reelflow.store._codecs import StoredValue, load_value, store_value
from reelflow.store._objects import ObjectStore

SRC = Path(__file__).resolve().parents[2] / "src"


@dataclasses.dataclass
class Model:
    name: str
    weights: list[float]


@pytest.fixture
def store(tmp_path: Path) -> ObjectStore:
    return ObjectStore(tmp_path / "store")


def roundtrip(store: ObjectStore, value: Any) -> tuple[StoredValue, Any]:
    stored = store_value(store, value)
    assert stored.size == store.path(stored.key).stat().st_size
    return stored, load_value(store, stored.key, stored.encoding)


def rich_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "f": [1.5, 2.5, 3.5, 4.5],
            "nan": [1.0, np.nan, 3.0, 4.0],
            "i": np.arange(4, dtype="int64"),
            "b": [True, False, True, False],
            "cat": pd.Categorical(["x", "y", "x", None]),
            "day": pd.date_range("2024-01-01", periods=4),
            "utc": pd.date_range("2024-01-01", periods=4, tz="UTC"),
            "s": ["a", None, "c", "d"],
            "n": pd.array([1, None, 3, 4], dtype="Int64"),
        },
        index=pd.Index(["u1", "u2", "u3", "u4"], dtype="str", name="user"),
    )


def test_dataframe_round_trip(store: ObjectStore) -> None:
    frame = rich_frame()
    frame.attrs["source"] = "events"
    stored, loaded = roundtrip(store, frame)
    assert stored.encoding == "arrow.pandas"
    assert stored.type_name == "pandas.DataFrame"
    pd.testing.assert_frame_equal(loaded, frame)
    assert loaded.attrs == {"source": "events"}


@pytest.mark.parametrize(
    "frame",
    [
        pd.DataFrame(),
        pd.DataFrame({"a": np.array([], dtype="float64")}),
        pd.DataFrame({"a": [1, 2]}, index=pd.MultiIndex.from_tuples([(1, "x"), (2, "y")])),
        pd.DataFrame([[1.0, 2.0]], columns=pd.MultiIndex.from_tuples([("a", 1), ("a", 2)])),
    ],
    ids=["empty", "no-rows", "multiindex-rows", "multiindex-columns"],
)
def test_unusual_frames_round_trip(store: ObjectStore, frame: pd.DataFrame) -> None:
    _, loaded = roundtrip(store, frame)
    pd.testing.assert_frame_equal(loaded, frame)


def test_loaded_dataframe_can_be_modified(store: ObjectStore) -> None:
    frame = rich_frame()
    stored, loaded = roundtrip(store, frame)
    loaded.loc["u1", "f"] = 100.0
    loaded.iloc[1, 2] = 7
    loaded["i"] += 1
    loaded.loc["u1", "day"] = pd.Timestamp("2000-01-01")
    loaded.loc["u1", "utc"] = pd.Timestamp("2000-01-01", tz="UTC")
    loaded.loc["u1", "cat"] = "y"
    loaded["new"] = 1
    assert loaded.loc["u1", "f"] == 100.0 and loaded["i"].tolist() == [1, 8, 3, 4]
    # The stored object is untouched and still verifies.
    again = load_value(store, stored.key, stored.encoding)
    pd.testing.assert_frame_equal(again, frame)


def test_object_columns_fall_back_to_pickle(store: ObjectStore) -> None:
    for frame in (
        pd.DataFrame({"mixed": [1, "x", None]}),
        pd.DataFrame({"lists": [[1, 2], [3]]}),
        pd.DataFrame([[1, 2]], columns=["a", "a"]),
    ):
        stored, loaded = roundtrip(store, frame)
        assert stored.encoding == "pickle"
        pd.testing.assert_frame_equal(loaded, frame)


@pytest.mark.parametrize("name", ["score", None, 0])
def test_series_round_trip(store: ObjectStore, name: Any) -> None:
    series = pd.Series([1.0, 2.0, None], index=pd.Index([10, 20, 30], name="id"), name=name)
    stored, loaded = roundtrip(store, series)
    assert stored.encoding == "arrow.series"
    pd.testing.assert_series_equal(loaded, series)
    loaded.iloc[0] = 5.0
    assert loaded.iloc[0] == 5.0


def test_series_with_tuple_name_is_pickled(store: ObjectStore) -> None:
    series = pd.Series([1, 2], name=("a", 1))
    stored, loaded = roundtrip(store, series)
    assert stored.encoding == "pickle"
    pd.testing.assert_series_equal(loaded, series)


def test_arrow_table_and_record_batch(store: ObjectStore) -> None:
    table = pa.table({"x": [1, 2, None], "s": ["a", "b", "c"]}).replace_schema_metadata({"k": "v"})
    stored, loaded = roundtrip(store, table)
    assert stored.encoding == "arrow.table"
    assert loaded.equals(table, check_metadata=True)
    batch_stored, batch_loaded = roundtrip(store, table.to_batches()[0])
    assert batch_stored.key == stored.key
    assert batch_loaded.equals(table)


def test_polars_round_trip(store: ObjectStore) -> None:
    pl = pytest.importorskip("polars")
    frame = pl.DataFrame({"x": [1, 2, None], "s": ["a", None, "c"], "f": [0.5, 1.5, 2.5]})
    stored, loaded = roundtrip(store, frame)
    assert stored.encoding == "arrow.polars"
    assert isinstance(loaded, pl.DataFrame) and loaded.equals(frame)


@pytest.mark.parametrize(
    "array",
    [
        np.arange(12.0).reshape(3, 4),
        np.array(3.5),
        np.arange(20).reshape(4, 5)[:, ::2],
        np.asfortranarray(np.arange(6).reshape(2, 3)),
        np.zeros((0, 3), dtype="int32"),
        np.array(["2024-01-01", "NaT"], dtype="datetime64[s]"),
        np.array([True, False]),
    ],
    ids=["2d", "0d", "strided", "fortran", "empty", "datetime", "bool"],
)
def test_ndarray_round_trip(store: ObjectStore, array: np.ndarray) -> None:
    stored, loaded = roundtrip(store, array)
    assert stored.encoding == "npy"
    assert type(loaded) is np.ndarray
    assert loaded.shape == array.shape and loaded.dtype == array.dtype
    np.testing.assert_array_equal(loaded, array)


def test_loaded_array_can_be_modified(store: ObjectStore) -> None:
    array = np.arange(10.0)
    stored, loaded = roundtrip(store, array)
    loaded[0] = 99.0
    np.testing.assert_array_equal(load_value(store, stored.key, "npy"), array)


def test_object_array_is_pickled(store: ObjectStore) -> None:
    array = np.array([1, "x", None], dtype=object)
    stored, loaded = roundtrip(store, array)
    assert stored.encoding == "pickle"
    np.testing.assert_array_equal(loaded, array)


@pytest.mark.parametrize(
    "make", [sp.csr_matrix, sp.csc_array, sp.coo_matrix, sp.coo_array, sp.bsr_matrix, sp.dia_matrix]
)
def test_sparse_round_trip(store: ObjectStore, make: Any) -> None:
    dense = np.array([[0, 0, 3.0], [4.0, 0, 0], [0, 5.0, 6.0]])
    matrix = make(dense)
    stored, loaded = roundtrip(store, matrix)
    assert stored.encoding == "npz.sparse"
    assert type(loaded) is type(matrix)
    np.testing.assert_array_equal(loaded.toarray(), dense)


def test_sparse_bytes_are_deterministic(store: ObjectStore) -> None:
    stored = store_value(store, sp.csr_matrix(np.eye(50)))
    with zipfile.ZipFile(store.path(stored.key)) as archive:
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}


def test_lil_matrix_is_pickled(store: ObjectStore) -> None:
    stored, loaded = roundtrip(store, sp.lil_matrix(np.eye(3)))
    assert stored.encoding == "pickle"
    np.testing.assert_array_equal(loaded.toarray(), np.eye(3))


@pytest.mark.parametrize(
    "value", [{"a": [1, 2], "b": None}, [1, "two", 3.0], Model("ease", [0.5, 1.5]), 42, "text"]
)
def test_pickle_round_trip(store: ObjectStore, value: Any) -> None:
    stored, loaded = roundtrip(store, value)
    assert stored.encoding == "pickle"
    assert loaded == value


def test_type_names(store: ObjectStore) -> None:
    assert store_value(store, {"a": 1}).type_name == "dict"
    assert store_value(store, Model("m", [])).type_name.endswith("Model")
    assert store_value(store, np.zeros(2)).type_name == "numpy.ndarray"


def test_equal_values_are_stored_once(store: ObjectStore) -> None:
    values = [rich_frame, lambda: np.arange(100), lambda: {"k": [1, 2, 3]}]
    for make in values:
        assert store_value(store, make()).key == store_value(store, make()).key
    assert len(list(store.keys())) == len(values)


def test_arrow_bytes_are_the_same_in_another_process(store: ObjectStore) -> None:
    code = (
        f"import sys; sys.path[:0] = [{str(SRC)!r}, {str(Path(__file__).parent)!r}]\n"
        "from test_codecs import rich_frame\n"
        "from reelflow.store._codecs import store_value\n"
        "from reelflow.store._objects import ObjectStore\n"
        f"print(store_value(ObjectStore({str(store.root)!r}), rich_frame()).key)\n"
    )
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert other.stdout.strip() == store_value(store, rich_frame()).key


def test_unpicklable_value_explains_the_fix(store: ObjectStore) -> None:
    with pytest.raises(SerializationError) as caught:
        store_value(store, {"lock": threading.Lock()})
    message = str(caught.value)
    assert message.startswith("cannot store artifact of type dict: ")
    assert "keep it in a local variable instead of on self, or make it picklable" in message
    assert list(store.keys()) == []


def test_unpickling_a_missing_class_explains_the_fix(store: ObjectStore) -> None:
    key = store.put_bytes(b"cno_such_module_for_reelflow\nThing\n.").key
    with pytest.raises(SerializationError, match="importable"):
        load_value(store, key, "pickle")


@pytest.mark.parametrize("value", [rich_frame(), np.arange(1000.0), {"a": 1}])
def test_corrupt_object_is_detected_on_load(store: ObjectStore, value: Any) -> None:
    stored = store_value(store, value)
    path = store.path(stored.key)
    os.chmod(path, 0o644)
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptObjectError, match="reelflow store check"):
        load_value(store, stored.key, stored.encoding)


def test_unknown_encoding(store: ObjectStore) -> None:
    key = store.put_bytes(b"x").key
    with pytest.raises(StoreError, match="unknown encoding 'hdf5'"):
        load_value(store, key, "hdf5")


def test_import_and_plain_values_stay_light(tmp_path: Path) -> None:
    code = (
        f"import sys; sys.path.insert(0, {str(SRC)!r})\n"
        "from reelflow.store._codecs import load_value, store_value\n"
        "from reelflow.store._objects import ObjectStore\n"
        f"store = ObjectStore({str(tmp_path)!r})\n"
        "stored = store_value(store, {'a': [1, 2]})\n"
        "assert load_value(store, stored.key, stored.encoding) == {'a': [1, 2]}\n"
        "heavy = {'pandas', 'pyarrow', 'polars', 'scipy'} & set(sys.modules)\n"
        "print(sorted(heavy))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_missing_library_on_load_says_what_to_install(
    store: ObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    stored = store_value(store, pa.table({"x": [1]}))
    monkeypatch.setitem(sys.modules, "polars", None)  # makes `import polars` fail
    with pytest.raises(StoreError, match=r"needs polars: install it \(pip install polars\)"):
        load_value(store, stored.key, "arrow.polars")
