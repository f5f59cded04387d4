"""``ALS`` and ``BPR``: matrix factorization trained by the ``implicit`` library (CPU).

``implicit`` is imported only inside ``fit``. Its solvers run their own threads (``num_threads``,
0 = all cores), so BLAS is limited to one thread during training with ``threadpoolctl``, as
implicit recommends (a threaded BLAS inside its threads can be many times slower). Scoring is
``user_factors_ @ item_factors_.T`` a batch of users at a time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from reelflow.models._base import Recommender, check_float, check_int, check_seed

if TYPE_CHECKING:
    from reelflow.data import Interactions


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
    """Implicit-feedback ALS (Hu, Koren & Volinsky 2008): confidence ``1 + alpha`` on interactions.

    Reproducible for a fixed ``random_state`` with any ``num_threads`` (each row is solved
    independently).
    """

    def __init__(
        self,
        factors: int = 64,
        regularization: float = 0.01,
        iterations: int = 15,
        alpha: float = 1.0,
        random_state: int | None = None,
        num_threads: int = 0,
    ) -> None:
        self.factors = factors
        self.regularization = regularization
        self.iterations = iterations
        self.alpha = alpha
        self.random_state = random_state
        self.num_threads = num_threads

    def _check_params(self) -> None:
        self._check_common()
        check_float(self, "alpha", positive=True)

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
        self._train(model, matrix)


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
