"""Tables the commands print: guard results, one line each."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from reelflow.guards import GuardResult

STATUS_STYLE = {"passed": "green", "warning": "yellow", "failed": "red"}


def print_results(
    console: Console,
    results: list[GuardResult],
    title: str,
    *,
    kind: str = "check",
    where: list[str] | None = None,
) -> None:
    """Status (coloured), name, value, threshold and sentence of each result; ``where`` adds a
    step/task column (one label per result)."""
    table = Table(title=title, title_justify="left", box=None)
    columns = ["status", *(["step/task"] if where is not None else []), kind]
    for column in (*columns, "value", "threshold", "message"):
        table.add_column(column)
    for i, result in enumerate(results):
        value = "-" if result.value is None else f"{result.value:.4g}"
        threshold = "-" if result.threshold is None else f"{result.threshold:.4g}"
        style = STATUS_STYLE[result.status]
        table.add_row(
            f"[{style}]{result.status}[/]",
            *([where[i]] if where is not None else []),
            escape(result.name),
            value,
            threshold,
            escape(result.message),
        )
    console.print(table)
