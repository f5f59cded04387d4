"""Serving load: ``reelflow serve`` against a minimal Starlette floor (and BentoML), on loopback.

One command::

    .venv/bin/python benchmarks/serve_load.py            # ~35 min on 2 cores
    .venv/bin/python benchmarks/serve_load.py --quick    # ~5 min, one repeat, short runs
    .venv/bin/python benchmarks/serve_load.py --report benchmarks/results/serve_load-X.json

Needs wrk and taskset (``apt-get install -y wrk``; taskset is in util-linux), py-spy in the dev
venv (``.venv/bin/pip install py-spy``) and, for the BentoML rows, ``benchmarks/.venv-bentoml``
(``python3 -m venv benchmarks/.venv-bentoml && benchmarks/.venv-bentoml/bin/pip install bentoml
uvloop httptools``; skipped with the reason recorded when absent).

Setup (a temporary store, ``REELFLOW_HOME``): ``generate_interactions`` (60,000 users x 20,000
items, 3M interactions, seed 0), ALS (factors 64) fitted twice (random_state 0 and 1), both
registered as ``recs`` versions 1 and 2 (with ``data=``), version 1 promoted to champion. EASE is
not used: at 20,000 items its item-item matrix is 20k x 20k float32 = 1.6 GB per worker.

Servers, each a subprocess pinned to CPU 0 with taskset (the load generators are pinned to CPU 1):

- ``reelflow serve recs@champion --workers 1`` (request log at its default 10% sample), the
  same with ``--log-sample 0``, with ``--workers 2`` (both workers on CPU 0), and ``--workers 1``
  *not pinned* (both CPUs, shared with the load generator; OpenBLAS then runs 2 threads, as on
  an unpinned production host);
- the floor: a minimal Starlette app (``benchlib/serve_floor.py``) on uvicorn with uvloop and
  httptools, log level warning, no access log (what ``reelflow serve`` uses), answering the same
  JSON shape from precomputed lists (version 1's top 10 for the same users) held in a dict;
- BentoML (``benchlib/serve_bento.py``, in its own venv): the same ALS factors, numpy matvec +
  argpartition top-k without seen items, one worker, access log off, a typed (pydantic) answer;
  once as a sync API (BentoML runs it in its thread pool) and once as an async API (on the event
  loop). BentoML APIs are POST with a JSON body: ``POST /recommend {"user_id": ..., "k": 10}``.

Every server gets the same rotation of 10,000 user ids (k=10); a check first asserts that all
answer the same items for 50 users. Measurements, servers interleaved (the order rotates every
repeat), ``--repeats`` times, medians reported:

1. max throughput: wrk (1 thread; ``--duration`` s per run) at 4, 16, 64 and 256 connections;
   the best throughput of a repeat and the latency wrk measured in that run. For reelflow, its
   ``/metrics`` counters tell how many answers the timeout fallback gave in each run, so the
   table also shows the best rate of answers that came from the model;
2. latency at a constant rate of half of reelflow's (``--workers 1``) median max throughput:
   ``benchlib/openloop.py``, an open-loop generator in its own process (latency from each
   request's scheduled instant, so no coordinated omission), with its own lag reported and a
   check run against the floor at twice the rate; reelflow's own latency histogram (from
   ``/metrics``) is read too;
3. memory (RSS, PSS, USS) of every server process after warm-up;
4. hot swap under constant-rate load: ``--workers 1`` with REELFLOW_ADMIN_TOKEN, promote
   version 2 + ``POST /admin/reload``, then ``Registry.rollback`` + reload; and ``--workers 2
   --poll 1`` following the alias by polling; failed / non-200 responses counted and the
   ``version`` of every answer read;
5. the in-process cost of the model path (``benchlib/serve_inproc.py``, no HTTP) and py-spy
   profiles of reelflow (all threads, and the GIL holder only), the floor and BentoML under wrk.

Prints markdown tables and writes the raw record to ``benchmarks/results/serve_load-*.json``
(``--report`` prints the tables of a saved record again).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from benchlib.serve_procs import (
    BENCH_DIR,
    LIB_DIR,
    SERVER_CPU,
    Server,
    answer_counters,
    bucket_quantiles,
    constant_rate,
    counter_delta,
    finish,
    free_port,
    latency_buckets,
    openloop,
    pinned,
    py_spy,
    summarize_profile,
    wrk,
)

REPO = BENCH_DIR.parent
VENV_BIN = Path(sys.executable).parent
BENTO_VENV = BENCH_DIR / ".venv-bentoml"
RESULTS = BENCH_DIR / "results"
PACKAGES = {"wrk": "wrk", "taskset": "util-linux"}
nan = float("nan")
K = 10
TOKEN = "serve-load-bench-token"
MODEL = "recs"
MAIN = "reelflow-w1"  # the configuration the targets are judged on
LABELS = {
    "reelflow-w1": "reelflow serve --workers 1",
    "reelflow-w1-log0": "reelflow serve --workers 1 --log-sample 0",
    "reelflow-w2": "reelflow serve --workers 2",
    "floor": "Starlette floor (precomputed)",
    "reelflow-w1-unpinned": "reelflow serve --workers 1, not pinned",
    "reelflow-w1-live": "reelflow serve --workers 1 --precompute-mb 0 (scored per request)",
    "bentoml": "BentoML, sync API (same ALS factors)",
    "bentoml-async": "BentoML, async API (same ALS factors)",
}
ALS_PARAMS = {"factors": 64, "regularization": 0.1, "alpha": 10.0, "iterations": 10}


# --- setup -------------------------------------------------------------------------------------


def setup(work: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Data, two ALS versions registered (version 1 champion), the rotation of user ids, the
    floor's precomputed lists and the factors file BentoML loads."""
    import numpy as np

    from reelflow.data import generate_interactions
    from reelflow.models import ALS
    from reelflow.registry import Registry
    from reelflow.store import Store

    timings: dict[str, float] = {}
    began = time.perf_counter()
    data = generate_interactions(args.users, args.items, args.interactions, seed=0).interactions
    timings["generate_s"] = time.perf_counter() - began
    store = Store.open(work)
    registry = Registry(store)
    versions = []
    for seed in (0, 1):
        began = time.perf_counter()
        model = ALS(**ALS_PARAMS, random_state=seed).fit(data)
        timings[f"fit_v{seed + 1}_s"] = time.perf_counter() - began
        began = time.perf_counter()
        versions.append(registry.register(MODEL, model, data=data, description=f"seed {seed}"))
        timings[f"register_v{seed + 1}_s"] = time.perf_counter() - began
        if seed == 0:
            v1 = model
    registry.promote(MODEL, versions[0].version)
    rng = np.random.default_rng(0)
    ids = np.asarray(v1.users_.ids)
    rotation = [str(u) for u in rng.choice(ids, size=min(args.rotation, len(ids)), replace=False)]
    users_file = work / "users.txt"
    users_file.write_text("\n".join(rotation) + "\n")
    recs = v1.recommend(np.asarray(rotation).astype(ids.dtype), k=K)
    lists = {
        user: {"items": [str(i) for i in items], "scores": [float(s) for s in scores]}
        for user, items, scores in zip(rotation, recs.items, recs.scores, strict=True)
    }
    floor_file = work / "floor_lists.json"
    floor_file.write_text(json.dumps(lists))
    npz = work / "als_v1.npz"
    np.savez(
        npz,
        user_factors=v1.user_factors_,
        item_factors=v1.item_factors_,
        seen_indptr=v1.seen_.indptr,
        seen_indices=v1.seen_.indices,
        item_ids=np.asarray(v1.items_.ids),
        user_ids=np.asarray(v1.users_.ids),
        version=np.int64(versions[0].version),
    )
    return {
        "users": int(data.n_users),
        "items": int(data.n_items),
        "interactions": len(data),
        "als": ALS_PARAMS,
        "versions": [v.version for v in versions],
        "rotation_users": len(rotation),
        "timings": timings,
        "users_file": users_file,
        "floor_file": floor_file,
        "npz": npz,
        "lists": lists,
        "store_home": str(store.config.home),
    }


# --- servers -----------------------------------------------------------------------------------


SNAPSHOT: list[Path] = []


def snapshot_source(work: Path) -> dict[str, Any]:
    """Copy the working tree's ``src/reelflow`` into ``work`` and serve from the copy, so that
    edits made while the benchmark runs (it takes half an hour) do not reach its servers."""
    target = work / "src"
    shutil.copytree(
        REPO / "src" / "reelflow", target / "reelflow", ignore=shutil.ignore_patterns("__pycache__")
    )
    SNAPSHOT.append(target)
    sys.path.insert(0, str(target))
    os.environ["PYTHONPATH"] = str(target)  # the registry's fresh-process check uses it too

    def git(*cmd: str) -> str:
        done = subprocess.run(["git", *cmd], cwd=REPO, capture_output=True, text=True, check=False)
        return done.stdout.strip()

    return {
        "commit": git("rev-parse", "HEAD"),
        "commit_subject": git("log", "-1", "--format=%s"),
        "src_changes": git("status", "--porcelain", "--", "src"),
        "snapshot": str(target),
    }


def snapshot_env() -> dict[str, str]:
    return {"PYTHONPATH": str(SNAPSHOT[0])} if SNAPSHOT else {}


def base_env() -> dict[str, str]:
    drop = ("REELFLOW_", "PYTHONPATH", "VIRTUAL_ENV", "PROMETHEUS_MULTIPROC_DIR", "BENTOML_")
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


def reelflow_server(
    name: str, label: str, work: Path, *, workers: int = 1, extra: tuple[str, ...] = (),
    cpu: str | None = SERVER_CPU, token: bool = False,
) -> Server:  # fmt: skip
    port = free_port()
    env = {**base_env(), "REELFLOW_HOME": str(work / ".reelflow"), **snapshot_env()}
    if token:
        env["REELFLOW_ADMIN_TOKEN"] = TOKEN
    cmd = [
        str(VENV_BIN / "reelflow"), "serve", f"{MODEL}@champion", "--port", str(port),
        "--workers", str(workers), *extra,
    ]  # fmt: skip
    return Server(
        name, label, pinned(cpu, cmd), env, work, port, "/ready",
        worker_marker="multiprocessing" if workers > 1 else None,
    )  # fmt: skip


def floor_server(work: Path, lists: Path) -> Server:
    port = free_port()
    env = {**base_env(), "BENCH_FLOOR_LISTS": str(lists), "PYTHONPATH": str(BENCH_DIR)}
    cmd = [
        sys.executable, "-m", "uvicorn", "benchlib.serve_floor:create_app", "--factory",
        "--host", "127.0.0.1", "--port", str(port), "--loop", "uvloop", "--http", "httptools",
        "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip
    return Server(
        "floor",
        "Starlette floor (precomputed)",
        pinned(SERVER_CPU, cmd),
        env,
        work,
        port,
        "/health",
    )


def bento_server(work: Path, npz: Path, *, asynchronous: bool = False) -> Server:
    port = free_port()
    env = {
        **base_env(),
        "BENCH_ALS_NPZ": str(npz),
        "BENTOML_HOME": str(work / "bentoml"),
        "BENTOML_DO_NOT_TRACK": "True",
    }
    cmd = [
        str(BENTO_VENV / "bin" / "bentoml"), "serve",
        "serve_bento:ALSRecsAsync" if asynchronous else "serve_bento:ALSRecs", "--host",
        "127.0.0.1", "--port", str(port), "--working-dir", str(LIB_DIR),
    ]  # fmt: skip
    name, label = "bentoml", "BentoML, sync API (same ALS factors)"
    if asynchronous:
        name, label = "bentoml-async", "BentoML, async API (same ALS factors)"
    return Server(
        name, label, pinned(SERVER_CPU, cmd), env, work, port,
        "/readyz", post=True, worker_marker="_bentoml_impl.worker",
    )  # fmt: skip


def bento_status() -> dict[str, Any]:
    python = BENTO_VENV / "bin" / "python"
    if not python.exists():
        return {"available": False, "why": f"{BENTO_VENV} does not exist; create it with "
                "python3 -m venv benchmarks/.venv-bentoml && benchmarks/.venv-bentoml/bin/pip "
                "install bentoml uvloop httptools"}  # fmt: skip
    done = subprocess.run(
        [str(python), "-c", "import bentoml, uvloop, httptools; print(bentoml.__version__)"],
        capture_output=True, text=True, check=False,
        env={**base_env(), "BENTOML_DO_NOT_TRACK": "True"},
    )  # fmt: skip
    if done.returncode != 0:
        return {"available": False, "why": done.stderr.strip()[-500:]}
    return {"available": True, "version": done.stdout.strip()}


# --- measurements ------------------------------------------------------------------------------


def check_answers(servers: list[Server], lists: dict[str, Any], users: list[str]) -> dict[str, Any]:
    """Every server gives the same items as the precomputed lists for a sample of users."""
    out = {}
    for server in servers:
        same = 0
        for user in users:
            body = server.recommend(user, K)
            same += body["items"] == lists[user]["items"]
        out[server.name] = {"checked": len(users), "same_items": same}
    return out


def best_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return max(runs, key=lambda r: r["rps"])


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def counted_wrk(server: Server, users_file: Path, **kw: Any) -> dict[str, Any]:
    """A wrk run; for reelflow, with the share of answers the fallback gave (its /metrics)."""
    own = server.name.startswith("reelflow")
    before = answer_counters(server) if own else {}
    result = wrk(server, users_file, **kw)
    if own:
        delta = counter_delta(before, answer_counters(server))
        answered = delta.get("outcome=ok", 0.0) + delta.get("outcome=fallback", 0.0)
        result["answers"] = delta
        result["fallback_share"] = delta.get("outcome=fallback", 0.0) / max(answered, 1.0)
    else:
        result["fallback_share"] = 0.0
    result["model_rps"] = result["rps"] * (1.0 - result["fallback_share"])
    return result


def max_throughput(
    servers: list[Server], users_file: Path, args: argparse.Namespace, log: Any
) -> dict[str, list[dict[str, Any]]]:
    runs: dict[str, list[dict[str, Any]]] = {s.name: [] for s in servers}
    for repeat in range(args.repeats):
        order = servers[repeat % len(servers) :] + servers[: repeat % len(servers)]
        for server in order:
            wrk(server, users_file, connections=16, seconds=args.warmup)
            sweep = [
                counted_wrk(server, users_file, connections=c, seconds=args.duration)
                for c in args.connections
            ]
            best = best_of(sweep)
            best_model = max(sweep, key=lambda r: r["model_rps"])
            runs[server.name].append(
                {"repeat": repeat, "best": best, "best_model": best_model, "sweep": sweep}
            )
            swept = ", ".join(
                f"{r['connections']}:{r['rps']:.0f}/{100 * r['fallback_share']:.0f}%fb"
                for r in sweep
            )
            log(
                f"  [{repeat + 1}/{args.repeats}] {server.name:22s} best {best['rps']:8.0f} req/s "
                f"at c={best['connections']:<3d} p99 {best['p99_ms']:7.2f} ms "
                f"fallback {100 * best['fallback_share']:.1f}% "
                f"(sweep {swept}) "
                f"load {best['load1_before']:.1f}"
            )
    return runs


def fixed_rate(
    servers: list[Server],
    users_file: Path,
    rate: float,
    args: argparse.Namespace,
    log: Any,
    maxima: dict[str, float],
) -> dict[str, list[dict[str, Any]]]:
    """Every server at ``rate``, except one whose own max throughput is below twice that: it
    runs at half of its own max (an overloaded open-loop run measures only its queue)."""
    runs: dict[str, list[dict[str, Any]]] = {s.name: [] for s in servers}
    floor = next((s for s in servers if s.name == "floor"), None)
    runs["generator_check"] = []
    for repeat in range(args.repeats):
        order = servers[repeat % len(servers) :] + servers[: repeat % len(servers)]
        for server in order:
            wrk(server, users_file, connections=16, seconds=args.warmup)
            own = server.name.startswith("reelflow")
            before = latency_buckets(server) if own else {}
            own_rate = min(rate, maxima.get(server.name, 2 * rate) / 2)
            result = constant_rate(server, users_file, rate=own_rate, seconds=args.rate_duration)
            if own:
                result["server_histogram"] = bucket_quantiles(before, latency_buckets(server))
            result["fallback_count"] = sum(result["fallback_answers"].values())
            runs[server.name].append(result)
            lat = result["latency_ms"]
            log(
                f"  [{repeat + 1}/{args.repeats}] {server.name:22s} {result['achieved_rate']:7.0f}"
                f" req/s p50 {lat.get('p50', nan):6.2f} p99 {lat.get('p99', nan):7.2f} ms"
                f" failed {result['failed']} fallback {result['fallback_count']}"
                f" send-lag p99 {result['send_lag_ms'].get('p99', 0):.2f} ms"
            )
        if floor is not None:
            check = constant_rate(floor, users_file, rate=2 * rate, seconds=args.rate_duration / 2)
            check["fallback_count"] = sum(check["fallback_answers"].values())
            runs["generator_check"].append(check)
            log(
                f"  [{repeat + 1}/{args.repeats}] generator check: floor at {2 * rate:.0f}/s -> "
                f"{check['achieved_rate']:.0f}/s p99 {check['latency_ms'].get('p99', 0):.2f} ms, "
                f"send-lag p99 {check['send_lag_ms'].get('p99', 0):.2f} ms, "
                f"generator CPU {check['generator_cpu_s']:.1f} s / {args.rate_duration / 2:.0f} s"
            )
    return runs


def memory(servers: list[Server]) -> dict[str, list[dict[str, Any]]]:
    return {s.name: s.memory() for s in servers}


def profile(
    server: Server, users_file: Path, work: Path, seconds: float, tag: str, *, gil: bool = False
) -> dict[str, Any]:
    """wrk at 16 connections for ``seconds + 4`` while py-spy samples the server's process
    (``gil``: only the thread holding the GIL, i.e. what limits one process's throughput)."""
    assert server.proc is not None
    out = work / f"profile-{tag}.txt"
    holder: dict[str, Any] = {}

    def drive() -> None:
        holder["wrk"] = wrk(server, users_file, connections=16, seconds=seconds + 4)

    thread = threading.Thread(target=drive)
    thread.start()
    time.sleep(2)
    workers = [p["pid"] for p in server.memory() if p["role"] == "worker"]
    py_spy(workers[0] if workers else server.proc.pid, seconds, out, gil=gil)
    thread.join()
    summary = summarize_profile(out)
    summary["wrk_during_profile"] = holder.get("wrk")
    summary["raw"] = str(out)
    return summary


def hot_swap(
    server: Server, users_file: Path, rate: float, seconds: float, *, reload: bool, work: Path
) -> dict[str, Any]:
    """Constant-rate load on ``server``; at 30% of the run promote version 2 (then reload when
    ``reload``), at 60% roll back (then reload). Every response's version is read."""
    from reelflow.registry import Registry
    from reelflow.store import Store

    registry = Registry(Store.open(work))
    events: list[dict[str, Any]] = []
    began = time.monotonic()
    gen = openloop(server, users_file, rate=rate, seconds=seconds, versions=True, timeline=True)
    start = began + 0.4  # the generator schedules its first request ~0.2 s after it starts

    def at(fraction: float) -> None:
        time.sleep(max(0.0, start + fraction * seconds - time.monotonic()))

    def do_reload() -> dict[str, Any]:
        request = urllib.request.Request(
            server.url + "/admin/reload", b"", {"Authorization": f"Bearer {TOKEN}"}, method="POST"
        )
        t0 = time.monotonic()
        with urllib.request.urlopen(request, timeout=60) as answer:
            body = json.loads(answer.read())
        return {"reload": body, "reload_s": time.monotonic() - t0}

    at(0.3)
    event: dict[str, Any] = {"t": time.monotonic() - start, "action": "promote 2"}
    registry.promote(MODEL, 2)
    if reload:
        event.update(do_reload())
    events.append(event)
    at(0.6)
    event = {"t": time.monotonic() - start, "action": "rollback"}
    event["rolled_back_to"] = registry.rollback(MODEL, reason="serve_load hot-swap test")
    if reload:
        event.update(do_reload())
    events.append(event)
    result = finish(gen, seconds + 120)
    result["events"] = events
    result["versions_seen"] = sorted(int(v) for v in result["versions"])
    return result


# --- report ------------------------------------------------------------------------------------


def fmt(value: float | None, digits: int = 1) -> str:
    if value is None or value != value:
        return "-"
    return f"{value:,.{digits}f}"


def throughput_table(
    runs: dict[str, list[dict[str, Any]]], labels: dict[str, str], floor_rps: float
) -> list[str]:
    lines = [
        "| server | max req/s (median) | min-max | best at conns | p50 ms | p90 ms | p99 ms "
        "| errors + non-2xx | fallback share | vs floor | max model answers/s | vs floor "
        "| load avg (1 min) |",
        "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
        "| ---: |",
    ]
    for name, reps in runs.items():
        rps = [r["best"]["rps"] for r in reps]
        conns = sorted({r["best"]["connections"] for r in reps})
        med = median(rps)
        model = median([r["best_model"]["model_rps"] for r in reps])
        errors = sum(r["socket_errors"] + r["non_2xx"] for rep in reps for r in rep["sweep"])

        def best(key: str, digits: int = 2, reps: list[dict[str, Any]] = reps) -> str:
            return fmt(median([r["best"][key] for r in reps]), digits)

        lines.append(
            f"| {labels[name]} | {fmt(med, 0)} | {fmt(min(rps), 0)}-{fmt(max(rps), 0)} | "
            f"{', '.join(map(str, conns))} | {best('p50_ms')} | "
            f"{best('p90_ms')} | {best('p99_ms')} | {errors} | "
            f"{fmt(100 * median([r['best']['fallback_share'] for r in reps]), 1)}% | "
            f"{fmt(100 * med / floor_rps, 0)}% | {fmt(model, 0)} | "
            f"{fmt(100 * model / floor_rps, 0)}% | {best('load1_before', 1)} |"
        )
    return lines


def rate_table(runs: dict[str, list[dict[str, Any]]], labels: dict[str, str]) -> list[str]:
    lines = [
        "| server | target req/s | achieved req/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms "
        "| failed "
        "| fallback answers | p99 write-to-response ms | server's own p99 (histogram) "
        "| p99 wait for a free connection ms | generator scheduler lag p99 ms | load avg |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
        "| ---: | ---: | ---: |",
    ]
    for name, reps in runs.items():
        label = labels.get(name, name)
        if name == "generator_check":
            label = "floor at 2x the rate (generator check)"

        def med(key: str, sub: str = "latency_ms", reps: list[dict[str, Any]] = reps) -> float:
            return median([r[sub].get(key, nan) for r in reps])

        lines.append(
            f"| {label} | {fmt(median([r['target_rate'] for r in reps]), 0)} | "
            f"{fmt(median([r['achieved_rate'] for r in reps]), 0)} | "
            f"{fmt(med('p50'), 2)} | "
            f"{fmt(med('p90'), 2)} | {fmt(med('p99'), 2)} | {fmt(med('p999'), 2)} | "
            f"{fmt(med('max'), 1)} | {sum(r['failed'] for r in reps)} | "
            f"{sum(r['fallback_count'] for r in reps)} of {sum(r['completed'] for r in reps)} | "
            f"{fmt(med('p99', 'service_ms'), 2)} | {own_p99(reps)} | "
            f"{fmt(med('p99', 'send_lag_ms'), 2)} | {fmt(med('p99', 'scheduler_lag_ms'), 2)} | "
            f"{fmt(median([r['load1_before'] for r in reps]), 1)} |"
        )
    return lines


def own_p99(reps: list[dict[str, Any]]) -> str:
    bounds = [r["server_histogram"]["p99_le_ms"] for r in reps if r.get("server_histogram")]
    bounds = [b for b in bounds if b is not None]
    return f"<= {median(bounds):g} ms" if bounds else "-"


def memory_table(mem: dict[str, list[dict[str, Any]]], labels: dict[str, str]) -> list[str]:
    lines = [
        "| server | process | RSS MB | PSS MB | USS MB | threads |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for name, procs in mem.items():
        for proc in procs:
            lines.append(
                f"| {labels[name]} | {proc['role']} (pid {proc['pid']}) | "
                f"{fmt(proc['rss_mb'], 0)} | "
                f"{fmt(proc['pss_mb'], 0)} | {fmt(proc['uss_mb'], 0)} | {proc['threads']} |"
            )
    return lines


def swap_table(swaps: dict[str, dict[str, Any]]) -> list[str]:
    lines = [
        "| server | how | requests | failed | non-2xx | fallback answers | answers by version "
        "| p99 ms (whole run) | worst 1-s p99 ms | events |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | --- |",
    ]
    for name, r in swaps.items():
        worst = max((s.get("p99", 0) for s in r["timeline"]), default=float("nan"))
        events = "; ".join(
            f"{e['action']} at {e['t']:.1f} s"
            + (
                f" (reload {e['reload_s'] * 1000:.0f} ms: {e['reload'].get('swapped')})"
                if "reload" in e
                else ""
            )
            for e in r["events"]
        )
        versions = ", ".join(f"v{v}: {n}" for v, n in r["versions"].items())
        lines.append(
            f"| {name} | {r['how']} | {r['scheduled']} | {r['failed']} | {r['non_2xx']} | "
            f"{sum(r['fallback_answers'].values())} | {versions} | "
            f"{fmt(r['latency_ms'].get('p99'), 2)} | {fmt(worst, 1)} | {events} |"
        )
    return lines


def profile_lines(summary: dict[str, Any], top: int = 12) -> list[str]:
    lines = [f"samples: {summary['samples']} (non-idle, all threads)", "", "by category:"]
    lines += [f"- {name}: {share:.1f}%" for name, share in summary["categories"]]
    lines += ["", "by thread:"] + [f"- {name}: {share:.1f}%" for name, share in summary["threads"]]
    lines += ["", "top self (leaf) frames:"] + [
        f"- {share:5.1f}% {name}" for name, share in summary["self"][:top]
    ]
    lines += ["", "top inclusive frames:"] + [
        f"- {share:5.1f}% {name}" for name, share in summary["inclusive"][:top]
    ]
    return lines


def versions_info() -> dict[str, Any]:
    from importlib.metadata import version

    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            platform.processor(),
        ),
        "cpus": os.cpu_count(),
    }
    for package in ("reelflow", "starlette", "uvicorn", "uvloop", "httptools", "orjson", "numpy",
                    "prometheus_client", "psutil"):  # fmt: skip
        with contextlib.suppress(Exception):
            info[package] = version(package)
    done = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    info["wrk"] = (
        (done.stdout or done.stderr).splitlines()[0] if (done.stdout or done.stderr) else "?"
    )
    spy = VENV_BIN / "py-spy"
    if spy.exists():
        info["py-spy"] = subprocess.run(
            [str(spy), "--version"], capture_output=True, text=True
        ).stdout.strip()
    info["openblas_env"] = {
        k: v for k, v in os.environ.items() if k.startswith(("OPENBLAS", "OMP_"))
    }
    return info


def render(record: dict[str, Any]) -> str:
    """The markdown tables of a run's record (also ``--report FILE.json``); sets its targets."""
    labels: dict[str, str] = {**LABELS, **record.get("labels", {})}
    rate: float = record["rate"]
    rf_max = 2 * rate
    tp = record["max_throughput"]
    floor_rps = median([r["best"]["rps"] for r in tp["floor"]])
    rf_ratio = rf_max / floor_rps
    paired = median(
        [a["best"]["rps"] / b["best"]["rps"] for a, b in zip(tp[MAIN], tp["floor"], strict=True)]
    )
    rf_p99 = median([r["latency_ms"]["p99"] for r in record["fixed_rate"][MAIN]])
    swap_failed = sum(r["failed"] for r in record["hot_swap"].values())
    swap_both = all(set(r["versions_seen"]) >= {1, 2} for r in record["hot_swap"].values())
    model_ratio = median([r["best_model"]["model_rps"] for r in tp[MAIN]]) / floor_rps
    model_paired = median(
        [
            a["best_model"]["model_rps"] / b["best"]["rps"]
            for a, b in zip(tp[MAIN], tp["floor"], strict=True)
        ]
    )
    record["targets"] = {
        "model_answers_ratio": model_ratio,
        "model_answers_ratio_paired_median": model_paired,
        "throughput_ratio": rf_ratio,
        "throughput_ratio_paired_median": paired,
        "throughput_target_met": rf_ratio >= 0.6,
        "p99_at_half_ms": rf_p99,
        "p99_target_met": rf_p99 <= 10.0,
        "swap_failed": swap_failed,
        "swap_both_versions": swap_both,
        "swap_target_met": swap_failed == 0 and swap_both,
    }
    out: list[str] = []
    out += ["### Max throughput (wrk, best over connection counts, median of repeats)", ""]
    out += [*throughput_table(tp, labels, floor_rps), ""]
    out += [f"### Latency at a constant {rate:.0f} req/s (half of reelflow --workers 1's max)", ""]
    out += [*rate_table(record["fixed_rate"], labels), ""]
    out += ["### Memory after warm-up", "", *memory_table(record["memory"], labels), ""]
    out += ["### Hot swap under constant-rate load", "", *swap_table(record["hot_swap"]), ""]
    t = record["targets"]
    out += [
        "### Targets",
        "",
        f"- max throughput, reelflow --workers 1 / floor: {100 * t['throughput_ratio']:.0f}% "
        f"(paired per repeat: {100 * t['throughput_ratio_paired_median']:.0f}%); target >= 60%: "
        f"{'met' if t['throughput_target_met'] else 'NOT met'}",
        f"- counting only the model's answers (not the timeout fallback's): "
        f"{100 * t['model_answers_ratio']:.0f}% (paired: "
        f"{100 * t['model_answers_ratio_paired_median']:.0f}%)",
        f"- p99 at half that throughput: {t['p99_at_half_ms']:.2f} ms; target <= 10 ms: "
        f"{'met' if t['p99_target_met'] else 'NOT met'}",
        f"- hot swap + rollback under load: {t['swap_failed']} failed, both versions answered: "
        f"{t['swap_both_versions']}; target: {'met' if t['swap_target_met'] else 'NOT met'}",
        "",
    ]
    inproc = record.get("inprocess_us", {})
    if "error" not in inproc:
        minima = inproc.get("_min_us", {})
        out += [
            "### In-process cost of the model path (us per call, CPU 0, no HTTP)",
            "",
            "| what | median of 7 blocks | least disturbed block |",
            "| --- | ---: | ---: |",
        ]
        if record.get("inprocess_note"):
            out[-2:-2] = [f"({record['inprocess_note']})", ""]
        for key, value in inproc.items():
            if isinstance(value, float):
                name = "- " + key.strip() if key.startswith("  ") else key
                out.append(f"| {name} | {value:,.1f} | {fmt(minima.get(key), 1)} |")
        out += [""]
    for name, summary in record.get("profile", {}).items():
        if "samples" in summary:
            title = labels.get(name.removesuffix("-gil"), name)
            title += (
                " (GIL holder only, --gil)" if name.endswith("-gil") else " (all non-idle threads)"
            )
            wrk_run = summary.get("wrk_during_profile") or {}
            out += [
                f"### py-spy: {title}",
                "",
                f"wrk during the profile: {fmt(wrk_run.get('rps'), 0)} req/s",
                "",
            ]
            out += [*profile_lines(summary), ""]
    return "\n".join(out)


# --- main --------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one repeat, short runs")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per wrk run")
    parser.add_argument(
        "--rate-duration", type=float, default=20.0, help="seconds per constant-rate run"
    )
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--connections", type=int, nargs="+", default=[4, 16, 64, 256])
    parser.add_argument("--users", type=int, default=60_000)
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--interactions", type=int, default=3_000_000)
    parser.add_argument(
        "--rotation", type=int, default=10_000, help="user ids the requests rotate over"
    )
    parser.add_argument("--swap-seconds", type=float, default=30.0)
    parser.add_argument("--profile-seconds", type=float, default=20.0)
    parser.add_argument("--no-bentoml", action="store_true")
    parser.add_argument("--no-unpinned", action="store_true", help="skip the unpinned reelflow row")
    parser.add_argument(
        "--no-live", action="store_true", help="skip the --precompute-mb 0 row (older reelflow)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary store")
    parser.add_argument("--report", type=Path, help="only print the tables of a saved record")
    args = parser.parse_args()
    if args.report is not None:
        print(render(json.loads(args.report.read_text())))
        return
    if args.quick:
        args.repeats, args.duration, args.rate_duration, args.warmup = 1, 5.0, 6.0, 1.0
        args.connections, args.swap_seconds, args.profile_seconds = [16, 64], 12.0, 6.0
    for tool in ("wrk", "taskset"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is not installed (apt-get install -y {PACKAGES[tool]})")
    if (os.cpu_count() or 1) < 2:
        sys.exit("this benchmark pins servers to CPU 0 and load to CPU 1: it needs 2 CPUs")

    def log(message: str) -> None:
        print(message, flush=True)

    work = Path(tempfile.mkdtemp(prefix="reelflow-serve-load-"))
    os.environ["REELFLOW_HOME"] = str(work / ".reelflow")
    logs = work / "logs"
    logs.mkdir()
    record: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "argv": sys.argv[1:],
        "settings": {k: v for k, v in vars(args).items()},
        "versions": versions_info(),
        "uptime_before": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(),
    }
    log(f"uptime before: {record['uptime_before']}")
    log(f"work dir: {work}")
    record["source"] = snapshot_source(work)
    log(f"serving code: {record['source']}")
    began = time.perf_counter()
    info = setup(work, args)
    users_file = info["users_file"]
    record["setup"] = {
        k: v for k, v in info.items() if k not in ("lists", "users_file", "floor_file", "npz")
    }
    record["setup"]["total_s"] = time.perf_counter() - began
    log(f"setup: {info['users']:,} users x {info['items']:,} items, {info['interactions']:,} "
        f"interactions, {record['setup']['total_s']:.0f} s ({info['timings']})")  # fmt: skip

    inproc = subprocess.run(
        pinned(SERVER_CPU, [sys.executable, str(LIB_DIR / "serve_inproc.py"), "300"]),
        capture_output=True, text=True, check=False, cwd=work,
        env={**base_env(), "REELFLOW_HOME": str(work / ".reelflow"), **snapshot_env()},
    )  # fmt: skip
    if inproc.returncode == 0:
        record["inprocess_us"] = json.loads(inproc.stdout)
        shown = {k: round(v, 1) for k, v in record["inprocess_us"].items() if isinstance(v, float)}
        log(f"in-process cost (us per call, pinned to CPU 0): {json.dumps(shown)}")
    else:
        record["inprocess_us"] = {"error": inproc.stderr[-1500:]}
        log(f"in-process timing failed: {inproc.stderr[-800:]}")

    servers = [
        reelflow_server("reelflow-w1", "reelflow serve --workers 1", work),
        reelflow_server(
            "reelflow-w1-log0", "reelflow serve --workers 1 --log-sample 0", work,
            extra=("--log-sample", "0"),
        ),
        reelflow_server("reelflow-w2", "reelflow serve --workers 2", work, workers=2),
        floor_server(work, info["floor_file"]),
    ]  # fmt: skip
    if not args.no_live:
        servers.append(
            reelflow_server(
                "reelflow-w1-live",
                LABELS["reelflow-w1-live"],
                work,
                extra=("--precompute-mb", "0"),
            )
        )
    if not args.no_unpinned:
        servers.append(
            reelflow_server(
                "reelflow-w1-unpinned", "reelflow serve --workers 1, not pinned", work, cpu=None
            )
        )
    bento = {"available": False, "why": "--no-bentoml"} if args.no_bentoml else bento_status()
    record["bentoml"] = bento
    if bento["available"]:
        servers.append(bento_server(work, info["npz"]))
        servers.append(bento_server(work, info["npz"], asynchronous=True))
    else:
        log(f"BentoML skipped: {bento['why']}")
    labels = {s.name: s.label for s in servers}
    floor = next(s for s in servers if s.name == "floor")
    main_rf = servers[0]
    try:
        for server in servers:
            try:
                server.start(logs)
            except RuntimeError as exc:
                if not server.name.startswith("bentoml"):
                    raise
                record.setdefault("start_errors", {})[server.name] = str(exc)
                log(f"BentoML skipped: {exc}")
        servers = [s for s in servers if s.proc is not None and s.proc.poll() is None]
        sample = sorted(info["lists"])[:50]
        record["answers"] = check_answers(servers, info["lists"], sample)
        log(f"same items as the precomputed lists (50 users): {record['answers']}")

        log("max throughput (wrk):")
        record["max_throughput"] = max_throughput(servers, users_file, args, log)
        record["memory"] = memory(servers)
        rf_max = median([r["best"]["rps"] for r in record["max_throughput"][main_rf.name]])
        rate = rf_max / 2
        record["rate"] = rate
        log(f"constant rate {rate:.0f} req/s (half of reelflow --workers 1's median {rf_max:.0f}):")
        maxima = {
            name: median([r["best"]["rps"] for r in reps])
            for name, reps in record["max_throughput"].items()
        }
        record["fixed_rate"] = fixed_rate(servers, users_file, rate, args, log, maxima)

        log("py-spy profiles:")
        record["profile"] = {}
        profiled = [(main_rf, False), (main_rf, True), (floor, False)]
        profiled += [(s, False) for s in servers if s.name in ("reelflow-w1-live", "bentoml")]
        for server, gil in profiled:
            tag = server.name + ("-gil" if gil else "")
            try:
                record["profile"][tag] = profile(
                    server, users_file, work, args.profile_seconds, tag, gil=gil
                )
                log(f"  {tag}: {record['profile'][tag]['samples']} samples")
            except RuntimeError as exc:
                record["profile"][tag] = {"error": str(exc)}
                log(f"  {tag}: py-spy failed: {exc}")
    finally:
        for server in servers:
            server.stop()

    log("hot swap under load:")
    record["hot_swap"] = {}
    swap_cases = [
        ("reelflow --workers 1", reelflow_server("swap-w1", "swap", work, token=True), True,
         "promote/rollback + POST /admin/reload"),
        ("reelflow --workers 2 --poll 1",
         reelflow_server("swap-w2", "swap", work, workers=2, extra=("--poll", "1")), False,
         "promote/rollback, alias polled every 1 s"),
    ]  # fmt: skip
    for title, server, reload, how in swap_cases:
        try:
            server.start(logs)
            wrk(server, users_file, connections=16, seconds=args.warmup)
            result = hot_swap(server, users_file, rate, args.swap_seconds, reload=reload, work=work)
        finally:
            server.stop()
        result["server_log"] = [
            line
            for line in (server.log.read_text(errors="replace").splitlines() if server.log else [])
            if "swap" in line or "alias" in line or "Error" in line
        ][:50]
        result["how"] = how
        record["hot_swap"][title] = result
        log(f"  {title}: {result['scheduled']} requests, failed {result['failed']}, versions "
            f"{result['versions']}, events {result['events']}")  # fmt: skip

    record["uptime_after"] = subprocess.run(
        ["uptime"], capture_output=True, text=True
    ).stdout.strip()
    record["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    log(f"uptime after: {record['uptime_after']}")

    record["labels"] = labels
    text = render(record)
    print("\n" + text)
    RESULTS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = RESULTS / f"serve_load-{stamp}{'-quick' if args.quick else ''}.json"
    path.write_text(json.dumps(record, indent=1, default=str))
    (RESULTS / f"serve_load-{stamp}{'-quick' if args.quick else ''}.md").write_text(text + "\n")
    print(f"\nwrote {path}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"kept {work}")


if __name__ == "__main__":
    main()
