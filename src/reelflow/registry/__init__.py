"""The model registry: versions with lineage, aliases (champion, challenger), promotion gated
by guards, rollback, and an audit history of every alias move."""

from reelflow.registry._refs import ModelRef, parse_ref
from reelflow.registry._registry import CHAMPION, Registry
from reelflow.registry._versions import ModelVersion, Promotion

__all__ = ["CHAMPION", "ModelRef", "ModelVersion", "Promotion", "Registry", "parse_ref"]
