"""``reelflow monitor``: served traffic against the champion's training data, for a scheduler."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console

from reelflow._errors import UsageError
from reelflow.cli._app import cli
from reelflow.cli._tables import print_results

if TYPE_CHECKING:
    pass


@cli.command("monitor")
@click.argument("name")
@click.option("--alias", default=None, help="Monitor the holder of this alias [default: champion].")
@click.option(
    "--version", type=click.IntRange(min=1), default=None, help="Monitor this version instead."
)
@click.option("--since", default=None, metavar="ISO", help="Start of the window (UTC if no zone).")
@click.option("--until", default=None, metavar="ISO", help="End of the window [default: now].")
@click.option(
    "--window",
    default=None,
    metavar="LENGTH",
    help="Length of the window: 30m, 24h, 7d, ... [default: 24h, ending at --until].",
)
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The HTML report [default: <store home>/reports/monitor-<name>-<UTC time>.html].",
)
@click.option(
    "--threshold",
    "threshold_specs",
    multiple=True,
    metavar="NAME=VALUE",
    help="Override a check's threshold (repeatable), e.g. fallback_share=0.1, requests=500.",
)
@click.option(
    "--severity",
    "severity_specs",
    multiple=True,
    metavar="NAME=LEVEL",
    help="Make a check block or warn (repeatable), e.g. context=block, requests=block.",
)
def monitor_command(
    name: str,
    alias: str | None,
    version: int | None,
    since: str | None,
    until: str | None,
    window: str | None,
    report_path: Path | None,
    threshold_specs: tuple[str, ...],
    severity_specs: tuple[str, ...],
) -> None:
    """Compare the traffic NAME served in a window with its training data.

    Reads the request log of the version holding the alias (champion) or of --version, checks
    input drift (contexts, users' activity), output drift (scores, popularity of what was
    served, catalogue coverage), fallbacks, unknown users and training/serving skew, prints
    the results, writes the HTML report and exits with 1 when a blocking check failed (0
    otherwise), so a scheduler can run it. See docs/monitoring.md for every check.
    """
    from reelflow.monitor import monitor
    from reelflow.store import Store

    if alias is not None and version is not None:
        raise UsageError("give --alias or --version, not both")
    thresholds = {key: _number(key, value) for key, value in _pairs(threshold_specs, "threshold")}
    store = Store.open(create=False)
    report = monitor(
        name,
        alias=alias or "champion",
        version=version,
        since=since,
        until=until,
        window=window,
        store=store,
        thresholds=thresholds,
        severities=dict(_pairs(severity_specs, "severity")),
    )
    print_results(Console(), report.results, f"monitor {report.ref}")
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = report_path or store.config.home / "reports" / f"monitor-{report.model}-{stamp}.html"
    report.to_html(path)
    click.echo(report.summary())
    click.echo(f"report: {path}")
    if report.blocking:
        raise SystemExit(1)


def _pairs(specs: tuple[str, ...], what: str) -> list[tuple[str, str]]:
    pairs = []
    for spec in specs:
        key, sep, value = spec.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise UsageError(f"--{what} {spec!r} is malformed; write NAME=VALUE")
        pairs.append((key.strip(), value.strip()))
    return pairs


def _number(key: str, value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise UsageError(f"--threshold {key}={value}: {value!r} is not a number") from None
