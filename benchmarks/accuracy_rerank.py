"""LTRReranker on MovieLens-100K, its settings chosen on a validation split only.

The protocol of ``accuracy_ml100k.py`` (binary feedback, per-user 75/25 split with seed 42,
top-10 over the catalogue with training items removed, averaged over users with test items).
Every choice is made on the per-user 80/20 validation split of the training data (seed 0): the
test split is read once per reported row, after the search.

For each candidate model (ItemKNN, EASE, MostPopular):

0. the candidate's own settings are chosen as ``accuracy_ml100k.py`` chooses them (same grids,
   same validation split);
1. ``features`` (all five, each leave-one-out subset, and ``score, rank`` alone) x
   ``n_candidates`` {20, 50, 100, 200}, with LightGBM at ``PREVIOUS_DEFAULTS`` (the library's
   defaults before this benchmark: 50 trees, 7 leaves, learning rate 0.05);
2. at the best of stage 1: ``n_estimators`` {25, 50, 100, 200} x ``num_leaves`` {3, 7, 15} x
   ``learning_rate`` {0.025, 0.05, 0.1};
3. the three best settings of stages 1-2 refitted with reranker seeds 42, 43 and 44; the chosen
   setting has the best mean validation NDCG@10.

The shared setting is the one with the best validation NDCG@10 averaged over the candidate
models (stage 1 for features and ``n_candidates``, then stage 2's grid for LightGBM, each
candidate at its own stage-1 best). Stage 4 compares it with ``PREVIOUS_DEFAULTS`` on validation,
both fitted with the three seeds for every candidate model: that comparison, not the test split,
is what decides ``LTRReranker``'s defaults.

Then every chosen setting is refitted on the whole training split and tested once, beside the
candidate model alone, and so is the shared setting. Other LightGBM parameters
(``min_child_samples=50``, one thread, deterministic) stay at the library's defaults. During the
search, fits of a candidate model on the same data with the same parameters are reused (the
candidate models are deterministic, so the results are the same); the test fits are plain.

    .venv/bin/python benchmarks/accuracy_rerank.py [--data PATH] [--quick]

Prints markdown tables and writes the raw numbers to ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

import accuracy_ml100k as protocol
from benchlib.threads import thread_report

HERE = Path(__file__).resolve().parent
CANDIDATES = ("ItemKNN", "EASE", "MostPopular")
FEATURES = ("score", "rank", "item_popularity", "user_activity", "user_knn")
SUBSETS: tuple[tuple[str, ...], ...] = (
    FEATURES,
    *(tuple(f for f in FEATURES if f != dropped) for dropped in FEATURES),
    ("score", "rank"),
)
N_CANDIDATES = (20, 50, 100, 200)
# A first grid, {50, 100, 200} x {7, 15, 31} x {0.05, 0.1}, chose its smallest corner (the
# library's defaults then) for every candidate model, on validation; it was widened downward.
LGBM_GRID = {
    "n_estimators": (25, 50, 100, 200),
    "num_leaves": (3, 7, 15),
    "learning_rate": (0.025, 0.05, 0.1),
}
SEEDS = (protocol.MODEL_SEED, protocol.MODEL_SEED + 1, protocol.MODEL_SEED + 2)
N_FINALISTS = 3
PREVIOUS_DEFAULTS: dict[str, Any] = {
    "features": list(FEATURES),
    "n_candidates": 100,
    "lgbm": {"n_estimators": 50, "num_leaves": 7, "learning_rate": 0.05},
}
_FITTED: dict[tuple[str, str, str], dict[str, Any]] = {}
_MEMO_CLASSES: dict[type, type] = {}


def memoized(model: Any) -> Any:
    """An unfitted copy of ``model`` whose ``fit`` reuses an earlier fit of the same class and
    parameters on the same data (by content fingerprint); only for deterministic models."""
    base = type(model)
    if base not in _MEMO_CLASSES:

        def fit(self: Any, data: Any) -> Any:
            params = json.dumps(self.get_params(), sort_keys=True, default=str)
            memo_key = (base.__name__, params, data.fingerprint)
            if memo_key in _FITTED:
                vars(self).update(_FITTED[memo_key])
            else:
                base.fit(self, data)
                _FITTED[memo_key] = dict(vars(self))
            return self

        _MEMO_CLASSES[base] = type(f"_Memo{base.__name__}", (base,), {"fit": fit})
    return _MEMO_CLASSES[base](**model.get_params())


def reranker(candidate: Any, setting: dict[str, Any], seed: int) -> Any:
    from reelflow.models import LTRReranker

    return LTRReranker(
        candidate,
        n_candidates=setting["n_candidates"],
        features=tuple(setting["features"]),
        lgbm_params=dict(setting["lgbm"]),
        random_state=seed,
    )


def evaluate(model: Any, train: Any, test: Any) -> dict[str, Any]:
    """Fit ``model`` on ``train`` and score its top 10 (training items removed) on ``test``."""
    import numpy as np

    from reelflow.bench import evaluate_topk

    start = time.perf_counter()
    model.fit(train)
    fitted = time.perf_counter()
    relevant = test.csr(binary=True)
    users = np.flatnonzero(np.diff(relevant.indptr) > 0)
    recs = model.recommend(train.users.labels(users), k=10, exclude_seen=True)
    items = train.items.indices(recs.items.ravel(), missing=-1).reshape(recs.items.shape)
    items[~recs.valid] = -1
    results = evaluate_topk(items, relevant, list(protocol.METRICS), users=users)
    out: dict[str, Any] = {m: float(results[m].mean) for m in protocol.METRICS}
    out.update(fit_s=fitted - start, eval_s=time.perf_counter() - fitted)
    return out


def key(setting: dict[str, Any]) -> str:
    return json.dumps(setting, sort_keys=True)


def search(candidate: Any, inner: Any, valid: Any, quick: bool, log: Any) -> dict[str, Any]:
    """Stages 1-3 for one candidate model, on the validation split only."""
    tried: list[dict[str, Any]] = []

    def attempt(setting: dict[str, Any], stage: int) -> dict[str, Any]:
        score = evaluate(reranker(candidate, setting, SEEDS[0]), inner, valid)
        row = {"setting": setting, "stage": stage, "ndcg@10": score["ndcg@10"]}
        row["fit_s"] = score["fit_s"]
        tried.append(row)
        log(f"      stage {stage} {_describe(setting)}: valid NDCG@10 {score['ndcg@10']:.4f}")
        return row

    subsets = SUBSETS[:2] if quick else SUBSETS
    sizes = N_CANDIDATES[1:2] if quick else N_CANDIDATES
    stage1_lgbm = PREVIOUS_DEFAULTS["lgbm"]
    for features, n in itertools.product(subsets, sizes):
        attempt({"features": list(features), "n_candidates": n, "lgbm": stage1_lgbm}, stage=1)
    best = max(tried, key=lambda row: row["ndcg@10"])["setting"]
    for lgbm in lgbm_settings(quick):
        if lgbm != stage1_lgbm:
            attempt({**best, "lgbm": lgbm}, stage=2)
    top = sorted(tried, key=lambda row: -row["ndcg@10"])[: 1 if quick else N_FINALISTS]
    finalists = []
    for row in top:
        scores = [row["ndcg@10"]]
        for seed in SEEDS[1:]:
            scores.append(
                evaluate(reranker(candidate, row["setting"], seed), inner, valid)["ndcg@10"]
            )
        finalists.append({**row, "seed_ndcg@10": scores, "mean_ndcg@10": sum(scores) / len(scores)})
        shown = ", ".join(f"{v:.4f}" for v in scores)
        log(f"      finalist {_describe(row['setting'])}: valid NDCG@10 {shown}")
    chosen = max(finalists, key=lambda row: row["mean_ndcg@10"])
    return {"chosen": chosen, "tried": tried, "finalists": finalists}


def lgbm_settings(quick: bool) -> list[dict[str, Any]]:
    if quick:
        return [{"n_estimators": 50, "num_leaves": 7, "learning_rate": 0.05}]
    return protocol._product(LGBM_GRID)


def shared_setting(searches: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """The setting with the best validation NDCG@10 averaged over the candidate models: stage 1
    (common to all) for features and ``n_candidates``, then stage 2's LightGBM grid (each
    candidate at its own stage-1 best) for the LightGBM parameters."""
    means: dict[str, list[float]] = {}
    for found in searches.values():
        for row in found["tried"]:
            if row["stage"] == 1:
                means.setdefault(key(row["setting"]), []).append(row["ndcg@10"])
    complete = {k: sum(v) / len(v) for k, v in means.items() if len(v) == len(searches)}
    if not complete:
        return None
    best = json.loads(max(complete, key=lambda k: complete[k]))
    by_lgbm: dict[str, list[float]] = {}
    for found in searches.values():
        stage1 = [row for row in found["tried"] if row["stage"] == 1]
        top = max(stage1, key=lambda row: row["ndcg@10"])
        for row in [top, *(row for row in found["tried"] if row["stage"] == 2)]:
            by_lgbm.setdefault(key(row["setting"]["lgbm"]), []).append(row["ndcg@10"])
    lgbm_means = {k: sum(v) / len(v) for k, v in by_lgbm.items() if len(v) == len(searches)}
    lgbm = json.loads(max(lgbm_means, key=lambda k: lgbm_means[k]))
    return {
        "features": best["features"],
        "n_candidates": best["n_candidates"],
        "lgbm": lgbm,
        "valid_mean_stage1": complete[key(best)],
        "valid_mean_lgbm": lgbm_means,
    }


def defaults_check(
    shared: dict[str, Any], candidates: dict[str, Any], inner: Any, valid: Any, log: Any
) -> dict[str, Any]:
    """Stage 4: the shared setting against ``PREVIOUS_DEFAULTS`` on validation, every candidate
    model, every seed; the mean decides whether the defaults change."""
    scores: dict[str, dict[str, list[float]]] = {"shared": {}, "previous": {}}
    for label, setting in (("shared", shared), ("previous", PREVIOUS_DEFAULTS)):
        for name, candidate in candidates.items():
            runs = [
                evaluate(reranker(candidate, setting, seed), inner, valid)["ndcg@10"]
                for seed in SEEDS
            ]
            scores[label][name] = runs
            log(f"    {label} on {name}: valid NDCG@10 {', '.join(f'{v:.4f}' for v in runs)}")
    means = {
        label: sum(sum(v) for v in by_name.values()) / sum(len(v) for v in by_name.values())
        for label, by_name in scores.items()
    }
    return {"scores": scores, "means": means, "shared_wins": means["shared"] > means["previous"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=protocol.DEFAULT_DATA)
    parser.add_argument("--quick", action="store_true", help="tiny grids, for a smoke run")
    parser.add_argument("--candidates", default=",".join(CANDIDATES))
    args = parser.parse_args()

    from reelflow.data import load_movielens, per_user_holdout

    started = time.perf_counter()
    data = load_movielens(args.data, download=False).interactions
    train, test = per_user_holdout(data, test_fraction=0.25, seed=protocol.SPLIT_SEED)
    inner, valid = per_user_holdout(train, test_fraction=0.2, seed=protocol.VALIDATION_SEED)
    print(
        f"ML-100K: {len(data):,} ratings as binary feedback; train {len(train):,}, "
        f"test {len(test):,}; validation 80/20 of train: {len(inner):,} / {len(valid):,}"
    )

    def log(line: str) -> None:
        print(line, flush=True)

    names = [n.strip() for n in args.candidates.split(",") if n.strip()]
    grids = protocol.grids(args.quick)
    searches: dict[str, dict[str, Any]] = {}
    rows: dict[str, dict[str, Any]] = {}
    for name in names:
        t0 = time.perf_counter()
        params = protocol.tune(name, grids[name], inner, valid, args.quick)["best"]["params"]
        candidate = memoized(protocol.build(name, params))
        alone = evaluate(protocol.build(name, params), inner, valid)
        log(f"  {name} {params}: alone valid NDCG@10 {alone['ndcg@10']:.4f}")
        found = search(candidate, inner, valid, args.quick, log)
        searches[name] = found
        rows[name] = {
            "candidate_params": params,
            "candidate_valid_ndcg@10": alone["ndcg@10"],
            "chosen": found["chosen"]["setting"],
            "chosen_valid_ndcg@10": found["chosen"]["ndcg@10"],
            "chosen_valid_mean_ndcg@10": found["chosen"]["mean_ndcg@10"],
            "n_tried": len(found["tried"]),
            "tune_s": time.perf_counter() - t0,
            "tried": found["tried"],
            "finalists": found["finalists"],
        }
        log(
            f"  {name}: {len(found['tried'])} settings in {rows[name]['tune_s']:.0f} s, chosen "
            f"{_describe(found['chosen']['setting'])} (valid NDCG@10 mean over seeds "
            f"{found['chosen']['mean_ndcg@10']:.4f})"
        )

    shared = shared_setting(searches) if len(searches) > 1 else None
    check = None
    if shared is not None:
        log(f"  shared setting (best mean over candidates on validation): {_describe(shared)}")
        candidates = {
            name: memoized(protocol.build(name, rows[name]["candidate_params"])) for name in names
        }
        check = defaults_check(shared, candidates, inner, valid, log)
        log(
            f"  stage 4, mean valid NDCG@10 over candidates and seeds: shared "
            f"{check['means']['shared']:.4f}, previous defaults {check['means']['previous']:.4f}"
        )

    # --- the test split, read once per reported row -----------------------------------------
    for name in names:
        params = rows[name]["candidate_params"]
        rows[name]["test_alone"] = evaluate(protocol.build(name, params), train, test)
        chosen = rows[name]["chosen"]
        rows[name]["test_reranked"] = evaluate(
            reranker(protocol.build(name, params), chosen, SEEDS[0]), train, test
        )
        if shared is not None and _same(shared, chosen):
            rows[name]["test_shared"] = rows[name]["test_reranked"]
        elif shared is not None:
            rows[name]["test_shared"] = evaluate(
                reranker(protocol.build(name, params), shared, SEEDS[0]), train, test
            )

    threads = thread_report()
    print_tables(rows, shared, check, threads)
    total = time.perf_counter() - started
    print(f"\ntotal wall time {total:.0f} s")
    out = HERE / "results" / f"accuracy_rerank-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "protocol": {
                    "split": "per_user_holdout(test_fraction=0.25, seed=42)",
                    "validation": "per_user_holdout(train, test_fraction=0.2, seed=0)",
                    "feedback": "binary (every rating = 1)",
                    "k": 10,
                    "exclude_seen": True,
                    "reranker_seeds": SEEDS,
                    "quick": args.quick,
                },
                "results": rows,
                "shared": shared,
                "defaults_check": check,
                "previous_defaults": PREVIOUS_DEFAULTS,
                "threads": threads,
                "total_s": total,
                "python": sys.version,
                "platform": platform.platform(),
            },
            indent=1,
            default=str,
        )
    )
    print(f"raw results: {out.relative_to(HERE.parent)}")


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    names = ("features", "n_candidates", "lgbm")
    return all(a[n] == b[n] for n in names)


def _describe(setting: dict[str, Any]) -> str:
    features = "all" if tuple(setting["features"]) == FEATURES else ", ".join(setting["features"])
    lgbm = ", ".join(f"{k}={v}" for k, v in setting["lgbm"].items())
    return f"n_candidates={setting['n_candidates']}; features: {features}; {lgbm}"


def print_tables(
    rows: dict[str, Any], shared: dict[str, Any] | None, check: Any, threads: Any
) -> None:
    print(
        "\n| candidates | valid NDCG@10 alone | valid NDCG@10 reranked (3 seeds) | test NDCG@10 "
        "alone | test NDCG@10 reranked | test P@10 alone | test P@10 reranked | "
        "reranker fit (s) | chosen on validation |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for name, row in rows.items():
        alone, ranked = row["test_alone"], row["test_reranked"]
        print(
            f"| {name} ({', '.join(f'{k}={v}' for k, v in row['candidate_params'].items()) or '-'})"
            f" | {row['candidate_valid_ndcg@10']:.4f} | {row['chosen_valid_mean_ndcg@10']:.4f} | "
            f"{alone['ndcg@10']:.4f} | {ranked['ndcg@10']:.4f} | {alone['precision@10']:.4f} | "
            f"{ranked['precision@10']:.4f} | {ranked['fit_s']:.2f} | {_describe(row['chosen'])} |"
        )
    if shared is not None:
        print(f"\nshared setting: {_describe(shared)}")
        print(
            f"stage 4 (validation, mean over candidates and seeds): shared "
            f"{check['means']['shared']:.4f}, previous defaults "
            f"{check['means']['previous']:.4f} ({_describe(PREVIOUS_DEFAULTS)})"
        )
        print("| candidates | test NDCG@10 alone | test NDCG@10 shared | test P@10 shared |")
        print("| --- | ---: | ---: | ---: |")
        for name, row in rows.items():
            print(
                f"| {name} | {row['test_alone']['ndcg@10']:.4f} | "
                f"{row['test_shared']['ndcg@10']:.4f} | {row['test_shared']['precision@10']:.4f} |"
            )
    print(
        f"\nthreads: {threads['cpus']} CPUs; env {threads['env']}; LightGBM n_jobs=1 "
        "(deterministic); ALS not used"
    )


if __name__ == "__main__":
    main()
