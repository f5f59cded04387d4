"""ObjectStore: content addressing, atomic writes, verification and failure cleanup."""

from __future__ import annotations

import errno
import io
import multiprocessing
import os
import shutil
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import blake3
import pytest

from reelflow._errors import ArtifactNotFoundError, CorruptObjectError, StoreError
from reelflow.store._check import check_objects
from reelflow.store._objects import ObjectStore

SRC = Path(__file__).resolve().parents[2] / "src"
BIG = 3 << 20  # above the threshold where hashing goes multi-threaded and chunked


@pytest.fixture
def store(tmp_path: Path) -> ObjectStore:
    return ObjectStore(tmp_path / "store")


def _corrupt(path: Path, *, truncate: bool = False) -> None:
    os.chmod(path, 0o644)
    data = bytearray(path.read_bytes())
    if truncate:
        del data[-1]
    else:
        data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def test_put_bytes_stores_under_blake3_key(store: ObjectStore) -> None:
    info = store.put_bytes(b"hello")
    assert info.key == blake3.blake3(b"hello").hexdigest()
    assert info.size == 5
    path = store.path(info.key)
    assert path == store.root / "objects" / info.key[:2] / info.key[2:]
    assert store.read_bytes(info.key) == b"hello"
    assert store.local_path(info.key) == path
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    assert store.exists(info.key) and store.verify(info.key)


def test_every_put_gives_the_same_key(store: ObjectStore, tmp_path: Path) -> None:
    data = os.urandom(BIG)
    source = tmp_path / "task.log"
    source.write_bytes(data)
    keys = {
        store.put_bytes(data).key,
        store.put_bytes(bytearray(data)).key,
        store.put_bytes(memoryview(data)).key,
        store.put_writer(lambda f: f.write(data)).key,
        store.put_file(source).key,
    }
    assert keys == {blake3.blake3(data).hexdigest()}
    assert source.read_bytes() == data  # the source is copied, not moved
    assert list(store.keys()) == [*keys]
    assert store.temp_files() == []


def test_empty_object(store: ObjectStore) -> None:
    info = store.put_writer(lambda f: None)
    assert info.size == 0
    assert store.read_bytes(info.key) == b""
    assert store.verify(info.key)


def test_same_bytes_are_stored_once(store: ObjectStore) -> None:
    first = store.put_bytes(b"x" * 100)
    second = store.put_writer(lambda f: f.write(b"x" * 100))
    assert first == second
    assert list(store.keys()) == [first.key]


def test_corrupt_object_is_detected_on_read(store: ObjectStore) -> None:
    key = store.put_bytes(os.urandom(BIG)).key
    path = store.path(key)
    _corrupt(path)
    with pytest.raises(CorruptObjectError) as caught:
        store.read_bytes(key)
    assert key in str(caught.value) and str(path) in str(caught.value)
    assert "reelflow store check" in str(caught.value)
    with pytest.raises(CorruptObjectError):
        store.local_path(key)
    assert not store.verify(key)
    assert store.read_bytes(key, verify=False) == path.read_bytes()


def test_put_replaces_an_object_of_the_wrong_size(store: ObjectStore) -> None:
    data = b"payload" * 1000
    key = store.put_bytes(data).key
    _corrupt(store.path(key), truncate=True)
    assert store.put_bytes(data).key == key
    assert store.verify(key)
    assert stat.S_IMODE(store.path(key).stat().st_mode) == 0o444


def test_missing_object(store: ObjectStore) -> None:
    key = "ab" * 32
    assert not store.exists(key)
    assert not store.verify(key)
    with pytest.raises(ArtifactNotFoundError, match="missing"):
        store.read_bytes(key)
    with pytest.raises(KeyError):
        store.local_path(key)


@pytest.mark.parametrize("key", ["abc", "A" * 64, "g" * 64, "../" + "a" * 61, "a" * 65, ""])
def test_bad_key_is_rejected(store: ObjectStore, key: str) -> None:
    with pytest.raises(StoreError, match="64 lowercase hex"):
        store.path(key)


def test_keys_remove_and_stray_files(store: ObjectStore) -> None:
    assert list(store.keys()) == [] and store.temp_files() == []
    key = store.put_bytes(b"a").key
    (store.root / "objects" / "README").write_text("not an object")
    (store.path(key).parent / "short").write_text("not an object either")
    assert list(store.keys()) == [key]
    store.remove(key)
    store.remove(key)  # removing twice is fine
    assert list(store.keys()) == []


def test_reading_does_not_create_directories(tmp_path: Path) -> None:
    store = ObjectStore(tmp_path / "nowhere")
    assert not store.exists("ab" * 32)
    assert list(store.keys()) == []
    assert not (tmp_path / "nowhere").exists()


def test_disk_full_leaves_no_partial_object(
    store: ObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def write_then_fail(f: io.BufferedWriter) -> None:
        f.write(b"partial" * 1000)
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(StoreError, match="disk full") as caught:
        store.put_writer(write_then_fail)
    assert str(store.root) in str(caught.value)

    def fsync_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", fsync_full)
    with pytest.raises(StoreError, match="nothing already stored was changed"):
        store.put_bytes(b"data")
    assert list(store.keys()) == []
    assert store.temp_files() == []


def test_writer_error_propagates_and_cleans_up(store: ObjectStore) -> None:
    def broken(f: io.BufferedWriter) -> None:
        f.write(b"half")
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        store.put_writer(broken)
    assert store.temp_files() == [] and list(store.keys()) == []


def test_killed_writer_leaves_only_a_temp_file(store: ObjectStore) -> None:
    script = textwrap.dedent(
        f"""
        import os, signal, sys
        sys.path.insert(0, {str(SRC)!r})
        from reelflow.store._objects import ObjectStore

        def write(f):
            f.write(os.urandom(1 << 20))
            f.flush()
            os.kill(os.getpid(), signal.SIGKILL)

        ObjectStore({str(store.root)!r}).put_writer(write)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], timeout=60)
    assert result.returncode == -9
    assert list(store.keys()) == []
    (temp,) = store.temp_files()
    assert temp.stat().st_size == 1 << 20

    assert check_objects(store, []).stale_temp == []  # it might still be a live writer
    old = time.time() - 2 * 3600
    os.utime(temp, (old, old))
    report = check_objects(store, [], remove_orphans=True)
    assert report.stale_temp == [str(temp)] and report.removed == [str(temp)]
    assert store.temp_files() == []


def _put_after(barrier: object, root: str, data: bytes) -> None:
    barrier.wait()  # type: ignore[attr-defined]
    ObjectStore(root).put_bytes(data)


@pytest.mark.skipif(sys.platform == "win32", reason="uses fork")
def test_concurrent_puts_of_the_same_bytes(store: ObjectStore) -> None:
    context = multiprocessing.get_context("fork")
    data = os.urandom(BIG)
    barrier = context.Barrier(2)
    workers = [
        context.Process(target=_put_after, args=(barrier, str(store.root), data)) for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert [worker.exitcode for worker in workers] == [0, 0]
    assert list(store.keys()) == [blake3.blake3(data).hexdigest()]
    assert store.verify(blake3.blake3(data).hexdigest())
    assert store.temp_files() == []


def _hash_in_child(root: str) -> None:
    ObjectStore(root).put_bytes(os.urandom(BIG))


@pytest.mark.skipif(sys.platform == "win32", reason="uses fork")
def test_forked_child_can_hash_after_parent_used_threads(store: ObjectStore) -> None:
    store.put_bytes(os.urandom(BIG))  # starts BLAKE3's thread pool in this process
    context = multiprocessing.get_context("fork")
    child = context.Process(target=_hash_in_child, args=(str(store.root),))
    child.start()
    child.join(60)
    if child.is_alive():
        child.kill()
        pytest.fail("hashing in a forked child hung (BLAKE3 thread pool inherited from parent)")
    assert child.exitcode == 0
    assert len(list(store.keys())) == 2


def test_a_deleted_store_folder_is_made_again(store: ObjectStore) -> None:
    store.put_bytes(b"first")
    shutil.rmtree(store.root)  # a cache of remote objects may be cleared at any time
    key = store.put_bytes(b"second").key
    assert store.read_bytes(key) == b"second"
