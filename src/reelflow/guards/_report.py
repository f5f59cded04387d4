"""A self-contained HTML report of guard results: the verdict, a table, and a plot per result.

Each result whose ``details["plot"]`` names a known ``kind`` gets a figure: ``histogram``
(overlaid reference and current shares over bin edges), ``categories`` (grouped bars),
``comparison`` (bars with optional intervals, e.g. candidate vs champion) and ``importance``
(horizontal bars, current vs previous). Other kinds, and plot data that cannot be drawn, are
listed without a figure. Plots are drawn with matplotlib's Agg canvas (imported only when there
is something to draw) and inlined as base64 PNGs, so the file needs nothing else to display.
"""

from __future__ import annotations

import base64
import html
import io
import math
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reelflow.guards._result import GuardResult, verdict

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

MAX_FIGURES = 60
MAX_BARS = 30  # categories and features beyond this many (the largest kept) are left out
_MAX_COLUMNS = 12  # more categories than this are drawn as horizontal bars
_ORDER = {"failed": 0, "warning": 1, "passed": 2}

_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px}"
    "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px}"
    "th{background:#f3f3f3;text-align:left}td.num{text-align:right}img{max-width:100%}"
    ".failed{color:#b00020;font-weight:bold}.warning{color:#a35c00;font-weight:bold}"
    ".passed{color:#1b7f3b}.verdict{padding:2px 10px;border-radius:4px;color:#fff}"
    ".verdict.failed{background:#b00020}.verdict.warning{background:#c77700}"
    ".verdict.passed{background:#1b7f3b}.verdict.empty{background:#777}"
    ".note{color:#555;font-style:italic}"
)


@dataclass(frozen=True)
class _Entry:
    """One result and, for rows read from the store, the step and task that recorded it."""

    result: GuardResult
    step: str | None = None
    task_id: int | None = None
    attempt: int | None = None

    @property
    def group(self) -> str | None:
        if self.step is None:
            return None
        task = f", task {self.task_id}" if self.task_id is not None else ""
        attempt = f" (attempt {self.attempt})" if self.attempt else ""
        return f"step {self.step}{task}{attempt}"


def render_guard_report(
    results: Iterable[GuardResult | Mapping[str, Any]],
    *,
    title: str,
    subtitle: str | None = None,
    path: str | os.PathLike[str] | None = None,
    sections: Sequence[tuple[str, str]] = (),
) -> str:
    """The HTML report of ``results`` (``GuardResult`` objects or rows as ``Run.guard_results``
    returns them); also written atomically to ``path`` when given. ``sections`` are (heading,
    HTML body) pairs placed after the guard table, e.g. a benchmark's; their bodies are trusted
    HTML the caller built with every value escaped."""
    entries = [_entry(item) for item in results]
    extra = "".join(f"<h2>{html.escape(heading)}</h2>{body}" for heading, body in sections)
    text = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>"
        f"{_header(entries, title, subtitle)}{_table(entries)}{extra}{_figures(entries)}"
        "</body></html>\n"
    )
    if path is not None:
        write_atomically(Path(path), text)
    return text


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, fsync it, then rename it over."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(handle, 0o644)  # mkstemp's 0600 would hide a report meant to be shared
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _entry(item: GuardResult | Mapping[str, Any]) -> _Entry:
    if isinstance(item, GuardResult):
        return _Entry(item)
    step = item.get("step")
    task_id = item.get("task_id")
    attempt = item.get("attempt")
    return _Entry(
        GuardResult.from_record(item),
        step=None if step is None else str(step),
        task_id=None if task_id is None else int(task_id),
        attempt=None if attempt is None else int(attempt),
    )


# --- header and table ---------------------------------------------------------------------------


def _header(entries: list[_Entry], title: str, subtitle: str | None) -> str:
    results = [e.result for e in entries]
    overall = verdict(results) if results else "empty"
    label = "no guard results" if overall == "empty" else overall
    counts = {s: sum(r.status == s for r in results) for s in _ORDER}
    sub = f"<p>{html.escape(subtitle)}</p>" if subtitle else ""
    return (
        f"<h1>{html.escape(title)}</h1>{sub}"
        f"<p><span class='verdict {overall}'>{label}</span> "
        f"{counts['failed']} failed, {counts['warning']} warnings, {counts['passed']} passed "
        f"({len(results)} results)</p>"
    )


def _table(entries: list[_Entry]) -> str:
    if not entries:
        return "<p class='note'>No guard results were recorded.</p>"
    grouped = any(e.group is not None for e in entries)
    heads = ["status", *(["step/task"] if grouped else []), "guard", "value", "threshold"]
    head = "".join(f"<th>{h}</th>" for h in [*heads, "message"])
    rows = []
    for entry in sorted(entries, key=lambda e: _ORDER[e.result.status]):
        result = entry.result
        where = f"<td>{html.escape(_where(entry))}</td>" if grouped else ""
        rows.append(
            f"<tr><td class='{result.status}'>{result.status}</td>{where}"
            f"<td>{html.escape(result.name)}</td><td class='num'>{_number(result.value)}</td>"
            f"<td class='num'>{_number(result.threshold)}</td>"
            f"<td>{html.escape(result.message)}</td></tr>"
        )
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def _where(entry: _Entry) -> str:
    if entry.step is None:
        return "-"
    return entry.step if entry.task_id is None else f"{entry.step}/{entry.task_id}"


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


# --- figures ------------------------------------------------------------------------------------


def _figures(entries: list[_Entry]) -> str:
    """A section per step/task (one when no result has a step), a figure per plotted result."""
    plotted = [e for e in entries if isinstance(e.result.details.get("plot"), Mapping)]
    if not plotted:
        return ""
    groups: dict[str | None, list[_Entry]] = {}
    for entry in plotted:
        groups.setdefault(entry.group, []).append(entry)
    parts = ["<h2>Plots</h2>"]
    drawn = 0
    for group, members in groups.items():
        members = members[: MAX_FIGURES - drawn]
        if not members:
            break
        if len(groups) > 1 or group is not None:
            parts.append(f"<h3>{html.escape(group or 'results of no step')}</h3>")
        parts.extend(_figure_block(entry.result) for entry in members)
        drawn += len(members)
    if len(plotted) > drawn:
        parts.append(
            f"<p class='note'>{len(plotted) - drawn} more plots not drawn "
            f"(the report draws at most {MAX_FIGURES}).</p>"
        )
    return "".join(parts)


def _figure_block(result: GuardResult) -> str:
    plot: Mapping[str, Any] = result.details["plot"]
    kind = str(plot.get("kind"))
    heading = (
        f"<h4><span class='{result.status}'>{result.status}</span> {html.escape(result.name)}</h4>"
    )
    draw = _DRAWERS.get(kind)
    if draw is None:
        return f"{heading}<p class='note'>plot kind '{html.escape(kind)}' is not supported.</p>"
    try:
        image = _png(_draw(draw, plot))
    except Exception as exc:  # bad plot data must not cost the rest of the report
        reason = html.escape(f"{type(exc).__name__}: {exc}")
        return f"{heading}<p class='note'>the {kind} plot could not be drawn ({reason}).</p>"
    alt = html.escape(f"{kind} plot of {result.name}", quote=True)
    return f'{heading}<p><img alt="{alt}" src="data:image/png;base64,{image}"></p>'


def _draw(draw: Callable[[Axes, Mapping[str, Any]], None], plot: Mapping[str, Any]) -> Figure:
    from matplotlib.figure import Figure

    bars = _horizontal_bars(plot)
    height = 3.4 if bars is None else max(3.4, 1.2 + 0.3 * bars)
    figure = Figure(figsize=(6.4, height), layout="constrained")
    draw(figure.add_subplot(1, 1, 1), plot)
    return figure


def _horizontal_bars(plot: Mapping[str, Any]) -> int | None:
    """How many horizontal bar groups a plot shows (None when its bars are vertical): feature
    importances always, categories when there are too many to label along the x axis."""
    names = plot.get("features") if plot.get("kind") == "importance" else plot.get("labels")
    if plot.get("kind") not in ("importance", "categories") or not isinstance(names, Sequence):
        return None
    count = min(len(names), MAX_BARS)
    return count if plot["kind"] == "importance" or count > _MAX_COLUMNS else None


def plot_png(result: GuardResult | Mapping[str, Any]) -> bytes | None:
    """The PNG of a result's plot as the report draws it (a ``GuardResult`` or a stored row), or
    None when it has no plot of a known kind; plot data that cannot be drawn raises."""
    entry = _entry(result)
    plot = entry.result.details.get("plot")
    if not isinstance(plot, Mapping) or str(plot.get("kind")) not in _DRAWERS:
        return None
    return _png_bytes(_draw(_DRAWERS[str(plot["kind"])], plot))


def _png(figure: Figure) -> str:
    return base64.b64encode(_png_bytes(figure)).decode("ascii")


def _png_bytes(figure: Figure) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    return buffer.getvalue()


def _floats(values: Any, length: int | None = None) -> list[float]:
    """Numbers (None as NaN), checked to be ``length`` long when given."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise TypeError(f"expected a list of numbers, got {type(values).__name__}")
    numbers = [math.nan if v is None else float(v) for v in values]
    if length is not None and len(numbers) != length:
        raise ValueError(f"expected {length} numbers, got {len(numbers)}")
    return numbers


def _labels(values: Any) -> list[str]:
    """Text for tick labels: shortened, with ``$`` escaped so matplotlib draws it as is."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise TypeError(f"expected a list of labels, got {type(values).__name__}")
    shortened = [str(v) if len(str(v)) <= 32 else str(v)[:31] + "…" for v in values]
    return [label.replace("$", r"\$") for label in shortened]


def _largest(labels: list[str], *series: list[float]) -> list[int]:
    """Indices of at most MAX_BARS labels, the largest (across ``series``) first kept."""
    if len(labels) <= MAX_BARS:
        return list(range(len(labels)))

    def size(i: int) -> float:
        return max((abs(s[i]) for s in series if not math.isnan(s[i])), default=0.0)

    return sorted(sorted(range(len(labels)), key=size, reverse=True)[:MAX_BARS])


def _histogram(axes: Axes, plot: Mapping[str, Any]) -> None:
    edges = _floats(plot["edges"])
    reference = _floats(plot["reference"], len(edges) - 1)
    current = _floats(plot["current"], len(edges) - 1)
    axes.stairs(reference, edges, fill=True, alpha=0.4, color="C0", label="reference")
    axes.stairs(current, edges, linewidth=2, color="C3", label="current")
    axes.set_ylabel("share")
    axes.legend(fontsize="small")


def _categories(axes: Axes, plot: Mapping[str, Any]) -> None:
    labels = _labels(plot["labels"])
    reference = _floats(plot["reference"], len(labels))
    current = _floats(plot["current"], len(labels))
    keep = _largest(labels, reference, current)
    horizontal = len(keep) > _MAX_COLUMNS
    _grouped_bars(
        axes,
        [labels[i] for i in keep],
        {"reference": [reference[i] for i in keep], "current": [current[i] for i in keep]},
        horizontal=horizontal,
    )
    (axes.set_xlabel if horizontal else axes.set_ylabel)("share")
    if len(keep) < len(labels):
        axes.set_title(f"the {len(keep)} largest of {len(labels)} categories", fontsize="small")


def _grouped_bars(
    axes: Axes, labels: list[str], series: dict[str, list[float]], horizontal: bool = False
) -> None:
    width = 0.8 / len(series)
    for number, (name, values) in enumerate(series.items()):
        positions = [i - 0.4 + width * (number + 0.5) for i in range(len(labels))]
        if horizontal:
            axes.barh(positions, values, height=width, label=name, color=f"C{number}")
        else:
            axes.bar(positions, values, width=width, label=name, color=f"C{number}")
    ticks = list(range(len(labels)))
    if horizontal:
        axes.set_yticks(ticks, labels)
        axes.invert_yaxis()
    else:
        _x_labels(axes, labels)
    axes.legend(fontsize="small")


def _comparison(axes: Axes, plot: Mapping[str, Any]) -> None:
    labels = _labels(plot["labels"])
    values = _floats(plot["values"], len(labels))
    colors = [f"C{i % 10}" for i in range(len(labels))]
    low, high = plot.get("low"), plot.get("high")
    errors = None
    if low is not None and high is not None:
        lows, highs = _floats(low, len(labels)), _floats(high, len(labels))
        below = [
            max(v - lo, 0.0) if not math.isnan(lo) else 0.0
            for v, lo in zip(values, lows, strict=True)
        ]
        above = [
            max(h - v, 0.0) if not math.isnan(h) else 0.0
            for v, h in zip(values, highs, strict=True)
        ]
        errors = [below, above]
    axes.bar(range(len(labels)), values, yerr=errors, capsize=5, color=colors)
    _x_labels(axes, labels)


def _x_labels(axes: Axes, labels: list[str]) -> None:
    if len(labels) > 4:
        axes.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    else:
        axes.set_xticks(range(len(labels)), labels)


def _importance(axes: Axes, plot: Mapping[str, Any]) -> None:
    features = _labels(plot["features"])
    series = {"current": _floats(plot["current"], len(features))}
    if plot.get("previous") is not None:
        series["previous"] = _floats(plot["previous"], len(features))
    keep = sorted(
        _largest(features, *series.values()), key=lambda i: -_or_zero(series["current"][i])
    )
    _grouped_bars(
        axes,
        [features[i] for i in keep],
        {name: [values[i] for i in keep] for name, values in series.items()},
        horizontal=True,
    )
    axes.set_xlabel("importance")


def _or_zero(value: float) -> float:
    return 0.0 if math.isnan(value) else value


_DRAWERS: dict[str, Callable[[Axes, Mapping[str, Any]], None]] = {
    "histogram": _histogram,
    "categories": _categories,
    "comparison": _comparison,
    "importance": _importance,
}
