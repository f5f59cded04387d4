"""Interactions stored as an artifact: one Arrow table, no pickle, exact round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from reelflow.data import Interactions
from reelflow.store import ObjectStore, load_value, store_value


@pytest.fixture
def objects(tmp_path: Path) -> ObjectStore:
    return ObjectStore(tmp_path)


@pytest.mark.parametrize("ids", [[10, 20, 30], ["u-a", "u-b", "u-c"]])
def test_round_trip_keeps_ids_columns_and_fingerprint(objects: ObjectStore, ids: list) -> None:
    frame = pd.DataFrame(
        {
            "user": [ids[0], ids[1], ids[2], ids[0]],
            "item": ["x", "y", "x", "z"],
            "stars": [4.0, 3.5, 5.0, 1.0],
            "ts": [100, 200, 300, 400],
            "region": ["us", "ca", "us", "us"],
        }
    )
    data = Interactions.from_pandas(
        frame, user="user", item="item", rating="stars", timestamp="ts", context=["region"]
    )
    stored = store_value(objects, data)
    assert stored.encoding == "arrow.object"
    back = load_value(objects, stored.key, stored.encoding)
    assert isinstance(back, Interactions)
    assert back.fingerprint == data.fingerprint
    assert back.users == data.users and back.items == data.items
    assert (back.csr() != data.csr()).nnz == 0
    assert list(back.context["region"]) == ["us", "ca", "us", "us"]


def test_unused_ids_survive_a_subset(objects: ObjectStore) -> None:
    frame = pd.DataFrame({"user_id": [1, 2, 3], "item_id": [7, 8, 9]})
    data = Interactions.from_pandas(frame).subset(np.array([True, False, False]))
    stored = store_value(objects, data)
    back = load_value(objects, stored.key, stored.encoding)
    assert back.n_users == 3 and len(back) == 1
    assert back.fingerprint == data.fingerprint


def test_a_table_naming_a_foreign_class_is_refused(objects: ObjectStore) -> None:
    import pyarrow as pa

    from reelflow._errors import StoreError
    from reelflow.store._codecs import _store_table

    table = pa.table({"a": [1]}).replace_schema_metadata({b"reelflow.class": b"os:system"})
    key = _store_table(objects, table).key
    with pytest.raises(StoreError, match="names no reelflow type"):
        load_value(objects, key, "arrow.object")
