"""Fit and whole-evaluation times of the models, with ``implicit``'s own batched recommend as peer.

Data: ML-100K and ML-latest-small (from ``/work/shared/data``), and synthetic logs from
``generate_interactions`` (seed 0): 1M interactions over 50,000 users x 10,000 items and 10M over
100,000 users x 20,000 items. Each is split per user 80/20 (seed 0).

"Whole evaluation" is, for every training user: score all items, remove the user's training
items, take the top 20, and compute NDCG@10, Recall@20 and catalogue coverage@20 against the test
split. Our path is ``model.recommend(all users, k=20)`` (batched, memory-bounded: never a dense
users x items matrix), mapping the returned ids to item indices, and ``evaluate_topk``. For ALS
the peer is ``implicit``'s ``model.recommend(userids, user_items, N=20,
filter_already_liked_items=True)`` on the same factors, in one batched call, scored by the same
``evaluate_topk`` call.

Threads: BLAS is limited with threadpoolctl to ``--scoring-threads`` (default 2) while scoring;
``implicit`` trains with BLAS at 1 thread (reelflow's ALS does this itself) and its OpenMP pool at
all cores. For numbers, run with the machine's OpenBLAS overrides unset in that command only:

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python benchmarks/recsys_speed.py

``--datasets``/``--models`` pick a subset, ``--ease-max-items`` (default 10,000) skips EASE on
larger catalogues (``--ease-max-items 20000`` runs it on the 10M set: 13.5 GB peak and minutes;
OpenBLAS's Cholesky segfaults there with the SkylakeX kernel on 2 threads, from about 16k items,
so keep the machine's ``OPENBLAS_CORETYPE=Haswell`` for it),
``--profile`` breaks our evaluation into its steps. Prints markdown tables and writes JSON to
``benchmarks/results/``.

``--topk`` is for ItemKNN, whose scores are sparse: ``fast`` (the default) is ``recommend`` as
shipped (``top_k_sparse``), ``reference`` forces the dense path it replaced (densify, mask,
``top_k``: the same result, slower), ``both`` runs the two on the same fitted model, alternating,
``--repeats`` times each, reports their medians and checks they recommend identical items and
scores.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import time
from pathlib import Path
from typing import Any

from benchlib.threads import thread_report

HERE = Path(__file__).resolve().parent
SHARED = Path("/work/shared/data")
DATASETS = {
    "ml-100k": ("movielens", SHARED / "movielens-100k" / "ml-100k"),
    "ml-latest-small": ("movielens", SHARED / "movielens-latest-small"),
    "synth-1m": ("synthetic", (50_000, 10_000, 1_000_000)),
    "synth-10m": ("synthetic", (100_000, 20_000, 10_000_000)),
}
K = 20
METRICS = ["ndcg@10", "recall@20", "coverage@20"]
PARAMS = {
    "EASE": {"l2": 500.0},
    "ALS": {"factors": 64, "regularization": 0.1, "alpha": 10.0, "iterations": 15},
    "ItemKNN": {"k": 100, "shrinkage": 10.0},
    "MostPopular": {},
}


# --- memory --------------------------------------------------------------------------------------


def reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM, which getrusage's ru_maxrss reads)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Phase:
    """Wall time and peak RSS (absolute and over the RSS at its start) of a block."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.peak_mb = 0.0
        self.over_mb = 0.0

    def __enter__(self) -> Phase:
        self.resettable = reset_peak()
        self.start_mb = rss_mb()
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.seconds = time.perf_counter() - self.t0
        self.peak_mb = peak_rss_mb()
        self.over_mb = self.peak_mb - self.start_mb


# --- data ----------------------------------------------------------------------------------------


def load(name: str) -> tuple[Any, Any, dict[str, Any]]:
    from reelflow.data import generate_interactions, load_movielens, per_user_holdout

    kind, source = DATASETS[name]
    t0 = time.perf_counter()
    if kind == "movielens":
        data = load_movielens(source, download=False).interactions
    else:
        n_users, n_items, n = source
        data = generate_interactions(n_users, n_items, n, seed=0).interactions
    loaded = time.perf_counter()
    train, test = per_user_holdout(data, test_fraction=0.2, seed=0)
    info = {
        "interactions": len(data),
        "users": data.n_users,
        "items": data.n_items,
        "train": len(train),
        "test": len(test),
        "load_s": loaded - t0,
        "split_s": time.perf_counter() - loaded,
    }
    return train, test, info


# --- one model -----------------------------------------------------------------------------------


def build(name: str) -> Any:
    from reelflow.models import ALS, EASE, ItemKNN, MostPopular

    cls = {"EASE": EASE, "ALS": ALS, "ItemKNN": ItemKNN, "MostPopular": MostPopular}[name]
    extra = {"random_state": 0, "num_threads": 0} if name == "ALS" else {}
    return cls(**PARAMS[name], **extra)


def our_evaluation(
    model: Any, train: Any, relevant: Any, threads: int, recs_out: list[Any] | None = None
) -> dict[str, Any]:
    """recommend -> ids to indices -> metrics, timed step by step, BLAS at ``threads``.

    The recommendations are appended to ``recs_out`` when given (after the timing).
    """
    from threadpoolctl import threadpool_limits

    from reelflow.bench import evaluate_topk

    with threadpool_limits(limits=threads, user_api="blas"), Phase() as whole:
        t0 = time.perf_counter()
        recs = model.recommend(train.users.ids, k=K, exclude_seen=True)
        t1 = time.perf_counter()
        items = train.items.indices(recs.items.ravel(), missing=-1).reshape(recs.items.shape)
        t2 = time.perf_counter()
        results = evaluate_topk(items, relevant, METRICS)
        t3 = time.perf_counter()
    if recs_out is not None:
        recs_out.append(recs)
    return {
        "total_s": whole.seconds,
        "recommend_s": t1 - t0,
        "ids_to_index_s": t2 - t1,
        "metrics_s": t3 - t2,
        "peak_rss_mb": whole.peak_mb,
        "rss_over_start_mb": whole.over_mb,
        **{m: float(results[m].mean) for m in METRICS},
    }


def implicit_evaluation(model: Any, train_csr: Any, relevant: Any, threads: int) -> dict[str, Any]:
    """implicit's own batched recommend on our fitted factors, then the same metrics."""
    import numpy as np
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    from reelflow.bench import evaluate_topk

    with threadpool_limits(limits=1, user_api="blas"):
        peer = AlternatingLeastSquares(factors=model.factors, num_threads=0)
    peer.user_factors = model.user_factors_
    peer.item_factors = model.item_factors_
    users = np.arange(train_csr.shape[0])
    with threadpool_limits(limits=threads, user_api="blas"), Phase() as whole:
        t0 = time.perf_counter()
        ids, _ = peer.recommend(users, train_csr, N=K, filter_already_liked_items=True)
        t1 = time.perf_counter()
        results = evaluate_topk(np.asarray(ids, dtype=np.int64), relevant, METRICS)
        t2 = time.perf_counter()
    return {
        "total_s": whole.seconds,
        "recommend_s": t1 - t0,
        "ids_to_index_s": 0.0,
        "metrics_s": t2 - t1,
        "peak_rss_mb": whole.peak_mb,
        "rss_over_start_mb": whole.over_mb,
        **{m: float(results[m].mean) for m in METRICS},
    }


def profile_recommend(model: Any, train: Any, threads: int) -> dict[str, float]:
    """Our recommend loop re-run step by step (same batches, same helpers), seconds per step."""
    import numpy as np
    from threadpoolctl import threadpool_limits

    from reelflow.models._topk import batch_rows, item_labels, mask_seen, top_k

    if model._sparse_scores:
        return profile_sparse_recommend(model, train, threads)

    user_idx = model._user_indices(train.users.ids, "error")
    rows = batch_rows(len(model.items_), None, cell_bytes=model._cell_bytes)
    steps = dict.fromkeys(
        ("user_lookup", "score_matmul", "require_f32", "mask_seen", "top_k", "item_labels"), 0.0
    )
    with threadpool_limits(limits=threads, user_api="blas"):
        t = time.perf_counter()
        model._user_indices(train.users.ids, "error")
        steps["user_lookup"] = time.perf_counter() - t
        positions = np.empty((len(user_idx), K), dtype=np.int64)
        for start in range(0, len(user_idx), rows):
            part = slice(start, start + rows)
            t = time.perf_counter()
            block = model._score_batch(user_idx[part], None)
            steps["score_matmul"] += time.perf_counter() - t
            t = time.perf_counter()
            block = np.require(block, dtype=np.float32, requirements=["C", "W", "O"])
            steps["require_f32"] += time.perf_counter() - t
            t = time.perf_counter()
            mask_seen(block, model.seen_, user_idx[part])
            steps["mask_seen"] += time.perf_counter() - t
            t = time.perf_counter()
            positions[part], _ = top_k(block, K)
            steps["top_k"] += time.perf_counter() - t
        t = time.perf_counter()
        item_labels(model.items_.ids, positions)
        steps["item_labels"] = time.perf_counter() - t
    steps["batch_rows"] = rows
    return steps


def profile_sparse_recommend(model: Any, train: Any, threads: int) -> dict[str, float]:
    """``profile_recommend`` for models with sparse scores (ItemKNN): recommend's sparse path."""
    import numpy as np
    from threadpoolctl import threadpool_limits

    from reelflow.models._topk import batch_rows, item_labels, top_k_sparse

    user_idx = model._user_indices(train.users.ids, "error")
    rows = batch_rows(len(model.items_), None, cell_bytes=model._cell_bytes)
    steps = dict.fromkeys(
        ("user_lookup", "score_sparse_matmul", "seen_rows", "top_k_sparse", "item_labels"), 0.0
    )
    with threadpool_limits(limits=threads, user_api="blas"):
        t = time.perf_counter()
        model._user_indices(train.users.ids, "error")
        steps["user_lookup"] = time.perf_counter() - t
        positions = np.empty((len(user_idx), K), dtype=np.int64)
        for start in range(0, len(user_idx), rows):
            part = slice(start, start + rows)
            t = time.perf_counter()
            sparse = model._score_batch_sparse(user_idx[part])
            steps["score_sparse_matmul"] += time.perf_counter() - t
            t = time.perf_counter()
            seen = model.seen_[user_idx[part]]
            steps["seen_rows"] += time.perf_counter() - t
            t = time.perf_counter()
            positions[part], _ = top_k_sparse(sparse, K, exclude=seen)
            steps["top_k_sparse"] += time.perf_counter() - t
        t = time.perf_counter()
        item_labels(model.items_.ids, positions)
        steps["item_labels"] = time.perf_counter() - t
    steps["batch_rows"] = rows
    return steps


def topk_comparison(
    model: Any, train: Any, relevant: Any, args: argparse.Namespace
) -> dict[str, Any]:
    """ItemKNN's shipped top k (``top_k_sparse``) against the dense path, alternating runs."""
    import statistics

    import numpy as np

    runs: dict[str, list[dict[str, Any]]] = {"fast": [], "reference": []}
    recs: dict[str, list[Any]] = {"fast": [], "reference": []}
    paths = ["fast", "reference"] if args.topk == "both" else [args.topk]
    for _ in range(args.repeats):
        for path in paths:
            if path == "reference":
                model._sparse_scores = False  # the instance takes the dense path, as before
            try:
                keep = None if recs[path] else recs[path]  # the first run's recommendations
                runs[path].append(
                    our_evaluation(model, train, relevant, args.scoring_threads, keep)
                )
            finally:
                vars(model).pop("_sparse_scores", None)
            print(f"    {path}: evaluation {runs[path][-1]['total_s']:.2f} s", flush=True)
    out: dict[str, Any] = {}
    for path in paths:
        ordered = sorted(runs[path], key=lambda run: run["total_s"])
        out[path] = ordered[(len(ordered) - 1) // 2]  # the median run (lower middle if even)
        out[path]["runs_total_s"] = [run["total_s"] for run in runs[path]]
        out[path]["median_total_s"] = statistics.median(out[path]["runs_total_s"])
    if len(paths) == 2:
        fast, ref = recs["fast"][0], recs["reference"][0]
        out["identical"] = bool(
            np.array_equal(fast.items, ref.items) and np.array_equal(fast.scores, ref.scores)
        )
        out["ratio"] = out["reference"]["median_total_s"] / out["fast"]["median_total_s"]
    return out


def run_model(name: str, train: Any, test: Any, args: argparse.Namespace) -> dict[str, Any]:
    from threadpoolctl import threadpool_limits

    model = build(name)
    relevant = test.csr(binary=True)
    # Fit: EASE's inverse and ItemKNN's products use BLAS at --fit-threads; ALS limits BLAS to 1
    # itself and runs implicit's OpenMP solver on all cores.
    with threadpool_limits(limits=args.fit_threads, user_api="blas"), Phase() as fit:
        model.fit(train)
    row: dict[str, Any] = {
        "fit_s": fit.seconds,
        "fit_peak_rss_mb": fit.peak_mb,
        "fit_rss_over_start_mb": fit.over_mb,
    }
    if model._sparse_scores:
        compared = topk_comparison(model, train, relevant, args)
        row["ours"] = compared.get("fast", compared.get("reference"))
        if "fast" in compared and "reference" in compared:
            row["dense_topk"] = compared["reference"]
            row["topk_identical"] = compared["identical"]
            row["topk_ratio"] = compared["ratio"]
        row["topk"] = args.topk
    else:
        row["ours"] = our_evaluation(model, train, relevant, args.scoring_threads)
    if name == "ALS":
        row["implicit"] = implicit_evaluation(model, model.seen_, relevant, args.scoring_threads)
    if args.profile and name in ("ALS", "EASE", "ItemKNN"):
        row["profile"] = profile_recommend(model, train, args.scoring_threads)
    del model
    return row


# --- report --------------------------------------------------------------------------------------


def print_report(report: dict[str, Any]) -> None:
    print(
        "\n| data | users x items | interactions | model | fit (s) | fit peak RSS (MB) | "
        "evaluation (s) | eval peak RSS (MB) | NDCG@10 | Recall@20 | coverage@20 |"
    )
    print("| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for dname, entry in report["datasets"].items():
        info = entry["info"]
        shape = f"{info['users']:,} x {info['items']:,}"
        for mname, row in entry["models"].items():
            if "skipped" in row:
                print(
                    f"| {dname} | {shape} | {info['interactions']:,} | {mname} | - | - | - | - "
                    f"| - | - | - |  <!-- {row['skipped']} -->"
                )
                continue
            label = "reelflow " + mname
            if row.get("topk") == "reference":
                label += " (dense top-k, before)"
            sides = [(label, row["ours"], row["fit_s"], row["fit_peak_rss_mb"])]
            if "dense_topk" in row:
                sides.append((f"{label}, dense top-k (before)", row["dense_topk"], None, None))
            if "implicit" in row:
                sides.append(("implicit recommend (same factors)", row["implicit"], None, None))
            for label, ev, fit_s, fit_mb in sides:
                fit_txt = "-" if fit_s is None else f"{fit_s:.2f}"
                mb_txt = "-" if fit_mb is None else f"{fit_mb:,.0f}"
                print(
                    f"| {dname} | {shape} | {info['interactions']:,} | {label} | {fit_txt} | "
                    f"{mb_txt} | {ev['total_s']:.2f} | {ev['peak_rss_mb']:,.0f} | "
                    f"{ev['ndcg@10']:.4f} | {ev['recall@20']:.4f} | {ev['coverage@20']:.4f} |"
                )
    print(
        "\nEvaluation split (s): recommend / ids->indices / metrics; RSS growth over the "
        "phase start (MB)"
    )
    print("\n| data | model | recommend | ids->indices | metrics | total | RSS growth |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for dname, entry in report["datasets"].items():
        for mname, row in entry["models"].items():
            for side in ("ours", "dense_topk", "implicit"):
                if side in row:
                    ev = row[side]
                    label = {"ours": mname, "dense_topk": f"{mname} dense top-k"}.get(
                        side, "implicit.recommend"
                    )
                    print(
                        f"| {dname} | {label} | {ev['recommend_s']:.2f} | "
                        f"{ev['ids_to_index_s']:.2f} | {ev['metrics_s']:.2f} | "
                        f"{ev['total_s']:.2f} | {ev['rss_over_start_mb']:,.0f} |"
                    )
    profiles = [
        (d, m, row["profile"])
        for d, e in report["datasets"].items()
        for m, row in e["models"].items()
        if "profile" in row
    ]
    if profiles:
        names = list(dict.fromkeys(k for p in profiles for k in p[2] if k != "batch_rows"))
        print("\nProfile of our recommend loop (s per step, summed over batches)\n")
        print("| data | model | rows/batch | " + " | ".join(names) + " |")
        print("| --- | --- | ---: | " + " | ".join("---:" for _ in names) + " |")
        for d, m, prof in profiles:
            print(
                f"| {d} | {m} | {prof['batch_rows']} | "
                + " | ".join(f"{prof[n]:.2f}" if n in prof else "-" for n in names)
                + " |"
            )
    compared = [
        (d, m, row)
        for d, e in report["datasets"].items()
        for m, row in e["models"].items()
        if "dense_topk" in row
    ]
    if compared:
        print("\nTop k of sparse scores: shipped (top_k_sparse) vs dense path, same fitted model\n")
        print("| data | model | runs | fast median (s) | dense median (s) | ratio | identical |")
        print("| --- | --- | ---: | ---: | ---: | ---: | --- |")
        for d, m, row in compared:
            fast, dense = row["ours"], row["dense_topk"]
            print(
                f"| {d} | {m} | {len(fast['runs_total_s'])} | {fast['median_total_s']:.2f} | "
                f"{dense['median_total_s']:.2f} | {row['topk_ratio']:.1f}x | "
                f"{'yes' if row['topk_identical'] else 'NO'} |"
            )
    threads = report["threads"]
    print(
        f"\n{threads['cpus']} CPUs; env {threads['env']}; BLAS limit while scoring "
        f"{report['settings']['scoring_threads']}, while fitting EASE/ItemKNN "
        f"{report['settings']['fit_threads']}; ALS: implicit num_threads=0 (all cores), BLAS 1"
    )
    for pool in threads["threadpools"]:
        print(f"  threadpool: {pool}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--models", default="EASE,ALS,ItemKNN,MostPopular")
    parser.add_argument("--scoring-threads", type=int, default=2)
    parser.add_argument("--fit-threads", type=int, default=2)
    parser.add_argument("--ease-max-items", type=int, default=10_000)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument(
        "--topk",
        choices=["fast", "reference", "both"],
        default="fast",
        help="ItemKNN: shipped sparse top k, the dense path it replaced, or both (compared)",
    )
    parser.add_argument(
        "--repeats", type=int, default=1, help="evaluation runs per --topk path (median kept)"
    )
    parser.add_argument("--tag", default="")
    args = parser.parse_args()

    import implicit
    import numpy as np
    import scipy

    started = time.perf_counter()
    report: dict[str, Any] = {
        "settings": vars(args),
        "params": PARAMS,
        "k": K,
        "metrics": METRICS,
        "threads": thread_report(),
        "python": sys.version,
        "platform": platform.platform(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "implicit": implicit.__version__,
        "peak_reset_works": reset_peak(),
        "datasets": {},
    }
    print(f"threads: {report['threads']['env']}")
    for pool in report["threads"]["threadpools"]:
        print(f"  threadpool: {pool}")
    for dname in [d.strip() for d in args.datasets.split(",") if d.strip()]:
        train, test, info = load(dname)
        print(f"{dname}: {info}", flush=True)
        entry: dict[str, Any] = {"info": info, "models": {}}
        report["datasets"][dname] = entry
        for mname in [m.strip() for m in args.models.split(",") if m.strip()]:
            if mname == "EASE" and info["items"] > args.ease_max_items:
                entry["models"][mname] = {
                    "skipped": f"{info['items']} items > --ease-max-items {args.ease_max_items}"
                }
                print(f"  {mname}: skipped ({entry['models'][mname]['skipped']})", flush=True)
                continue
            row = run_model(mname, train, test, args)
            entry["models"][mname] = row
            peer = row.get("implicit")
            print(
                f"  {mname}: fit {row['fit_s']:.2f} s, evaluation {row['ours']['total_s']:.2f} s"
                + (f" (implicit {peer['total_s']:.2f} s)" if peer else ""),
                flush=True,
            )
        del train, test
    report["total_s"] = time.perf_counter() - started
    report["max_rss_mb_since_last_reset"] = peak_rss_mb()
    print_report(report)
    print(f"\ntotal wall time {report['total_s']:.0f} s")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = HERE / "results" / f"recsys_speed-{stamp}{'-' + args.tag if args.tag else ''}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=1, default=str))
    print(f"raw results: {out.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
