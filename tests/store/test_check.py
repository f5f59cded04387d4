"""check_objects: finds corrupt, missing, orphaned and stale objects; removes only orphans."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from reelflow.store._check import CheckReport, check_objects
from reelflow.store._objects import ObjectStore

HOURS_AGO_2 = time.time() - 2 * 3600


@pytest.fixture
def store(tmp_path: Path) -> ObjectStore:
    return ObjectStore(tmp_path / "store")


def _temp_file(store: ObjectStore, name: str, *, old: bool) -> Path:
    path = store.root / "tmp" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"half-written")
    if old:
        os.utime(path, (HOURS_AGO_2, HOURS_AGO_2))
    return path


def test_clean_store_is_ok(store: ObjectStore) -> None:
    keys = [store.put_bytes(bytes([i]) * 10).key for i in range(3)]
    report = check_objects(store, keys)
    assert report == CheckReport(checked=3)
    assert report.ok


def test_empty_store(store: ObjectStore) -> None:
    assert check_objects(store, []).ok
    assert check_objects(store, [], remove_orphans=True).removed == []


def test_finds_every_problem_and_removes_only_orphans(store: ObjectStore) -> None:
    good = store.put_bytes(b"good").key
    damaged = store.put_bytes(b"damaged").key
    orphan = store.put_bytes(b"nobody refers to me").key
    missing = "0" * 64
    path = store.path(damaged)
    os.chmod(path, 0o644)
    path.write_bytes(b"DAMAGED")
    stale = _temp_file(store, "1-stale.tmp", old=True)
    live = _temp_file(store, "2-live.tmp", old=False)
    calls: list[tuple[int, int]] = []

    report = check_objects(store, [good, damaged, missing], progress=lambda *a: calls.append(a))
    assert (report.checked, report.corrupt, report.missing) == (3, [damaged], [missing])
    assert (report.orphans, report.stale_temp, report.removed) == ([orphan], [str(stale)], [])
    assert not report.ok
    assert calls == [(1, 3), (2, 3), (3, 3)]
    assert store.exists(orphan) and stale.exists()  # nothing removed unless asked

    fresh = check_objects(store, [good, damaged, missing], remove_orphans=True)
    assert fresh.removed == [str(stale)]  # an orphan this young may belong to a live run
    assert store.exists(orphan)
    hours_ago = time.time() - 7200
    os.utime(store.path(orphan), (hours_ago, hours_ago))
    report = check_objects(store, [good, damaged, missing], remove_orphans=True)
    assert report.removed == [orphan]
    assert not store.exists(orphan) and not stale.exists()
    assert live.exists()  # may belong to a writer still running
    assert store.exists(damaged) and store.exists(good)  # corrupt objects are kept


def test_corrupt_unreferenced_object_is_reported_not_removed(store: ObjectStore) -> None:
    key = store.put_bytes(b"x" * 64).key
    os.chmod(store.path(key), 0o644)
    store.path(key).write_bytes(b"y" * 64)
    report = check_objects(store, [], remove_orphans=True)
    assert report.corrupt == [key] and report.orphans == [] and report.removed == []
    assert store.exists(key)
