"""The built-in feature set, point-in-time: reelflow.features on DuckDB against plain pandas.

Synthetic logs (seed 0: synth-1m is 1M events of 50,000 users x 10,000 items, synth-10m is 10M
events of 100,000 users x 20,000 items, synth-50m is 50M events of 500,000 users x 20,000 items,
3 regions, 180 days) and a spine of ``--spine`` training
examples (events drawn at random from the second half of the log: user, item, region, and
``as_of`` = the event's time). Both sides compute every built-in feature (``builtin_features()``:
16 features, 20 with hidden inputs) for every spine row from the events strictly before its
``as_of``; the pandas side runs the same plans (sorted cumulative counts looked up with
``merge_asof``, co-occurrence pairs with ``groupby().shift``, each pair kept once as (smaller,
larger) item as DuckDB keeps it, distinct items from the first events of the spine's users),
single-threaded as pandas is. The two results must be equal (checked), so the times compare the
same answer.

DuckDB reads the events as an Arrow table (converting the ``Interactions`` to Arrow is timed on
its own); pandas gets a DataFrame of the same table, its conversion not timed. Prints a markdown
table of medians.

``--engines duckdb,spark`` also times the same ``compute`` on Spark in local mode (``local[2]``,
one shuffle partition per core; the session is started once before the timings, its start-up
reported on its own), from the same Arrow tables, and checks Spark's values against DuckDB's.

``--memory`` measures the cost curve instead: each data set's inputs are built once in a child
process (generating the log, to Arrow, staged as Parquet; its time and peak memory reported),
then each (engine, data set) runs in a child process of its own that loads them, computes the
features once on a 500k-event slice (a warm-up, reported: Spark's JVM compiles its code paths
on first use) and times ``--repeats`` calls (one number per data set, e.g. ``3,3,1``). The
parent samples the resident memory (RSS) and CPU time of the child's whole process tree (Spark's
JVM included) every ``--sample`` s: RSS with the inputs loaded, the peak during the timed calls,
CPU seconds per call. A child past ``--cap-minutes``, past ``--memory-cap-gb``, or leaving the
machine under ``--min-free-gb`` is stopped, and that (with the peak reached) is its result, as is
a MemoryError or any other error; an engine stopped so is skipped at larger sizes. Every
engine's values are checked against DuckDB's at every size. Prints the tables, the growth per
10x and fits of ``cost ~ a * n^b`` with 1B events extrapolated, and ``--plot`` draws the curve.

    .venv/bin/python benchmarks/features_speed.py [--datasets synth-1m,synth-10m]
        [--spine 100000] [--repeats 3] [--threads 2,1] [--engines duckdb,spark] [--skip-pandas]
        [--json PATH]
    .venv/bin/python benchmarks/features_speed.py --memory --datasets synth-1m,synth-10m,synth-50m
        --engines pandas,duckdb,spark --threads 2 --repeats 3,3,1
        --plot docs/img/features-scaling.png --json /tmp/features-scaling.json
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import psutil
import pyarrow as pa

from reelflow.data import generate_interactions
from reelflow.features import builtin_features, compute, events_table
from reelflow.features._engine import DuckDBEngine

DATASETS = {
    "synth-100k": (10_000, 2_000, 100_000),
    "synth-1m": (50_000, 10_000, 1_000_000),
    "synth-10m": (100_000, 20_000, 10_000_000),
    "synth-50m": (500_000, 20_000, 50_000_000),
}
DAY = 86_400
RECENT, MAX_PREVIOUS, GAP = 10, 5, DAY  # the co-occurrence feature's defaults


# --- the same features in plain pandas -----------------------------------------------------------


def _count_before(
    events: pd.DataFrame, keys: list[str], probes: pd.DataFrame, *, last: bool = False
) -> pd.DataFrame:
    """For each distinct probe (keys, t): how many events of its key have timestamp < t (and the
    last one's time): events sorted by time, counted per key, looked up with ``merge_asof``."""
    ordered = events[[*keys, "timestamp"]].sort_values("timestamp", kind="stable")
    ordered["n"] = ordered.groupby(keys, sort=False).cumcount() + 1
    wanted = probes[[*keys, "t"]].drop_duplicates().sort_values("t", kind="stable")
    found = pd.merge_asof(
        wanted,
        ordered.rename(columns={"timestamp": "last"}),
        left_on="t",
        right_on="last",
        by=keys,
        allow_exact_matches=False,
        direction="backward",
    )
    found["n"] = found["n"].fillna(0).astype(np.int64)
    return found if last else found.drop(columns="last")


def _windowed(
    events: pd.DataFrame,
    spine: pd.DataFrame,
    keys: list[str],
    windows: dict[str, tuple[int, int | None]],
) -> pd.DataFrame:
    """Counts over [as_of - offset - window, as_of - offset) per spine row, one column each."""
    offsets = sorted({o for o, w in windows.values()} |
                     {o + w for o, w in windows.values() if w is not None})  # fmt: skip
    probes = pd.concat([spine[keys].assign(t=spine["as_of"] - o) for o in offsets])
    counts = _count_before(events, keys, probes)
    out = pd.DataFrame(index=spine.index)
    at: dict[int, np.ndarray] = {}
    for o in offsets:
        looked = spine[keys].assign(t=spine["as_of"] - o).merge(counts, on=[*keys, "t"], how="left")
        at[o] = looked["n"].to_numpy()
    for name, (offset, window) in windows.items():
        out[name] = at[offset] - (at[offset + window] if window is not None else 0)
    return out


def _share(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    return (numerator / denominator.where(denominator != 0)).astype("float64")


def _cooc(events: pd.DataFrame, spine: pd.DataFrame, before_user: np.ndarray) -> np.ndarray:
    ev = events[["user_id", "item_id", "timestamp"]].sort_values(
        ["user_id", "timestamp", "item_id"], kind="stable"
    )
    grouped = ev.groupby("user_id", sort=False)
    ev["rk"] = grouped.cumcount() + 1
    parts = []
    for m in range(1, MAX_PREVIOUS + 1):
        other, when = grouped["item_id"].shift(m), grouped["timestamp"].shift(m)
        keep = other.notna() & (ev["item_id"] != other) & (ev["timestamp"] - when <= GAP)
        x, y = ev["item_id"][keep].to_numpy(), other[keep].astype(np.int64).to_numpy()
        t = ev["timestamp"][keep].to_numpy()
        # each pair once, as (smaller item, larger item): a pair counts the same both ways
        parts.append(pd.DataFrame({"a": np.minimum(x, y), "b": np.maximum(x, y), "timestamp": t}))
    pairs = pd.concat(parts, ignore_index=True)

    probes = spine[["user_id", "item_id", "as_of"]].assign(n=before_user)
    users = probes[["user_id", "as_of", "n"]].drop_duplicates()
    recent = pd.concat([users.assign(rk=users["n"] - k) for k in range(RECENT)])
    recent = recent.merge(ev[["user_id", "rk", "item_id"]], on=["user_id", "rk"])
    recent = recent[["user_id", "as_of", "item_id"]].drop_duplicates()
    recent = recent.rename(columns={"item_id": "other"})
    need = (
        probes[["user_id", "item_id", "as_of"]]
        .drop_duplicates()
        .merge(recent, on=["user_id", "as_of"])
    )
    need = need[need["item_id"] != need["other"]]
    need = need.assign(a=np.minimum(need["item_id"], need["other"]),
                       b=np.maximum(need["item_id"], need["other"]))  # fmt: skip
    lookups = need.rename(columns={"as_of": "t"})[["a", "b", "t"]].drop_duplicates()
    relevant = pairs.merge(lookups[["a", "b"]].drop_duplicates(), on=["a", "b"])
    counts = _count_before(relevant, ["a", "b"], lookups)
    need = need.merge(counts.rename(columns={"t": "as_of"}), on=["a", "b", "as_of"], how="left")
    totals = need.groupby(["user_id", "item_id", "as_of"], sort=False)["n"].sum()
    looked = probes.merge(totals.rename("cooc").reset_index(),
                          on=["user_id", "item_id", "as_of"], how="left")  # fmt: skip
    return looked["cooc"].fillna(0).astype(np.int64).to_numpy()


def pandas_features(events: pd.DataFrame, spine: pd.DataFrame, items: pd.DataFrame) -> pd.DataFrame:
    """Every built-in feature, in builtin_features() order, for every spine row."""
    spine = spine.reset_index(drop=True)
    out = spine.copy()
    week, month = 7 * DAY, 30 * DAY
    user = _windowed(events, spine, ["user_id"], {
        "user_events_7d": (0, week), "user_events_30d": (0, month), "user_events_all": (0, None),
    })  # fmt: skip
    probes = spine[["user_id"]].assign(t=spine["as_of"])
    last = _count_before(events, ["user_id"], probes, last=True)
    last = probes.merge(last, on=["user_id", "t"], how="left")["last"]
    mine = events[events["user_id"].isin(spine["user_id"].unique())]  # the spine's users only
    first = mine.groupby(["user_id", "item_id"], as_index=False)["timestamp"].min()
    distinct = _windowed(first, spine, ["user_id"], {"user_distinct_items": (0, None)})
    item = _windowed(events, spine, ["item_id"], {
        "item_events_7d": (0, week), "item_events_30d": (0, month), "item_events_all": (0, None),
        "item_events_prev_7d": (week, week),
    })  # fmt: skip
    regional = _windowed(events, spine, ["item_id", "region"], {
        "item_region_events_7d": (0, week), "item_region_events_30d": (0, month),
    })  # fmt: skip
    user_region = _windowed(events, spine, ["user_id", "region"], {"n": (0, None)})["n"]
    user_item = _windowed(events, spine, ["user_id", "item_id"], {"n": (0, None)})["n"]
    genre_events = events[["user_id", "item_id", "timestamp"]].merge(items, on="item_id")
    genre_spine = spine.merge(items, on="item_id", how="left")
    user_genre = _windowed(genre_events, genre_spine, ["user_id", "genre"], {"n": (0, None)})["n"]

    out[list(user.columns)] = user
    out["user_recency_s"] = (spine["as_of"] - last).astype("Int64")
    out["user_distinct_items"] = distinct["user_distinct_items"]
    out[["item_events_7d", "item_events_30d", "item_events_all"]] = item.iloc[:, :3]
    out["item_trend_7d"] = (item["item_events_7d"] + 1.0) / (item["item_events_prev_7d"] + 1.0)
    out[list(regional.columns)] = regional
    out["item_region_share_30d"] = _share(
        regional["item_region_events_30d"], item["item_events_30d"]
    )
    out["user_region_share"] = _share(user_region, user["user_events_all"])
    out["user_item_events_all"] = user_item
    out["user_genre_affinity"] = _share(user_genre, user["user_events_all"])
    out["user_item_cooc_recent"] = _cooc(events, spine, user["user_events_all"].to_numpy())
    return out


# --- the run --------------------------------------------------------------------------------------


def make_inputs(name: str, spine_rows: int) -> tuple[Any, pa.Table, pa.Table, pa.Table, float]:
    n_users, n_items, n = DATASETS[name]
    log = generate_interactions(n_users, n_items, n, seed=0)
    start = time.perf_counter()
    events = events_table(log.interactions)
    converted = time.perf_counter() - start
    items = pa.Table.from_pandas(log.items[["item_id", "genre"]], preserve_index=False)
    return log, events, spine_of(events, spine_rows), items, converted


def spine_of(events: pa.Table, spine_rows: int) -> pa.Table:
    """``spine_rows`` events drawn at random (seed 0) from the second half of the log, as
    (user, item, region, ``as_of`` = the event's time)."""
    n = events.num_rows
    rng = np.random.default_rng(0)
    rows = np.sort(rng.choice(np.arange(n // 2, n), min(spine_rows, n - n // 2), replace=False))
    picked = events.take(pa.array(rows)).select(["user_id", "item_id", "region", "timestamp"])
    return picked.rename_columns(["user_id", "item_id", "region", "as_of"])


def same(duck: pa.Table, frame: pd.DataFrame) -> bool:
    for name in builtin_features().names:
        a = duck.column(name).to_pandas().to_numpy(dtype="float64", na_value=np.nan)
        b = frame[name].to_numpy(dtype="float64", na_value=np.nan)
        if not np.allclose(a, b, rtol=1e-9, atol=0, equal_nan=True):
            print(f"  MISMATCH in {name}: {np.flatnonzero(~np.isclose(a, b, equal_nan=True))[:5]}")
            return False
    return True


def same_tables(duck: pa.Table, other: pa.Table) -> bool:
    """Every built-in equal on two engines: integers exactly, floats to 1e-12."""
    if duck.schema != other.schema or duck.num_rows != other.num_rows:
        print(f"  MISMATCH in schema or rows: {other.schema} against {duck.schema}")
        return False
    for name in builtin_features().names:
        a = duck.column(name).to_pandas().to_numpy(dtype="float64", na_value=np.nan)
        b = other.column(name).to_pandas().to_numpy(dtype="float64", na_value=np.nan)
        if not np.allclose(a, b, rtol=1e-12, atol=0, equal_nan=True):
            print(f"  MISMATCH in {name}: {np.flatnonzero(~np.isclose(a, b, equal_nan=True))[:5]}")
            return False
    return True


def duckdb_features(events: pa.Table, spine: pa.Table, items: pa.Table, threads: int) -> pa.Table:
    with DuckDBEngine(threads=threads) as engine:
        return compute(builtin_features(), events, spine, items=items, engine=engine)


def spark_features(events: pa.Table, spine: pa.Table, items: pa.Table) -> pa.Table:
    """On the process's local session (started before the timings), an engine per call as
    ``compute(..., engine="spark")`` opens one."""
    return compute(builtin_features(), events, spine, items=items, engine="spark")


def run_dataset(name: str, args: argparse.Namespace) -> dict[str, Any]:
    """Time both sides on one data set; check they agree."""
    _, events, spine, items, converted = make_inputs(name, args.spine)
    row: dict[str, Any] = {
        "data": name,
        "events": events.num_rows,
        "spine": spine.num_rows,
        "to_arrow_s": converted,
        "load_before": os.getloadavg()[0],
    }
    engines = args.engines.split(",")
    calls: dict[str, Callable[[], Any]] = {}
    if "duckdb" in engines:
        for t in args.threads.split(","):
            calls[f"duckdb_{t}t"] = functools.partial(duckdb_features, events, spine, items, int(t))
    if "spark" in engines:
        calls["spark"] = functools.partial(spark_features, events, spine, items)
    if not args.skip_pandas:
        frame_events = events.select(["user_id", "item_id", "timestamp", "region"]).to_pandas()
        calls["pandas"] = functools.partial(
            pandas_features, frame_events, spine.to_pandas(), items.to_pandas()
        )
    outputs: dict[str, Any] = {}
    for _ in range(args.repeats):  # interleaved, so a change of load hits every side alike
        for label, call in calls.items():
            start = time.perf_counter()
            outputs[label] = call()
            row.setdefault(label, []).append(time.perf_counter() - start)
            print(f"  {name} {label}: {row[label][-1]:.2f} s", flush=True)
    duck = next((v for k, v in outputs.items() if k.startswith("duckdb")), None)
    if "pandas" in outputs and duck is not None:
        row["same"] = same(duck, outputs["pandas"])
        print(f"  {name}: same values: {row['same']}", flush=True)
    if "spark" in outputs and duck is not None:
        row["spark_same"] = same_tables(duck, outputs["spark"])
        print(f"  {name}: Spark's values are DuckDB's: {row['spark_same']}", flush=True)
    row["load_after"] = os.getloadavg()[0]
    return row


# --- the cost curve: every (engine, size) in a child process of its own ------------------------

GB = 1e9
WARM_EVENTS, WARM_SPINE = 500_000, 10_000  # the warm-up's log: past Spark's 16 MB inline limit
NAMES = {"pandas": "pandas", "spark": "Spark local[2]"}


def engine_name(label: str) -> str:
    if label.startswith("duckdb_"):
        return f"DuckDB, {label.removeprefix('duckdb_').removesuffix('t')} thr."
    return NAMES[label]


def child_main(spec_path: str) -> int:
    """One measurement in this process: build a data set's inputs (``role`` "inputs") or load
    them and time one engine (``role`` "engine"). Progress goes, a JSON line per step with
    ``time.monotonic()`` (one clock for the whole machine), to the file the parent reads, so a
    child stopped half-way still tells how far it got."""
    with open(spec_path, encoding="utf-8") as handle:
        spec = json.load(handle)
    with open(spec["progress"], "a", encoding="utf-8") as progress:

        def mark(event: str, **fields: Any) -> None:
            progress.write(json.dumps({"event": event, "t": time.monotonic(), **fields}) + "\n")
            progress.flush()

        mark("start")
        try:
            if spec["role"] == "inputs":
                build_inputs(spec, mark)
            else:
                measure_engine(spec, mark)
        except MemoryError as exc:
            mark("error", kind="MemoryError", message=str(exc)[:300])
            return 1
        except Exception as exc:  # recorded as this (engine, size)'s result, not raised
            traceback.print_exc()
            message = (str(exc).strip().splitlines() or [""])[0][:300]
            mark("error", kind=type(exc).__name__, message=message)
            return 1
        mark("done")
    return 0


def build_inputs(spec: dict[str, Any], mark: Callable[..., None]) -> None:
    import pyarrow.parquet as pq

    n_users, n_items, n = DATASETS[spec["data"]]
    start = time.perf_counter()
    log = generate_interactions(n_users, n_items, n, seed=0)
    mark("generated", seconds=time.perf_counter() - start)
    start = time.perf_counter()
    events = events_table(log.interactions)
    mark("arrow", seconds=time.perf_counter() - start, nbytes=events.nbytes)
    items = pa.Table.from_pandas(log.items[["item_id", "genre"]], preserve_index=False)
    del log
    start = time.perf_counter()
    folder = spec["folder"]
    pq.write_table(events, os.path.join(folder, "events.parquet"), compression="lz4")
    pq.write_table(spine_of(events, spec["spine"]), os.path.join(folder, "spine.parquet"))
    pq.write_table(items, os.path.join(folder, "items.parquet"))
    mark("written", seconds=time.perf_counter() - start)


def measure_engine(spec: dict[str, Any], mark: Callable[..., None]) -> None:
    import pyarrow.parquet as pq

    label, folder = spec["engine"], spec["folder"]
    events = pq.read_table(os.path.join(folder, "events.parquet"))
    spine = pq.read_table(os.path.join(folder, "spine.parquet"))
    items = pq.read_table(os.path.join(folder, "items.parquet"))
    small = events.slice(0, WARM_EVENTS)
    small_spine = spine_of(small, WARM_SPINE)
    call: Callable[[], Any]
    warm: Callable[[], Any]
    if label == "pandas":
        columns = ["user_id", "item_id", "timestamp", "region"]
        frame_items = items.to_pandas()
        small_frame = small.select(columns).to_pandas()
        warm = functools.partial(pandas_features, small_frame, small_spine.to_pandas(), frame_items)
        frame = events.select(columns).to_pandas()
        del events, small  # pandas holds its own copy; the Arrow table is not pandas' to keep
        call = functools.partial(pandas_features, frame, spine.to_pandas(), frame_items)
    elif label.startswith("duckdb_"):
        threads = int(label.removeprefix("duckdb_").removesuffix("t"))
        warm = functools.partial(duckdb_features, small, small_spine, items, threads)
        call = functools.partial(duckdb_features, events, spine, items, threads)
    elif label == "spark":
        warm = functools.partial(spark_features, small, small_spine, items)
        call = functools.partial(spark_features, events, spine, items)
    else:
        raise ValueError(f"unknown engine {label!r}")
    mark("loaded")
    if label == "spark":
        from reelflow.features._spark import local_session

        start = time.perf_counter()
        session = local_session(cores=2, memory=spec["spark_memory"])
        mark(
            "session",
            seconds=time.perf_counter() - start,
            version=session.version,
            master=session.sparkContext.master,
            partitions=session.conf.get("spark.sql.shuffle.partitions"),
        )
    start = time.perf_counter()
    warm()
    mark("warmed", seconds=time.perf_counter() - start)
    out = None
    for _ in range(spec["repeats"]):
        mark("call_start")
        start = time.perf_counter()
        out = call()
        mark("call", seconds=time.perf_counter() - start)
    result = spec["result"]
    if isinstance(out, pd.DataFrame):
        out.to_parquet(result)
    else:
        pq.write_table(out, result)
    if label == "spark":
        from reelflow.features._spark import stop_local_session

        stop_local_session()


def _tree_usage(proc: psutil.Process) -> tuple[int, float]:
    """Resident memory (bytes) of ``proc`` and all its descendants (Spark's JVM is one), and
    the CPU seconds they used so far (with those of descendants already gone)."""
    try:
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        procs = [proc]
    rss, cpu = 0, 0.0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            rss += p.memory_info().rss
            t = p.cpu_times()
            cpu += t.user + t.system + t.children_user + t.children_system
    return rss, cpu


def _kill_tree(proc: psutil.Process) -> None:
    """Stop the child this run started and its descendants, each by its id."""
    try:
        procs = [*proc.children(recursive=True), proc]
    except psutil.Error:
        procs = [proc]
    for p in procs:
        with contextlib.suppress(psutil.Error):
            p.kill()


def run_child(spec: dict[str, Any], workdir: str, args: argparse.Namespace) -> dict[str, Any]:
    """Run one child, sampling its process tree's RSS every ``--sample`` seconds and the load
    average every 5 s; stop it past the wall-clock cap, the memory cap, or when the machine runs
    short of memory. Returns its progress marks, the samples and how it ended."""
    tag = f"{spec['role']}-{spec.get('engine', '')}-{spec['data']}"
    spec = {**spec, "progress": os.path.join(workdir, f"{tag}.progress")}
    spec_path = os.path.join(workdir, f"{tag}.json")
    with open(spec_path, "w", encoding="utf-8") as handle:
        json.dump(spec, handle)
    log_path = os.path.join(workdir, f"{tag}.log")
    cap_s, cap_bytes = args.cap_minutes * 60, args.memory_cap_gb * GB
    samples: list[tuple[float, int, float]] = []
    loads: list[float] = [os.getloadavg()[0]]
    stopped: tuple[str, str] | None = None
    with open(log_path, "w", encoding="utf-8") as log:
        child = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--child", spec_path],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        proc = psutil.Process(child.pid)
        began = next_load = time.monotonic()
        while child.poll() is None:
            now = time.monotonic()
            rss, cpu = _tree_usage(proc)
            samples.append((now, rss, cpu))
            if now >= next_load:
                loads.append(os.getloadavg()[0])
                next_load = now + 5
            if now - began > cap_s:
                stopped = ("timeout", f"over the {args.cap_minutes:g} min cap")
            elif rss > cap_bytes:
                stopped = ("memory cap", f"past the {args.memory_cap_gb:g} GB cap")
            elif psutil.virtual_memory().available < args.min_free_gb * GB:
                stopped = ("out of memory", f"machine under {args.min_free_gb:g} GB free")
            if stopped:
                _kill_tree(proc)
                child.wait()
                break
            time.sleep(args.sample)
        ended = time.monotonic()
    loads.append(os.getloadavg()[0])
    marks = []
    if os.path.exists(spec["progress"]):
        with open(spec["progress"], encoding="utf-8") as handle:
            marks = [json.loads(line) for line in handle if line.strip()]
    error = next((m for m in marks if m["event"] == "error"), None)
    if stopped:
        status, message = stopped
    elif error is not None:
        status = "out of memory" if error["kind"] == "MemoryError" else "error"
        message = f"{error['kind']}: {error['message']}"
    elif child.returncode != 0 or not any(m["event"] == "done" for m in marks):
        killed = child.returncode == -9
        status = "out of memory" if killed else "error"
        with open(log_path, encoding="utf-8", errors="replace") as handle:
            tail = handle.read()[-300:].strip().replace("\n", " | ")
        message = (
            f"exit {child.returncode}"
            + (" (SIGKILL: the kernel's OOM killer?)" if killed else "")
            + f": {tail}"
        )
    else:
        status, message = "ok", ""
    return {
        "status": status,
        "message": message,
        "marks": marks,
        "samples": samples,
        "wall_s": ended - began,
        "began": began,
        "loads": loads,
    }


def _peak(samples: list[tuple[float, int, float]], start: float, end: float) -> float | None:
    inside = [rss for t, rss, _ in samples if start <= t <= end]
    return max(inside) / GB if inside else None


def _at(samples: list[tuple[float, int, float]], when: float) -> float | None:
    before = [rss for t, rss, _ in samples if t <= when]
    return before[-1] / GB if before else None


def _cpu(samples: list[tuple[float, int, float]], start: float, end: float) -> float | None:
    """CPU seconds of the tree from the last sample before ``start`` to the first after
    ``end`` (one sampling period of slack each side)."""
    before = [cpu for t, _, cpu in samples if t <= start]
    after = [cpu for t, _, cpu in samples if t >= end]
    return after[0] - before[-1] if before and after else None


def _summary(run: dict[str, Any]) -> dict[str, Any]:
    """Times and memory of one child from its marks and samples: peak of the whole tree, RSS
    with the inputs loaded, just before the timed calls, and the peak during them."""
    marks, samples = run["marks"], run["samples"]
    first = {}
    for m in marks:
        first.setdefault(m["event"], m)
    end = samples[-1][0] if samples else run["began"]
    out: dict[str, Any] = {
        "status": run["status"],
        "message": run["message"],
        "wall_s": run["wall_s"],
        "peak_gb": _peak(samples, run["began"], end),
        "load": {
            "start": run["loads"][0],
            "end": run["loads"][-1],
            "mean": statistics.fmean(run["loads"]),
            "max": max(run["loads"]),
        },
    }
    for event in ("generated", "arrow", "written", "session", "warmed"):
        if event in first:
            out[f"{event}_s"] = first[event]["seconds"]
    if "session" in first:
        out["spark"] = {k: first["session"][k] for k in ("version", "master", "partitions")}
    if "arrow" in first:
        out["events_gb"] = first["arrow"]["nbytes"] / GB
        out["generate_peak_gb"] = _peak(samples, run["began"], first["generated"]["t"])
    if "loaded" in first:
        out["inputs_gb"] = _at(samples, first["loaded"]["t"])
    calls = [m for m in marks if m["event"] == "call"]
    starts = [m["t"] for m in marks if m["event"] == "call_start"]
    times = [m["seconds"] for m in calls]
    out["times"] = times
    cpu = [_cpu(samples, a, b["t"]) for a, b in zip(starts, calls, strict=False)]
    out["cpu_s"] = [c for c in cpu if c is not None]
    if times:
        out["median_s"] = statistics.median(times)
    if out["cpu_s"]:
        out["median_cpu_s"] = statistics.median(out["cpu_s"])
    if "call_start" in first:
        out["before_compute_gb"] = _at(samples, first["call_start"]["t"])
        out["compute_peak_gb"] = _peak(samples, first["call_start"]["t"], end)
    return out


def _fit(points: list[tuple[int, float]]) -> dict[str, Any] | None:
    """y ~ a * n^b by least squares on log-log, the slope of each step between measured sizes,
    and 1B events extrapolated both ways (the fit over all points; the last step's slope)."""
    if len(points) < 2:
        return None
    n, y = np.log10([p[0] for p in points]), np.log10([p[1] for p in points])
    b, log_a = np.polyfit(n, y, 1)
    steps = [float((y[i + 1] - y[i]) / (n[i + 1] - n[i])) for i in range(len(n) - 1)]
    return {
        "exponent": float(b),
        "step_exponents": steps,
        "at_1b_fit": float(10 ** (log_a + b * 9)),
        "at_1b_last_step": float(10 ** (y[-1] + steps[-1] * (9 - n[-1]))),
    }


def _cell(value: float | None, fmt: str = "{:.2f}") -> str:
    return "" if value is None else fmt.format(value)


def run_scaling(args: argparse.Namespace, engines: list[str]) -> int:
    """Every data set's inputs built once in a child, then every engine timed on them, each in
    a child of its own; tables, cost curve, fits and plot at the end."""
    import duckdb

    datasets = args.datasets.split(",")
    repeats = [int(r) for r in str(args.repeats).split(",")]
    repeats += [repeats[-1]] * (len(datasets) - len(repeats))
    env = {
        k: v
        for k, v in sorted(os.environ.items())
        if k.startswith(("OPENBLAS", "OMP_", "MKL_", "JAVA_HOME"))
    }
    settings = {
        "spine": args.spine,
        "repeats": dict(zip(datasets, repeats, strict=True)),
        "engines": engines,
        "cap_minutes": args.cap_minutes,
        "memory_cap_gb": args.memory_cap_gb,
        "spark_memory": args.spark_memory,
        "duckdb": duckdb.__version__,
        "pandas": pd.__version__,
        "pyarrow": pa.__version__,
        "python": platform.python_version(),
        "cores": os.cpu_count(),
        "ram_gb": psutil.virtual_memory().total / GB,
        "env": env,
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "load_start": os.getloadavg(),
    }
    print(
        f"# features_speed (cost curve): {len(builtin_features())} features, spine "
        f"{args.spine:,}, repeats {settings['repeats']}, engines {', '.join(engines)}; "
        f"duckdb {duckdb.__version__}, pandas {pd.__version__}, pyarrow {pa.__version__}, "
        f"Python {platform.python_version()}, {os.cpu_count()} cores, "
        f"{settings['ram_gb']:.1f} GB; env {env}; load average "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}",
        flush=True,
    )
    workdir = tempfile.mkdtemp(prefix="features-scaling-", dir=args.workdir)
    inputs: list[dict[str, Any]] = []
    runs: list[dict[str, Any]] = []
    checks: list[dict[str, Any]] = []
    failed: dict[str, str] = {}
    try:
        for data, reps in zip(datasets, repeats, strict=True):
            folder = os.path.join(workdir, data)
            os.makedirs(folder)
            spec = {"role": "inputs", "data": data, "folder": folder, "spine": args.spine}
            built = {
                "data": data,
                "events": DATASETS[data][2],
                **_summary(run_child(spec, workdir, args)),
            }
            inputs.append(built)
            print(
                f"  {data} inputs: {built['status']}, generated in "
                f"{_cell(built.get('generated_s'))} s, to Arrow "
                f"{_cell(built.get('arrow_s'))} s, peak {_cell(built['peak_gb'])} GB "
                f"{built['message']}",
                flush=True,
            )
            if built["status"] != "ok":
                continue
            results: dict[str, str] = {}
            for label in engines:
                row: dict[str, Any] = {
                    "engine": label,
                    "data": data,
                    "events": DATASETS[data][2],
                    "repeats": reps,
                }
                if label in failed:
                    row.update(status="skipped", message=f"after {failed[label]}")
                    runs.append(row)
                    print(f"  {data} {label}: skipped ({row['message']})", flush=True)
                    continue
                result = os.path.join(folder, f"{label}.parquet")
                spec = {
                    "role": "engine",
                    "engine": label,
                    "data": data,
                    "folder": folder,
                    "repeats": reps,
                    "result": result,
                    "spark_memory": args.spark_memory,
                }
                row.update(_summary(run_child(spec, workdir, args)))
                runs.append(row)
                if row["status"] == "ok":
                    results[label] = result
                elif row["status"] in ("timeout", "memory cap", "out of memory"):
                    failed[label] = f"{row['status']} at {data}"
                print(
                    f"  {data} {label}: {row['status']} {row['message']} times "
                    f"{[round(t, 2) for t in row['times']]}, peak "
                    f"{_cell(row['peak_gb'])} GB (inputs {_cell(row.get('inputs_gb'))}, "
                    f"compute {_cell(row.get('compute_peak_gb'))}), warm-up "
                    f"{_cell(row.get('warmed_s'))} s, session {_cell(row.get('session_s'))} "
                    f"s, load {row['load']['mean']:.1f}",
                    flush=True,
                )
            checks += _check(data, results)
            for name in ("events", "spine", "items"):  # the next size needs the disk
                os.remove(os.path.join(folder, f"{name}.parquet"))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    settings["load_end"] = os.getloadavg()
    fits = _report(inputs, runs, checks, engines)
    if args.plot:
        plot(runs, engines, fits, args.plot)
        print(f"\nPlot: {args.plot}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(
                {
                    "settings": settings,
                    "inputs": inputs,
                    "runs": runs,
                    "checks": checks,
                    "fits": fits,
                },
                handle,
                indent=2,
            )
    return 0 if all(c["same"] for c in checks) else 1


def _check(data: str, results: dict[str, str]) -> list[dict[str, Any]]:
    """Every engine's values against DuckDB's (the first DuckDB result) on this data set."""
    import pyarrow.parquet as pq

    duck_label = next((k for k in results if k.startswith("duckdb_")), None)
    if duck_label is None:
        return []
    duck = pq.read_table(results[duck_label])
    checks = []
    for label, path in results.items():
        if label == duck_label:
            continue
        agree = (
            same(duck, pd.read_parquet(path))
            if label == "pandas"
            else (same_tables(duck, pq.read_table(path)))
        )
        checks.append({"data": data, "engine": label, "against": duck_label, "same": agree})
        print(f"  {data}: {label}'s values are {duck_label}'s: {agree}", flush=True)
    return checks


def _report(
    inputs: list[dict[str, Any]],
    runs: list[dict[str, Any]],
    checks: list[dict[str, Any]],
    engines: list[str],
) -> dict[str, Any]:
    """The markdown tables: inputs, every run, the cost curve with its fits."""
    print("\n| data | events | generate (s) | to Arrow (s) | Arrow table (GB) | peak RSS (GB) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for b in inputs:
        print(
            f"| {b['data']} | {b['events']:,} | {_cell(b.get('generated_s'))} | "
            f"{_cell(b.get('arrow_s'))} | {_cell(b.get('events_gb'))} | "
            f"{_cell(b['peak_gb'])} |"
        )
    print(
        "\n| engine | data | result | median (s) | times (s) | CPU s (median) | "
        "RSS, inputs loaded (GB) | "
        "RSS before timed calls (GB) | peak RSS, timed calls (GB) | peak RSS, child (GB) | "
        "warm-up (s) | load avg. (mean, max) |"
    )
    print("| --- | --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for r in runs:
        result = r["status"] if not r.get("message") else f"{r['status']}: {r['message']}"
        agree = [c["same"] for c in checks if c["data"] == r["data"] and c["engine"] == r["engine"]]
        if agree:
            result += ", same values" if agree[0] else ", VALUES DIFFER"
        load = r.get("load")
        print(
            f"| {engine_name(r['engine'])} | {r['data']} | {result} | "
            f"{_cell(r.get('median_s'))} | {', '.join(f'{t:.1f}' for t in r.get('times', []))} "
            f"| {_cell(r.get('median_cpu_s'), '{:.1f}')} | "
            f"{_cell(r.get('inputs_gb'))} | {_cell(r.get('before_compute_gb'))} | "
            f"{_cell(r.get('compute_peak_gb'))} | {_cell(r.get('peak_gb'))} | "
            f"{_cell(r.get('warmed_s'), '{:.1f}')} | "
            f"{'' if load is None else '{:.1f}, {:.1f}'.format(load['mean'], load['max'])} |"
        )
    spark = next((r for r in runs if r.get("session_s") is not None), None)
    if spark is not None:
        print(
            "\nSpark session start-up (not in the times): "
            + ", ".join(f"{r['data']} {r['session_s']:.1f} s" for r in runs if "session_s" in r)
        )
    fits: dict[str, Any] = {}
    sizes = list(dict.fromkeys(r["data"] for r in runs))
    print(
        "\n| engine | measure | " + " | ".join(sizes) + " | growth per 10x, each step | "
        "exponent b, fit (steps) | 1B events, fit | 1B events, last step's b |"
    )
    print("| --- | --- |" + " ---: |" * (len(sizes) + 4))
    measures = (
        ("time", "median_s", "wall s"),
        ("cpu", "median_cpu_s", "CPU s"),
        ("memory", "compute_peak_gb", "peak GB"),
    )
    for label in engines:
        mine = {r["data"]: r for r in runs if r["engine"] == label}
        ok = [mine[s] for s in sizes if s in mine and mine[s]["status"] == "ok"]
        fits[label] = {}
        for key, field, unit in measures:
            points = [(r["events"], r[field]) for r in ok if r.get(field) is not None]
            fit = fits[label][key] = _fit(points)
            cells = [
                _cell(mine[s].get(field))
                if s in mine and mine[s]["status"] == "ok"
                else (mine[s]["status"] if s in mine else "")
                for s in sizes
            ]
            if fit:
                scale, suffix = (1.0, " GB") if key == "memory" else (3600.0, " h")
                steps = ", ".join(f"{x:.2f}" for x in fit["step_exponents"])
                cells += [
                    ", ".join(f"{10**x:.1f}x" for x in fit["step_exponents"]),
                    f"{fit['exponent']:.2f} ({steps})",
                    f"{fit['at_1b_fit'] / scale:.2f}{suffix}",
                    f"{fit['at_1b_last_step'] / scale:.2f}{suffix}",
                ]
            else:
                cells += ["", "", "", ""]
            print(f"| {engine_name(label)} | {unit} | " + " | ".join(cells) + " |")
    return fits


def plot(runs: list[dict[str, Any]], engines: list[str], fits: dict[str, Any], path: str) -> None:
    """Log-log: median time and peak RSS against events per engine; failures marked x at the
    figure reached before them; dotted: the fit extended to 1B events (an extrapolation)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.6))
    for index, label in enumerate(engines):
        color = f"C{index}"
        mine = [r for r in runs if r["engine"] == label]
        ok = [r for r in mine if r["status"] == "ok"]
        bad = [r for r in mine if r["status"] not in ("ok", "skipped")]
        name = engine_name(label)
        if ok:
            n = [r["events"] for r in ok]
            left.plot(n, [r["median_s"] for r in ok], "o-", color=color, label=name)
            right.plot(n, [r["compute_peak_gb"] for r in ok], "o-", color=color, label=name)
        for r in bad:
            left.plot(r["events"], r["wall_s"], "x", color=color, markersize=10)
            left.annotate(r["status"], (r["events"], r["wall_s"]), fontsize=8, color=color)
            if r.get("peak_gb") is not None:
                right.plot(r["events"], r["peak_gb"], "x", color=color, markersize=10)
                right.annotate(r["status"], (r["events"], r["peak_gb"]), fontsize=8, color=color)
        for axis, key, field in ((left, "time", "median_s"), (right, "memory", "compute_peak_gb")):
            fit = fits.get(label, {}).get(key)
            if fit and ok:
                last = ok[-1]
                xs = np.array([last["events"], 1e9])
                ys = last[field] * (xs / last["events"]) ** fit["step_exponents"][-1]
                axis.plot(xs, ys, ":", color=color)
    left.set(
        xscale="log",
        yscale="log",
        xlabel="events",
        ylabel="seconds (median)",
        title="Feature step: time (dotted: extrapolated)",
    )
    right.set(
        xscale="log",
        yscale="log",
        xlabel="events",
        ylabel="peak RSS of process tree (GB)",
        title="Feature step: peak memory (dotted: extrapolated)",
    )
    right.axhline(psutil.virtual_memory().total / GB, color="grey", lw=0.8, ls="--")
    right.annotate(
        "this machine's RAM",
        (1.2e6, psutil.virtual_memory().total / GB * 1.1),
        fontsize=8,
        color="grey",
    )
    for axis in (left, right):
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=8)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="synth-1m,synth-10m")
    parser.add_argument("--spine", type=int, default=100_000)
    parser.add_argument(
        "--repeats", default="3", help="repeats; with --memory one per data set, e.g. 3,3,1"
    )
    parser.add_argument(
        "--threads", help="DuckDB thread counts to time (default 2,1; with --memory 2)"
    )
    parser.add_argument(
        "--engines",
        default="duckdb",
        help="of pandas, duckdb, spark (pandas runs unless --skip-pandas)",
    )
    parser.add_argument("--skip-pandas", action="store_true")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument(
        "--memory",
        action="store_true",
        help="each (engine, data set) in a child process of its own, peak RSS "
        "of its process tree measured; the cost curve and its fits",
    )
    parser.add_argument("--plot", help="with --memory: write the cost curve as a PNG here")
    parser.add_argument(
        "--cap-minutes",
        type=float,
        default=45.0,
        help="with --memory: stop a child past this wall-clock time",
    )
    parser.add_argument(
        "--memory-cap-gb",
        type=float,
        default=20.0,
        help="with --memory: stop a child whose tree's RSS passes this",
    )
    parser.add_argument(
        "--min-free-gb",
        type=float,
        default=1.0,
        help="with --memory: stop a child when the machine has less available",
    )
    parser.add_argument("--sample", type=float, default=0.1, help="RSS sampling period (s)")
    parser.add_argument("--spark-memory", default="2g", help="Spark's driver memory (local)")
    parser.add_argument("--workdir", help="where inputs are staged (default: the temp folder)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child_main(args.child)
    requested = args.engines.split(",")
    if args.memory:
        threads = (args.threads or "2").split(",")
        engines = [] if args.skip_pandas else ["pandas"]
        engines += [f"duckdb_{t}t" for t in threads] if "duckdb" in requested else []
        engines += ["spark"] if "spark" in requested else []
        return run_scaling(args, engines)
    args.threads = args.threads or "2,1"
    args.repeats = int(args.repeats)
    args.engines = ",".join(e for e in requested if e != "pandas")
    import duckdb

    features = builtin_features()
    print(f"# features_speed: {len(features)} features, spine {args.spine:,} rows, "
          f"repeats {args.repeats}; duckdb {duckdb.__version__}, pandas {pd.__version__}, "
          f"pyarrow {pa.__version__}, Python {platform.python_version()}, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    engines = args.engines.split(",")
    if "spark" in engines:
        from reelflow.features._spark import local_session

        start = time.perf_counter()
        session = local_session()
        started = time.perf_counter() - start
        partitions = session.conf.get("spark.sql.shuffle.partitions")
        print(
            f"# Spark {session.version}, {session.sparkContext.master}, {partitions} shuffle "
            f"partitions, session started in {started:.1f} s (not timed below)"
        )
    results = [run_dataset(name, args) for name in args.datasets.split(",")]

    thread_counts = [int(t) for t in args.threads.split(",")] if "duckdb" in engines else []
    header = ["data", "events", "spine", *(f"DuckDB, {t} thr. (s)" for t in thread_counts)]
    if "spark" in engines:
        header += ["Spark local[2] (s)"]
        if thread_counts:
            header += [f"Spark / DuckDB {thread_counts[0]} thr.", "Spark same values"]
    if not args.skip_pandas and thread_counts:
        header += ["pandas (s)", "pandas / DuckDB 2 thr.", "same values"]
    print("\n| " + " | ".join(header) + " |")
    print("| " + " | ".join(["---"] + ["---:"] * (len(header) - 1)) + " |")
    for row in results:
        cells = [row["data"], f"{row['events']:,}", f"{row['spine']:,}"]
        medians = {t: statistics.median(row[f"duckdb_{t}t"]) for t in thread_counts}
        cells += [f"{medians[t]:.2f}" for t in thread_counts]
        if "spark" in row:
            spark_median = statistics.median(row["spark"])
            cells += [f"{spark_median:.2f}"]
            if thread_counts:
                cells += [f"{spark_median / medians[thread_counts[0]]:.1f}x",
                          "yes" if row["spark_same"] else "NO"]  # fmt: skip
        if "pandas" in row:
            pandas_median = statistics.median(row["pandas"])
            base = medians.get(2, next(iter(medians.values())))
            cells += [f"{pandas_median:.2f}", f"{pandas_median / base:.1f}x",
                      "yes" if row["same"] else "NO"]  # fmt: skip
        print("| " + " | ".join(cells) + " |")
    print("\nInteractions -> Arrow (events_table): " + ", ".join(
        f"{r['data']} {r['to_arrow_s']:.2f} s" for r in results))  # fmt: skip
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=2)
    agree = all(r.get("same", True) and r.get("spark_same", True) for r in results)
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
