"""A store: content-addressed artifacts on a filesystem plus run metadata in SQL."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reelflow._errors import StoreError
from reelflow.store._check import CheckReport, check_objects
from reelflow.store._codecs import StoredValue, load_value, store_value
from reelflow.store._config import StoreConfig, resolve_config
from reelflow.store._objects import Objects
from reelflow.store._records import ArtifactRecord
from reelflow.store._remote import open_objects

if TYPE_CHECKING:
    from reelflow.store._metadata import MetadataStore


@dataclass
class Store:
    """Objects and metadata of one reelflow store, opened lazily."""

    config: StoreConfig
    create: bool = True

    @classmethod
    def open(cls, cwd: str | os.PathLike[str] | None = None, *, create: bool = True) -> Store:
        """The store configured for ``cwd`` (see :func:`resolve_config`).

        With ``create=False`` (what read-only commands use) a missing SQLite store is an error
        instead of a new empty store left behind.
        """
        return cls(resolve_config(cwd), create=create)

    @cached_property
    def objects(self) -> Objects:
        """The artifacts: under ``home``, or at the configured ``artifacts`` URL."""
        return open_objects(self.config.home, self.config.artifacts)

    @cached_property
    def metadata(self) -> MetadataStore:
        """The metadata database, opened (and SQLAlchemy imported) on first use."""
        from reelflow.store._metadata import MetadataStore

        if not self.create:
            self._require_existing()
        self.config.home.mkdir(parents=True, exist_ok=True)
        return MetadataStore(self.config.db_url)

    def _require_existing(self) -> None:
        from sqlalchemy.engine import make_url

        url = make_url(self.config.db_url) if self.config.db_url.startswith("sqlite") else None
        if url is not None and url.database and not Path(url.database).exists():
            raise StoreError(
                f"no reelflow store at {self.config.home} ({url.database} does not exist): "
                "run a flow here first, or point REELFLOW_HOME/REELFLOW_DB at a store"
            )

    def save(self, value: Any) -> StoredValue:
        return store_value(self.objects, value)

    def load(self, artifact: ArtifactRecord, *, verify: bool = True) -> Any:
        return load_value(self.objects, artifact.key, artifact.encoding, verify=verify)

    def check(self, *, remove_orphans: bool = False) -> CheckReport:
        """Verify every object and find orphans (objects no run refers to)."""
        return check_objects(
            self.objects, self.metadata.referenced_keys(), remove_orphans=remove_orphans
        )
