"""Medians, the markdown tables and the raw JSON record of one harness run."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

Metrics = dict[str, float]


@dataclass
class Results:
    """Every measurement of the run: ``runs[bench][tool]`` is one metrics dict per repeat."""

    runs: dict[str, dict[str, list[Metrics]]] = field(default_factory=dict)
    errors: dict[str, dict[str, str]] = field(default_factory=dict)

    def add(self, bench: str, tool: str, metrics: Metrics) -> None:
        """Record one successful measurement."""
        self.runs.setdefault(bench, {}).setdefault(tool, []).append(metrics)

    def fail(self, bench: str, tool: str, message: str) -> None:
        """Record why ``tool`` could not be measured on ``bench``."""
        self.errors.setdefault(bench, {})[tool] = message

    def failed(self, bench: str, tool: str) -> bool:
        """Whether ``tool`` already failed ``bench`` (it is not retried)."""
        return tool in self.errors.get(bench, {})

    def median(self, bench: str, tool: str, key: str) -> float | None:
        """Median of ``key`` over the repeats of ``tool`` on ``bench``, None if never measured."""
        values = [m[key] for m in self.runs.get(bench, {}).get(tool, []) if key in m]
        return statistics.median(values) if values else None

    def medians(self) -> dict[str, dict[str, Metrics]]:
        """Every metric's median, shaped like ``runs``."""
        return {
            bench: {
                tool: {key: statistics.median(m[key] for m in runs) for key in runs[0]}
                for tool, runs in by_tool.items()
                if runs
            }
            for bench, by_tool in self.runs.items()
        }


# (benchmark, metric, label, unit) of the side-by-side table, in order.
ROWS = (
    ("linear", "wall_s", "1. linear, 10 steps: wall time", "s"),
    ("linear", "per_task_s", "1. linear: wall time / 10 tasks", "s"),
    ("foreach", "wall_s", "2. foreach 100 + join (103 tasks): wall time", "s"),
    ("foreach", "per_task_s", "2. foreach: wall time / 103 tasks", "s"),
    ("dataframe", "save_s", "3. DataFrame save (est.)", "s"),
    ("dataframe", "load_s", "3. DataFrame load (in step)", "s"),
    ("dataframe", "save_load_s", "3. DataFrame save + load", "s"),
    ("dataframe", "load_sum_s", "3. load + first sum (in step)", "s"),
    ("dataframe", "compute_s", "3. generate the DataFrame (in step)", "s"),
    ("dataframe", "wall_s", "3. DataFrame flow: wall time", "s"),
    ("dataframe", "peak_rss_mb", "3. peak RSS, largest process", "MB"),
    ("dataframe", "peak_ratio", "3. peak RSS / artifact size", "x"),
    ("dataframe", "peak_save_ratio", "3. peak RSS / artifact, save phase", "x"),
    ("dataframe", "peak_load_ratio", "3. peak RSS / artifact, load phase", "x"),
    (
        "dataframe",
        "peak_save_excess_ratio",
        "3. save-phase peak - RSS at step start, / artifact",
        "x",
    ),
    (
        "dataframe",
        "peak_load_excess_ratio",
        "3. load-phase peak - RSS at step start, / artifact",
        "x",
    ),
    ("dataframe", "peak_tree_mb", "3. peak RSS, whole process tree", "MB"),
    ("resume", "wall_s", "4. resume after step4 failed: wall time", "s"),
    ("import", "import_ms", "import: `python -c 'import X'` - `python -c pass`", "ms"),
    ("import", "importtime_ms", "import: `-X importtime` cumulative", "ms"),
)
PLAIN_ROWS = (
    ("write_s", "write the DataFrame's bytes + fsync"),
    ("write_nofsync_s", "write the same bytes, no fsync"),
    ("read_s", "read back (np.fromfile)"),
    ("write_read_s", "write (fsync) + read: the floor"),
    ("warm_write_read_s", "context: write + read, rounds 2-3 of the same process"),
    ("mmap_sum_s", "context: np.memmap + first sum (zero-copy read)"),
)


def fmt(value: float | None, unit: str) -> str:
    """A figure for the table: ``n/a`` when missing, precision by unit."""
    if value is None:
        return "n/a"
    if unit == "s":
        return f"{value:.3f} s" if value < 10 else f"{value:.1f} s"
    if unit == "x":
        return f"{value:.2f}x"
    return f"{value:.0f} {unit}"


def ratio(num: float | None, den: float | None) -> str:
    """``num / den`` as ``12.3x``, or ``n/a``."""
    if num is None or den is None or den <= 0:
        return "n/a"
    return f"{num / den:.1f}x"


def side_by_side(res: Results) -> str:
    """The main table: Metaflow, reelflow and Metaflow / reelflow for every row."""
    lines = [
        "| benchmark / figure | Metaflow | reelflow | Metaflow / reelflow |",
        "| --- | ---: | ---: | ---: |",
    ]
    for bench, key, label, unit in ROWS:
        mf, rf = res.median(bench, "metaflow", key), res.median(bench, "reelflow", key)
        if mf is None and rf is None:
            continue
        lines.append(f"| {label} | {fmt(mf, unit)} | {fmt(rf, unit)} | {ratio(mf, rf)} |")
    mf, rf = marginal_task_s(res, "metaflow"), marginal_task_s(res, "reelflow")
    if mf is not None or rf is not None:
        label = "1+2. marginal cost per task: (foreach - linear wall) / 93"
        after = max(i for i, line in enumerate(lines) if line.startswith(("| 1.", "| 2.")))
        row = f"| {label} | {fmt(mf, 's')} | {fmt(rf, 's')} | {ratio(mf, rf)} |"
        lines.insert(after + 1, row)
        mf0, rf0 = startup_s(res, "metaflow"), startup_s(res, "reelflow")
        label = "1+2. fixed start-up of a run: linear wall - 10 x marginal cost"
        row = f"| {label} | {fmt(mf0, 's')} | {fmt(rf0, 's')} | {ratio(mf0, rf0)} |"
        lines.insert(after + 2, row)
    return "\n".join(lines)


def startup_s(res: Results, tool: str) -> float | None:
    """What a run costs before and after its tasks: the linear flow less ten marginal tasks."""
    linear, marginal = res.median("linear", tool, "wall_s"), marginal_task_s(res, tool)
    return None if linear is None or marginal is None else linear - 10 * marginal


def marginal_task_s(res: Results, tool: str) -> float | None:
    """Wall time each extra task adds, without the fixed start-up: medians of flows 2 and 1."""
    foreach, linear = res.median("foreach", tool, "wall_s"), res.median("linear", tool, "wall_s")
    if foreach is None or linear is None:
        return None
    return (foreach - linear) / (103 - 10)


def plain_table(res: Results) -> str:
    """The plain-file floor, and each system's save + load as a multiple of it ("" if not run)."""
    floor = res.median("dataframe", "plain", "write_read_s")
    if floor is None:
        return ""
    lines = ["| plain file I/O (same bytes) | median |", "| --- | ---: |"]
    for key, label in PLAIN_ROWS:
        lines.append(f"| {label} | {fmt(res.median('dataframe', 'plain', key), 's')} |")
    for tool in ("metaflow", "reelflow"):
        mine = res.median("dataframe", tool, "save_load_s")
        lines.append(f"| {tool} save + load / plain write + read | {ratio(mine, floor)} |")
    return "\n".join(lines)


Check = Callable[[Results], float | None]
TARGETS: tuple[tuple[str, str, Check, Callable[[float], bool], str], ...] = (
    (
        "per-task overhead (marginal cost of a task): Metaflow / reelflow",
        ">= 25x",
        lambda r: _div(marginal_task_s(r, "metaflow"), marginal_task_s(r, "reelflow")),
        lambda v: v >= 25,
        "x",
    ),
    (
        "wall / tasks, linear (start-up included): Metaflow / reelflow",
        ">= 25x",
        lambda r: _div(
            r.median("linear", "metaflow", "per_task_s"),
            r.median("linear", "reelflow", "per_task_s"),
        ),
        lambda v: v >= 25,
        "x",
    ),
    (
        "wall / tasks, foreach (start-up included): Metaflow / reelflow",
        ">= 25x",
        lambda r: _div(
            r.median("foreach", "metaflow", "per_task_s"),
            r.median("foreach", "reelflow", "per_task_s"),
        ),
        lambda v: v >= 25,
        "x",
    ),
    (
        "DataFrame save + load: Metaflow / reelflow",
        ">= 10x",
        lambda r: _div(
            r.median("dataframe", "metaflow", "save_load_s"),
            r.median("dataframe", "reelflow", "save_load_s"),
        ),
        lambda v: v >= 10,
        "x",
    ),
    (
        "DataFrame save + load: reelflow / plain file I/O",
        "<= 2x",
        lambda r: _div(
            r.median("dataframe", "reelflow", "save_load_s"),
            r.median("dataframe", "plain", "write_read_s"),
        ),
        lambda v: v <= 2,
        "x",
    ),
    (
        "peak RSS / artifact, reelflow",
        "< 1.5x",
        lambda r: r.median("dataframe", "reelflow", "peak_ratio"),
        lambda v: v < 1.5,
        "x",
    ),
    (
        "`import reelflow`",
        "< 150 ms",
        lambda r: r.median("import", "reelflow", "import_ms"),
        lambda v: v < 150,
        "ms",
    ),
)


def _div(num: float | None, den: float | None) -> float | None:
    return None if num is None or den is None or den <= 0 else num / den


def targets_table(res: Results) -> str:
    """Each target of the issue, the measured value and PASS / FAIL (n/a if not measured)."""
    lines = ["| target | wanted | measured | status |", "| --- | --- | ---: | --- |"]
    for label, wanted, measure, passes, unit in TARGETS:
        value = measure(res)
        status = "n/a" if value is None else ("PASS" if passes(value) else "FAIL")
        shown = "n/a" if value is None else (f"{value:.0f} ms" if unit == "ms" else f"{value:.1f}x")
        lines.append(f"| {label} | {wanted} | {shown} | {status} |")
    return "\n".join(lines)


def gist(message: str) -> str:
    """First line of an error, and its last line when that differs (the exception, for a log)."""
    lines = [line.strip() for line in message.splitlines() if line.strip()] or [""]
    return lines[0] if len(lines) == 1 else f"{lines[0]} ... {lines[-1]}"


def errors_text(res: Results) -> str:
    """One paragraph per failed measurement, empty if none failed."""
    parts = [
        f"- {bench} / {tool}: {gist(msg)}"
        for bench, by_tool in res.errors.items()
        for tool, msg in by_tool.items()
    ]
    return "Errors (full text in the JSON):\n" + "\n".join(parts) if parts else ""


def write_json(res: Results, meta: dict[str, object], directory: Path) -> Path:
    """Write raw runs, medians, errors and settings to ``directory/flows-<time>.json``."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"flows-{time.strftime('%Y%m%d-%H%M%S')}.json"
    record = {"meta": meta, "medians": res.medians(), "runs": res.runs, "errors": res.errors}
    path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path
