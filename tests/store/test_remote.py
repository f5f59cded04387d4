"""The object store on S3 (a local S3-compatible server) and other fsspec filesystems: objects
land in the bucket whole, are checked on the way back, and a killed writer leaves nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import scipy.sparse as sp
from test_codecs import Model, rich_frame

from reelflow._errors import ArtifactNotFoundError, ConfigError, CorruptObjectError, StoreError
from reelflow.store import Store
from reelflow.store._check import check_objects
from reelflow.store._codecs import load_value, store_value
from reelflow.store._config import resolve_config
from reelflow.store._objects import ObjectStore, hash_bytes
from reelflow.store._remote import RemoteObjectStore, open_objects

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture
def remote(s3_url: str, tmp_path: Path) -> RemoteObjectStore:
    return RemoteObjectStore(s3_url, tmp_path / "cache")


def fresh_reader(store: RemoteObjectStore, tmp_path: Path) -> RemoteObjectStore:
    """Another client of the same bucket with an empty cache (another machine, in effect)."""
    return RemoteObjectStore(store.url, tmp_path / f"other-{time.monotonic_ns()}")


def bucket_path(store: RemoteObjectStore, key: str) -> str:
    return f"{store.root}/objects/{key[:2]}/{key[2:]}"


@pytest.mark.parametrize(
    "value",
    [
        rich_frame(),
        pa.table({"a": [1, 2, 3], "s": ["x", None, "z"]}),
        np.arange(12.0).reshape(3, 4),
        sp.csr_matrix(np.eye(5)),
        Model("ease", [0.5, 1.5]),
        {"k": [1, 2, 3]},
    ],
    ids=["pandas", "arrow", "npy", "sparse", "pickle-object", "pickle-dict"],
)
def test_every_encoding_round_trips_through_the_bucket(
    remote: RemoteObjectStore, tmp_path: Path, value: Any
) -> None:
    stored = store_value(remote, value)
    assert remote.fs.size(bucket_path(remote, stored.key)) == stored.size
    loaded = load_value(fresh_reader(remote, tmp_path), stored.key, stored.encoding)
    if isinstance(value, pd.DataFrame):
        pd.testing.assert_frame_equal(loaded, value)
    elif isinstance(value, np.ndarray):
        np.testing.assert_array_equal(loaded, value)
        loaded[0, 0] = -1.0  # a cached object maps copy-on-write, as a local one does
    elif sp.issparse(value):
        np.testing.assert_array_equal(loaded.toarray(), value.toarray())
    elif isinstance(value, pa.Table):
        assert loaded.equals(value)
    else:
        assert loaded == value


def test_objects_are_keyed_listed_and_removed_in_the_bucket(remote: RemoteObjectStore) -> None:
    keys = {remote.put_bytes(data).key for data in (b"one", b"two", b"two")}
    assert keys == {hash_bytes(b"one"), hash_bytes(b"two")}
    assert set(remote.keys()) == keys and all(remote.exists(k) and remote.verify(k) for k in keys)
    gone = hash_bytes(b"one")
    remote.remove(gone)
    assert not remote.exists(gone) and set(remote.keys()) == keys - {gone}
    assert not remote.verify(gone)
    modified = remote.modified(hash_bytes(b"two"))
    assert modified is not None and abs(modified - time.time()) < 300
    assert remote.modified(gone) is None


def test_a_damaged_object_in_the_bucket_is_refused(
    remote: RemoteObjectStore, tmp_path: Path
) -> None:
    key = remote.put_bytes(b"a model's weights").key
    remote.fs.pipe_file(bucket_path(remote, key), b"A model's weights")  # same size, one byte off
    reader = fresh_reader(remote, tmp_path)
    with pytest.raises(CorruptObjectError, match=r"reelflow store check") as caught:
        reader.read_bytes(key)
    assert str(caught.value).count("\n") == 0 and "s3" not in str(caught.value).split(":")[0]
    assert not reader.cache.exists(key)  # the damaged download was not kept
    assert not remote.verify(key)
    assert check_objects(reader, [key]).corrupt == [key]
    remote.remove(key)  # as the error says: delete it, then re-run what produced it
    remote.put_bytes(b"a model's weights")
    assert fresh_reader(remote, tmp_path).read_bytes(key) == b"a model's weights"


def test_a_damaged_cached_copy_is_fetched_again(remote: RemoteObjectStore) -> None:
    key = remote.put_bytes(b"features").key
    cached = remote.cache.path(key)
    os.chmod(cached, 0o644)
    cached.write_bytes(b"FEATURES")
    assert remote.read_bytes(key) == b"features"


def test_a_missing_object_names_the_bucket(remote: RemoteObjectStore) -> None:
    with pytest.raises(ArtifactNotFoundError, match=r"missing from s3://.*reelflow store check"):
        remote.read_bytes("0" * 64)


def test_a_failed_writer_leaves_nothing(remote: RemoteObjectStore) -> None:
    def write(file: Any) -> None:
        file.write(b"half an artifact")
        raise RuntimeError("the step crashed mid-write")

    with pytest.raises(RuntimeError):
        remote.put_writer(write)
    assert list(remote.keys()) == [] and remote.cache.temp_files() == []


_UPLOADER = """
import sys, os
sys.path.insert(0, {src!r})
from reelflow.store._remote import RemoteObjectStore
store = RemoteObjectStore({url!r}, {cache!r})
put_file = store.fs.put_file
def announced(*args, **kwargs):
    print("uploading", flush=True)
    return put_file(*args, **kwargs)
store.fs.put_file = announced
store.put_bytes(os.urandom(112 << 20))  # past s3fs's 2 x 50 MiB: a multipart upload
print("done", flush=True)
"""


def test_a_writer_killed_mid_upload_leaves_no_partial_object(
    remote: RemoteObjectStore, tmp_path: Path
) -> None:
    code = _UPLOADER.format(src=str(SRC), url=remote.url, cache=str(tmp_path / "killed"))
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline().strip() == "uploading"
    time.sleep(0.2)  # inside the upload: its first part is on its way, its last is not
    child.send_signal(signal.SIGKILL)
    assert child.wait() == -signal.SIGKILL and child.stdout.read() == ""  # it never finished
    assert list(remote.keys()) == []  # a multipart upload not completed is not an object
    assert remote.stale_temp(time.time() + 3600) == []
    report = check_objects(fresh_reader(remote, tmp_path), [])
    assert report.corrupt == []


def test_non_atomic_filesystems_upload_to_temp_and_rename(tmp_path: Path) -> None:
    store = RemoteObjectStore(f"memory://reelflow-{time.monotonic_ns()}", tmp_path / "cache")
    store._atomic = False  # as on a filesystem whose writes can be seen half-done
    moves: list[tuple[str, str]] = []
    real_mv = store.fs.mv
    store.fs.mv = lambda a, b, **kw: (moves.append((a, b)), real_mv(a, b, **kw))[1]
    key = store.put_bytes(b"renamed into place").key
    assert len(moves) == 1 and "/tmp/" in moves[0][0] and moves[0][1].endswith(key[2:])
    assert fresh_reader(store, tmp_path).read_bytes(key) == b"renamed into place"
    store.fs.pipe_file(f"{store.root}/tmp/1-left.tmp", b"killed writer")
    assert store.stale_temp(time.time() + 3600) == [f"{store.root}/tmp/1-left.tmp"]
    store.remove_temp(f"{store.root}/tmp/1-left.tmp")
    assert store.stale_temp(time.time() + 3600) == []


def test_store_check_removes_only_old_orphans_in_the_bucket(remote: RemoteObjectStore) -> None:
    kept, orphan = remote.put_bytes(b"kept").key, remote.put_bytes(b"orphan").key
    report = check_objects(remote, [kept], remove_orphans=True)
    assert report.orphans == [orphan] and report.removed == []  # young: may belong to a live run
    assert remote.exists(orphan)


# --- configuration ---------------------------------------------------------------------------


def test_artifacts_setting_from_environment_and_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REELFLOW_HOME", raising=False)
    monkeypatch.delenv("REELFLOW_ARTIFACTS", raising=False)
    assert resolve_config(tmp_path).artifacts is None
    (tmp_path / "reelflow.toml").write_text('[store]\nartifacts = "s3://team/reelflow/"\n')
    config = resolve_config(tmp_path)
    assert config.artifacts == "s3://team/reelflow" and config.home == tmp_path / ".reelflow"
    monkeypatch.setenv("REELFLOW_ARTIFACTS", "shared/objects")
    assert resolve_config(tmp_path).artifacts == str(tmp_path / "shared" / "objects")
    monkeypatch.setenv("REELFLOW_ARTIFACTS", "file:///mnt/nfs/reelflow")
    assert resolve_config(tmp_path).artifacts == "/mnt/nfs/reelflow"
    assert isinstance(open_objects(tmp_path, "/mnt/nfs/reelflow"), ObjectStore)
    monkeypatch.setenv("REELFLOW_ARTIFACTS", "not a scheme://x")
    with pytest.raises(ConfigError, match="no valid scheme"):
        resolve_config(tmp_path)


def test_an_unknown_filesystem_is_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        open_objects(tmp_path, "nosuchfs://bucket/prefix")
    assert "nosuchfs://bucket/prefix" in str(caught.value) and "\n" not in str(caught.value)


def test_a_store_with_s3_artifacts_keeps_nothing_but_a_cache_at_home(
    s3_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REELFLOW_ARTIFACTS", s3_url)
    monkeypatch.delenv("REELFLOW_HOME", raising=False)
    store = Store.open(tmp_path)
    stored = store.save(np.arange(10))
    assert isinstance(store.objects, RemoteObjectStore)
    assert not (tmp_path / ".reelflow" / "objects").exists()
    assert (tmp_path / ".reelflow" / "cache" / "objects").is_dir()
    assert RemoteObjectStore(s3_url, tmp_path / "elsewhere").exists(stored.key)


def test_missing_credentials_are_one_line_and_store_nothing(
    s3_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import s3fs

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    s3fs.S3FileSystem.clear_instance_cache()  # clients made earlier hold credentials
    try:
        store = RemoteObjectStore(s3_url, tmp_path / "cache")
        with pytest.raises(StoreError) as caught:
            store.put_bytes(b"weights")
    finally:
        s3fs.S3FileSystem.clear_instance_cache()
    message = str(caught.value)
    assert message.startswith(f"cannot look up an object in {s3_url}: ") and "\n" not in message
    assert "credentials" in message


def test_a_missing_bucket_is_one_line_not_missing_objects(s3_server: str, tmp_path: Path) -> None:
    store = RemoteObjectStore(f"{s3_server}-nobody-made-this/prefix", tmp_path / "cache")
    with pytest.raises(StoreError, match=r"^cannot store an object: .*create the bucket"):
        store.put_bytes(b"weights")
    with pytest.raises(StoreError, match=r"bucket of s3://.* does not exist"):
        fresh_reader(store, tmp_path).read_bytes(hash_bytes(b"weights"))
    with pytest.raises(StoreError, match=r"does not exist"):
        list(store.keys())  # so `store check` does not call every object missing


def test_artifact_urls_without_a_bucket_or_with_credentials_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REELFLOW_ARTIFACTS", "s3://")
    with pytest.raises(ConfigError, match="names no bucket"):
        resolve_config(tmp_path)
    monkeypatch.setenv("REELFLOW_ARTIFACTS", "s3://AKIAEXAMPLE:s3cr3t@bucket/prefix")
    with pytest.raises(ConfigError, match="carries credentials") as caught:
        resolve_config(tmp_path)
    assert "s3cr3t" not in str(caught.value) and "AKIAEXAMPLE" not in str(caught.value)


def test_a_cache_cleared_while_reading_is_fetched_again(
    remote: RemoteObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = remote.put_bytes(b"splits").key

    def cleared(key: str, *, verify: bool = True) -> Path:
        monkeypatch.undo()  # once: the cached file vanished between exists() and the read
        remote.cache.remove(key)
        raise ArtifactNotFoundError(f"object {key} is missing from the cache")

    monkeypatch.setattr(remote.cache, "local_path", cleared)
    assert remote.read_bytes(key) == b"splits"
