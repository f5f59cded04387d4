"""``ItemKNN``: item-item cosine similarity with shrinkage, keeping each item's top-k neighbours."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from reelflow.models._base import Recommender, check_float, check_int
from reelflow.models._topk import batch_rows, top_k

if TYPE_CHECKING:
    from reelflow.data import Interactions


class ItemKNN(Recommender):
    """Item-based nearest neighbours on the binary user x item matrix.

    ``sim(i, j) = |U_i & U_j| / (sqrt(|U_i|) * sqrt(|U_j|) + shrinkage)`` (cosine, shrunk towards
    zero for rarely co-consumed pairs). Each item keeps its ``k`` most similar items (positive
    similarity only) in a sparse matrix ``similarity_``; a user's score for item j is the sum of
    ``similarity_[i, j]`` over the items i in their history.
    """

    _learned = ("similarity_",)
    _sparse_scores = True

    def __init__(self, k: int = 100, shrinkage: float = 10.0) -> None:
        self.k = k
        self.shrinkage = shrinkage

    def _check_params(self) -> None:
        check_int(self, "k", low=1)
        check_float(self, "shrinkage")

    def _fit(self, matrix: sp.csr_matrix, data: Interactions) -> None:
        by_item = sp.csr_matrix(matrix.T)
        norms = np.sqrt(np.asarray(by_item.sum(axis=1)).ravel()).astype(np.float32)
        n_items = by_item.shape[0]
        blocks = []
        step = batch_rows(n_items, cell_bytes=self._cell_bytes)
        for start in range(0, n_items, step):
            rows = np.arange(start, min(start + step, n_items))
            blocks.append(self._neighbours(by_item, norms, rows))
        self.similarity_ = sp.csr_matrix(sp.vstack(blocks, format="csr"), dtype=np.float32)

    def _neighbours(
        self, by_item: sp.csr_matrix, norms: np.ndarray, rows: np.ndarray
    ) -> sp.csr_matrix:
        """The top-k similarity rows for items ``rows``, as a sparse (len(rows), n_items) block."""
        overlap = np.asarray((by_item[rows] @ by_item.T).toarray(), dtype=np.float32)
        with np.errstate(invalid="ignore", divide="ignore"):
            overlap /= norms[rows, None] * norms[None, :] + np.float32(self.shrinkage)
        overlap[np.arange(len(rows)), rows] = 0.0
        overlap[~(overlap > 0)] = -np.inf  # no co-occurrence (or 0/0 when shrinkage=0)
        positions, values = top_k(overlap, min(self.k, overlap.shape[1]))
        keep = positions >= 0
        row_of = np.repeat(np.arange(len(rows)), keep.sum(axis=1))
        return sp.csr_matrix(
            (values[keep], (row_of, positions[keep])), shape=overlap.shape, dtype=np.float32
        )

    def _score_batch(self, user_idx: np.ndarray, context: np.ndarray | None) -> np.ndarray:
        return np.asarray(self._score_batch_sparse(user_idx).toarray(), dtype=np.float32)

    def _score_batch_sparse(self, user_idx: np.ndarray) -> sp.csr_matrix:
        return sp.csr_matrix(self.seen_[user_idx] @ self.similarity_, dtype=np.float32)
