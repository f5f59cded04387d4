"""``LTRReranker``: LightGBM LambdaMART over another recommender's candidates.

``fit`` holds out part of each user's interactions (``split``), fits a copy of the candidate
model on the rest, labels each user's top ``n_candidates`` by whether the held-out part holds
them, and trains ``lightgbm.LGBMRanker(objective="lambdarank")`` with one query group per user.
The candidate model is then refitted on all the data for serving. ``lightgbm`` is imported
inside ``fit`` and ``load``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import numpy as np
import scipy.sparse as sp

from reelflow._errors import ModelError
from reelflow.models._base import Recommender, check_int, check_seed
from reelflow.models._persist import (
    ARRAYS,
    BASE_STATE,
    FORMAT,
    PARAMS,
    _pack,
    _read_meta,
    _unpack,
    _version,
)
from reelflow.models._topk import MEMORY_BUDGET, mask_seen, top_k

if TYPE_CHECKING:
    from reelflow.data import Interactions

FEATURES = ("score", "rank", "item_popularity", "user_activity", "user_knn")
# The defaults (features, n_candidates, the LightGBM sizes) were chosen on a validation split of
# ML-100K's training data, averaged over ItemKNN, EASE and MostPopular candidates:
# benchmarks/accuracy_rerank.py and docs/benchmarks.md.
DEFAULT_FEATURES = ("rank", "item_popularity", "user_activity", "user_knn")
RANKER_FILE = "ranker.txt"
_SIDE = ("user_x_", "item_x_", "side_names_")  # state of ``feature_source``
MAX_VOTERS = 20_000  # users whose votes user_knn reads (a fixed sample beyond)
_BLOCK_CELL_BYTES = 16  # working bytes per dense (user, item or user) cell while scoring a block
CANDIDATE_DIR = "candidate"
_DEFAULT_LGBM = {
    "n_estimators": 200,
    "learning_rate": 0.05,
    "num_leaves": 3,
    "min_child_samples": 50,
    "n_jobs": 1,
    "deterministic": True,
    "force_row_wise": True,
    "verbose": -1,
}


class LTRReranker(Recommender):
    """Re-rank ``candidate_model``'s top ``n_candidates`` with a LambdaMART model.

    ``features`` chooses among ``score`` and ``rank`` (from the candidate model),
    ``item_popularity`` (the item's share of training interactions), ``user_activity`` (the
    user's interaction count) and ``user_knn`` (votes of users sharing items with the user,
    cosine-weighted, scaled to the user's best item: a signal independent of the candidates).
    The default leaves out ``score``: the ranker learns on a candidate model fitted on part of
    the data and serves one fitted on all of it, whose scores can have another scale; ranks do not.
    ``split="random"`` holds out ``holdout`` of each user's items at random; ``"time"`` holds
    out the latest ``holdout`` of the log (needs timestamps).
    ``feature_source``, a callable taking ``Interactions`` and returning ``(users, items)``
    tables (pandas or Arrow, keyed by ``user_id`` / ``item_id``, numeric columns; ``as_of`` is
    ignored), adds features computed elsewhere, e.g. on DuckDB by ``reelflow.features``. It is
    called on the part the ranker learns from, then on all the data for serving, so a feature
    never sees the held-out interactions; missing rows are NaN, which LightGBM handles.
    Seen items are never candidates; items outside the candidates rank after them, in the
    candidate model's order. ``candidate_model`` is copied, never fitted in place.
    """

    _learned = ("user_counts_", "user_x_", "item_x_", "side_names_")

    def __init__(
        self,
        candidate_model: Recommender | None = None,
        n_candidates: int = 200,
        features: tuple[str, ...] = DEFAULT_FEATURES,
        split: str = "random",
        holdout: float = 0.2,
        lgbm_params: dict[str, Any] | None = None,
        random_state: int | None = None,
        feature_source: Callable[[Interactions], tuple[Any, Any]] | None = None,
    ) -> None:
        self.candidate_model = candidate_model
        self.n_candidates = n_candidates
        self.features = features
        self.split = split
        self.holdout = holdout
        self.lgbm_params = lgbm_params
        self.random_state = random_state
        self.feature_source = feature_source

    def _check_params(self) -> None:
        if isinstance(self.candidate_model, dict) and CANDIDATE_DIR in self.candidate_model:
            raise ModelError(
                "an LTRReranker keeps its candidate model in a subfolder; "
                "load it with LTRReranker.load(path)"
            )
        if not isinstance(self.candidate_model, Recommender):
            raise ModelError(
                f"LTRReranker(candidate_model={self.candidate_model!r}) is invalid; "
                "pass an unfitted reelflow Recommender such as ItemKNN()"
            )
        check_int(self, "n_candidates", low=1)
        if self.feature_source is not None and not callable(self.feature_source):
            raise ModelError(
                f"LTRReranker(feature_source={self.feature_source!r}) is invalid; pass None or a "
                "callable taking Interactions and returning (user table, item table)"
            )
        self._check_choices()
        check_seed(self)

    def _check_choices(self) -> None:
        bad = [
            f for f in np.atleast_1d(np.asarray(self.features, dtype=object)) if f not in FEATURES
        ]
        if isinstance(self.features, str) or not len(self.features) or bad:
            raise ModelError(
                f"LTRReranker(features={self.features!r}) is invalid; "
                f"pass a non-empty tuple of: {', '.join(FEATURES)}"
            )
        if self.split not in ("random", "time"):
            raise ModelError(
                f"LTRReranker(split={self.split!r}) is invalid; pass 'random' or 'time'"
            )
        ok = isinstance(self.holdout, float | int) and not isinstance(self.holdout, bool)
        if not ok or not 0 < self.holdout < 1:
            raise ModelError(
                f"LTRReranker(holdout={self.holdout!r}) is invalid; pass a float in (0, 1)"
            )
        if self.lgbm_params is not None and not isinstance(self.lgbm_params, dict):
            raise ModelError(
                f"LTRReranker(lgbm_params={self.lgbm_params!r}) is invalid; pass None or a dict"
            )

    # --- training ------------------------------------------------------------------------------

    def _fit(self, matrix: sp.csr_matrix, data: Interactions) -> None:
        from lightgbm import LGBMRanker

        seed = int(np.random.default_rng(self.random_state).integers(0, 2**31 - 1))
        base, held = self._split(data, seed)
        self.candidate_ = self._fresh_candidate().fit(base)
        self.user_counts_ = _user_counts(base)
        self._state_for(base)
        users = np.flatnonzero(np.bincount(held.user, minlength=data.n_users))
        rows, targets, sizes = [], [], []
        for block in self._blocks(users):  # bounded memory: only kept rows are collected
            positions, features = self._candidates_block(block)
            labels = _labels(held, block, positions)
            keep = (positions >= 0) & labels.any(axis=1, keepdims=True)  # groups with a positive
            rows.append(features[keep])
            targets.append(labels[keep])
            sizes.append(keep.sum(axis=1))
        params = {**_DEFAULT_LGBM, **(self.lgbm_params or {}), "random_state": seed}
        ranker = LGBMRanker(objective="lambdarank", **params)
        groups = np.concatenate(sizes)
        ranker.fit(np.concatenate(rows), np.concatenate(targets), group=groups[groups > 0])
        self.ranker_ = ranker.booster_
        self.candidate_ = self._fresh_candidate().fit(data)
        self.user_counts_ = _user_counts(data)
        self._state_for(data)

    def _split(self, data: Interactions, seed: int) -> tuple[Interactions, Interactions]:
        from reelflow.data import per_user_holdout, temporal_cutoff

        if self.split == "time":
            base, held = temporal_cutoff(data, 1.0 - float(self.holdout))
        else:
            base, held = per_user_holdout(data, float(self.holdout), seed=seed)
        return base, held

    def _fresh_candidate(self) -> Recommender:
        model = self.candidate_model
        assert isinstance(model, Recommender)
        return type(model)(**model.get_params())

    def _state_for(self, base: Interactions) -> None:
        """Point every feature's state at ``base``: the held-out part while the ranker learns,
        all the data for serving."""
        self.seen_ = base.csr(binary=True)
        self.item_counts_ = np.bincount(base.item, minlength=base.n_items).astype(np.int64)
        self.user_x_, self.item_x_, self.side_names_ = _side_features(self.feature_source, base)
        self._voter_cache_: tuple[Any, Any] | None = None  # from seen_: rebuilt on next use

    # --- scoring -------------------------------------------------------------------------------

    def _blocks(self, user_idx: np.ndarray) -> list[np.ndarray]:
        """``user_idx`` in blocks whose dense intermediates (a score per item and, for
        ``user_knn``, an overlap per user) stay within the models' memory budget."""
        voters = min(self.seen_.shape[0], MAX_VOTERS) if "user_knn" in self.features else 0
        width = self.seen_.shape[1] + voters
        rows = max(1, MEMORY_BUDGET // (_BLOCK_CELL_BYTES * max(width, 1)))
        return [user_idx[i : i + rows] for i in range(0, len(user_idx), rows)]

    def _candidates(self, user_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each user's candidate positions ``(b, n)`` (-1 pads) and features ``(b, n, f)``,
        computed block by block."""
        blocks = [self._candidates_block(block) for block in self._blocks(user_idx)]
        if len(blocks) == 1:
            return blocks[0]
        return (
            np.concatenate([b[0] for b in blocks]),
            np.concatenate([b[1] for b in blocks]),
        )

    def _candidates_block(self, user_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each user's candidate positions ``(b, n)`` (-1 pads) and features ``(b, n, f)``."""
        scores = self.candidate_._score_batch(user_idx, None)
        scores = np.require(scores, dtype=np.float32, requirements=["C", "W", "O"])
        mask_seen(scores, self.seen_, user_idx)
        positions, best = top_k(scores, int(self.n_candidates))
        columns = {
            "score": np.where(positions >= 0, best, 0.0),
            "rank": np.broadcast_to(np.arange(positions.shape[1]), positions.shape),
            "item_popularity": self._popularity()[np.maximum(positions, 0)],
            "user_activity": np.broadcast_to(self.user_counts_[user_idx, None], positions.shape),
        }
        if "user_knn" in self.features:
            columns["user_knn"] = self._user_knn(user_idx, positions)
        stacked = np.stack([columns[name] for name in self.features], axis=-1)
        side = [
            np.broadcast_to(
                self.user_x_[user_idx, None, :], (*positions.shape, self.user_x_.shape[1])
            ),
            self.item_x_[np.maximum(positions, 0)],
        ]
        return positions, np.concatenate([stacked.astype(np.float64), *side], axis=-1)

    def _user_knn(self, user_idx: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """Cosine-weighted votes of the users who share items with each user, per candidate
        (from at most ``MAX_VOTERS`` users: a fixed sample when there are more, which bounds
        the cost at users x ``MAX_VOTERS`` instead of users squared)."""
        norms, voters, seen, voter_norms = self._voter_state()
        overlap = (self.seen_[user_idx] @ seen.T).toarray() / voter_norms[None, :]
        rows, own = np.arange(len(user_idx)), user_idx
        if voters is not None:  # a user's own column, where the user is among the voters
            found = np.minimum(np.searchsorted(voters, user_idx), len(voters) - 1)
            rows, own = rows[voters[found] == user_idx], found[voters[found] == user_idx]
        overlap[rows, own] = 0.0  # not one's own vote
        votes = np.asarray((seen.T @ (overlap / norms[user_idx, None]).T).T)
        picked = np.take_along_axis(votes, np.maximum(positions, 0), axis=1)
        return np.asarray(picked / np.maximum(votes.max(axis=1, keepdims=True), 1e-12))

    def _voter_state(self) -> tuple[np.ndarray, np.ndarray | None, sp.csr_matrix, np.ndarray]:
        """Every user's norm, the voters, their rows and norms: derived from ``seen_`` once,
        not per scored block (a server scores one user at a time)."""
        cached = getattr(self, "_voter_cache_", None)
        if cached is not None and cached[0] is self.seen_:
            return cached[1]  # type: ignore[no-any-return]
        norms = np.sqrt(np.maximum(np.diff(self.seen_.indptr), 1)).astype(np.float32)
        voters = _voters(self.seen_.shape[0])
        seen = self.seen_ if voters is None else self.seen_[voters]
        state = (norms, voters, seen, norms if voters is None else norms[voters])
        self._voter_cache_ = (self.seen_, state)
        return state

    def _popularity(self) -> np.ndarray:
        return self.item_counts_ / max(int(self.item_counts_.sum()), 1)

    def _score_batch(self, user_idx: np.ndarray, context: np.ndarray | None) -> np.ndarray:
        positions, features = self._candidates(user_idx)
        valid = positions >= 0
        reranked = np.zeros(positions.shape)
        if valid.any():
            reranked[valid] = self.ranker_.predict(features[valid])
        floor = np.where(valid, reranked, np.inf).min(axis=1, initial=np.inf)
        floor = np.where(np.isfinite(floor), floor, 0.0)
        base = self.candidate_._score_batch(user_idx, None)
        order = np.argsort(-base, axis=1, kind="stable")
        out = np.empty(base.shape, dtype=np.float64)
        rows = np.arange(len(user_idx))[:, None]
        out[rows, order] = np.arange(base.shape[1]) / -max(base.shape[1], 1)
        out += floor[:, None] - 1.0
        rows_v, cols_v = np.nonzero(valid)
        out[rows_v, positions[rows_v, cols_v]] = reranked[rows_v, cols_v]
        return out.astype(np.float32)

    # --- persistence ---------------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        """Write the model to directory ``path``: the candidate model in ``candidate/`` (its own
        save), the booster as LightGBM's text model, the rest as params.json + arrays.npz."""
        self._check_fitted()
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.candidate_.save(path / CANDIDATE_DIR)
        self.ranker_.save_model(str(path / RANKER_FILE))
        arrays: dict[str, np.ndarray] = {}
        kinds = {n: _pack(n, getattr(self, n), arrays) for n in (*BASE_STATE, *self._learned)}
        params = {**self.get_params(), "candidate_model": {CANDIDATE_DIR: CANDIDATE_DIR}}
        params["features"] = list(self.features)
        params["feature_source"] = None  # its tables are saved; a refit needs the source again
        meta = {"format": FORMAT, "class": type(self).__name__, "module": type(self).__module__}
        meta |= {"reelflow_version": _version(), "params": params, "arrays": kinds}
        np.savez(path / ARRAYS, **arrays)  # type: ignore[arg-type]  # stubs reserve allow_pickle
        (path / PARAMS).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", "utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path) -> Self:
        """Read a model written by :meth:`save` (no pickle: npz, JSON and LightGBM's text)."""
        import lightgbm

        path = Path(path)
        meta = _read_meta(path)
        if meta.get("class") != cls.__name__:
            raise ModelError(
                f"{path} holds a {meta.get('class')}, not a {cls.__name__}; "
                "load it with Recommender.load(path)"
            )
        candidate = Recommender.load(path / CANDIDATE_DIR)
        params = {**meta["params"], "features": tuple(meta["params"]["features"])}
        model = cls(**{**params, "candidate_model": type(candidate)(**candidate.get_params())})
        model._check_params()
        try:
            with np.load(path / ARRAYS, allow_pickle=False) as stored:
                for name in (*BASE_STATE, *cls._learned):
                    if name in _SIDE and name not in meta["arrays"]:
                        continue  # saved before feature_source existed
                    setattr(model, name, _unpack(name, meta["arrays"][name], stored))
            if "side_names_" not in meta["arrays"]:
                model.user_x_, model.item_x_ = (
                    np.zeros((len(model.users_), 0)),
                    np.zeros((len(model.items_), 0)),
                )
                model.side_names_ = np.empty(0, dtype=np.str_)
            model.ranker_ = lightgbm.Booster(model_file=str(path / RANKER_FILE))
        except (KeyError, ValueError, OSError, lightgbm.basic.LightGBMError) as exc:
            raise ModelError(f"{path} is damaged ({exc}); save the model again") from None
        model.candidate_ = candidate
        return model


def _labels(held: Interactions, users: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """1 where the candidate at ``positions[r, j]`` is in ``held`` for user ``users[r]``."""
    keys = np.unique(held.user.astype(np.int64) * held.n_items + held.item)
    wanted = users.astype(np.int64)[:, None] * held.n_items + np.maximum(positions, 0)
    found = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
    return np.asarray((keys[found] == wanted) & (positions >= 0), dtype=np.int32)


def _side_features(
    source: Callable[[Interactions], tuple[Any, Any]] | None, data: Interactions
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``source``'s user and item features as float arrays aligned with ``data``'s indices."""
    if source is None:
        empty = np.empty(0, dtype=np.str_)
        return np.zeros((data.n_users, 0)), np.zeros((data.n_items, 0)), empty
    users, items = source(data)
    user_x, user_names = _aligned(users, "user_id", data.users, "user")
    item_x, item_names = _aligned(items, "item_id", data.items, "item")
    return user_x, item_x, np.asarray([*user_names, *item_names], dtype=np.str_)


def _aligned(table: Any, key: str, index: Any, what: str) -> tuple[np.ndarray, list[str]]:
    """``table``'s numeric columns as rows of ``index`` (NaN for ids the table lacks)."""
    frame = table.to_pandas() if hasattr(table, "to_pandas") else table
    if key not in frame.columns:
        raise ModelError(
            f"the feature_source's {what} table has no '{key}' column (it has: "
            f"{', '.join(map(str, frame.columns))}); key it by {key}"
        )
    names = [str(c) for c in frame.columns if c not in (key, "as_of")]
    out = np.full((len(index), len(names)), np.nan)
    rows = index.indices(frame[key].to_numpy(), missing=-1)
    known = rows >= 0
    for j, name in enumerate(names):
        try:
            out[rows[known], j] = frame[name].to_numpy(dtype=np.float64, na_value=np.nan)[known]
        except (TypeError, ValueError):
            raise ModelError(
                f"the feature_source's {what} column '{name}' is not numeric "
                f"({frame[name].dtype}); encode it as numbers or drop it"
            ) from None
    return out, [f"{what}:{name}" for name in names]


def _voters(n_users: int) -> np.ndarray | None:
    """The users whose votes ``user_knn`` reads: all (None) up to ``MAX_VOTERS``, else the same
    sorted sample every time, so fitting and serving read the same voters."""
    if n_users <= MAX_VOTERS:
        return None
    return np.sort(np.random.default_rng(0).choice(n_users, MAX_VOTERS, replace=False))


def _user_counts(data: Interactions) -> np.ndarray:
    return np.bincount(data.user, minlength=data.n_users).astype(np.float64)
