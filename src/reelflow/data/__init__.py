"""Interaction data: the ``Interactions`` type, loaders, a synthetic generator and splits."""

from reelflow.data._ids import IdIndex
from reelflow.data._interactions import Interactions
from reelflow.data._movielens import MovieLens, load_movielens, load_movielens_fold
from reelflow.data._splits import (
    Split,
    kfold,
    leave_last_n,
    leave_one_out,
    per_user_holdout,
    random_holdout,
    temporal_cutoff,
)
from reelflow.data._synthetic import SyntheticLog, generate_interactions

__all__ = [
    "IdIndex",
    "Interactions",
    "MovieLens",
    "Split",
    "SyntheticLog",
    "generate_interactions",
    "kfold",
    "leave_last_n",
    "leave_one_out",
    "load_movielens",
    "load_movielens_fold",
    "per_user_holdout",
    "random_holdout",
    "temporal_cutoff",
]
