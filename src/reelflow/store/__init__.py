"""The store: content-addressed artifacts and run metadata (the lowest layer of reelflow).

Names load lazily: a worker that only reads objects never imports SQLAlchemy.
"""

from typing import TYPE_CHECKING

from reelflow._lazy import lazy_exports
from reelflow.store._records import (
    CAUGHT,
    FAILED,
    INTERRUPTED,
    PENDING,
    RUNNING,
    SUCCEEDED,
    ArtifactRecord,
    AttemptRecord,
    RunRecord,
    TaskOutcome,
    TaskRecord,
)

if TYPE_CHECKING:
    from reelflow.store._check import CheckReport, check_objects
    from reelflow.store._codecs import StoredValue, load_value, store_value
    from reelflow.store._config import StoreConfig, resolve_config
    from reelflow.store._guards import GuardResultStore
    from reelflow.store._metadata import MetadataStore
    from reelflow.store._objects import ObjectInfo, Objects, ObjectStore
    from reelflow.store._remote import RemoteObjectStore, open_objects
    from reelflow.store._store import Store

__all__ = [
    "CAUGHT",
    "FAILED",
    "INTERRUPTED",
    "PENDING",
    "RUNNING",
    "SUCCEEDED",
    "ArtifactRecord",
    "AttemptRecord",
    "CheckReport",
    "GuardResultStore",
    "MetadataStore",
    "ObjectInfo",
    "ObjectStore",
    "Objects",
    "RemoteObjectStore",
    "RunRecord",
    "Store",
    "StoreConfig",
    "StoredValue",
    "TaskOutcome",
    "TaskRecord",
    "check_objects",
    "load_value",
    "open_objects",
    "resolve_config",
    "store_value",
]

__getattr__ = lazy_exports(
    __name__,
    {
        "CheckReport": "reelflow.store._check",
        "check_objects": "reelflow.store._check",
        "StoredValue": "reelflow.store._codecs",
        "load_value": "reelflow.store._codecs",
        "store_value": "reelflow.store._codecs",
        "StoreConfig": "reelflow.store._config",
        "resolve_config": "reelflow.store._config",
        "GuardResultStore": "reelflow.store._guards",
        "MetadataStore": "reelflow.store._metadata",
        "ObjectInfo": "reelflow.store._objects",
        "ObjectStore": "reelflow.store._objects",
        "Objects": "reelflow.store._objects",
        "RemoteObjectStore": "reelflow.store._remote",
        "open_objects": "reelflow.store._remote",
        "Store": "reelflow.store._store",
    },
)
