"""Recommenders with one contract: fit, recommend, score, save and load.

Names load lazily: the heavy libraries (implicit) load only when a model that needs them fits.
"""

from typing import TYPE_CHECKING

from reelflow._lazy import lazy_exports

if TYPE_CHECKING:
    from reelflow.models._base import Recommender
    from reelflow.models._baselines import MostPopular, Random
    from reelflow.models._ease import EASE
    from reelflow.models._implicit import ALS, BPR
    from reelflow.models._knn import ItemKNN
    from reelflow.models._mf import BiasedMF
    from reelflow.models._regional import PerRegion
    from reelflow.models._rerank import LTRReranker
    from reelflow.models._topk import Recommendations

__all__ = [
    "ALS",
    "BPR",
    "EASE",
    "BiasedMF",
    "ItemKNN",
    "LTRReranker",
    "MostPopular",
    "PerRegion",
    "Random",
    "Recommendations",
    "Recommender",
]

__getattr__ = lazy_exports(
    __name__,
    {
        "Recommender": "reelflow.models._base",
        "Recommendations": "reelflow.models._topk",
        "MostPopular": "reelflow.models._baselines",
        "Random": "reelflow.models._baselines",
        "EASE": "reelflow.models._ease",
        "ALS": "reelflow.models._implicit",
        "BPR": "reelflow.models._implicit",
        "ItemKNN": "reelflow.models._knn",
        "BiasedMF": "reelflow.models._mf",
        "LTRReranker": "reelflow.models._rerank",
        "PerRegion": "reelflow.models._regional",
    },
)
