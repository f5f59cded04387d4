"""How fast `reelflow ui` answers on a store with many runs, side by side with MLflow's UI.

Fills a fresh store (SQLite, in a temporary directory) with ``--runs`` runs of three flows in
one transaction through the metadata tables (statuses mixed, one run in ten tagged
``nightly``, realistic parameters and a graph of eight steps), starts ``reelflow ui`` on a
free loopback port as a user would, and times ``--requests`` requests per URL with httpx
(after ``--warmup`` unmeasured ones): the first page, a deep page (OFFSET near the end),
filtered by flow, status and tag, as HTML and as JSON, plus a run page.

With ``--peer mlflow`` (the default when ``benchmarks/.venv-mlflow`` exists; ``--peer mlflow``
creates it) the same runs go to an MLflow tracking store (SQLite, written through MLflow's own
SQLAlchemy store and table models in MLflow's venv): three experiments for the three flows,
the same statuses (FAILED / FINISHED), parameters and a ``nightly`` tag, plus the tags
``mlflow.start_run`` writes. ``mlflow server --workers 1`` serves it on another loopback
port, and the same loop times the requests its web UI makes for the same views: POST
``/ajax-api/2.0/mlflow/runs/search`` (50 a page as reelflow's, and 100, the UI's default),
GET ``/ajax-api/2.0/mlflow/runs/get`` and the HTML shell ``/`` (MLflow's pages are a
JavaScript app: its list is the JSON call). Requests to the two servers alternate, one at a
time, so both see the same load. For scale, it also times reading every run through
``Client().runs()`` in-process. Prints a markdown table of medians (90th percentiles in
brackets) in milliseconds and the load average before and after; ``--json PATH`` keeps the
raw figures.

    .venv/bin/python benchmarks/ui_speed.py [--runs 10000] [--requests 50] [--warmup 5]
        [--peer mlflow|none] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from benchlib.tools import BENCH_DIR, package_version
from reelflow.store import Store
from reelflow.store import _schema as t
from reelflow.store._records import dumps

FLOWS = ("TrainFlow", "PersonalizationFlow", "MonitorFlow")
STEPS = ["start", "validate", "features", "split", "train", "choose", "promote", "end"]
PAGE = 50  # reelflow's page size
UI_PAGE = 100  # what MLflow's run list asks for by default (searchRuns' max_results)

MLFLOW_VENV = BENCH_DIR / ".venv-mlflow"
# 3.18.0 is on the index here but its mlflow-skinny 3.18.0 is not: 3.17.2 is the newest that
# installs.
MLFLOW = "mlflow==3.17.2"
SEARCH = "/ajax-api/2.0/mlflow/runs/search"

# Runs under MLflow's venv: the same runs as fill() below, through MLflow's SQLAlchemy store
# (which creates the schema) and its table models, in one transaction.
MLFLOW_FILL = r"""
import json, sys, time, uuid
from mlflow.store.tracking.dbmodels.models import SqlParam, SqlRun, SqlTag
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

uri, artifacts, runs, flows = sys.argv[1], sys.argv[2], int(sys.argv[3]), json.loads(sys.argv[4])
started = time.perf_counter()
store = SqlAlchemyStore(uri, artifacts)
experiments = [store.create_experiment(name) for name in flows]
now = int((time.time() - runs * 60) * 1000)
rows, params, tags, ids = [], [], [], {}
for i in range(1, runs + 1):
    run_id, experiment, start = uuid.uuid4().hex, experiments[i % 3], now + i * 60_000
    rows.append({"run_uuid": run_id, "name": f"run-{i}", "source_type": "LOCAL",
                 "source_name": "flow.py", "entry_point_name": "", "user_id": "bench",
                 "status": "FAILED" if i % 7 == 0 else "FINISHED", "start_time": start,
                 "end_time": start + 42_000, "source_version": "", "lifecycle_stage": "active",
                 "artifact_uri": f"{artifacts}/{experiment}/{run_id}/artifacts",
                 "experiment_id": int(experiment)})
    for key, value in {"size": 30000 + i, "seed": i % 5, "model": "ease", "l2": 500.0}.items():
        params.append({"key": key, "value": str(value), "run_uuid": run_id})
    run_tags = {"mlflow.runName": f"run-{i}", "mlflow.user": "bench",
                "mlflow.source.name": "flow.py", "mlflow.source.type": "LOCAL", "bench": "true"}
    if i % 10 == 0:
        run_tags["nightly"] = "true"
    tags.extend({"key": k, "value": v, "run_uuid": run_id} for k, v in run_tags.items())
    ids[i] = run_id
with store.ManagedSessionMaker(read_only=False) as session:
    session.execute(SqlRun.__table__.insert(), rows)
    session.execute(SqlParam.__table__.insert(), params)
    session.execute(SqlTag.__table__.insert(), tags)
print(json.dumps({"experiments": dict(zip(flows, experiments)), "middle": ids[runs // 2],
                  "seconds": time.perf_counter() - started}))
"""


@dataclass(frozen=True)
class Req:
    """One request: GET ``path``, or POST ``body`` as JSON; ``rows`` runs expected in a list."""

    path: str
    body: dict[str, Any] | None = None
    rows: int | None = None
    note: str = ""

    def send(self, client: httpx.Client) -> httpx.Response:
        if self.body is None:
            response = client.get(self.path)
        else:
            response = client.post(self.path, json=self.body)
        response.raise_for_status()
        return response

    def check(self, response: httpx.Response) -> None:
        if self.rows is not None and len(response.json()["runs"]) != self.rows:
            raise SystemExit(f"{self.path} {self.body}: not {self.rows} runs")

    def label(self) -> str:
        if self.body is None:
            return f"GET {self.path}"
        body = {k: v for k, v in self.body.items() if k != "page_token"}
        return f"POST {self.path} {json.dumps(body)}{self.note}"


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


def start(cmd: list[str], cwd: Path, env: dict[str, str], ready: str, name: str
          ) -> subprocess.Popen[bytes]:  # fmt: skip
    """Start a server in a session of its own (so stop() ends its workers too); wait until
    GET ``ready`` answers 200."""
    server = subprocess.Popen(cmd, cwd=cwd, env=env, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    for _ in range(600):
        try:
            if httpx.get(ready, timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.1)
    stop(server)
    raise SystemExit(f"{name} did not start")


def stop(server: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(10)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(10)


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("REELFLOW_", "MLFLOW_"))}


def start_ui(home: Path) -> tuple[subprocess.Popen[bytes], str]:
    url = f"http://127.0.0.1:{free_port()}"
    cmd = [sys.executable, "-m", "reelflow", "ui", "--port", url.rsplit(":", 1)[1]]
    return start(cmd, home, clean_env(), f"{url}/api/runs?per_page=1", "reelflow ui"), url


def ensure_mlflow() -> Path:
    """The MLflow venv's python, created on first use."""
    python = MLFLOW_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(MLFLOW_VENV)], check=True)
    if package_version(python, "mlflow") is None:
        subprocess.run([str(python), "-m", "pip", "install", "-q", MLFLOW], check=True)
    return python


def fill_mlflow(python: Path, folder: Path, runs: int) -> dict[str, Any]:
    done = subprocess.run(
        [str(python), "-c", MLFLOW_FILL, f"sqlite:///{folder}/mlflow.db",
         str(folder / "artifacts"), str(runs), json.dumps(FLOWS)],
        capture_output=True, text=True, check=False, env=clean_env(),
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"filling MLflow's store failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


# The MLflow server's settings: one worker as reelflow ui, no access log (reelflow ui logs
# none), no background job runner (a huey consumer polling the store) and no telemetry.
MLFLOW_SERVER_ENV = {
    "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    "MLFLOW_DISABLE_TELEMETRY": "true",
}


def start_mlflow(python: Path, folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    cmd = [str(python.parent / "mlflow"), "server",
           "--backend-store-uri", f"sqlite:///{folder}/mlflow.db",
           "--default-artifact-root", str(folder / "artifacts"),
           "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
           "--uvicorn-opts", "--no-access-log"]  # fmt: skip
    env = clean_env() | MLFLOW_SERVER_ENV
    url = f"http://127.0.0.1:{port}"
    return start(cmd, folder, env, f"{url}/health", "mlflow server"), url


def search(experiments: list[str], size: int, filter_: str = "", token: str | None = None,
           ) -> dict[str, Any]:  # fmt: skip
    """The body MLflow's run list sends (searchRuns: newest first, active runs)."""
    body: dict[str, Any] = {"experiment_ids": experiments, "filter": filter_,
                            "run_view_type": "ACTIVE_ONLY", "max_results": size,
                            "order_by": ["attributes.start_time DESC"]}  # fmt: skip
    if token is not None:
        body["page_token"] = token
    return body


def token_after(client: httpx.Client, body: dict[str, Any], pages: int) -> str:
    """The page token MLflow hands out after ``pages`` pages of ``body``, as "Load more"
    clicked ``pages`` times would send."""
    token = None
    for _ in range(pages):
        answer = client.post(SEARCH, json=body | ({"page_token": token} if token else {}))
        token = answer.raise_for_status().json().get("next_page_token")
        if token is None:
            raise SystemExit(f"MLflow has fewer than {pages + 1} pages of {body} (raise --runs)")
    return str(token)


def views(runs: int, mlflow: dict[str, Any] | None, client: httpx.Client | None
          ) -> dict[str, dict[str, Req]]:  # fmt: skip
    """Per view, the requests to time: reelflow's HTML and JSON, MLflow's at 50 and 100."""
    deep = max(1, runs // PAGE - 1)
    out: dict[str, dict[str, Req]] = {
        "runs, page 1": {"rf_html": Req("/runs"), "rf_json": Req("/api/runs", rows=PAGE)},
        f"runs, page {deep} (deep)": {"rf_html": Req(f"/runs?page={deep}"),
                                      "rf_json": Req(f"/api/runs?page={deep}", rows=PAGE)},
        "runs of one flow / experiment": {"rf_html": Req("/runs?flow=TrainFlow"),
                                          "rf_json": Req("/api/runs?flow=TrainFlow", rows=PAGE)},
        "failed runs, page 20": {"rf_html": Req("/runs?status=failed&page=20"),
                                 "rf_json": Req("/api/runs?status=failed&page=20")},
        "runs tagged nightly": {"rf_html": Req("/runs?tag=nightly"),
                                "rf_json": Req("/api/runs?tag=nightly", rows=PAGE)},
        "one run": {"rf_html": Req(f"/runs/{runs // 2}"), "rf_json": Req(f"/api/runs/{runs // 2}")},
        "HTML a browser loads first": {"rf_html": Req("/runs")},
    }  # fmt: skip
    if mlflow is None or client is None:
        return out
    every = [mlflow["experiments"][f] for f in FLOWS]
    failed = "attributes.status = 'FAILED'"
    deep_token = token_after(client, search(every, PAGE), deep - 1)
    failed_token = token_after(client, search(every, PAGE, failed), 19)
    available = {  # runs left from each view's offset
        "runs, page 1": runs,
        f"runs, page {deep} (deep)": runs - (deep - 1) * PAGE,
        "runs of one flow / experiment": runs // 3,
        "failed runs, page 20": runs // 7 - 19 * PAGE,
        "runs tagged nightly": runs // 10,
    }
    notes = {
        f"runs, page {deep} (deep)": f" + the page_token got after {deep - 1} pages of 50",
        "failed runs, page 20": " + the page_token got after 19 pages of 50",
    }
    for size, key in ((PAGE, "ml_50"), (UI_PAGE, "ml_100")):
        rows = {
            "runs, page 1": search(every, size),
            f"runs, page {deep} (deep)": search(every, size, token=deep_token),
            "runs of one flow / experiment": search([mlflow["experiments"]["TrainFlow"]], size),
            "failed runs, page 20": search(every, size, failed, failed_token),
            "runs tagged nightly": search(every, size, "tags.nightly = 'true'"),
        }
        for view, body in rows.items():
            note = notes.get(view, "")
            out[view][key] = Req(SEARCH, body, rows=min(size, available[view]), note=note)
    out["one run"]["ml_50"] = Req(f"/ajax-api/2.0/mlflow/runs/get?run_id={mlflow['middle']}")
    out["HTML a browser loads first"]["ml_50"] = Req("/")
    return out


def time_views(clients: dict[str, httpx.Client], table: dict[str, dict[str, Req]],
               requests: int, warmup: int, sizes: dict[str, dict[str, int]],
               ) -> dict[str, dict[str, list[float]]]:  # fmt: skip
    """``warmup`` unmeasured then ``requests`` timed requests per URL, one at a time, the
    systems' requests for a view taking turns; ``sizes`` gets each answer's bytes."""
    results: dict[str, dict[str, list[float]]] = {}
    for view, reqs in table.items():
        for key, req in reqs.items():
            for _ in range(max(1, warmup)):
                answer = req.send(clients[key[:2]])
                req.check(answer)
                sizes.setdefault(view, {})[key] = len(answer.content)
        times: dict[str, list[float]] = {key: [] for key in reqs}
        for _ in range(requests):
            for key, req in reqs.items():
                client = clients[key[:2]]
                started = time.perf_counter()
                req.send(client)
                times[key].append((time.perf_counter() - started) * 1000)
        results[view] = times
    return results


def cell(times: list[float] | None) -> str:
    if not times:
        return "-"
    return f"{statistics.median(times):.1f} ({statistics.quantiles(times, n=10)[-1]:.1f})"


def ratio(over: list[float] | None, under: list[float] | None) -> str:
    if not over or not under:
        return "-"
    return f"{statistics.median(over) / statistics.median(under):.1f}x"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    has_mlflow = (MLFLOW_VENV / "bin" / "python").exists()
    parser.add_argument(
        "--peer", choices=("mlflow", "none"), default=("mlflow" if has_mlflow else "none")
    )
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    load_before = os.getloadavg()
    python = ensure_mlflow() if args.peer == "mlflow" else None
    servers: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="reelflow-ui-bench-") as folder:
        home = Path(folder) / "reelflow"
        home.mkdir()
        filled = fill(home, args.runs)
        naive = naive_list(home)
        mlflow, mlflow_dir = None, Path(folder) / "mlflow"
        if python is not None:
            mlflow_dir.mkdir()
            mlflow = fill_mlflow(python, mlflow_dir, args.runs)
        clients: dict[str, httpx.Client] = {}
        try:
            server, base = start_ui(home)
            servers.append(server)
            clients["rf"] = httpx.Client(base_url=base, timeout=30)
            if python is not None:
                server, base = start_mlflow(python, mlflow_dir)
                servers.append(server)
                clients["ml"] = httpx.Client(base_url=base, timeout=30)
            table = views(args.runs, mlflow, clients.get("ml"))
            sizes: dict[str, dict[str, int]] = {}
            results = time_views(clients, table, args.requests, args.warmup, sizes)
        finally:
            for client in clients.values():
                client.close()
            for server in servers:
                stop(server)
    load_after = os.getloadavg()
    uvicorn = package_version(Path(sys.executable), "uvicorn")
    peer = f" (MLflow: {mlflow['seconds']:.1f} s)" if mlflow else ""
    print(f"{args.runs:,} runs written in {filled:.1f} s{peer}; {args.requests} requests per URL "
          f"after {args.warmup} ({platform.python_version()}, {os.cpu_count()} cores; "
          f"reelflow ui on uvicorn {uvicorn})")  # fmt: skip
    if python is not None:
        settings = " ".join(f"{k}={v}" for k, v in MLFLOW_SERVER_ENV.items())
        print(f"MLflow {package_version(python, 'mlflow')} (uvicorn "
              f"{package_version(python, 'uvicorn')}): {settings} mlflow server --workers 1 "
              f"--uvicorn-opts --no-access-log")  # fmt: skip
    before = " ".join(f"{x:.2f}" for x in load_before)
    after = " ".join(f"{x:.2f}" for x in load_after)
    print(f"load average before {before}, after {after}\n\nmedian ms (p90)\n")
    print("| view | reelflow HTML | reelflow JSON | MLflow JSON, 50 a page | MLflow ÷ reelflow "
          "| MLflow JSON, 100 a page (UI default) |")  # fmt: skip
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for view, times in results.items():
        base_times = times.get("rf_json") or times.get("rf_html")
        print(f"| {view} | {cell(times.get('rf_html'))} | {cell(times.get('rf_json'))} | "
              f"{cell(times.get('ml_50'))} | {ratio(times.get('ml_50'), base_times)} | "
              f"{cell(times.get('ml_100'))} |")  # fmt: skip
    print(f"| for scale: every run through Client().runs(), in-process | - | "
          f"{statistics.median(naive):.1f} | - | - | - |\n")  # fmt: skip
    print("requests:\n")
    for view, reqs in table.items():
        for key, req in reqs.items():
            print(f"- {view} [{key}]: {req.label()} ({sizes[view][key]:,} bytes)")
    if args.json is not None:
        report: dict[str, Any] = {"runs": args.runs, "requests": args.requests, "ms": results,
                                  "client_runs_ms": naive, "load": [load_before, load_after],
                                  "bytes": sizes,
                                  "urls": {v: {k: r.label() for k, r in reqs.items()}
                                           for v, reqs in table.items()}}  # fmt: skip
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
