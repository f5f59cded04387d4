"""A store: content-addressed artifacts on a filesystem plus run metadata in SQL."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from reelflow.store._check import CheckReport, check_objects
from reelflow.store._codecs import StoredValue, load_value, store_value
from reelflow.store._config import StoreConfig, resolve_config
from reelflow.store._metadata import MetadataStore
from reelflow.store._objects import ObjectStore
from reelflow.store._records import ArtifactRecord


@dataclass
class Store:
    """Objects and metadata of one reelflow store, opened lazily."""

    config: StoreConfig

    @classmethod
    def open(cls, cwd: str | os.PathLike[str] | None = None) -> Store:
        """The store configured for ``cwd`` (see :func:`resolve_config`)."""
        return cls(resolve_config(cwd))

    @cached_property
    def objects(self) -> ObjectStore:
        return ObjectStore(self.config.home)

    @cached_property
    def metadata(self) -> MetadataStore:
        self.config.home.mkdir(parents=True, exist_ok=True)
        return MetadataStore(self.config.db_url)

    def save(self, value: Any) -> StoredValue:
        return store_value(self.objects, value)

    def load(self, artifact: ArtifactRecord, *, verify: bool = True) -> Any:
        return load_value(self.objects, artifact.key, artifact.encoding, verify=verify)

    def check(self, *, remove_orphans: bool = False) -> CheckReport:
        """Verify every object and find orphans (objects no run refers to)."""
        return check_objects(
            self.objects, self.metadata.referenced_keys(), remove_orphans=remove_orphans
        )
