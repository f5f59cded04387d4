"""Data drift on 1M rows x 50 mixed columns: reelflow's ``drift`` against Evidently, one run.

Builds a seeded reference frame and a drifted current frame (21 float and 8 integer columns,
10 string columns, 6 pandas categoricals, 4 booleans, and a ``user_id`` string column with as
many distinct values as rows; 2-5% nulls in 9 columns; 19 of the 50 columns drift), then times,
side by side in one run:

- reelflow ``drift(reference, current)`` on the pandas frames and on the same data as Arrow
  tables (median of ``--repeat`` calls after one warm-up);
- Evidently's ``Report([DataDriftPreset()])`` in its own virtualenv (``benchmarks/.venv-evidently``:
  ``evidently==0.7.23`` with pandas 2.x, created on first use), in a subprocess that reads the
  same frames from Parquet files. Only Evidently's work is timed (``Dataset.from_pandas`` with
  the column types reelflow inferred, then ``Report.run``), not the Parquet read.

Evidently's per-category loop is quadratic in the number of distinct values (it grows a pandas
Series one missing key at a time), so the ``user_id`` column alone takes it ~30 s at 10,000
rows and would take days at 1M: the cases are ``ROWS:all`` (50 columns) or ``ROWS:no-id`` (the 49
others), ``:reelflow-only`` skipping Evidently.

    .venv/bin/python benchmarks/drift_speed.py [--cases ...] [--repeat 5] [--json out.json]
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
VENV = HERE / ".venv-evidently"
# Evidently 0.7.23 imports a helper pandas 3 removed, so its venv pins pandas below 3.
EVIDENTLY = ("evidently==0.7.23", "pandas<3", "pyarrow")

DEFAULT_CASES = (
    "10000:all,20000:all,10000:no-id,100000:no-id,1000000:no-id,1000000:all:reelflow-only"
)

EVIDENTLY_WORKER = r"""
import json, sys, time, warnings
warnings.filterwarnings("ignore")
import pandas as pd
import evidently
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset

folder, numeric, categorical, repeat = sys.argv[1], *json.loads(sys.argv[2]), int(sys.argv[3])
reference = pd.read_parquet(f"{folder}/reference.parquet")
current = pd.read_parquet(f"{folder}/current.parquet")
definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
times, snapshot = [], None
for _ in range(repeat):
    start = time.perf_counter()
    ref = Dataset.from_pandas(reference, data_definition=definition)
    cur = Dataset.from_pandas(current, data_definition=definition)
    snapshot = Report([DataDriftPreset()]).run(current_data=cur, reference_data=ref)
    times.append(time.perf_counter() - start)
drifted, values = None, {}
for metric in snapshot.dict()["metrics"]:
    if metric["metric_name"].startswith("DriftedColumnsCount"):
        drifted = metric["value"]["count"]
    elif metric["metric_name"].startswith("ValueDrift"):
        values[metric["config"]["column"]] = [metric["config"]["method"], metric["value"]]
print(json.dumps({"times": times, "drifted": drifted, "values": values,
                  "version": evidently.__version__, "pandas": pd.__version__}))
"""


def categories(rng: np.random.Generator, size: int, labels: int, skew: float) -> np.ndarray:
    """Codes in [0, labels) with Zipf-like shares (``skew`` = exponent)."""
    weights = 1.0 / np.arange(1, labels + 1) ** skew
    return rng.choice(labels, size=size, p=weights / weights.sum())


def with_nulls(array: pa.Array, rng: np.random.Generator, share: float) -> pa.Array:
    """``array`` with about ``share`` of its values set to null."""
    if share == 0:
        return array
    mask = pa.array(rng.random(len(array)) < share)
    return pc.if_else(mask, pa.nulls(len(array), array.type), array)


def make_table(rows: int, drifted: bool, seed: int) -> pa.Table:
    """One frame of the benchmark as Arrow; ``drifted`` shifts 19 of its 50 columns."""
    rng = np.random.default_rng(seed)
    d = 1.0 if drifted else 0.0
    columns: dict[str, pa.Array] = {}
    for i in range(21):  # floats: scores, durations, prices; every third one drifts
        shift = d * (0.3 if i % 3 == 0 else 0.0)
        kind = i % 4
        if kind == 0:
            values = rng.normal(shift, 1.0, rows)
        elif kind == 1:
            values = rng.lognormal(0.0 + shift, 1.0, rows)
        elif kind == 2:
            values = rng.exponential(1.0 + shift, rows)
        else:
            values = rng.beta(2.0 + 4 * shift, 5.0, rows)
        columns[f"f{i:02d}"] = with_nulls(pa.array(values), rng, 0.02 if i % 5 == 0 else 0.0)
    for i in range(8):  # integers: 4 numeric (ages, counts, ids), 4 with few values
        shift = d * (i % 2)
        if i < 4:
            values = rng.poisson(20 + 5 * shift, rows) * (10**i)
        else:
            values = categories(rng, rows, 3 + i, 1.0 + 0.5 * shift) + 1
        columns[f"i{i}"] = pa.array(values)
    for i in range(10):  # strings: country, device, genre, city, ...
        labels = [5, 12, 20, 30, 50, 100, 300, 1000, 40, 8][i]
        codes = categories(rng, rows, labels, 1.1 + (0.4 if d and i % 2 == 0 else 0.0))
        text = pa.array([f"s{i}_{k}" for k in range(labels)]).take(pa.array(codes))
        columns[f"s{i}"] = with_nulls(text, rng, 0.05 if i % 3 == 0 else 0.0)
    for i in range(6):  # pandas categoricals (Arrow dictionaries)
        labels = [3, 4, 6, 8, 30, 4][i]
        codes = categories(rng, rows, labels, 1.0 + (0.6 if d and i % 3 == 0 else 0.0))
        dictionary = pa.array([f"c{i}_{k}" for k in range(labels)])
        columns[f"c{i}"] = pa.DictionaryArray.from_arrays(pa.array(codes, pa.int32()), dictionary)
    for i in range(4):
        columns[f"b{i}"] = pa.array(rng.random(rows) < 0.3 + (0.1 * d if i == 0 else 0.0))
    users = rng.integers(0, 20 * rows, rows) if drifted else rng.permutation(rows)
    columns["user_id"] = pc.cast(pa.array(users), pa.string())
    return pa.table(columns)


def timed(call: Any, repeat: int) -> tuple[list[float], Any]:
    """Seconds of ``repeat`` calls after one warm-up call, and the last result."""
    result = call()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - start)
    return times, result


def ensure_venv() -> Path:
    """The Evidently virtualenv's python, created on first use."""
    python = VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *EVIDENTLY], check=True)
    return python


def run_evidently(
    reference: pa.Table, current: pa.Table, kinds: dict[str, str], repeat: int, timeout: float
) -> dict[str, Any]:
    """Evidently's DataDriftPreset on the same frames, in its own venv (Parquet hand-over)."""
    python = ensure_venv()
    numeric = [c for c, k in kinds.items() if k == "numeric"]
    categorical = [c for c, k in kinds.items() if k == "categorical"]
    with tempfile.TemporaryDirectory() as folder:
        pq.write_table(reference, f"{folder}/reference.parquet")
        pq.write_table(current, f"{folder}/current.parquet")
        args = [json.dumps([numeric, categorical]), str(repeat)]
        try:
            done = subprocess.run(
                [str(python), "-c", EVIDENTLY_WORKER, folder, *args],
                capture_output=True,
                text=True,
                check=False,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            return {"timeout": timeout}
    if done.returncode != 0:
        raise RuntimeError(f"Evidently failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def measure(case: Case, repeat: int, evidently_repeat: int, timeout: float) -> dict[str, Any]:
    """Both systems on one case: medians, drifted counts, and how far their statistics differ."""
    from reelflow.guards import drift

    reference, current = make_table(case.rows, False, 1), make_table(case.rows, True, 2)
    if not case.with_ids:
        reference, current = reference.drop_columns("user_id"), current.drop_columns("user_id")
    ref_pd, cur_pd = reference.to_pandas(), current.to_pandas()
    pandas_times, report = timed(lambda: drift(ref_pd, cur_pd), repeat)
    arrow_times, arrow_report = timed(lambda: drift(reference, current), repeat)
    ours, arrow = report.to_frame().set_index("column"), arrow_report.to_frame().set_index("column")
    result: dict[str, Any] = {
        "case": case.label,
        "rows": case.rows,
        "columns": reference.num_columns,
        "reelflow_pandas_s": statistics.median(pandas_times),
        "reelflow_arrow_s": statistics.median(arrow_times),
        "reelflow_pandas_all_s": pandas_times,
        "reelflow_arrow_all_s": arrow_times,
        "reelflow_drifted": len(report.drifted),
        "pandas_arrow_gap": float((ours["value"] - arrow["value"]).abs().max()),
        "methods": ours["method"].value_counts().to_dict(),
    }
    if not case.evidently:
        return result
    evidently = run_evidently(reference, current, ours["kind"].to_dict(), evidently_repeat, timeout)
    if "timeout" in evidently:
        return result | {"evidently_timeout_s": timeout}
    gaps = {c: abs(v - ours.at[c, "value"]) for c, (_, v) in evidently["values"].items()}
    return result | {
        "evidently_s": statistics.median(evidently["times"]),
        "evidently_all_s": evidently["times"],
        "evidently_drifted": evidently["drifted"],
        "largest_statistic_gap": max(gaps.items(), key=lambda item: item[1]),
        "evidently_version": evidently["version"],
        "evidently_pandas": evidently["pandas"],
    }


@dataclass(frozen=True)
class Case:
    """Rows, whether the ~1M-distinct user id column is in, whether Evidently runs."""

    rows: int
    with_ids: bool
    evidently: bool

    @property
    def label(self) -> str:
        return f"{self.rows:,} x {50 if self.with_ids else 49}"

    @classmethod
    def parse(cls, text: str) -> Case:
        """``ROWS:all`` or ``ROWS:no-id``, optionally ``:reelflow-only``."""
        rows, columns, *rest = text.split(":")
        return cls(int(rows), columns == "all", "reelflow-only" not in rest)


def machine() -> dict[str, Any]:
    """What the figures depend on."""
    import scipy

    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "pyarrow": pa.__version__,
        "scipy": scipy.__version__,
        "load_average": os.getloadavg(),
    }


def table(results: list[dict[str, Any]]) -> str:
    """The markdown table of medians."""
    lines = [
        "| rows x columns | reelflow, pandas (s) | reelflow, Arrow (s) | Evidently (s) "
        "| Evidently / reelflow (pandas) | drifted: reelflow / Evidently |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        ours = f"{r['reelflow_pandas_s']:.3f} | {r['reelflow_arrow_s']:.3f}"
        if "evidently_s" in r:
            theirs = f"{r['evidently_s']:.1f} | {r['evidently_s'] / r['reelflow_pandas_s']:.0f}x"
            drifted = f"{r['reelflow_drifted']} / {r['evidently_drifted']:.0f}"
        elif "evidently_timeout_s" in r:
            theirs, drifted = f"> {r['evidently_timeout_s']:.0f} (stopped) | -", "-"
        else:
            theirs, drifted = "not run | -", f"{r['reelflow_drifted']} / -"
        lines.append(f"| {r['case']} | {ours} | {theirs} | {drifted} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=DEFAULT_CASES, help="ROWS:all|no-id[:reelflow-only],...")
    parser.add_argument("--repeat", type=int, default=5, help="reelflow timed calls per case")
    parser.add_argument("--evidently-repeat", type=int, default=1, help="Evidently timed runs")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per Evidently case")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    args = parser.parse_args()
    results = []
    for case in [Case.parse(text) for text in args.cases.split(",")]:
        results.append(measure(case, args.repeat, args.evidently_repeat, args.timeout))
        print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    print(json.dumps(machine()))
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), "results": results}, indent=2))


if __name__ == "__main__":
    main()
