"""A model's saved files in the store: put each file as a content-addressed object, and bring
them back as a folder (verified, written atomically) that ``Recommender.load`` reads."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from reelflow._errors import RegistryError
from reelflow.store import Objects
from reelflow.store._objects import hash_bytes

CACHE_DIR = "registry"
ModelFiles = Sequence[tuple[str, str, int]]


def store_model_files(model: Any, objects: Objects) -> list[tuple[str, str, int]]:
    """Save ``model`` (its own ``save``) and put every file in the store: (path, key, size)."""
    with tempfile.TemporaryDirectory(prefix="reelflow-model-") as tmp:
        root = Path(tmp) / "model"
        model.save(root)
        files = []
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            info = objects.put_file(path)
            files.append((path.relative_to(root).as_posix(), info.key, info.size))
    if not files:
        raise RegistryError(f"{type(model).__name__}.save wrote no files; nothing to register")
    return files


def materialize(files: ModelFiles, objects: Objects, cache_root: Path) -> Path:
    """The model's folder under ``cache_root``, written once (verified objects, temp folder
    renamed into place) and shared by every later load of the same files."""
    final = cache_root / _digest(files)
    if final.is_dir():
        return final
    cache_root.mkdir(parents=True, exist_ok=True)
    temp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=cache_root))
    try:
        for relative, key, _size in files:
            target = temp / _safe_relative(relative)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(objects.read_bytes(key, verify=True))
        os.rename(temp, final)
    except OSError:
        shutil.rmtree(temp, ignore_errors=True)
        if final.is_dir():  # another process placed the same files first
            return final
        raise
    return final


def _digest(files: ModelFiles) -> str:
    listing = "\n".join(f"{path}\t{key}" for path, key, _ in sorted(files))
    return hash_bytes(listing.encode("utf-8"))[:32]


def _safe_relative(relative: str) -> PurePosixPath:
    path = PurePosixPath(relative)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise RegistryError(f"model file path {relative!r} is unsafe; the registry is damaged")
    return path
