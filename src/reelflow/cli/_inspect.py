"""``reelflow runs``, ``reelflow show`` and ``reelflow logs``: read what runs did."""

from __future__ import annotations

import datetime as dt
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from reelflow._errors import ArtifactNotFoundError, UsageError
from reelflow.cli._app import cli


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    return dt.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}s"


def _size(n: int) -> str:
    step = 1024.0
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < step:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= step
    return f"{value:.1f} TiB"


@cli.command()
@click.argument("flow_name", required=False)
@click.option(
    "--limit", type=click.IntRange(min=1), default=20, show_default=True, help="Runs to list."
)
def runs(flow_name: str | None, limit: int) -> None:
    """List runs, newest first (of FLOW_NAME only, when given)."""
    from reelflow.flow._client import Client

    found = Client().runs(flow_name, limit=limit)
    if not found:
        click.echo("no runs in this store yet" if flow_name is None else f"no runs of {flow_name}")
        return
    table = Table(box=None)
    for column in ("run", "flow", "status", "started", "duration", "tags", "resumed from"):
        table.add_column(column)
    for run in found:
        table.add_row(
            str(run.id),
            run.flow_name,
            run.status,
            _when(run.created_at),
            _seconds(run.duration),
            ", ".join(run.record.tags),
            str(run.origin_run_id or ""),
        )
    Console().print(table)


@cli.command()
@click.argument("run_id")
def show(run_id: str) -> None:
    """Show a run: its steps, tasks, status, timings and artifacts."""
    from reelflow.flow._client import Client

    run = Client().run(run_id)
    console = Console()
    console.print(
        f"[bold]{run.flow_name}[/] run {run.id}: {run.status}"
        f" (started {_when(run.created_at)}, {_seconds(run.duration)})"
    )
    if run.params:
        console.print("parameters: " + ", ".join(f"{k}={v!r}" for k, v in run.params.items()))
    if run.record.tags:
        console.print("tags: " + ", ".join(run.record.tags))
    if run.origin_run_id:
        console.print(f"resumed from run {run.origin_run_id}")
    if run.record.error:
        console.print(f"[red]error:[/] {escape(run.record.error)}", highlight=False)
    for step in run:
        failures: list[str] = []
        table = Table(title=f"step {step.name}", title_justify="left", box=None)
        for column in ("task", "status", "attempts", "duration", "artifacts"):
            table.add_column(column)
        for task in step.tasks:
            own = [a for a in task.artifacts.values() if not a.inherited]
            listed = ", ".join(f"{a.name} ({a.type_name}, {_size(a.size)})" for a in own)
            reused = f" (re-used {task.origin_task_id})" if task.origin_task_id else ""
            if task.record.error:
                failures.append(f"task {task.id}: {task.record.error}")
            table.add_row(
                str(task.id),
                task.status + reused,
                str(task.record.attempts),
                _seconds(task.duration),
                listed or "-",
            )
        console.print(table)
        for failure in failures:
            console.print(f"  [red]{escape(failure)}[/]", highlight=False)
    _print_guards(console, run.guard_results)


def _print_guards(console: Console, rows: list[dict[str, Any]]) -> None:
    """The guard results of a run, one line each (failures first)."""
    if not rows:
        return
    from reelflow.cli._tables import print_results
    from reelflow.guards import GuardResult
    from reelflow.store._guards import result_fields

    order = {"failed": 0, "warning": 1, "passed": 2}
    pairs = sorted(
        ((GuardResult.from_record(result_fields(r)), r) for r in rows),
        key=lambda pair: order[pair[0].status],
    )
    counts = {s: sum(result.status == s for result, _ in pairs) for s in order}
    title = (
        f"guards: {counts['failed']} failed, {counts['warning']} warnings, "
        f"{counts['passed']} passed"
    )
    where = [f"{row['step']}/{row['task_id']}" for _, row in pairs]
    print_results(console, [result for result, _ in pairs], title, kind="guard", where=where)


@cli.command()
@click.argument("pathspec", metavar="RUN/STEP[/TASK]")
@click.option("--stderr", "stream", flag_value="stderr", help="Show stderr only.")
@click.option("--stdout", "stream", flag_value="stdout", help="Show stdout only.")
@click.option(
    "--attempt", type=click.IntRange(min=0), default=None, help="Attempt (default: last)."
)
def logs(pathspec: str, stream: str | None, attempt: int | None) -> None:
    """Print what the tasks of a step (or one task) wrote to stdout and stderr."""
    from reelflow.flow._client import Client

    parts = pathspec.strip("/").split("/")
    if (
        len(parts) not in (2, 3)
        or not parts[0].isdigit()
        or (len(parts) == 3 and not parts[2].isdigit())
    ):
        raise UsageError(f"expected RUN/STEP or RUN/STEP/TASK (e.g. 12/train/40), got {pathspec!r}")
    step = Client().run(parts[0])[parts[1]]
    tasks = [t for t in step.tasks if len(parts) == 2 or t.id == int(parts[2])]
    if not tasks:
        raise ArtifactNotFoundError(f"step {parts[1]} of run {parts[0]} has no task {parts[2]}")
    for task in tasks:
        if len(tasks) > 1:
            click.echo(f"--- task {task.pathspec} ({task.status})")
        for name in ("stdout", "stderr"):
            if stream not in (None, name):
                continue
            text = task.stdout(attempt) if name == "stdout" else task.stderr(attempt)
            click.echo(text, nl=False, err=name == "stderr")
