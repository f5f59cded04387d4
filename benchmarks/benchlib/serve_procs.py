"""Servers and load generators of the serving benchmark (benchmarks/serve_load.py): start and stop
a server as a subprocess, wait until it answers, drive it with wrk (closed loop, max throughput)
or with benchlib/openloop.py (constant rate), read its memory, profile it with py-spy."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

BENCH_DIR = Path(__file__).resolve().parent.parent
LIB_DIR = BENCH_DIR / "benchlib"
MB = 1_000_000
SERVER_CPU = "0"
LOAD_CPU = "1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pinned(cpu: str | None, cmd: Sequence[str]) -> list[str]:
    """``cmd`` pinned to ``cpu`` with taskset (``cpu`` None: not pinned)."""
    return ["taskset", "-c", cpu, *cmd] if cpu is not None else list(cmd)


@dataclass
class Server:
    """One server under test: how to start it and how to talk to it."""

    name: str
    label: str
    cmd: list[str]
    env: dict[str, str]
    cwd: Path
    port: int
    ready_path: str
    post: bool = False  # POST /recommend with a JSON body (BentoML) instead of GET
    worker_marker: str | None = None  # a cmdline fragment of worker processes (multi-process)
    proc: subprocess.Popen[bytes] | None = None
    log: Path | None = None
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, logs: Path, timeout: float = 180.0) -> None:
        self.log = logs / f"{self.name}.log"
        handle = open(self.log, "ab")  # noqa: SIM115 - stays open with the process
        self.proc = subprocess.Popen(
            self.cmd,
            cwd=self.cwd,
            env=self.env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.proc.returncode}: {tail(self.log)}"
                )
            with (
                contextlib.suppress(OSError, urllib.error.URLError),
                urllib.request.urlopen(self.url + self.ready_path, timeout=2) as answer,
            ):
                if answer.status == 200:
                    return
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"{self.name} was not ready within {timeout:.0f} s: {tail(self.log)}")

    def stop(self) -> None:
        """SIGTERM to the server's own process group (it was started in a new session), then
        SIGKILL if it lingers."""
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def processes(self) -> list[psutil.Process]:
        assert self.proc is not None
        root = psutil.Process(self.proc.pid)
        return [root, *root.children(recursive=True)]

    def memory(self) -> list[dict[str, Any]]:
        """Every process of the server: its role, RSS, PSS and USS (MB)."""
        out = []
        procs = self.processes()
        for proc in procs:
            try:
                info = proc.memory_full_info()
                cmdline = " ".join(proc.cmdline())
            except psutil.Error:
                continue
            if "resource_tracker" in cmdline or "semaphore_tracker" in cmdline:
                role = "helper"
            elif len(procs) == 1:
                role = "worker"
            elif self.worker_marker is not None:
                role = "worker" if self.worker_marker in cmdline else "helper"
                if proc.pid == procs[0].pid:
                    role = "supervisor"
            else:
                role = "supervisor" if proc.pid == procs[0].pid else "worker"
            out.append(
                {
                    "pid": proc.pid,
                    "role": role,
                    "rss_mb": info.rss / MB,
                    "pss_mb": getattr(info, "pss", 0) / MB,
                    "uss_mb": info.uss / MB,
                    "threads": proc.num_threads(),
                    "cmd": cmdline[:160],
                }
            )
        return out

    def get(self, path: str) -> dict[str, Any]:
        with urllib.request.urlopen(self.url + path, timeout=10) as answer:
            return json.loads(answer.read())

    def recommend(self, user: str, k: int) -> dict[str, Any]:
        if not self.post:
            return self.get(f"/recommendations/{user}?k={k}")
        body = json.dumps({"user_id": user, "k": k}).encode()
        request = urllib.request.Request(
            self.url + "/recommend", body, {"Content-Type": "application/json"}, method="POST"
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.loads(answer.read())


def tail(path: Path | None, lines: int = 15) -> str:
    if path is None or not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@contextlib.contextmanager
def running(servers: Sequence[Server], logs: Path) -> Iterator[None]:
    try:
        for server in servers:
            server.start(logs)
        yield
    finally:
        for server in servers:
            server.stop()


def wrk(
    server: Server, users_file: Path, *, connections: int, seconds: float, k: int = 10
) -> dict[str, Any]:
    """One closed-loop wrk run (1 thread, pinned to the load CPU): throughput and latency."""
    env = {**os.environ, "WRK_USERS": str(users_file), "WRK_K": str(k)}
    if server.post:
        env["WRK_POST"] = "1"
    cmd = pinned(
        LOAD_CPU,
        [
            "wrk", "-t", "1", "-c", str(connections), "-d", f"{seconds:g}s", "--timeout", "10s",
            "-s", str(LIB_DIR / "wrk_rotate.lua"), server.url,
        ],
    )  # fmt: skip
    load_before = os.getloadavg()[0]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    line = next((x for x in done.stdout.splitlines() if x.startswith("WRKJSON ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(
            f"wrk failed ({done.returncode}): {done.stdout[-800:]} {done.stderr[-800:]}"
        )
    raw = json.loads(line.removeprefix("WRKJSON "))
    seconds_run = raw["duration_us"] / 1e6
    errors = raw["connect"] + raw["read"] + raw["write"] + raw["timeout"]
    return {
        "connections": connections,
        "requests": raw["requests"],
        "rps": raw["requests"] / seconds_run,
        "p50_ms": raw["p50_us"] / 1000,
        "p90_ms": raw["p90_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "max_ms": raw["max_us"] / 1000,
        "mean_ms": raw["mean_us"] / 1000,
        "socket_errors": errors,
        "non_2xx": raw["status"],
        "load1_before": load_before,
        "load1_after": os.getloadavg()[0],
    }


def openloop(
    server: Server,
    users_file: Path,
    *,
    rate: float,
    seconds: float,
    python: str = sys.executable,
    versions: bool = False,
    timeline: bool = False,
    connections: int = 64,
) -> subprocess.Popen[str]:
    """Start a constant-rate run (its own process, pinned to the load CPU); ``finish`` it."""
    cmd = [
        python, str(LIB_DIR / "openloop.py"), "--port", str(server.port), "--rate", f"{rate:.3f}",
        "--duration", f"{seconds:g}", "--users", str(users_file),
        "--connections", str(connections),
    ]  # fmt: skip
    if server.post:
        cmd.append("--post")
    if versions:
        cmd.append("--versions")
    if timeline:
        cmd.append("--timeline")
    return subprocess.Popen(
        pinned(LOAD_CPU, cmd), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finish(proc: subprocess.Popen[str], timeout: float) -> dict[str, Any]:
    out, err = proc.communicate(timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"openloop failed ({proc.returncode}): {err[-1500:]}")
    return json.loads(out)


def constant_rate(
    server: Server, users_file: Path, *, rate: float, seconds: float, **kw: Any
) -> dict[str, Any]:
    load_before = os.getloadavg()[0]
    result = finish(openloop(server, users_file, rate=rate, seconds=seconds, **kw), seconds + 120)
    if not result["completed"]:
        raise RuntimeError(f"openloop got no answer from {server.name}: {result['errors']}")
    result["load1_before"], result["load1_after"] = load_before, os.getloadavg()[0]
    return result


# --- py-spy ----------------------------------------------------------------------------------


def py_spy(
    pid: int, seconds: float, out: Path, *, rate: int = 250, native: bool = False, gil: bool = False
) -> Path:
    """Sample ``pid`` for ``seconds`` (py-spy record, raw collapsed stacks, pinned to the load
    CPU so that it does not take the server's)."""
    spy = Path(sys.executable).parent / "py-spy"
    cmd = [
        str(spy), "record", "--pid", str(pid), "--duration", f"{int(seconds)}", "--rate",
        str(rate), "--format", "raw", "--output", str(out), "--nonblocking", "--threads",
        "--full-filenames",
    ]  # fmt: skip
    if native:
        cmd.append("--native")
        cmd.remove("--nonblocking")  # py-spy needs to pause the process for native stacks
    if gil:
        cmd.append("--gil")
    done = subprocess.run(pinned(LOAD_CPU, cmd), capture_output=True, text=True, check=False)
    if done.returncode != 0 or not out.exists():
        raise RuntimeError(f"py-spy failed ({done.returncode}): {done.stderr[-1500:]}")
    return out


def _frame_name(frame: str) -> str:
    """``func (path/to/module.py:123)`` -> ``func (module.py)``; keeps package hints short."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    path = where.rsplit(":", 1)[0]
    parts = Path(path).parts
    short = "/".join(parts[-2:]) if len(parts) >= 2 else path
    for marker in ("site-packages/", "/src/", "/lib/python3.11/"):
        if marker in path:
            short = path.split(marker, 1)[1]
            break
    return f"{name} ({short})" if where else name


CATEGORIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    # (category, substrings of a frame), first match from the leaf upwards wins
    ("model scoring: matmul (_score_batch)", ("_score_batch (reelflow/models/_implicit.py",)),
    ("model: top-k (argpartition, sort)", ("reelflow/models/_topk.py",)),
    ("model: id mapping, checks (recommend)", ("reelflow/models/_base.py", "reelflow/data/")),
    ("deployment: lists to str/float (recommend)", ("reelflow/serve/_deployment.py",)),
    ("metrics (prometheus_client)", ("prometheus_client/",)),
    (
        "request log (sampling, rows, parquet)",
        ("_request_log.py", "_log_format.py", "pyarrow/", "log_request"),
    ),
    (
        "service.answer: thread pool hand-off, wait_for",
        ("reelflow/serve/_service.py", "concurrent/futures", "asyncio/tasks.py", "threading.py"),
    ),
    ("request checks (_requests)", ("reelflow/serve/_requests.py",)),
    ("reelflow handler (_app)", ("reelflow/serve/_app.py",)),
    ("floor handler", ("benchlib/serve_floor.py",)),
    ("starlette routing/request/response", ("starlette/",)),
    ("uvicorn/httptools protocol", ("uvicorn/",)),
    ("asyncio/uvloop event loop", ("asyncio/", "uvloop/")),
)


def categorize(stack: list[str]) -> str:
    for frame in reversed(stack):
        for category, needles in CATEGORIES:
            if any(n in frame for n in needles):
                return category
    return "other"


def summarize_profile(raw: Path, top: int = 25) -> dict[str, Any]:
    """Self and inclusive shares of functions, shares by thread and by category, from py-spy's
    raw output (``--threads --full-filenames``: ``thread (TID): NAME;frame;...;frame COUNT``).
    Shares are of all non-idle samples of all threads."""
    self_counts: Counter[str] = Counter()
    incl_counts: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    categories: Counter[str] = Counter()
    by_thread_cat: dict[str, Counter[str]] = defaultdict(Counter)
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack_text, _, count_text = line.rpartition(" ")
        if not stack_text or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack_text.split(";")
        thread = "?"
        if frames and frames[0].startswith("thread ("):
            thread = frames.pop(0).partition(": ")[2].rstrip("0123456789").rstrip("_-") or "?"
        names = [_frame_name(f) for f in frames if not f.startswith("process ")]
        if not names:
            continue
        total += count
        self_counts[names[-1]] += count
        for name in set(names):
            incl_counts[name] += count
        threads[thread] += count
        category = categorize(names)
        categories[category] += count
        by_thread_cat[thread][category] += count

    def share(counter: Counter[str], n: int = top) -> list[tuple[str, float]]:
        return [(name, 100.0 * c / max(total, 1)) for name, c in counter.most_common(n)]

    return {
        "samples": total,
        "self": share(self_counts),
        "inclusive": share(incl_counts),
        "threads": share(threads),
        "categories": share(categories),
        "by_thread": {t: share(cs, 100) for t, cs in by_thread_cat.items()},
    }


# --- reelflow's own latency histogram -----------------------------------------------------------


def latency_buckets(server: Server, endpoint: str = "user") -> dict[float, float]:
    """Cumulative counts of ``reelflow_request_latency_seconds`` for ``endpoint``, by bucket."""
    with urllib.request.urlopen(server.url + "/metrics", timeout=10) as answer:
        text = answer.read().decode()
    out: dict[float, float] = {}
    prefix = "reelflow_request_latency_seconds_bucket{"
    for line in text.splitlines():
        if not line.startswith(prefix) or f'endpoint="{endpoint}"' not in line:
            continue
        labels, _, value = line.rpartition("} ")
        le = labels.split('le="', 1)[1].split('"', 1)[0]
        out[float("inf") if le == "+Inf" else float(le)] = out.get(float(le), 0.0) + float(value)
    return out


def bucket_quantiles(before: dict[float, float], after: dict[float, float]) -> dict[str, Any]:
    """Upper bounds (ms) of the buckets holding p50/p90/p99 of the requests between two scrapes:
    the server's own time per request (handler start to response built; no HTTP)."""
    delta = {le: after.get(le, 0.0) - before.get(le, 0.0) for le in after}
    total = delta.get(float("inf"), 0.0)
    out: dict[str, Any] = {"requests": total}
    for name, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99)):
        bound = next((le for le in sorted(delta) if total and delta[le] / total >= q), None)
        out[f"{name}_le_ms"] = None if bound is None else bound * 1000.0
    return out


def answer_counters(server: Server) -> dict[str, float]:
    """reelflow's request counters (``endpoint="user"``, by outcome) and fallbacks by reason."""
    with urllib.request.urlopen(server.url + "/metrics", timeout=10) as answer:
        text = answer.read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        name, _, value = line.rpartition(" ")
        if name.startswith('reelflow_requests_total{endpoint="user"'):
            out["outcome=" + name.split('outcome="', 1)[1].split('"', 1)[0]] = float(value)
        elif name.startswith("reelflow_fallbacks_total{"):
            out["fallback=" + name.split('reason="', 1)[1].split('"', 1)[0]] = float(value)
    return out


def counter_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: v - before.get(k, 0.0) for k, v in after.items() if v - before.get(k, 0.0)}
