"""``EASE``: the closed-form linear item-item model of Steck (2019)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from reelflow._errors import ModelError
from reelflow.models._base import Recommender, check_float

if TYPE_CHECKING:
    from reelflow.data import Interactions


class EASE(Recommender):
    """Embarrassingly Shallow Autoencoder: ``B = argmin ||X - XB||² + l2 ||B||²``, ``diag(B) = 0``.

    Closed form: ``G = XᵀX + l2·I``, ``P = G⁻¹``, ``B = -P / diag(P)`` (column-wise), then the
    diagonal is set to 0. ``G`` and its inverse are computed in float64 (the inverse of a
    large Gram matrix loses accuracy in float32); ``weights_`` is kept in float32, which halves
    memory and is ample for ranking. Memory and time grow with n_items² and n_items³: fine up
    to a few tens of thousands of items.
    """

    _learned = ("weights_",)

    def __init__(self, l2: float = 500.0) -> None:
        self.l2 = l2

    def _check_params(self) -> None:
        check_float(self, "l2", positive=True)

    def _fit(self, matrix: sp.csr_matrix, data: Interactions) -> None:
        gram = np.asarray((matrix.T @ matrix).toarray(), dtype=np.float64)
        gram[np.diag_indices_from(gram)] += self.l2
        weights = _spd_inverse(gram)
        weights /= -np.diag(weights).copy()  # in place: column j divided by -P[j, j]
        weights[np.diag_indices_from(weights)] = 0.0
        self.weights_ = weights.astype(np.float32)

    def _score_batch(self, user_idx: np.ndarray, context: np.ndarray | None) -> np.ndarray:
        return np.asarray(self.seen_[user_idx] @ self.weights_, dtype=np.float32)


def _spd_inverse(gram: np.ndarray) -> np.ndarray:
    """The inverse of a symmetric positive definite matrix through its Cholesky factor (about
    1.4x faster than a general inverse here), overwriting ``gram``."""
    from scipy.linalg import lapack

    # gram is symmetric, so its transpose is the Fortran-ordered view LAPACK works on in place.
    factor, info = lapack.dpotrf(gram.T, lower=True, overwrite_a=True, clean=False)
    if info == 0:
        inverse, info = lapack.dpotri(factor, lower=True, overwrite_c=True)
    if info != 0:
        raise ModelError(f"EASE's Gram matrix is not positive definite (LAPACK {info}); raise l2")
    upper: np.ndarray = np.triu(inverse.T)  # the lower triangle of the Fortran view, in C order
    upper += np.triu(upper, 1).T
    return upper
