"""The content-addressed object store on any fsspec filesystem (``s3://bucket/prefix`` and such).

Objects keep the local layout, ``<url>/objects/<2 hex>/<62 hex>`` under their BLAKE3 hash, so
workers on other machines read and write them directly. An object is first written and hashed in
a local cache (itself a local :class:`ObjectStore`), then uploaded whole: object stores make a PUT
(or a multipart upload) visible only once complete, and on other filesystems the upload goes to
``<url>/tmp/`` and is renamed into place, so no reader ever sees a partial object. Reads download
into the cache and check the hash there; a cached object is as safe to memory-map as a local one.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

import blake3

from reelflow._errors import (
    ArtifactNotFoundError,
    ConfigError,
    CorruptObjectError,
    ReelflowError,
    StoreError,
)
from reelflow.store._objects import ObjectInfo, Objects, ObjectStore

# Filesystems whose writes appear all at once (a PUT or a completed multipart upload).
ATOMIC_PUT = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "memory"})
_KEY = re.compile(r"[0-9a-f]{64}")
_CHUNK = 8 << 20
_REFRESH_SECONDS = 1800.0  # half of store check's one hour of grace for young orphans
_PACKAGES = {"s3": "s3fs", "s3a": "s3fs", "gs": "gcsfs", "gcs": "gcsfs", "az": "adlfs"}


class RemoteObjectStore:
    """The object store at ``url`` on an fsspec filesystem, with a local cache at ``cache``.

    Storing an object the bucket already holds (same key and size, written in the last half
    hour) sends nothing: checking its bytes would mean downloading it. Every read checks them,
    and ``reelflow store check`` checks them all.
    """

    def __init__(self, url: str, cache: str | os.PathLike[str]) -> None:
        self.url = url.rstrip("/")
        self.fs, root = _filesystem(self.url)
        self.root = root.rstrip("/")
        self.cache = ObjectStore(cache)
        self._atomic = bool(set(_protocols(self.fs)) & ATOMIC_PUT)

    def __repr__(self) -> str:
        return f"RemoteObjectStore({self.url!r})"

    # --- writing ---------------------------------------------------------------------------

    def put_bytes(self, data: bytes | bytearray | memoryview) -> ObjectInfo:
        """Store ``data`` and return its key; an object already uploaded is not sent again."""
        return self._upload(self.cache.put_bytes(data))

    def put_writer(self, write: Callable[[BinaryIO], None]) -> ObjectInfo:
        """Store whatever ``write`` writes (to a local temp file first, then uploaded)."""
        return self._upload(self.cache.put_writer(write))

    def put_file(self, path: str | os.PathLike[str]) -> ObjectInfo:
        """Store a copy of the existing file at ``path``, which is left untouched."""
        return self._upload(self.cache.put_file(path))

    def _upload(self, info: ObjectInfo) -> ObjectInfo:
        """Send a cached object to the bucket, unless a recent copy of the same size is there.

        An older copy is sent again so that its time is fresh: ``store check --remove-orphans``
        spares objects written in the last hour, and a live run may be re-using this one.
        """
        final = self._remote(info.key)
        stored = self._stat(final)
        if stored is not None and stored == (info.size, True):
            return info
        local = str(self.cache.path(info.key))
        with self._bucket_errors(f"upload object {info.key} to"), _missing_is_an_error():
            if self._atomic:
                self.fs.put_file(local, final)
            else:
                temp = f"{self.root}/tmp/{os.getpid()}-{uuid.uuid4().hex}.tmp"
                try:
                    self.fs.put_file(local, temp)
                    self.fs.mv(temp, final)
                finally:
                    with contextlib.suppress(Exception):
                        self.fs.rm_file(temp)
        return info

    def _require_bucket(self) -> None:
        """Raise a StoreError when the bucket itself is missing (s3fs says FileNotFoundError
        for a missing bucket as for a missing object: without this, every object would look
        missing and `store check` would list them all)."""
        if not self._atomic:
            return
        bucket = self.root.split("/", 1)[0]
        with self._bucket_errors("look up the bucket of"):
            found = bool(self.fs.exists(bucket))
        if not found:
            raise StoreError(
                f"the bucket of {self.url} does not exist: create it, or point "
                "REELFLOW_ARTIFACTS at one that does"
            )

    @contextlib.contextmanager
    def _bucket_errors(self, action: str) -> Iterator[None]:
        """Turn the filesystem's own failures (no credentials, no such bucket, no connection)
        into one StoreError line; a missing object stays a FileNotFoundError for the caller."""
        try:
            yield
        except (FileNotFoundError, ReelflowError):
            raise
        except Exception as exc:
            raise StoreError(
                f"cannot {action} {self.url}: {_reason(exc)}; check the credentials, the "
                "endpoint and that the bucket exists (nothing stored was changed)"
            ) from exc

    # --- reading ---------------------------------------------------------------------------

    def local_path(self, key: str, *, verify: bool = True) -> Path:
        """A local copy of the object (downloaded into the cache once, checked on download)."""
        remote = self._remote(key)
        if self.cache.exists(key):
            try:
                return self.cache.local_path(key, verify=verify)
            except CorruptObjectError:
                self.cache.remove(key)  # a damaged cached copy: fetch it again
            except ArtifactNotFoundError:
                pass  # the cache was cleared in between: fetch it again
        try:
            with self._bucket_errors(f"download object {key} from"):
                info = self.cache.put_writer(lambda f: self._download(remote, f))
        except FileNotFoundError:
            self._require_bucket()
            raise ArtifactNotFoundError(
                f"object {key} is missing from {self.url}: the store was moved or pruned; "
                "run `reelflow store check` to see what else is missing"
            ) from None
        if info.key != key:
            self.cache.remove(info.key)
            raise CorruptObjectError(
                f"object {key} at {remote} no longer matches its hash (it was changed or damaged "
                "in the bucket): run `reelflow store check`, delete the damaged objects it lists "
                "from the bucket and re-run the step that produced them"
            )
        return self.cache.path(key)

    def _download(self, remote: str, file: BinaryIO) -> None:
        with self.fs.open(remote, "rb", block_size=_CHUNK) as source:
            while chunk := source.read(_CHUNK):
                file.write(chunk)

    def read_bytes(self, key: str, *, verify: bool = True) -> bytes:
        """Return the bytes of an object, checking their hash unless ``verify`` is False."""
        return self.local_path(key, verify=verify).read_bytes()

    def exists(self, key: str) -> bool:
        """Return True when the object is stored under ``key`` in the bucket (not checked)."""
        try:
            with self._bucket_errors("look up an object in"):
                self.fs.size(self._remote(key))
        except FileNotFoundError:
            return False
        return True

    def verify(self, key: str) -> bool:
        """Return True when the stored object (not the cached copy) still hashes to ``key``."""
        hasher = blake3.blake3()
        try:
            with (
                self._bucket_errors(f"read object {key} from"),
                self.fs.open(self._remote(key), "rb", block_size=_CHUNK) as source,
            ):
                while chunk := source.read(_CHUNK):
                    hasher.update(chunk)
        except FileNotFoundError:
            return False
        return str(hasher.hexdigest()) == key

    def keys(self) -> Iterator[str]:
        """Yield the key of every stored object, in no particular order."""
        try:
            with self._bucket_errors("list the objects of"):
                paths = self.fs.find(f"{self.root}/objects")
        except FileNotFoundError:
            paths = []
        if not paths:
            self._require_bucket()
        for path in paths:
            fanout, _, rest = str(path).rpartition("/objects/")[2].partition("/")
            if _KEY.fullmatch(fanout + rest):
                yield fanout + rest

    def modified(self, key: str) -> float | None:
        """When the object was last written (seconds since the epoch), None if absent."""
        try:
            with self._bucket_errors("look up an object in"):
                stamp: datetime = self.fs.modified(self._remote(key))
        except FileNotFoundError:
            return None
        return stamp.timestamp()

    def remove(self, key: str) -> None:
        """Delete the object ``key`` and its cached copy; removing an absent one does nothing."""
        with contextlib.suppress(FileNotFoundError), self._bucket_errors("delete an object in"):
            self.fs.rm_file(self._remote(key))
        self.cache.remove(key)

    def stale_temp(self, older_than: float) -> list[str]:
        """Uploads left in ``tmp/`` by killed writers, last touched before ``older_than``.

        On object stores a killed upload leaves nothing visible (an unfinished multipart upload
        is cleared by the bucket's lifecycle rule), so there is nothing to list.
        """
        if self._atomic:
            return []
        stale = []
        with contextlib.suppress(FileNotFoundError), self._bucket_errors("list the uploads of"):
            for entry in self.fs.ls(f"{self.root}/tmp", detail=False):
                with contextlib.suppress(FileNotFoundError):
                    if self.fs.modified(entry).timestamp() < older_than:
                        stale.append(str(entry))
        return stale

    def remove_temp(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError), self._bucket_errors("delete an upload in"):
            self.fs.rm_file(name)

    # --- paths -----------------------------------------------------------------------------

    def _remote(self, key: str) -> str:
        self.cache.path(key)  # validates the key
        return f"{self.root}/objects/{key[:2]}/{key[2:]}"

    def _stat(self, path: str) -> tuple[int, bool] | None:
        """The size of the object at ``path`` and whether it was written in the last half hour."""
        try:
            with self._bucket_errors("look up an object in"):
                info = self.fs.info(path)
                stamp = info.get("LastModified") or self.fs.modified(path)  # one request on S3
        except FileNotFoundError:
            return None
        return int(info["size"]), stamp.timestamp() > time.time() - _REFRESH_SECONDS


def is_remote(location: str) -> bool:
    """Whether ``location`` names a filesystem other than this machine's (``s3://...``)."""
    scheme, sep, _ = location.partition("://")
    return bool(sep) and scheme not in ("", "file", "local")


def _filesystem(url: str) -> tuple[Any, str]:
    try:
        import fsspec
    except ImportError:
        raise ConfigError(
            f"artifacts at {url} need fsspec: pip install 'reelflow[s3]' (or fsspec and the "
            "package for that filesystem)"
        ) from None
    scheme = url.partition("://")[0]
    try:
        try:  # other processes write here too: never answer from a cached listing
            return fsspec.core.url_to_fs(url, use_listings_cache=False)  # type: ignore[no-any-return]
        except TypeError:  # a filesystem without listings caches
            return fsspec.core.url_to_fs(url)  # type: ignore[no-any-return]
    except ImportError:
        package = _PACKAGES.get(scheme, f"the fsspec package for {scheme}://")
        raise ConfigError(
            f"artifacts at {url} need {package}: pip install 'reelflow[s3]' or {package}"
        ) from None
    except ValueError as exc:
        raise ConfigError(f"cannot use {url} for artifacts: {exc}") from None
    except Exception as exc:  # a filesystem that connects when opened (ftp, sftp, ...)
        raise StoreError(f"cannot open {url} for artifacts: {_reason(exc)}") from exc


@contextlib.contextmanager
def _missing_is_an_error() -> Iterator[None]:
    """A FileNotFoundError while storing means a missing bucket or folder, not a missing
    object: say so in one line."""
    try:
        yield
    except FileNotFoundError as exc:
        raise StoreError(
            f"cannot store an object: {_reason(exc)}; create the bucket or folder, or point "
            "REELFLOW_ARTIFACTS at one that exists"
        ) from exc


def _protocols(fs: Any) -> tuple[str, ...]:
    protocol = fs.protocol
    return (protocol,) if isinstance(protocol, str) else tuple(protocol)


def _reason(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def open_objects(home: str | os.PathLike[str], artifacts: str | None = None) -> Objects:
    """The object store of a store at ``home``: there, or at ``artifacts`` when that is set.

    A remote store keeps its local cache under ``home/cache/objects``.
    """
    if artifacts is None or not is_remote(artifacts):
        return ObjectStore(artifacts or home)
    return RemoteObjectStore(artifacts, Path(home) / "cache" / "objects")
