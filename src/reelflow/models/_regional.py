"""``PerRegion``: one copy of a model per region, each user served by their home region's copy.

``fit`` learns each user's home region (the most frequent value of the context column ``by``
among the user's interactions), fits a copy of ``model`` on all the interactions of each
region's users, and a global copy on all the data for the users of small regions and the users
without a region. ``recommend`` groups the users by the copy that serves them and makes one
``recommend`` call per copy. Each copy is saved in its own subfolder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import numpy as np
import pandas as pd
import scipy.sparse as sp

from reelflow._errors import DataError, ModelError
from reelflow.models._base import (
    Recommender,
    UnknownUsers,
    _optional_positive,
    _positive_int,
    check_int,
    check_seed,
)
from reelflow.models._baselines import MostPopular
from reelflow.models._persist import (
    ARRAYS,
    BASE_STATE,
    FORMAT,
    PARAMS,
    _json_scalar,
    _pack,
    _read_meta,
    _unpack,
    _version,
)
from reelflow.models._topk import Recommendations, item_labels, pad_value, top_k

if TYPE_CHECKING:
    from reelflow.data import Interactions

GLOBAL = -1
"""The route of users served by the global copy (small regions, no region)."""
GLOBAL_DIR = "global"
_TEMPLATE = "saved_in"  # params.json: the subfolder whose model rebuilds the ``model`` parameter


class PerRegion(Recommender):
    """A copy of ``model`` per region, routed by each user's home region.

    A user's home region is the most frequent value of the context column ``by`` among their
    training interactions (missing values ignored; a tie goes to the value that sorts first).
    Each region with at least ``min_users`` home users gets a copy of ``model`` fitted on all
    the interactions of those users, on their own catalogue: the items they interacted with. A
    global copy fitted on all the data serves the users of smaller regions and the users
    without a region; it is fitted only when some user needs it.

    A region's lists hold only its catalogue, so they can be padded before ``k``. ``score`` of
    an item outside the user's region catalogue is ``-inf``: that copy can never recommend it.
    Users unknown at training follow ``unknown_users``; with ``"popular"`` and ``context=``
    (one ``by`` value per user), those whose value has its own copy get that region's most
    interacted-with items, the others the global ones. Known users always go to their home
    region, whatever ``context=`` says. With ``random_state`` set, each copy whose model takes
    a ``random_state`` gets its own seed drawn from it; otherwise the copies keep ``model``'s.
    ``model`` is copied, never fitted in place.
    """

    _learned = ("regions_", "user_region_", "region_users_")

    regions_: np.ndarray
    """The distinct values of the ``by`` column in training, sorted when they sort."""
    user_region_: np.ndarray
    """Per user, the position of their home region in ``regions_`` (-1: no region)."""
    region_users_: np.ndarray
    """Per region, the number of users whose home region it is."""
    region_models_: dict[int, Recommender]
    """The fitted copy of each region with at least ``min_users`` users, by position."""
    global_model_: Recommender | None
    """The copy fitted on all the data, or None when no user needs it."""
    route_: np.ndarray
    """Per user, the position of the region whose copy serves them, or -1 (the global copy)."""

    def __init__(
        self,
        model: Recommender,
        by: str = "region",
        min_users: int = 50,
        random_state: int | None = None,
    ) -> None:
        self.model = model
        self.by = by
        self.min_users = min_users
        self.random_state = random_state

    def _check_params(self) -> None:
        if isinstance(self.model, dict) and _TEMPLATE in self.model:
            raise ModelError(
                "a PerRegion keeps its models in subfolders; load it with PerRegion.load(path)"
            )
        if not isinstance(self.model, Recommender):
            raise ModelError(
                f"PerRegion(model={self.model!r}) is invalid; "
                "pass an unfitted reelflow Recommender such as EASE()"
            )
        if isinstance(self.model, MostPopular) and self.model.by is not None:
            raise ModelError(
                f"PerRegion(model={self.model!r}) is invalid: PerRegion calls its models "
                "without context=; pass MostPopular(), which PerRegion already ranks per region"
            )
        if not isinstance(self.by, str) or not self.by:
            raise ModelError(
                f"PerRegion(by={self.by!r}) is invalid; pass the name of a context column"
            )
        check_int(self, "min_users", low=1)
        check_seed(self)

    # --- training ------------------------------------------------------------------------------

    def _fit(self, matrix: sp.csr_matrix, data: Interactions) -> None:
        if self.by not in data.context:
            present = ", ".join(data.context) or "none"
            raise DataError(
                f"the data has no context column '{self.by}' (it has: {present}); "
                "build Interactions with context=[...] or change PerRegion(by=...)"
            )
        self.regions_, codes = _factorize(data.context[self.by])
        self.user_region_ = _home_regions(data.user, codes, data.n_users, len(self.regions_))
        home = self.user_region_[self.user_region_ >= 0]
        self.region_users_ = np.bincount(home, minlength=len(self.regions_)).astype(np.int64)
        self.region_models_ = {}
        for region in self._modelled_regions():
            part = _compact(data, self.user_region_[data.user] == region)
            self.region_models_[region] = self._copy(region).fit(part)
        self.route_ = self._routes()
        needed = bool((self.route_ == GLOBAL).any())
        self.global_model_ = self._copy(len(self.regions_)).fit(data) if needed else None

    def _modelled_regions(self) -> list[int]:
        return [int(r) for r in np.flatnonzero(self.region_users_ >= self.min_users)]

    def _routes(self) -> np.ndarray:
        """Per user, the region whose copy serves them, or GLOBAL."""
        own = np.zeros(len(self.regions_) + 1, dtype=bool)  # the extra slot is region -1
        own[list(self.region_models_)] = True
        return np.where(own[self.user_region_], self.user_region_, GLOBAL).astype(np.int64)

    def _copy(self, slot: int) -> Recommender:
        """An unfitted copy of ``model``; with ``random_state``, seeded for its slot."""
        model = self.model
        copy = type(model)(**model.get_params())
        if self.random_state is not None and "random_state" in copy.get_params():
            seed = np.random.SeedSequence([int(self.random_state), slot]).generate_state(1)[0]
            copy.set_params(random_state=int(seed))
        return copy

    def _served_by(self, route: int) -> Recommender:
        model = self.global_model_ if route == GLOBAL else self.region_models_[route]
        assert model is not None
        return model

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
        """The top ``k`` items per user from their region's copy; see the class docstring."""
        self._check_fitted()
        k = _positive_int(k, "k")
        user_idx = self._user_indices(users, unknown_users)
        codes = self._context_codes(context, len(user_idx))
        subset = None if items is None else np.unique(self._item_indices(items))
        batch_size = _optional_positive(batch_size, "batch_size")
        ids = self.items_.ids
        out = Recommendations(
            np.full((len(user_idx), k), pad_value(ids.dtype), dtype=ids.dtype),
            np.full((len(user_idx), k), -np.inf, dtype=np.float32),
        )
        known = user_idx >= 0
        route = np.where(known, self.route_[np.maximum(user_idx, 0)], GLOBAL)
        for slot in np.unique(route[known]):
            rows = np.flatnonzero(known & (route == slot))
            model = self._served_by(int(slot))
            candidates = None if subset is None else _within(model, ids[subset])
            if candidates is not None and not len(candidates):
                continue  # none of the candidates is in this region's catalogue: all padding
            part = model.recommend(
                self.users_.ids[user_idx[rows]],
                k,
                exclude_seen=exclude_seen,
                items=candidates,
                batch_size=batch_size,
            )
            out.items[rows], out.scores[rows] = part.items, part.scores
        self._popular(np.flatnonzero(~known), codes, subset, out)
        return out

    def _popular(
        self,
        rows: np.ndarray,
        codes: np.ndarray | None,
        subset: np.ndarray | None,
        out: Recommendations,
    ) -> None:
        """Fill ``rows`` (unknown users) with their context region's or the global top items."""
        if not len(rows):
            return
        region = np.full(len(rows), GLOBAL) if codes is None else codes[rows]
        region = np.where(np.isin(region, list(self.region_models_)), region, GLOBAL)
        k = out.items.shape[1]
        for slot in np.unique(region):
            counts = self._item_counts(int(slot))
            columns = np.arange(len(counts)) if subset is None else subset
            positions, best = top_k(counts[None, columns], k)
            positions = np.where(positions >= 0, columns[np.maximum(positions, 0)], -1)
            chosen = rows[region == slot]
            out.items[chosen] = item_labels(self.items_.ids, positions)[0]
            out.scores[chosen] = best[0]

    def _item_counts(self, slot: int) -> np.ndarray:
        """Training interaction counts over the whole catalogue: all the data for GLOBAL, else
        the region's (``-inf`` outside its catalogue)."""
        if slot == GLOBAL:
            return self.item_counts_.astype(np.float32)
        model = self.region_models_[slot]
        counts = np.full(len(self.items_), -np.inf, dtype=np.float32)
        counts[self.items_.indices(model.items_.ids)] = model.item_counts_
        return counts

    def score(self, users: Any, items: Any, *, context: Any = None) -> np.ndarray:
        """Float32 scores of aligned pairs from each user's region copy; ``-inf`` for items
        outside that copy's catalogue. Unknown users or items raise DataError."""
        self._check_fitted()
        user_idx = self._user_indices(users, "error")
        item_idx = self._item_indices(items)
        if len(user_idx) != len(item_idx):
            raise ModelError(
                f"score got {len(user_idx)} users and {len(item_idx)} items; pass aligned pairs"
            )
        self._context_codes(context, len(user_idx))  # checked; known users go to their region
        out = np.full(len(user_idx), -np.inf, dtype=np.float32)
        route = self.route_[user_idx]
        for slot in np.unique(route):
            rows = np.flatnonzero(route == slot)
            model = self._served_by(int(slot))
            item_ids = self.items_.ids[item_idx[rows]]
            rows = rows[model.items_.indices(item_ids, missing=-1) >= 0]
            if len(rows):
                out[rows] = model.score(
                    self.users_.ids[user_idx[rows]], self.items_.ids[item_idx[rows]]
                )
        return out

    def _score_batch(self, user_idx: np.ndarray, context: np.ndarray | None) -> np.ndarray:
        """Every item's score for known users (``-inf`` outside their region's catalogue), so
        that a PerRegion can serve as another model's candidates (LTRReranker)."""
        out = np.full((len(user_idx), len(self.items_)), -np.inf, dtype=np.float32)
        route = self.route_[user_idx]
        for slot in np.unique(route):
            rows = np.flatnonzero(route == slot)
            model = self._served_by(int(slot))
            local = model.users_.indices(self.users_.ids[user_idx[rows]])
            columns = self.items_.indices(model.items_.ids)
            out[np.ix_(rows, columns)] = model._score_batch(local, None)
        return out

    def _context_codes(self, context: Any, n: int) -> np.ndarray | None:
        """Each ``context=`` value's position in ``regions_`` (-1: a region not seen)."""
        if context is None:
            return None
        values = np.asarray(context)
        if values.shape != (n,):
            raise ModelError(
                f"context= has shape {values.shape} for {n} users; pass one {self.by} per user"
            )
        found = pd.Index(self.regions_).get_indexer(pd.Index(values))
        return np.asarray(found, dtype=np.int64)

    # --- persistence ---------------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        """Write the model to directory ``path``: each region's copy in ``region-<n>/`` (n is
        the region's position in ``regions_``), the global copy in ``global/``, each written by
        its own save, and the routing in params.json + arrays.npz."""
        self._check_fitted()
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        folders = [(_region_dir(r), m) for r, m in self.region_models_.items()]
        if self.global_model_ is not None:
            folders.append((GLOBAL_DIR, self.global_model_))
        for folder, model in folders:
            model.save(path / folder)
        template: dict[str, Any] = {_TEMPLATE: folders[0][0]}
        if "random_state" in self.model.get_params():
            template["random_state"] = self.model.get_params()["random_state"]
        arrays: dict[str, np.ndarray] = {}
        kinds = {n: _pack(n, getattr(self, n), arrays) for n in (*BASE_STATE, *self._learned)}
        meta = {"format": FORMAT, "class": type(self).__name__, "module": type(self).__module__}
        meta |= {"reelflow_version": _version(), "arrays": kinds}
        meta["params"] = {**self.get_params(), "model": template}
        try:
            text = json.dumps(meta, indent=2, sort_keys=True, default=_json_scalar)
        except TypeError:
            raise ModelError(
                f"PerRegion parameters {self.get_params()} cannot be saved; "
                "use numbers, strings, booleans or None"
            ) from None
        np.savez(path / ARRAYS, **arrays)  # type: ignore[arg-type]  # stubs reserve allow_pickle
        (path / PARAMS).write_text(text + "\n", "utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path) -> Self:
        """Read a model written by :meth:`save` (no pickle: each copy loads with its own load)."""
        path = Path(path)
        meta = _read_meta(path)
        if meta.get("class") != cls.__name__:
            raise ModelError(
                f"{path} holds a {meta.get('class')}, not a {cls.__name__}; "
                "load it with Recommender.load(path)"
            )
        template = dict(meta["params"]["model"])
        model = cls(**{**meta["params"], "model": None})  # rebuilt below from a saved copy
        try:
            with np.load(path / ARRAYS, allow_pickle=False) as stored:
                for name in (*BASE_STATE, *cls._learned):
                    setattr(model, name, _unpack(name, meta["arrays"][name], stored))
        except (KeyError, ValueError, OSError) as exc:
            raise ModelError(f"{path} is damaged ({exc}); save the model again") from None
        model.region_models_ = {
            r: Recommender.load(path / _region_dir(r)) for r in model._modelled_regions()
        }
        model.route_ = model._routes()
        needed = bool((model.route_ == GLOBAL).any())
        model.global_model_ = Recommender.load(path / GLOBAL_DIR) if needed else None
        copies: dict[str, Recommender | None] = {GLOBAL_DIR: model.global_model_}
        copies |= {_region_dir(r): m for r, m in model.region_models_.items()}
        source = copies.get(str(template.pop(_TEMPLATE)))
        if source is None:
            raise ModelError(f"{path / PARAMS} names no saved copy of the model; save it again")
        model.model = type(source)(**source.get_params()).set_params(**template)
        model._check_params()
        return model


def _region_dir(region: int) -> str:
    return f"region-{region}"


def _within(model: Recommender, item_ids: np.ndarray) -> np.ndarray:
    """The ``item_ids`` in ``model``'s catalogue."""
    return item_ids[model.items_.indices(item_ids, missing=-1) >= 0]


def _factorize(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct non-missing values (sorted when they sort) and each value's code (-1:
    missing)."""
    try:
        codes, uniques = pd.factorize(values, sort=True)
    except TypeError:
        codes, uniques = pd.factorize(values, sort=False)
    return np.asarray(uniques), np.asarray(codes, dtype=np.int64)


def _home_regions(user: np.ndarray, codes: np.ndarray, n_users: int, n_regions: int) -> np.ndarray:
    """Per user, the region code among their interactions that is most frequent (the lowest
    code among ties), or -1 for a user without any region value."""
    home = np.full(n_users, -1, dtype=np.int64)
    known = codes >= 0
    if not known.any():
        return home
    pairs, counts = np.unique(
        user[known].astype(np.int64) * n_regions + codes[known], return_counts=True
    )
    users, regions = np.divmod(pairs, n_regions)
    order = np.lexsort((regions, -counts, users))  # per user: most frequent, then lowest code
    users, regions = users[order], regions[order]
    first = np.r_[True, users[1:] != users[:-1]]
    home[users[first]] = regions[first]
    return home


def _compact(data: Interactions, rows: np.ndarray) -> Interactions:
    """The interactions at ``rows`` on their own id indices: only the users and items in them."""
    from reelflow.data import IdIndex, Interactions

    part = data.subset(rows)
    users, user = np.unique(part.user, return_inverse=True)
    items, item = np.unique(part.item, return_inverse=True)
    return Interactions(
        IdIndex(data.users.ids[users]),
        IdIndex(data.items.ids[items]),
        user.astype(np.int32),
        item.astype(np.int32),
        rating=part.rating,
        timestamp=part.timestamp,
        context=dict(part.context),
    )
