"""The evidence a promotion's gates read: the candidate and the champion, loaded from the
store, evaluated on the same users of the same data, computed once and cached."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from reelflow._errors import GuardError
from reelflow.registry._verify import sample_context
from reelflow.registry._versions import ModelVersion

if TYPE_CHECKING:
    from pathlib import Path

    from reelflow.models import Recommender

SAMPLE_USERS = 500
LATENCY_CALLS = 200
SAMPLE_K = 10


class PromotionContext:
    """Implements ``reelflow.guards.GateContext`` for one candidate against one champion.

    ``data`` is a ``Split`` (or a (train, test) pair) both models are evaluated on; gates that
    compare metrics need it, the others do not.
    """

    def __init__(
        self,
        candidate: ModelVersion,
        champion: ModelVersion | None,
        *,
        load: Callable[[ModelVersion], Recommender],
        folder: Callable[[ModelVersion], Path],
        data: Any = None,
        seed: int = 0,
    ) -> None:
        self.versions = {"candidate": candidate, "champion": champion}
        self.candidate_label = candidate.ref
        self.champion_label = None if champion is None else champion.ref
        self._load, self._folder, self._data, self._seed = load, folder, data, seed
        self._cache: dict[tuple[str, ...], Any] = {}

    # --- GateContext ---------------------------------------------------------------------------

    def metric_values(self, which: str, metric: str) -> np.ndarray:
        key = ("metric", which, metric)
        if key not in self._cache:
            self._cache[key] = self._evaluate(which, metric)
        return np.asarray(self._cache[key])

    def recommendations(self, which: str) -> Any:
        key = ("recs", which)
        if key not in self._cache:
            model = self.model(which)
            users = self._sample_users(model)
            self._cache[key] = model.recommend(
                users, k=SAMPLE_K, **sample_context(model, len(users))
            )
        return self._cache[key]

    def catalogue_size(self) -> int:
        return len(self.model("candidate").items_.ids)

    def latencies_ms(self, which: str) -> np.ndarray:
        model = self.model(which)
        users = self._sample_users(model)[:LATENCY_CALLS]
        context = sample_context(model, 1)
        for user in users[:5]:  # warm-up: caches, lazy imports
            model.recommend([user], k=SAMPLE_K, **context)
        times = np.empty(len(users))
        for i, user in enumerate(users):
            start = time.perf_counter()
            model.recommend([user], k=SAMPLE_K, **context)
            times[i] = (time.perf_counter() - start) * 1000.0
        return times

    def load_in_fresh_process(self, which: str) -> tuple[bool, str]:
        from reelflow.registry._verify import check_loads

        return check_loads(self._folder(self._version(which)))

    def importance(self, which: str) -> Any:
        return self._version(which).importance

    # --- helpers -------------------------------------------------------------------------------

    def model(self, which: str) -> Recommender:
        key = ("model", which)
        if key not in self._cache:
            self._cache[key] = self._load(self._version(which))
        model: Recommender = self._cache[key]
        return model

    def _version(self, which: str) -> ModelVersion:
        version = self.versions.get(which)
        if version is None:
            raise GuardError(f"there is no {which} to read; this gate needs one")
        return version

    def _sample_users(self, model: Recommender) -> np.ndarray:
        ids = np.asarray(model.users_.ids)
        if len(ids) <= SAMPLE_USERS:
            return ids
        rng = np.random.default_rng(self._seed)
        return ids[np.sort(rng.choice(len(ids), SAMPLE_USERS, replace=False))]

    def _evaluate(self, which: str, metric: str) -> np.ndarray:
        """Per-user ``metric`` on the test users both models know, in one fixed order."""
        from reelflow.bench import evaluate_topk
        from reelflow.bench._metrics_beyond import parse_metric

        if self._data is None:
            raise GuardError(
                f"gate on {metric} needs evaluation data; pass data=Split(train, test) "
                "(or --data on the command line) to promote"
            )
        train, test = self._data
        relevant = test.csr(binary=True)
        users = self._common_test_users(test, relevant)
        _, k = parse_metric(metric, SAMPLE_K if "@" not in metric else 10**9)
        model = self.model(which)
        recs = model.recommend(test.users.labels(users), k=k, **sample_context(model, len(users)))
        items = test.items.indices(recs.items.ravel(), missing=-1).reshape(recs.items.shape)
        items[~recs.valid] = -1
        result = evaluate_topk(items, relevant, [metric], users=users, train=train)[metric]
        if result.per_user is None:
            raise GuardError(
                f"{metric} is measured over the whole run, not per user; gate on a per-user "
                "metric such as ndcg@10 or recall@20 (or compare the registered metrics)"
            )
        return np.asarray(result.per_user)

    def _common_test_users(self, test: Any, relevant: Any) -> np.ndarray:
        key = ("users",)
        if key not in self._cache:
            with_tests = np.flatnonzero(np.diff(relevant.indptr) > 0)
            known = np.ones(len(with_tests), dtype=bool)
            labels = test.users.labels(with_tests)
            for which in ("candidate", "champion"):
                if self.versions[which] is not None:
                    found = self.model(which).users_.indices(labels, missing=-1)
                    known &= found >= 0
            if not known.any():
                raise GuardError("no test user is known to both models; evaluate on other data")
            self._cache[key] = with_tests[known]
        users: np.ndarray = self._cache[key]
        return users
