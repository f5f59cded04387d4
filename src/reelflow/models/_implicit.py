"""``ALS`` and ``BPR``: matrix factorization trained by the ``implicit`` library (CPU).

``implicit`` is imported only inside ``fit``. Its solvers run their own threads (``num_threads``,
0 = all cores), so BLAS is limited to one thread during training with ``threadpoolctl``, as
implicit recommends (a threaded BLAS inside its threads can be many times slower). Scoring is
``user_factors_ @ item_factors_.T`` a batch of users at a time.

``ALS(weighting=...)`` reweights the binary matrix before training, the way implicit's
``tfidf_weight`` and ``bm25_weight`` (K1=100, B=0.8) weight the item x user matrix in implicit's
examples: items are the documents and users the terms, so a user's idf is
``log(n_items) - log1p(n_user_items)`` (floored at a tiny positive value, so that a user who
rated nearly every item keeps a positive confidence) and, for BM25, an item's length is its
interaction count.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from reelflow._errors import ModelError
from reelflow.models._base import Recommender, check_float, check_int, check_seed

if TYPE_CHECKING:
    from reelflow.data import Interactions

WEIGHTINGS = ("none", "tfidf", "bm25")
BM25_K1 = 100.0
BM25_B = 0.8
_IDF_FLOOR = 1e-6


class _Factorization(Recommender):
    """Shared scoring and state for the factor models."""

    _learned = ("user_factors_", "item_factors_")
    random_state: int | None
    num_threads: int

    def _check_common(self) -> None:
        check_int(self, "factors", low=1)
        check_float(self, "regularization")
        check_int(self, "iterations", low=1)
        check_int(self, "num_threads", low=0)
        check_seed(self)

    def _train(self, model: Any, matrix: sp.csr_matrix) -> None:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1, user_api="blas"):
            model.fit(matrix, show_progress=False)
        self.user_factors_ = np.ascontiguousarray(model.user_factors, dtype=np.float32)
        self.item_factors_ = np.ascontiguousarray(model.item_factors, dtype=np.float32)

    def _score_batch(self, user_idx: np.ndarray, context: np.ndarray | None) -> np.ndarray:
        return np.asarray(self.user_factors_[user_idx] @ self.item_factors_.T, dtype=np.float32)

    def _score_pairs(
        self, user_idx: np.ndarray, item_idx: np.ndarray, context: np.ndarray | None
    ) -> np.ndarray:
        pairs = np.einsum("ij,ij->i", self.user_factors_[user_idx], self.item_factors_[item_idx])
        return np.asarray(pairs, dtype=np.float32)


class ALS(_Factorization):
    """Implicit-feedback ALS (Hu, Koren & Volinsky 2008), trained by implicit.

    An interaction's confidence is ``alpha * w`` (implicit's convention; unobserved cells weigh
    1), where ``w`` is 1 for ``weighting="none"``, the user's idf for ``"tfidf"`` and the BM25
    weight for ``"bm25"`` (see the module docstring). Reproducible for a fixed ``random_state``
    with any ``num_threads`` (each row is solved independently).
    """

    def __init__(
        self,
        factors: int = 64,
        regularization: float = 0.01,
        iterations: int = 15,
        alpha: float = 1.0,
        random_state: int | None = None,
        num_threads: int = 0,
        weighting: str = "none",
    ) -> None:
        self.factors = factors
        self.regularization = regularization
        self.iterations = iterations
        self.alpha = alpha
        self.random_state = random_state
        self.num_threads = num_threads
        self.weighting = weighting

    def _check_params(self) -> None:
        self._check_common()
        check_float(self, "alpha", positive=True)
        if not isinstance(self.weighting, str) or self.weighting not in WEIGHTINGS:
            raise ModelError(
                f"ALS(weighting={self.weighting!r}) is invalid; pass one of: "
                f"{', '.join(WEIGHTINGS)}"
            )

    def _fit(self, matrix: sp.csr_matrix, data: Interactions) -> None:
        from implicit.cpu.als import AlternatingLeastSquares
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1, user_api="blas"):  # implicit checks BLAS on creation
            model = AlternatingLeastSquares(
                factors=self.factors,
                regularization=self.regularization,
                alpha=self.alpha,
                iterations=self.iterations,
                random_state=self.random_state,
                num_threads=self.num_threads,
            )
        self._train(model, confidence_weights(matrix, self.weighting))


def confidence_weights(matrix: sp.csr_matrix, weighting: str) -> sp.csr_matrix:
    """``matrix`` (users x items, binary) with each interaction weighted by ``weighting``.

    ``"tfidf"`` and ``"bm25"`` equal implicit's ``tfidf_weight`` and ``bm25_weight(K1=100,
    B=0.8)`` applied to the item x user matrix, transposed back, except that the user idf is
    floored at 1e-6 instead of reaching 0 or below (a user with ``n_items - 1`` items or more).
    """
    if weighting == "none":
        return matrix
    n_users, n_items = matrix.shape
    per_user = np.diff(matrix.indptr)
    idf = np.maximum(np.log(float(n_items)) - np.log1p(per_user), _IDF_FLOOR)
    rows = np.repeat(np.arange(n_users), per_user)
    weights = np.sqrt(matrix.data.astype(np.float64)) * idf[rows]
    if weighting == "bm25":
        lengths = np.bincount(matrix.indices, weights=matrix.data, minlength=n_items)
        norm = (1.0 - BM25_B) + BM25_B * lengths / max(float(lengths.mean()), 1e-12)
        data = matrix.data.astype(np.float64)
        weights = data * (BM25_K1 + 1.0) / (BM25_K1 * norm[matrix.indices] + data) * idf[rows]
    return sp.csr_matrix(
        (weights.astype(np.float32), matrix.indices.copy(), matrix.indptr.copy()),
        shape=matrix.shape,
    )


class BPR(_Factorization):
    """Bayesian Personalized Ranking (Rendle et al. 2009), trained by SGD on sampled triples.

    ``item_factors_`` carries one extra column, the item bias (``user_factors_`` holds 1 there).
    ``num_threads`` defaults to 1 because implicit's multi-threaded BPR is not reproducible even
    with a fixed ``random_state`` (implicit issue #710); raise it for speed when exact
    reproducibility does not matter.
    """

    def __init__(
        self,
        factors: int = 64,
        learning_rate: float = 0.01,
        regularization: float = 0.01,
        iterations: int = 100,
        random_state: int | None = None,
        num_threads: int = 1,
    ) -> None:
        self.factors = factors
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.iterations = iterations
        self.random_state = random_state
        self.num_threads = num_threads

    def _check_params(self) -> None:
        self._check_common()
        check_float(self, "learning_rate", positive=True)

    def _fit(self, matrix: sp.csr_matrix, data: Interactions) -> None:
        from implicit.cpu.bpr import BayesianPersonalizedRanking
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1, user_api="blas"):
            model = BayesianPersonalizedRanking(
                factors=self.factors,
                learning_rate=self.learning_rate,
                regularization=self.regularization,
                iterations=self.iterations,
                random_state=self.random_state,
                num_threads=self.num_threads,
            )
        self._train(model, matrix)
