"""Features defined once as SQL and computed point-in-time correct on DuckDB or Spark.

``compute(features, events, spine)`` returns one row per spine row (keys and ``as_of``) with
every feature computed only from the events strictly before ``as_of``; without a spine, a
snapshot after the last event, for serving. See docs/features.md.
"""

from typing import TYPE_CHECKING

from reelflow._lazy import lazy_exports
from reelflow.features._feature import ENTITY_KEYS, Entity, Feature, FeatureSet

if TYPE_CHECKING:
    from reelflow.features._builtins import (
        BUILTINS,
        CANDIDATE_FEATURES,
        ITEM_FEATURES,
        ITEM_REGION_FEATURES,
        USER_FEATURES,
        USER_REGION_FEATURES,
        builtin_features,
    )
    from reelflow.features._compute import compute
    from reelflow.features._cooc import cooccurrence, cooccurrence_feature
    from reelflow.features._engine import DuckDBEngine, Engine
    from reelflow.features._inputs import events_table
    from reelflow.features._spark import SparkEngine

__all__ = [
    "BUILTINS",
    "CANDIDATE_FEATURES",
    "ENTITY_KEYS",
    "ITEM_FEATURES",
    "ITEM_REGION_FEATURES",
    "USER_FEATURES",
    "USER_REGION_FEATURES",
    "DuckDBEngine",
    "Engine",
    "Entity",
    "Feature",
    "FeatureSet",
    "SparkEngine",
    "builtin_features",
    "compute",
    "cooccurrence",
    "cooccurrence_feature",
    "events_table",
]

__getattr__ = lazy_exports(
    __name__,
    {
        "BUILTINS": "reelflow.features._builtins",
        "CANDIDATE_FEATURES": "reelflow.features._builtins",
        "ITEM_FEATURES": "reelflow.features._builtins",
        "ITEM_REGION_FEATURES": "reelflow.features._builtins",
        "USER_FEATURES": "reelflow.features._builtins",
        "USER_REGION_FEATURES": "reelflow.features._builtins",
        "builtin_features": "reelflow.features._builtins",
        "cooccurrence": "reelflow.features._cooc",
        "cooccurrence_feature": "reelflow.features._cooc",
        "compute": "reelflow.features._compute",
        "DuckDBEngine": "reelflow.features._engine",
        "Engine": "reelflow.features._engine",
        "SparkEngine": "reelflow.features._spark",
        "events_table": "reelflow.features._inputs",
    },
)
