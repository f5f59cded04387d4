"""``reelflow report``: a run's guard results as a self-contained HTML file."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

import click

from reelflow.cli._app import cli

if TYPE_CHECKING:
    from reelflow.flow._client import Run


@cli.command()
@click.argument("run_id")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The report's file [default: <store home>/reports/run-<id>.html].",
)
def report(run_id: str, output: Path | None) -> None:
    """Write the guard report of a run to an HTML file and print its path.

    The report shows the run's verdict, every guard result (failures first) and a plot for each
    result that has one: reference and current distributions of drifted columns, metric
    comparisons with their intervals, feature importances. A step that kept a BenchmarkResult
    as its `benchmark` artifact adds its tables and metric plots. Plots are inlined, so the file
    needs no other file or network access to display.
    """
    from reelflow.flow._client import Client
    from reelflow.guards._report import render_guard_report

    client = Client()
    run = client.run(run_id)
    path = output or client.store.config.home / "reports" / f"run-{run.id}.html"
    started = dt.datetime.fromtimestamp(run.created_at).strftime("%Y-%m-%d %H:%M:%S")
    subtitle = f"run {run.id} of {run.flow_name}: {run.status}, started {started}"
    if run.params:
        subtitle += "; parameters: " + ", ".join(f"{k}={v!r}" for k, v in run.params.items())
    title = f"Guards of {run.flow_name} run {run.id}"
    render_guard_report(
        run.guard_results, title=title, subtitle=subtitle, path=path, sections=_benchmarks(run)
    )
    click.echo(str(path))


def _benchmarks(run: Run) -> list[tuple[str, str]]:
    """A section for each ``BenchmarkResult`` a step kept as its ``benchmark`` artifact."""
    from reelflow.bench import BenchmarkResult
    from reelflow.bench._report import html_section

    sections, seen = [], set()
    for step in run:
        for task in step.tasks:
            record = task.artifacts.get("benchmark")
            if record is None or record.inherited or record.key in seen:
                continue  # later steps carry the same artifact forward
            seen.add(record.key)
            result = task["benchmark"]
            if isinstance(result, BenchmarkResult):
                sections.append((f"Benchmark of step {step.name}", html_section(result)))
    return sections
