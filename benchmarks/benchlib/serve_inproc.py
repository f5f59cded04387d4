"""In-process cost of the parts of one ``GET /recommendations/{user}`` in ``reelflow serve``, with
no HTTP: run by benchmarks/serve_load.py pinned to the server CPU, in the dev venv, against the
benchmark's store (``REELFLOW_HOME``). Prints one JSON object: median microseconds per call.

It loads the champion the way the server does (``load_deployment``) and times the model path
(``Deployment.recommend`` and the pieces of ``Recommender.recommend`` it goes through), the
thread-pool hand-off of ``Service.answer`` (``run_in_executor`` + ``wait_for``) around a no-op,
and, for comparison, a direct path that works on indices (matvec, seen items set to -inf,
argpartition) as a server could with a fast path.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

OUT: dict[str, Any] = {}
MINIMA: dict[str, float] = {}


def timed(name: str, fn: Callable[[int], Any], calls: int, *, per: int = 1) -> None:
    """``OUT[name]``: the median over 7 blocks of the mean microseconds of ``calls`` calls
    (``fn(i)``), divided by ``per``; ``MINIMA[name]``: the smallest block (on a shared machine,
    the least disturbed)."""
    fn(0)
    means = []
    for block in range(7):
        began = time.perf_counter()
        for i in range(calls):
            fn(block * calls + i)
        means.append((time.perf_counter() - began) / calls * 1e6 / per)
    OUT[name], MINIMA[name] = statistics.median(means), min(means)


def main() -> None:
    import orjson

    from reelflow.models._topk import item_labels, mask_seen, top_k
    from reelflow.registry import Registry
    from reelflow.serve._deployment import load_deployment
    from reelflow.serve._settings import ServeSettings
    from reelflow.store import Store

    calls = int(sys.argv[1]) if len(sys.argv) > 1 else 400
    store = Store.open(create=False)
    settings = ServeSettings(
        model="recs@champion", store_home=str(store.config.home), store_db=store.config.db_url
    )
    deployment = load_deployment(Registry(store), "recs@champion", settings)
    model = deployment.model
    ids = np.asarray(model.users_.ids)
    rows = [int(i) for i in np.random.default_rng(0).integers(0, len(ids), 10_000)]

    def row(i: int) -> int:
        return rows[i % len(rows)]

    uf, itf = model.user_factors_, model.item_factors_
    seen = model.seen_
    item_str = [str(v) for v in np.asarray(model.items_.ids).tolist()]
    block = (uf[[0]] @ itf.T).astype(np.float32)
    vector = block[0].copy()
    positions, _ = top_k(block, 10)

    def direct(i: int) -> tuple[list[str], list[float]]:
        u = row(i)
        scores = itf @ uf[u]
        scores[seen.indices[seen.indptr[u] : seen.indptr[u + 1]]] = -np.inf
        top = np.argpartition(scores, len(scores) - 10)[len(scores) - 10 :]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [item_str[j] for j in top], scores[top].tolist()

    def direct_batch(i: int, b: int = 64) -> list[tuple[list[str], list[float]]]:
        users = [row(i * b + j) for j in range(b)]
        scores = uf[users] @ itf.T
        for r, u in enumerate(users):
            scores[r, seen.indices[seen.indptr[u] : seen.indptr[u + 1]]] = -np.inf
        n = scores.shape[1]
        part = np.argpartition(scores, n - 10, axis=1)[:, n - 10 :]
        values = np.take_along_axis(scores, part, axis=1)
        order = np.argsort(-values, axis=1, kind="stable")
        part, values = np.take_along_axis(part, order, 1), np.take_along_axis(values, order, 1)
        return [([item_str[j] for j in p], v.tolist()) for p, v in zip(part, values, strict=True)]

    def batch_of(b: int) -> Callable[[int], Any]:
        return lambda i: deployment.recommend(
            [row(i * b + j) for j in range(b)], 10, None, frozenset()
        )

    if getattr(deployment, "cache", None) is not None:
        timed(
            "Deployment.cached (precomputed list, 1 user, k=10)",
            lambda i: deployment.cached(row(i), 10, None, frozenset()),
            calls * 10,
        )
    timed(
        "Deployment.recommend (1 user, k=10)",
        lambda i: deployment.recommend([row(i)], 10, None, frozenset()),
        calls,
    )
    timed(
        "Recommender.recommend (1 user id)", lambda i: model.recommend(ids[[row(i)]], k=10), calls
    )
    timed(
        "  id -> index (pandas Index lookup)",
        lambda i: model._user_indices(ids[[row(i)]], "error"),
        calls,
    )
    timed("  scores: user_factors[[u]] @ item_factors.T", lambda i: uf[[row(i)]] @ itf.T, calls)
    timed(
        "  mask_seen (scipy row slice)",
        lambda i: mask_seen(block, seen, np.asarray([row(i)])),
        calls,
    )
    timed("  top_k (argpartition + argsort, 2-D)", lambda i: top_k(block, 10), calls)
    timed(
        "  item_labels + str() per item",
        lambda i: [str(v) for v in item_labels(model.items_.ids, positions)[0]],
        calls,
    )
    timed("direct index path (matvec, -inf seen, argpartition, precomputed str ids)", direct, calls)
    timed("  matvec only: item_factors @ user_factors[u]", lambda i: itf @ uf[row(i)], calls)
    timed(
        "  argpartition of one 1-D row",
        lambda i: np.argpartition(vector, len(vector) - 10)[len(vector) - 10 :],
        calls,
    )
    timed(
        "direct index path, batch of 64 users (one gemm), per user",
        direct_batch,
        max(10, calls // 64),
        per=64,
    )
    for b in (16, 64):
        timed(
            f"Deployment.recommend, batch of {b}, per user", batch_of(b), max(10, calls // b), per=b
        )
    items, scores = direct(0)
    body = {"model": "recs", "version": 1, "user_id": "123", "items": items, "scores": scores}
    timed("orjson.dumps(response body)", lambda i: orjson.dumps(body), calls * 10)

    pool = ThreadPoolExecutor(2)

    async def hop(n: int) -> float:
        loop = asyncio.get_running_loop()
        began = time.perf_counter()
        for _ in range(n):
            await asyncio.wait_for(loop.run_in_executor(pool, lambda: None), 1.0)
        return (time.perf_counter() - began) / n * 1e6

    async def hop_plain(n: int) -> float:
        loop = asyncio.get_running_loop()
        began = time.perf_counter()
        for _ in range(n):
            await loop.run_in_executor(pool, lambda: None)
        return (time.perf_counter() - began) / n * 1e6

    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:
        runner = asyncio.run
    for name, fn in (
        ("thread hand-off: wait_for(run_in_executor(no-op))", hop),
        ("thread hand-off: run_in_executor(no-op), no wait_for", hop_plain),
    ):
        runs = [runner(fn(calls * 2)) for _ in range(5)]
        OUT[name], MINIMA[name] = statistics.median(runs), min(runs)
    pool.shutdown()
    from threadpoolctl import threadpool_info

    OUT["_min_us"] = dict(MINIMA)
    OUT["_blas_threads"] = [(p["internal_api"], p["num_threads"]) for p in threadpool_info()]
    json.dump(OUT, sys.stdout)


if __name__ == "__main__":
    main()
