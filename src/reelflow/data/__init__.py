"""Interaction data: the ``Interactions`` type, loaders, a synthetic generator and splits."""

from reelflow.data._ids import IdIndex
from reelflow.data._interactions import Interactions

__all__ = ["IdIndex", "Interactions"]
