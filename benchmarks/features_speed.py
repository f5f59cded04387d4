"""The built-in feature set, point-in-time: reelflow.features on DuckDB against plain pandas.

Synthetic logs (seed 0: synth-1m is 1M events of 50,000 users x 10,000 items, synth-10m is 10M
events of 100,000 users x 20,000 items, 3 regions, 180 days) and a spine of ``--spine`` training
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

    .venv/bin/python benchmarks/features_speed.py [--datasets synth-1m,synth-10m]
        [--spine 100000] [--repeats 3] [--threads 2,1] [--engines duckdb,spark] [--skip-pandas]
        [--json PATH]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from reelflow.data import generate_interactions
from reelflow.features import builtin_features, compute, events_table
from reelflow.features._engine import DuckDBEngine

DATASETS = {
    "synth-100k": (10_000, 2_000, 100_000),
    "synth-1m": (50_000, 10_000, 1_000_000),
    "synth-10m": (100_000, 20_000, 10_000_000),
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
    rng = np.random.default_rng(0)
    rows = np.sort(rng.choice(np.arange(n // 2, n), min(spine_rows, n - n // 2), replace=False))
    picked = events.take(pa.array(rows)).select(["user_id", "item_id", "region", "timestamp"])
    spine = picked.rename_columns(["user_id", "item_id", "region", "as_of"])
    items = pa.Table.from_pandas(log.items[["item_id", "genre"]], preserve_index=False)
    return log, events, spine, items, converted


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="synth-1m,synth-10m")
    parser.add_argument("--spine", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", default="2,1", help="DuckDB thread counts to time")
    parser.add_argument("--engines", default="duckdb", help="duckdb, spark, or both")
    parser.add_argument("--skip-pandas", action="store_true")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)
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
