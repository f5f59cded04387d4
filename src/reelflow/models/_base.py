"""``Recommender``: the one contract every model follows (scikit-learn's estimator style).

``__init__`` only stores its arguments, :meth:`~Recommender.get_params` reads the signature,
parameters are checked once on entry to :meth:`~Recommender.fit`, and everything learned ends in
``_``. Subclasses implement ``_check_params``, ``_fit`` and ``_score_batch``; the base class does
id mapping, cold-start policy, seen-item exclusion, batched top-k, and persistence.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Self, cast

import numpy as np
import pandas as pd
import scipy.sparse as sp

from reelflow._errors import DataError, ModelError, NotFittedError
from reelflow.models._topk import (
    Recommendations,
    batch_rows,
    item_labels,
    mask_seen,
    top_k,
    top_k_sparse,
)

if TYPE_CHECKING:
    from reelflow.data import IdIndex, Interactions

UnknownUsers = Literal["error", "popular"]
_REGISTRY: dict[str, type[Recommender]] = {}


class Recommender:
    """A model that ranks items for users; see ``docs/models.md`` for the full contract."""

    _learned: ClassVar[tuple[str, ...]] = ()
    """Names of the learned arrays (beyond the ids and seen matrix) that ``save`` writes."""
    _cell_bytes: ClassVar[int] = 8
    """Working memory per (user, item) score: the model's float32 output plus one copy."""
    _sparse_scores: ClassVar[bool] = False
    """True when ``_score_batch_sparse`` gives known users' scores as a sparse matrix (absent
    entries score 0); ``recommend`` then takes the top k with ``top_k_sparse``, same result."""

    users_: IdIndex
    items_: IdIndex
    seen_: sp.csr_matrix
    item_counts_: np.ndarray

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__name__.startswith("_"):
            _REGISTRY[cls.__name__] = cls

    # --- parameters ----------------------------------------------------------------------------

    @classmethod
    def _param_names(cls) -> list[str]:
        signature = inspect.signature(cls.__init__)
        return [name for name in signature.parameters if name != "self"]

    def get_params(self, deep: bool = False) -> dict[str, Any]:
        """The constructor arguments, by name (``deep`` is accepted for scikit-learn tools)."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> Self:
        """Change constructor arguments; they are checked on the next ``fit``."""
        valid = self._param_names()
        for name in params:
            if name not in valid:
                raise ModelError(
                    f"{type(self).__name__} has no parameter '{name}'; "
                    f"valid parameters are: {', '.join(valid) or '(none)'}"
                )
        for name, value in params.items():
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({shown})"

    # --- fitting -------------------------------------------------------------------------------

    def fit(self, data: Interactions) -> Self:
        """Learn from ``data`` (an :class:`~reelflow.data.Interactions`) and return ``self``."""
        from reelflow.data import Interactions

        if not isinstance(data, Interactions):
            raise ModelError(
                f"fit expects an Interactions, got {type(data).__name__}; "
                "build one with Interactions.from_pandas(...)"
            )
        self._check_params()
        if len(data) == 0:
            raise DataError("the training data holds no interactions; fit on a non-empty log")
        self.users_ = data.users
        self.items_ = data.items
        self.seen_ = data.csr(binary=True)
        self.item_counts_ = np.bincount(data.item, minlength=data.n_items).astype(np.int64)
        self._fit(self.seen_, data)
        return self

    def _check_params(self) -> None:
        """Raise ModelError for any invalid constructor argument (called once, by ``fit``)."""

    def _fit(self, matrix: sp.csr_matrix, data: Interactions) -> None:
        """Learn from ``matrix`` (users x items, binary float32 CSR) and ``data``."""
        raise NotImplementedError

    def _score_batch(self, user_idx: np.ndarray, context: np.ndarray | None) -> np.ndarray:
        """Scores ``(len(user_idx), n_items)`` for known users, as a new array the caller owns."""
        raise NotImplementedError

    def _score_batch_sparse(self, user_idx: np.ndarray) -> sp.csr_matrix:
        """``_score_batch``'s scores as a float32 CSR matrix, for models with ``_sparse_scores``."""
        raise NotImplementedError

    def _fallback_scores(self, n: int, context: np.ndarray | None) -> np.ndarray:
        """Scores for ``n`` users unseen in training: training interaction counts per item."""
        return np.tile(self.item_counts_.astype(np.float32), (n, 1))

    def _context_codes(self, context: Any, n: int) -> np.ndarray | None:
        """The model's codes for ``context=`` (only models that use context accept one)."""
        if context is not None:
            raise ModelError(
                f"{type(self).__name__} does not use context=; only MostPopular(by=...) does"
            )
        return None

    # --- using ---------------------------------------------------------------------------------

    def recommend(
        self,
        users: Any,
        k: int = 10,
        *,
        exclude_seen: bool = True,
        items: Any = None,
        unknown_users: UnknownUsers = "error",
        context: Any = None,
        batch_size: int | None = None,
    ) -> Recommendations:
        """The top ``k`` items for each of ``users`` (original ids), best first.

        ``items`` restricts the candidates to a subset of item ids. ``unknown_users`` says what
        to do with users absent from training: ``"error"`` raises DataError, ``"popular"`` gives
        them the most interacted-with items (scored by training interaction count).
        """
        self._check_fitted()
        k = _positive_int(k, "k")
        user_idx = self._user_indices(users, unknown_users)
        codes = self._context_codes(context, len(user_idx))
        candidates = None if items is None else np.unique(self._item_indices(items))
        batch_size = _optional_positive(batch_size, "batch_size")
        rows = batch_rows(len(self.items_), batch_size, cell_bytes=self._cell_bytes)
        positions = np.empty((len(user_idx), k), dtype=np.int64)
        scores = np.empty((len(user_idx), k), dtype=np.float32)
        for start in range(0, len(user_idx), rows):
            part = slice(start, start + rows)
            if self._sparse_scores and codes is None and (user_idx[part] >= 0).all():
                seen = self.seen_[user_idx[part]] if exclude_seen else None
                sparse = self._score_batch_sparse(user_idx[part])
                positions[part], scores[part] = top_k_sparse(
                    sparse, k, exclude=seen, columns=candidates
                )
                continue
            block = self._scores(user_idx[part], None if codes is None else codes[part])
            if exclude_seen:
                mask_seen(block, self.seen_, user_idx[part])
            if candidates is not None:
                block = block[:, candidates]
            positions[part], scores[part] = top_k(block, k)
        if candidates is not None:
            positions = np.append(candidates, -1)[positions]  # padding (-1) stays -1
        return Recommendations(item_labels(self.items_.ids, positions), scores)

    def score(self, users: Any, items: Any, *, context: Any = None) -> np.ndarray:
        """Float32 scores of aligned (user, item) pairs; unknown users or items raise DataError."""
        self._check_fitted()
        user_idx = self._user_indices(users, "error")
        item_idx = self._item_indices(items)
        if len(user_idx) != len(item_idx):
            raise ModelError(
                f"score got {len(user_idx)} users and {len(item_idx)} items; pass aligned pairs"
            )
        codes = self._context_codes(context, len(user_idx))
        return self._score_pairs(user_idx, item_idx, codes).astype(np.float32, copy=False)

    def _score_pairs(
        self, user_idx: np.ndarray, item_idx: np.ndarray, context: np.ndarray | None
    ) -> np.ndarray:
        """Pair scores via ``_score_batch`` in memory-bounded chunks (models may do better)."""
        out = np.empty(len(user_idx), dtype=np.float32)
        rows = batch_rows(len(self.items_), cell_bytes=self._cell_bytes)
        for start in range(0, len(user_idx), rows):
            part = slice(start, start + rows)
            block = self._score_batch(user_idx[part], None if context is None else context[part])
            out[part] = block[np.arange(len(block)), item_idx[part]]
        return out

    def _scores(self, user_idx: np.ndarray, context: np.ndarray | None) -> np.ndarray:
        known = user_idx >= 0
        if known.all():
            block = self._score_batch(user_idx, context)
        else:
            block = np.empty((len(user_idx), len(self.items_)), dtype=np.float32)
            block[known] = self._score_batch(
                user_idx[known], None if context is None else context[known]
            )
            block[~known] = self._fallback_scores(
                int((~known).sum()), None if context is None else context[~known]
            )
        return np.require(block, dtype=np.float32, requirements=["C", "W", "O"])

    def _user_indices(self, users: Any, unknown_users: str) -> np.ndarray:
        if unknown_users not in ("error", "popular"):
            raise ModelError(f"unknown_users must be 'error' or 'popular', got {unknown_users!r}")
        found = self.users_.indices(users, missing=-1)
        if unknown_users == "error" and (found < 0).any():
            raise DataError(
                f"unknown users {_first_three(users, found)}: they are not in the training data; "
                "pass unknown_users='popular' to recommend popular items to them"
            )
        return found

    def _item_indices(self, items: Any) -> np.ndarray:
        found = self.items_.indices(items, missing=-1)
        if (found < 0).any():
            raise DataError(
                f"unknown items {_first_three(items, found)}: they are not in the training data; "
                "pass only items the model was fitted on"
            )
        return found

    def _check_fitted(self) -> None:
        if not hasattr(self, "users_"):
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet; call fit(data) before using it"
            )

    # --- persistence ---------------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        """Write the fitted model to directory ``path`` (params.json + arrays.npz, no pickle)."""
        from reelflow.models._persist import save_model

        self._check_fitted()
        return save_model(self, Path(path))

    @classmethod
    def load(cls, path: str | Path) -> Self:
        """Read a model saved by :meth:`save`; ``Recommender.load`` accepts any model class."""
        from reelflow.models._persist import load_model

        return cast(Self, load_model(cls, Path(path), _REGISTRY))


# --- parameter checks (used by each model's _check_params) --------------------------------------


def check_int(model: Recommender, name: str, *, low: int = 1) -> None:
    value = getattr(model, name)
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise ModelError(
            f"{type(model).__name__}({name}={value!r}) is invalid; pass an integer >= {low}"
        )


def check_float(model: Recommender, name: str, *, positive: bool = False) -> None:
    value = getattr(model, name)
    ok = isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)
    if not ok or not np.isfinite(value) or value < 0 or (positive and value == 0):
        bound = "> 0" if positive else ">= 0"
        raise ModelError(
            f"{type(model).__name__}({name}={value!r}) is invalid; pass a finite number {bound}"
        )


def check_seed(model: Recommender) -> None:
    value = model.random_state  # type: ignore[attr-defined]
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0
    ):
        raise ModelError(
            f"{type(model).__name__}(random_state={value!r}) is invalid; "
            "pass None or an integer >= 0"
        )


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ModelError(f"{name}={value!r} is invalid; pass an integer >= 1")
    return int(value)


def _optional_positive(value: Any, name: str) -> int | None:
    return None if value is None else _positive_int(value, name)


def _first_three(ids: Any, found: np.ndarray) -> str:
    values = ids.to_numpy() if isinstance(ids, pd.Series | pd.Index) else np.asarray(ids)
    unknown = values[found < 0]
    shown = str(unknown[:3].tolist())
    return shown if len(unknown) <= 3 else f"{shown} (and {len(unknown) - 3} more)"
