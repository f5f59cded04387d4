"""The service behind the HTTP routes: answers within a time budget with fallbacks, follows an
alias in the registry and swaps deployments atomically, and logs a sample of requests."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from reelflow.serve._deployment import Deployment, load_deployment
from reelflow.serve._metrics import ServiceMetrics
from reelflow.serve._request_log import RequestLogger
from reelflow.serve._requests import Query

if TYPE_CHECKING:
    from reelflow.registry import Registry
    from reelflow.serve._settings import ServeSettings

log = logging.getLogger("reelflow.serve")


@dataclass
class Answer:
    """One user's list, and why the fallback gave it (None: the model did)."""

    user_id: str
    items: list[str]
    scores: list[float]
    fallback: str | None = None
    known: bool = True


@dataclass
class SwapState:
    """What the watcher knows: the alias it follows and the last refused version."""

    name: str
    alias: str | None
    refused: int | None = None
    last_error: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)


class Service:
    """One process's service: the current deployment, the worker threads that run models, the
    alias watcher, the request logger and the metrics."""

    def __init__(self, settings: ServeSettings, registry: Registry) -> None:
        from reelflow.registry import parse_ref

        self.settings = settings
        self.registry = registry
        ref = parse_ref(settings.model)
        alias = ref.alias if ref.version is None else None
        self.swap = SwapState(ref.name, alias or ("champion" if ref.version is None else None))
        self.ref = str(ref) if ref.version is not None else f"{ref.name}@{self.swap.alias}"
        self.metrics = ServiceMetrics()
        self.pool = ThreadPoolExecutor(settings.model_threads, thread_name_prefix="reelflow-model")
        self.requests_log = RequestLogger(
            Path(settings.store_home),
            ref.name,
            sample=settings.log_sample,
            flush_rows=settings.log_flush_rows,
            flush_seconds=settings.log_flush_seconds,
            max_rows=settings.log_queue_rows,
            on_drop=lambda n, why: self.metrics.log_dropped.labels(why).inc(n),
        )
        self.deployment: Deployment | None = None
        self._swap_lock = threading.Lock()
        self._stop = threading.Event()
        self._watcher = threading.Thread(target=self._watch, name="reelflow-watch", daemon=True)

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        """Load the deployment (an error if it does not pass its smoke checks), then start the
        request logger and, when following an alias, the watcher."""
        self._install(load_deployment(self.registry, self.ref, self.settings))
        self.requests_log.start()
        if self.swap.alias is not None:
            self._watcher.start()

    def stop(self) -> None:
        self._stop.set()
        self.requests_log.close()
        self.pool.shutdown(wait=False, cancel_futures=True)

    @property
    def ready(self) -> bool:
        return self.deployment is not None

    @property
    def regions(self) -> frozenset[str] | None:
        """The region values the deployment knows (None: it has no regional fallback)."""
        deployment = self.deployment
        if deployment is None or not deployment.fallback.by_context:
            return None
        return frozenset(deployment.fallback.by_context)

    # --- answering -----------------------------------------------------------------------------

    def answer_from_cache(self, query: Query) -> tuple[Deployment, list[Answer]] | None:
        """Every user's stored list when all of them have one (no thread, no await)."""
        deployment = self.deployment
        assert deployment is not None, "the service answers only once started"
        answers = []
        for user in query.users:
            index = deployment.users.get(user, -1)
            found = (
                None
                if index < 0
                else deployment.cached(index, query.k, query.region, query.exclude)
            )
            if found is None:
                return None
            answers.append(Answer(user, found[0], found[1]))
        return deployment, answers

    async def answer(self, query: Query) -> tuple[Deployment, list[Answer]]:
        """Every user's list: the model's within the budget, else the fallback's."""
        deployment = self.deployment
        assert deployment is not None, "the service answers only once started"
        indices = [deployment.user_index(u) for u in query.users]
        answers: list[Answer | None] = [None] * len(indices)
        for position, index in enumerate(indices):
            found = (
                None
                if index < 0
                else deployment.cached(index, query.k, query.region, query.exclude)
            )
            if found is not None:
                answers[position] = Answer(query.users[position], found[0], found[1])
        known = [i for i, index in enumerate(indices) if index >= 0 and answers[i] is None]
        reason: str | None = None
        if known:
            lists, reason = await self._model_lists(deployment, [indices[i] for i in known], query)
            if lists is not None:
                for position, (items, scores) in zip(known, lists, strict=True):
                    answers[position] = Answer(query.users[position], items, scores)
        for position, index in enumerate(indices):
            if answers[position] is None:
                why = "cold_start" if index < 0 else (reason or "error")
                items, scores = deployment.fallback_for(index, query.k, query.region, query.exclude)
                answers[position] = Answer(query.users[position], items, scores, why, index >= 0)
                self.metrics.fallbacks.labels(why).inc()
        return deployment, [a for a in answers if a is not None]

    async def _model_lists(
        self, deployment: Deployment, indices: list[int], query: Query
    ) -> tuple[list[tuple[list[str], list[float]]] | None, str | None]:
        """The model's lists, or None and the reason (timeout, error) for the fallback."""
        budget = self.settings.budget_ms / 1000.0
        deadline = time.monotonic() + budget

        def run() -> list[tuple[list[str], list[float]]] | None:
            if time.monotonic() > deadline:  # queued past its budget: the fallback answered
                return None
            return deployment.recommend(indices, query.k, query.region, query.exclude)

        loop = asyncio.get_running_loop()
        try:
            lists = await asyncio.wait_for(loop.run_in_executor(self.pool, run), budget)
        except TimeoutError:
            return None, "timeout"
        except Exception as exc:
            log.warning("model %s failed: %s: %s", deployment.version.ref, type(exc).__name__, exc)
            return None, "error"
        return lists, None if lists is not None else "timeout"

    def log_request(
        self, deployment: Deployment, query: Query, answers: list[Answer], seconds: float
    ) -> None:
        """Queue the sampled request's rows (one per user) for the request log."""
        if not self.requests_log.wanted():
            return
        now = dt.datetime.now(dt.UTC)
        request_id = uuid.uuid4().hex
        for answer in answers:
            self.requests_log.add(
                {
                    "time": now,
                    "request_id": request_id,
                    "user_id": answer.user_id,
                    "known_user": answer.known,
                    "region": query.region,
                    "context": "{}",
                    "k": query.k,
                    "model": deployment.version.name,
                    "version": deployment.version.version,
                    "fallback": answer.fallback,
                    "latency_ms": seconds * 1000.0,
                    "items": answer.items,
                    "scores": answer.scores,
                }
            )

    # --- hot swap ------------------------------------------------------------------------------

    def check_alias(self, *, retry_refused: bool = False) -> dict[str, Any]:
        """Swap to the version the alias points at now, if it changed and passes its checks."""
        if self.swap.alias is None:
            return {"swapped": False, "reason": f"serving a pinned version ({self.ref})"}
        with self._swap_lock:
            current = self.deployment.version.version if self.deployment else None
            target = self.registry._tables.alias_version(self.swap.name, self.swap.alias)
            if target is None or target == current:
                return {"swapped": False, "version": current, "reason": "the alias did not move"}
            if target == self.swap.refused and not retry_refused:
                return {"swapped": False, "version": current, "reason": self.swap.last_error}
            return self._try_swap(f"{self.swap.name}:{target}", target, current)

    def _try_swap(self, ref: str, target: int, current: int | None) -> dict[str, Any]:
        try:
            candidate = load_deployment(self.registry, ref, self.settings, background=True)
        except Exception as exc:  # a failed smoke check, or anything loading raised
            self.swap.refused, self.swap.last_error = target, f"{ref} refused: {exc}"
            self.metrics.swaps.labels("refused").inc()
            log.warning("hot swap refused: %s", self.swap.last_error)
            return {"swapped": False, "version": current, "reason": self.swap.last_error}
        self._install(candidate)
        self.metrics.swaps.labels("accepted").inc()
        log.info("hot swap: now serving %s (was version %s)", ref, current)
        return {"swapped": True, "version": target, "previous": current}

    def _install(self, deployment: Deployment) -> None:
        self.deployment = deployment  # one reference assignment: requests see old or new
        self.metrics.version.labels(deployment.version.name).set(deployment.version.version)
        self.swap.history.append({"version": deployment.version.version, "at": time.time()})

    def _watch(self) -> None:
        while not self._stop.wait(self.settings.poll_seconds):
            try:
                self.check_alias()
            except Exception as exc:  # the registry unreachable for a moment: keep serving
                log.warning("alias check failed: %s: %s", type(exc).__name__, exc)


def dumps(value: Any) -> bytes:
    return orjson.dumps(value)
