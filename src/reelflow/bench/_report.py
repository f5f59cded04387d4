"""What a benchmark shows: progress while it runs, then Markdown and self-contained HTML reports.

Progress is a Rich bar per model in a terminal and plain lines otherwise (on stderr, so the
results on stdout stay clean). The HTML report inlines its plots as base64 PNGs drawn with
matplotlib's Agg canvas; rich and matplotlib are imported only when used.
"""

from __future__ import annotations

import base64
import html
import io
import math
import sys
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol

import pandas as pd

from reelflow.bench._metrics_beyond import METRIC_KINDS

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from rich.progress import Progress as RichBar
    from rich.progress import TaskID

    from reelflow.bench._benchmark import BenchmarkResult

# --- progress ----------------------------------------------------------------------------------


class Progress(Protocol):
    """Receives a benchmark's events, one model after another."""

    def start_model(self, name: str, n_users: int) -> None: ...
    def fitted(self, name: str, seconds: float) -> None: ...
    def advance(self, name: str, n_users: int) -> None: ...
    def recommended(self, name: str, n_users: int, seconds: float) -> None: ...
    def stop(self) -> None: ...


class _Silent:
    def start_model(self, name: str, n_users: int) -> None: ...
    def fitted(self, name: str, seconds: float) -> None: ...
    def advance(self, name: str, n_users: int) -> None: ...
    def recommended(self, name: str, n_users: int, seconds: float) -> None: ...
    def stop(self) -> None: ...


class _Plain(_Silent):
    """A line when a model starts, is fitted and has ranked every user."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out

    def _print(self, text: str) -> None:
        self.out.write(f"bench {text}\n")
        self.out.flush()

    def start_model(self, name: str, n_users: int) -> None:
        self._print(f"{name}: fitting")

    def fitted(self, name: str, seconds: float) -> None:
        self._print(f"{name}: fitted in {seconds:.2f}s")

    def recommended(self, name: str, n_users: int, seconds: float) -> None:
        self._print(f"{name}: ranked {n_users:,} users in {seconds:.2f}s")


class _Bars(_Silent):
    """A Rich progress bar per model, advancing as batches of users are ranked."""

    def __init__(self, out: IO[str]) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
        from rich.progress import Progress as RichProgress

        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
        self.bar: RichBar = RichProgress(*columns, TimeElapsedColumn(), console=Console(file=out))
        self.tasks: dict[str, TaskID] = {}
        self.bar.start()

    def start_model(self, name: str, n_users: int) -> None:
        self.tasks[name] = self.bar.add_task(f"{name}: fitting", total=n_users)

    def fitted(self, name: str, seconds: float) -> None:
        self.bar.update(self.tasks[name], description=f"{name}: ranking (fit {seconds:.2f}s)")

    def advance(self, name: str, n_users: int) -> None:
        self.bar.advance(self.tasks[name], n_users)

    def recommended(self, name: str, n_users: int, seconds: float) -> None:
        self.bar.update(self.tasks[name], description=f"{name}: done")

    def stop(self) -> None:
        self.bar.stop()


def make_progress(*, enabled: bool = True, out: IO[str] | None = None) -> Progress:
    """Rich bars in an interactive terminal, plain lines otherwise, nothing when disabled."""
    if not enabled:
        return _Silent()
    stream = out or sys.stderr
    return _Bars(stream) if stream.isatty() else _Plain(stream)


# --- tables ------------------------------------------------------------------------------------


def display_table(result: BenchmarkResult) -> pd.DataFrame:
    """The result table with formatted columns, as the reports and the CLI show it."""
    table = result.table
    return pd.DataFrame(
        {
            "model": table["model"],
            "metric": table["metric"],
            "mean": table["mean"].map(lambda v: display_number(v, 4)),
            "95% CI": [
                display_interval(lo, hi)
                for lo, hi in zip(table["ci_low"], table["ci_high"], strict=True)
            ],
            f"p vs {result.baseline or 'baseline'}": table["p_value"].map(_p_value),
            "fit (s)": table["fit_s"].map(lambda v: display_number(v, 2)),
            "rank (s)": table["recommend_s"].map(lambda v: display_number(v, 2)),
        }
    )


def protocol_lines(result: BenchmarkResult) -> list[str]:
    """The protocol in a few sentences, for the top of a report."""
    test = (
        f"paired sign-flip permutation test against `{result.baseline}` "
        f"({result.n_bootstrap} sign flips)"
        if result.baseline
        else "no baseline, so no p-values"
    )
    return [
        f"data fingerprint: `{result.data_fingerprint}`",
        f"split: `{result.split}`",
        f"users evaluated: {result.n_users:,} (every user with at least one test item)",
        f"lists: top {result.k} items per user, training items excluded",
        f"95% CI: percentile bootstrap over users ({result.n_bootstrap} resamples, seed "
        f"{result.seed})",
        f"p-values: {test}",
    ]


def display_number(value: float, digits: int) -> str:
    return "" if _missing(value) else f"{value:.{digits}f}"


def display_interval(low: float, high: float) -> str:
    return "" if _missing(low) else f"[{low:.4f}, {high:.4f}]"


def _p_value(value: float) -> str:
    return "" if _missing(value) else f"{value:.3g}"


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


# --- Markdown ----------------------------------------------------------------------------------


def markdown(result: BenchmarkResult) -> str:
    """The protocol, the table and each model's parameters as Markdown."""
    parts = ["# Benchmark", "", *(f"- {line}" for line in protocol_lines(result)), ""]
    parts += [*_markdown_table(display_table(result)), "", "## Models", ""]
    models = pd.DataFrame(
        [(name, m["class"], _params(m["params"])) for name, m in result.models.items()],
        columns=["model", "class", "params"],
    )
    return "\n".join([*parts, *_markdown_table(models), ""])


def _markdown_table(frame: pd.DataFrame) -> list[str]:
    def row(cells: list[Any]) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    lines = [row(list(frame.columns)), row(["---"] * len(frame.columns))]
    return lines + [row(list(values)) for values in frame.itertuples(index=False)]


def _params(params: dict[str, Any]) -> str:
    return ", ".join(f"{key}={value!r}" for key, value in params.items()) or "(defaults)"


# --- HTML ----------------------------------------------------------------------------------------

_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px}"
    "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px}"
    "th{background:#f3f3f3}td{text-align:right}td:first-child,td:nth-child(2){text-align:left}"
    "img{max-width:100%}"
)


def write_html(result: BenchmarkResult, path: Path) -> Path:
    """Write the report, plots inlined, to ``path``; it needs no other file to display."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html_report(result), encoding="utf-8")
    return path


def html_report(result: BenchmarkResult) -> str:
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>reelflow benchmark</title>"
        f"<style>{_STYLE}</style></head><body><h1>Benchmark</h1>{html_section(result)}"
        "</body></html>\n"
    )


def html_section(result: BenchmarkResult, *, models: bool = True) -> str:
    """The report's body (protocol, tables, plots, models) for embedding in another page."""
    items = "".join(f"<li>{_inline_code(line)}</li>" for line in protocol_lines(result))
    figures = [_bars_figure(result)]
    if not result.curves.empty:
        figures.append(_curves_figure(result))
    images = "".join(
        f'<p><img alt="plot" src="data:image/png;base64,{_png(f)}"></p>' for f in figures
    )
    text = f"<ul>{items}</ul>{_html_tables(result)}{images}"
    if models:
        table = pd.DataFrame(
            [(name, m["class"], _params(m["params"])) for name, m in result.models.items()],
            columns=["model", "class", "params"],
        )
        text += f"<h2>Models</h2>{table.to_html(index=False, border=0)}"
    return text


def bars_png(result: BenchmarkResult, path: Path) -> Path:
    """The metric bars (one panel per metric, CIs as error bars) as a PNG file."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    figure = _bars_figure(result)
    FigureCanvasAgg(figure)
    figure.savefig(path, format="png", dpi=100, bbox_inches="tight")
    return path


def _html_tables(result: BenchmarkResult) -> str:
    """The result table; with business proxies among the metrics, one table per family."""
    table = display_table(result)
    family = result.table["metric"].map(_family).to_numpy()
    if "business" not in family:
        return str(table.to_html(index=False, border=0))
    parts = []
    for name, title, note in _FAMILIES:
        part = table[family == name]
        if len(part):
            parts.append(f"<h2>{title}</h2>{note}{part.to_html(index=False, border=0)}")
    return "".join(parts)


_FAMILIES = (
    ("technical", "Technical metrics", ""),
    (
        "business",
        "Business proxies",
        "<p>Offline estimates of engagement, retention and discovery from the logged test "
        "interactions, not the business outcomes themselves (see docs/metrics.md).</p>",
    ),
)


def _family(metric: str) -> str:
    return METRIC_KINDS.get(metric.partition("@")[0], "technical")


def _inline_code(line: str) -> str:
    pieces = html.escape(line).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(pieces))


def _png(figure: Figure) -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _bars_figure(result: BenchmarkResult) -> Figure:
    """One panel per metric, a horizontal bar per model (in the result's order, top down) with
    its 95% CI as an error bar; model names are written once per row of panels."""
    from matplotlib.figure import Figure

    metrics = list(result.metrics)
    models = list(dict.fromkeys(result.table["model"]))
    cols = min(3, len(metrics))
    rows = math.ceil(len(metrics) / cols)
    height = max(2.4, 0.9 + 0.28 * len(models))
    figure = Figure(figsize=(3.6 * cols + 1.6, height * rows), layout="constrained")
    colors = [f"C{i % 10}" for i in range(len(models))]
    for number, metric in enumerate(metrics):
        axes = figure.add_subplot(rows, cols, number + 1)
        part = result.table[result.table["metric"] == metric].set_index("model").reindex(models)
        means = part["mean"].to_numpy(dtype=float)
        errors = [means - part["ci_low"].to_numpy(float), part["ci_high"].to_numpy(float) - means]
        has_ci = not part["ci_low"].isna().all()
        positions = range(len(models))
        axes.barh(positions, means, xerr=errors if has_ci else None, capsize=3, color=colors)
        axes.set_yticks(positions, models if number % cols == 0 else [""] * len(models))
        axes.invert_yaxis()
        axes.set_title(f"{metric} (business)" if _family(metric) == "business" else metric)
    return figure


def _curves_figure(result: BenchmarkResult) -> Figure:
    """NDCG@k and recall@k against k, a line per model."""
    from matplotlib.figure import Figure

    kinds = list(dict.fromkeys(result.curves["metric"]))
    figure = Figure(figsize=(4.8 * len(kinds), 3.4), layout="constrained")
    for number, kind in enumerate(kinds):
        axes = figure.add_subplot(1, len(kinds), number + 1)
        part = result.curves[result.curves["metric"] == kind]
        for model, line in part.groupby("model", sort=False):
            axes.plot(line["k"], line["mean"], marker="o", label=str(model))
        axes.set_xlabel("k")
        axes.set_xticks(sorted(set(part["k"])))
        axes.set_title(f"{kind}@k")
        axes.legend(fontsize="small")
    return figure
