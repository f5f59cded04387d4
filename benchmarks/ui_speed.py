"""How fast `reelflow ui` answers on a store with many runs: the run list page and its JSON.

Fills a fresh store (SQLite, in a temporary directory) with ``--runs`` runs of three flows in
one transaction through the metadata tables (statuses mixed, one run in ten tagged
``nightly``, realistic parameters and a graph of eight steps), starts ``reelflow ui`` on a
free loopback port as a user would, and times ``--requests`` requests per URL with httpx
(after ``--warmup`` unmeasured ones): the first page, a deep page (OFFSET near the end),
filtered by flow, status and tag, as HTML and as JSON, plus a run page. For scale, it also
times reading every run through ``Client().runs()`` in-process. Prints a markdown table of the
median and 90th percentile in milliseconds; ``--json PATH`` keeps the raw figures.

    .venv/bin/python benchmarks/ui_speed.py [--runs 10000] [--requests 50] [--warmup 5]
        [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from reelflow.store import Store
from reelflow.store import _schema as t
from reelflow.store._records import dumps

FLOWS = ("TrainFlow", "PersonalizationFlow", "MonitorFlow")
STEPS = ["start", "validate", "features", "split", "train", "choose", "promote", "end"]


def fill(home: Path, runs: int) -> float:
    """``runs`` finished runs in one transaction; returns the seconds it took."""
    started = time.perf_counter()
    store = Store.open(home)
    graph = dumps({"order": STEPS, "steps": {s: {"targets": STEPS[i + 1 : i + 2]}
                                             for i, s in enumerate(STEPS)}})  # fmt: skip
    now = time.time() - runs * 60
    rows, tags = [], []
    for i in range(1, runs + 1):
        status = "failed" if i % 7 == 0 else "succeeded"
        params = {"size": 30000 + i, "seed": i % 5, "model": "ease", "l2": 500.0}
        rows.append({"id": i, "flow_name": FLOWS[i % 3], "status": status,
                     "params": dumps(params), "graph": graph, "flow_file": "flow.py",
                     "created_at": now + i * 60, "finished_at": now + i * 60 + 42.0,
                     "user": "bench", "host": "bench", "pid": None})  # fmt: skip
        tags.append({"run_id": i, "tag": "bench"})
        if i % 10 == 0:
            tags.append({"run_id": i, "tag": "nightly"})
    with store.metadata._writer.begin() as conn:
        conn.execute(t.runs.insert(), rows)
        conn.execute(t.tags.insert(), tags)
    store.metadata.close()
    return time.perf_counter() - started


def naive_list(home: Path, repeats: int = 5) -> list[float]:
    """For scale: reading every run through ``Client().runs()``, as a list without paging
    in SQL would (in-process, no HTTP)."""
    from reelflow import Client

    client = Client(Store.open(home, create=False))
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        client.runs()
        times.append((time.perf_counter() - started) * 1000)
    return times


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_ui(home: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("REELFLOW_")}
    server = subprocess.Popen(
        [sys.executable, "-m", "reelflow", "ui", "--port", str(port)], cwd=home, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(f"{url}/api/runs?per_page=1", timeout=1).status_code == 200:
                return server, url
        except httpx.TransportError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit("reelflow ui did not start")


def time_url(client: httpx.Client, url: str, requests: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        client.get(url).raise_for_status()
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        client.get(url).raise_for_status()
        times.append((time.perf_counter() - started) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    deep = max(1, args.runs // 50 - 1)
    urls = {
        "runs page 1 (HTML)": "/runs",
        f"runs page {deep} (HTML, deep offset)": f"/runs?page={deep}",
        "runs of one flow (HTML)": "/runs?flow=TrainFlow",
        "failed runs, page 20 (HTML)": "/runs?status=failed&page=20",
        "runs tagged nightly (HTML)": "/runs?tag=nightly",
        "runs page 1 (JSON)": "/api/runs",
        f"runs page {deep} (JSON)": f"/api/runs?page={deep}",
        "one run (HTML)": f"/runs/{args.runs // 2}",
    }
    with tempfile.TemporaryDirectory(prefix="reelflow-ui-bench-") as folder:
        home = Path(folder)
        filled = fill(home, args.runs)
        naive = naive_list(home)
        server, base = start_ui(home)
        try:
            with httpx.Client(base_url=base, timeout=30) as client:
                results = {name: time_url(client, url, args.requests, args.warmup)
                           for name, url in urls.items()}  # fmt: skip
        finally:
            server.terminate()
            server.wait(10)
    print(f"{args.runs:,} runs written in {filled:.1f} s; {args.requests} requests per URL "
          f"({platform.python_version()}, {os.cpu_count()} cores)\n")  # fmt: skip
    print("| request | median ms | p90 ms |\n| --- | ---: | ---: |")
    for name, times in results.items():
        p90 = statistics.quantiles(times, n=10)[-1]
        print(f"| {name} | {statistics.median(times):.1f} | {p90:.1f} |")
    print(f"| for scale: every run through Client().runs(), in-process | "
          f"{statistics.median(naive):.1f} | - |")  # fmt: skip
    if args.json is not None:
        report: dict[str, Any] = {"runs": args.runs, "requests": args.requests, "ms": results,
                                  "client_runs_ms": naive}  # fmt: skip
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
