"""Metric computation alone, from given top-k lists: reelflow against LensKit, side by side.

Synthetic data (seed 0): 100,000 users x top-20 lists over 20,000 items, ~50 relevant items per
user, about 10% of the listed items relevant. Times NDCG@10, Recall@20, Precision@10, MAP@10,
MRR and HitRate@10 (plus catalog coverage on our side, which LensKit has no metric for), each
side from lists already in its own input format. On first use, creates
``benchmarks/.venv-peers`` with the latest LensKit. Prints a markdown table of medians.

    .venv/bin/python benchmarks/metrics_speed.py [--users 100000] [--repeat 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PEERS = HERE / ".venv-peers"
RANKING = ("ndcg@10", "recall@20", "precision@10", "map@10", "mrr", "hit_rate@10")


def pin_threads(threads: int) -> dict[str, str]:
    """Set the BLAS/OpenMP thread counts before numpy loads; the values, for the report."""
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = str(threads)
    shown = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
    return {name: os.environ.get(name, "(unset)") for name in shown}


def make_data(n_users: int, n_items: int, k: int, seed: int = 0) -> dict[str, Any]:
    """Lists with no repeats and relevant sets (CSR arrays), ~10% of listed items relevant."""
    import numpy as np

    rng = np.random.default_rng(seed)
    n_rel = np.maximum(rng.poisson(50, n_users), 1)
    n_hits = np.minimum(rng.binomial(k, 0.1, n_users), n_rel)
    recs = np.empty((n_users, k), dtype=np.int32)
    indices = []
    for user in range(n_users):
        pool = rng.choice(n_items, n_rel[user] + k, replace=False).astype(np.int32)
        relevant, others = pool[: n_rel[user]], pool[n_rel[user] :]
        recs[user] = rng.permutation(np.concatenate([relevant[: n_hits[user]], others]))[:k]
        indices.append(np.sort(relevant))
    indptr = np.concatenate([[0], np.cumsum(n_rel)]).astype(np.int64)
    return {"recs": recs, "indptr": indptr, "indices": np.concatenate(indices), "n_items": n_items}


def timed(call: Any, repeat: int) -> tuple[float, Any]:
    """Median seconds of ``repeat`` calls after one warm-up call, and the last result."""
    result = call()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


# --- our side ----------------------------------------------------------------------------------


def our_calls(data: dict[str, Any]) -> dict[str, Any]:
    """reelflow's calls on the lists: each metric alone, "six" and "seven" at once, "means"."""
    import numpy as np
    import scipy.sparse as sp

    from reelflow.bench import _metrics as m
    from reelflow.bench._metrics_beyond import catalog_coverage, evaluate_topk

    recs, n_items = data["recs"], data["n_items"]
    ones = np.ones(len(data["indices"]), dtype=np.float32)
    relevant = sp.csr_matrix((ones, data["indices"], data["indptr"]), (len(recs), n_items))
    calls: dict[str, Any] = {
        "ndcg@10": lambda: m.ndcg_at_k(recs, relevant, 10),
        "recall@20": lambda: m.recall_at_k(recs, relevant, 20),
        "precision@10": lambda: m.precision_at_k(recs, relevant, 10),
        "map@10": lambda: m.map_at_k(recs, relevant, 10),
        "mrr": lambda: m.mrr(recs, relevant),
        "hit_rate@10": lambda: m.hit_rate_at_k(recs, relevant, 10),
        "coverage": lambda: catalog_coverage(recs, n_items),
        "six": lambda: evaluate_topk(recs, relevant, RANKING),
        "seven": lambda: evaluate_topk(recs, relevant, (*RANKING, "coverage")),
    }
    means = {name: r.mean for name, r in calls["six"]().items()}
    means["recall_capped@20"] = m.recall_at_k(recs, relevant, 20, capped=True).mean
    calls["means"] = means
    return calls


def once(call: Any) -> float:
    """Seconds one call takes."""
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


# --- the peer: LensKit, in its own virtualenv --------------------------------------------------


def peer_python(upgrade: bool) -> Path:
    """benchmarks/.venv-peers/bin/python with LensKit installed (created on first use)."""
    python = PEERS / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEERS)], check=True)
    if upgrade or subprocess.run([str(python), "-c", "import lenskit"]).returncode != 0:
        print("installing LensKit into benchmarks/.venv-peers ...", file=sys.stderr)
        # LensKit needs torch; name the CPU build first so pip does not fetch a multi-GB CUDA one
        # (on these machines torch 2.13.0's CPU wheel is on disk; elsewhere pip downloads it).
        pip = [str(python), "-m", "pip", "install", "-q", "torch==2.13.0", "lenskit"]
        subprocess.run(pip, check=True)
    return python


class Peer:
    """This file running under the peer's interpreter in worker mode, driven line by line."""

    def __init__(self, python: Path, data_path: Path) -> None:
        command = [str(python), __file__, "--peer-worker", str(data_path)]
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
        )
        self.info = self.ask("")

    def ask(self, command: str) -> dict[str, Any]:
        """Send one command line (none for the greeting) and read the JSON answer line."""
        assert self.process.stdin is not None and self.process.stdout is not None
        if command:
            self.process.stdin.write(command + "\n")
        line = self.process.stdout.readline()
        if not line:
            self.process.wait()
            raise RuntimeError(f"the LensKit worker exited with code {self.process.returncode}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait()


def peer_worker(data_path: Path) -> None:
    """(Runs under the peer venv.) Build LensKit's lists, then time ``measure`` on request."""
    import logging

    import lenskit
    import numpy as np
    from lenskit.data import ItemList, ItemListCollection
    from lenskit.metrics import NDCG, Hit, Precision, Recall, RecipRank, RunAnalysis
    from lenskit.metrics.ranking import AveragePrecision, LogRankWeight

    logging.disable(logging.WARNING)
    data = np.load(data_path)
    recs, indptr, indices = data["recs"], data["indptr"], data["indices"]
    start = time.perf_counter()
    outputs = {u: ItemList(item_ids=row, ordered=True) for u, row in enumerate(recs)}
    truth = {u: ItemList(item_ids=indices[indptr[u] : indptr[u + 1]]) for u in range(len(recs))}
    out_lists = ItemListCollection.from_dict(outputs, "user_id")
    test_lists = ItemListCollection.from_dict(truth, "user_id")
    print(json.dumps({"version": lenskit.__version__, "build": time.perf_counter() - start}))
    # offset=1: discount log2(rank + 1) as ours (LensKit's default clips ranks 1 and 2 to log2 2)
    ndcg = NDCG(10, weight=LogRankWeight(offset=1))
    metrics = [ndcg, Recall(20), Precision(10), AveragePrecision(10), RecipRank(), Hit(10)]
    for _request in sys.stdin:
        start = time.perf_counter()
        result = RunAnalysis(*metrics).measure(out_lists, test_lists)
        seconds = time.perf_counter() - start
        print(json.dumps({"seconds": seconds, "means": result.list_summary()["mean"].to_dict()}))


def side_by_side(calls: dict[str, Any], peer: Peer | None, repeat: int) -> dict[str, Any]:
    """Alternate our six-metric pass with LensKit's, so that both meet the same machine load."""
    ours, theirs, means = [], [], {}
    calls["six"]()  # warm-up
    for round_ in range(repeat):
        if round_ % 2 == 0:
            ours.append(once(calls["six"]))
        if peer:
            answer = peer.ask("measure")
            theirs.append(answer["seconds"])
            means = answer["means"]
        if round_ % 2 == 1:
            ours.append(once(calls["six"]))
    if not peer:
        return {"six": statistics.median(ours)}
    return {"six": statistics.median(ours), "peer": statistics.median(theirs), "means": means}


# --- report ------------------------------------------------------------------------------------

# LensKit's label for each of our metrics, where the definitions coincide on this data
SAME_AS = {
    "ndcg@10": ("NDCG@10", "ndcg@10"),
    "recall@20": ("Recall@20", "recall_capped@20"),  # LensKit divides by min(|R_u|, k)
    "precision@10": ("Precision@10", "precision@10"),
    "map@10": ("AveragePrecision@10", "map@10"),
    "mrr": ("RecipRank", "mrr"),
    "hit_rate@10": ("Hit@10", "hit_rate@10"),
}


def report(ours: dict[str, Any], peer: dict[str, Any] | None, blocked: str | None) -> str:
    """The markdown tables: the side-by-side figure, then our per-metric times."""
    name = f"LensKit {peer['version']}" if peer else "LensKit"
    theirs, ratio = ("blocked" if blocked else "not run"), "-"
    if peer:
        theirs, ratio = f"{peer['six']:.2f} s", f"**{peer['six'] / ours['six']:.0f}x**"
    lines = [
        f"| metrics | reelflow | {name} | {name} / reelflow |",
        "| --- | ---: | ---: | ---: |",
        f"| six ranking metrics, one pass | {ours['six'] * 1e3:.1f} ms | {theirs} | {ratio} |",
        f"| the six + catalog coverage | {ours['seven'] * 1e3:.1f} ms | (no such metric) | - |",
        "",
        "| metric alone (reelflow) | median | mean value | LensKit's mean |",
        "| --- | ---: | ---: | ---: |",
    ]
    for metric in (*RANKING, "coverage"):
        label, key = SAME_AS.get(metric, ("", ""))
        mine = f"{ours['means'][key]:.6f}" if key else "-"
        other = f"{peer['means'][label]:.6f}" if peer and label else "-"
        lines.append(f"| {metric} | {ours[metric] * 1e3:.1f} ms | {mine} | {other} |")
    if blocked:
        lines += ["", f"LensKit blocked: {blocked}"]
    return "\n".join(lines)


def start_peer(data: dict[str, Any], directory: Path, upgrade: bool) -> Peer:
    """Write the lists where the worker can read them and start it."""
    import numpy as np

    path = directory / "lists.npz"
    np.savez(path, **{k: v for k, v in data.items() if k != "n_items"})
    return Peer(peer_python(upgrade), path)


Figures = dict[str, Any]


def measure(
    args: argparse.Namespace, directory: Path
) -> tuple[Figures, Figures | None, str | None]:
    """Our figures, LensKit's (None when not run or blocked) and why it was blocked."""
    data = make_data(args.users, args.items, 20)
    calls = our_calls(data)
    peer, blocked = None, None
    if not args.no_peer:
        try:
            peer = start_peer(data, directory, args.upgrade_peer)
        except (OSError, RuntimeError, subprocess.CalledProcessError) as error:
            blocked = str(error).strip().splitlines()[-1]
    both = side_by_side(calls, peer, args.repeat)
    ours: dict[str, Any] = {"six": both["six"], "means": calls["means"]}
    for metric in (*RANKING, "coverage", "seven"):
        ours[metric] = timed(calls[metric], args.repeat)[0]
    if peer is None:
        return ours, None, blocked
    peer.close()
    return ours, {**peer.info, "six": both["peer"], "means": both["means"]}, None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-peer", action="store_true", help="time reelflow only")
    parser.add_argument("--upgrade-peer", action="store_true")
    parser.add_argument("--peer-worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    settings = pin_threads(args.threads)
    if args.peer_worker:
        peer_worker(args.peer_worker)
        return 0
    import numpy as np

    with tempfile.TemporaryDirectory() as tmp:
        ours, peer, blocked = measure(args, Path(tmp))
    cpus, load = os.cpu_count(), os.getloadavg()[0]
    print(
        f"{args.users:,} users x top-20 over {args.items:,} items, ~50 relevant/user; medians of "
        f"{args.repeat}; {cpus} CPUs (load {load:.1f} at the end), "
        f"Python {platform.python_version()}, numpy {np.__version__}; "
        + ", ".join(f"{k}={v}" for k, v in settings.items())
    )
    if peer:
        print(f"LensKit input lists built in {peer['build']:.1f} s (not timed above)")
    print()
    print(report(ours, peer, blocked))
    return 0


if __name__ == "__main__":
    sys.exit(main())
