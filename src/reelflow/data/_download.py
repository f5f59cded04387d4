"""Download a zip archive once into a local cache, check it, and extract it atomically.

A finished data set is a folder that appears in the cache by one rename, so a reader never sees a
half-extracted folder and an interrupted download leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from reelflow._errors import DataError

log = logging.getLogger(__name__)

_BLOCK = 1 << 20


@dataclass(frozen=True)
class Archive:
    """What is known of a published zip: its SHA-256 and size (``None``: unknown, not checked)
    and the SHA-256 of some files inside it, checked after extraction."""

    sha256: str | None = None
    size: int | None = None
    members: Mapping[str, str] = field(default_factory=dict)


MD5_SUFFIX = ".md5"  # GroupLens publishes <archive>.md5 beside each zip
_MD5 = re.compile(r"\b([0-9a-fA-F]{32})\b")


def cache_root(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The data set cache: ``cache_dir``, else ``$REELFLOW_DATA_CACHE``, else
    ``~/.cache/reelflow/datasets``."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    configured = os.environ.get("REELFLOW_DATA_CACHE")
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "reelflow" / "datasets"


def fetch(name: str, url: str, archive: Archive, root: Path, *, download: bool = True) -> Path:
    """The folder ``root/name`` holding the extracted archive, downloading it first if needed."""
    target = root / name
    if target.is_dir():
        return target
    if not download:
        raise DataError(
            f"'{name}' is not in the cache at {root}; allow download=True or pass the folder "
            "that holds its extracted files"
        )
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=root))
    try:
        _download(url, staging / "download.zip", archive)
        folder = _extract(staging / "download.zip", staging / "files", name)
        _check_members(folder, archive.members, name)
        _publish(folder, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _download(url: str, dest: Path, archive: Archive) -> None:
    log.info("downloading %s", url)
    published_md5 = None if archive.sha256 is not None else _published_md5(url)
    digest, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    size = 0
    try:
        with urllib.request.urlopen(url, timeout=60) as response, dest.open("wb") as out:
            while block := response.read(_BLOCK):
                digest.update(block)
                md5.update(block)
                out.write(block)
                size += len(block)
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DataError(
            f"could not download {url} ({reason}); check the network, or download and extract "
            "it yourself and pass the folder"
        ) from None
    _check_download(url, size, digest.hexdigest(), archive)
    if published_md5 is not None and md5.hexdigest() != published_md5:
        raise DataError(
            f"{url} has MD5 {md5.hexdigest()}, not the {published_md5} published in "
            f"{url}{MD5_SUFFIX}; the download is corrupt: try again, or pass an extracted folder"
        )


def _published_md5(url: str) -> str:
    """The MD5 the site publishes beside the archive, for archives with no pinned SHA-256."""
    try:
        with urllib.request.urlopen(url + MD5_SUFFIX, timeout=60) as response:
            text = response.read(4096).decode("ascii", "replace")
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DataError(
            f"no checksum is pinned for {url} and {url}{MD5_SUFFIX} could not be read "
            f"({reason}); download and check it yourself, then pass the extracted folder"
        ) from None
    match = _MD5.search(text)
    if match is None:
        raise DataError(f"{url}{MD5_SUFFIX} holds no MD5 checksum; pass an extracted folder")
    return match.group(1).lower()


def _check_download(url: str, size: int, sha256: str, archive: Archive) -> None:
    if size == 0:
        raise DataError(f"{url} downloaded empty; try again later or pass an extracted folder")
    if archive.size is not None and size != archive.size:
        raise DataError(
            f"{url} downloaded {size:,} bytes but {archive.size:,} were expected; the download "
            "is incomplete or the file changed: try again, or pass an extracted folder"
        )
    if archive.sha256 is not None and sha256 != archive.sha256:
        raise DataError(
            f"{url} has SHA-256 {sha256}, not the known {archive.sha256}; the file is corrupt "
            "or was changed upstream: try again, or pass an extracted folder"
        )


def _extract(path: Path, into: Path, name: str) -> Path:
    """Extract into ``into``; the data set's folder (the archive's single top folder, if any)."""
    try:
        with zipfile.ZipFile(path) as zipped:
            zipped.extractall(into)  # zipfile drops absolute paths and '..' parts
    except zipfile.BadZipFile:
        raise DataError(f"the download of '{name}' is not a valid zip; try again") from None
    entries = [p for p in into.iterdir() if not p.name.startswith(("__MACOSX", "."))]
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return into


def _check_members(folder: Path, members: Mapping[str, str], name: str) -> None:
    for member, expected in members.items():
        path = folder / member
        if not path.is_file() or _sha256(path) != expected:
            raise DataError(
                f"'{member}' in the '{name}' archive is missing or differs from the official "
                "file; the archive was changed upstream: pass an extracted folder instead"
            )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _publish(folder: Path, target: Path) -> None:
    """Move the extracted folder into place by one rename; a concurrent winner is kept."""
    try:
        folder.rename(target)
    except OSError:
        if not target.is_dir():
            raise
