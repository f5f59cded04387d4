"""``reelflow store check``: verify every stored object and find orphans."""

from __future__ import annotations

import sys

import click

from reelflow.cli._app import cli


@cli.group()
def store() -> None:
    """Inspect and maintain the store."""


@store.command()
@click.option(
    "--remove-orphans",
    is_flag=True,
    help="Delete objects no run refers to, and temp files left by killed writers.",
)
def check(remove_orphans: bool) -> None:
    """Verify every object against its hash; report corrupt, missing and orphaned objects."""
    from reelflow.store import Store

    st = Store.open(create=False)
    report = st.check(remove_orphans=remove_orphans)
    click.echo(f"store {st.config.artifacts_location}: {report.checked} objects checked")
    for key in report.corrupt:
        click.echo(f"corrupt: {key} (its bytes no longer match its hash)")
    for key in report.missing:
        click.echo(f"missing: {key} (referenced by a run but not stored)")
    if report.orphans:
        click.echo(
            f"orphans: {len(report.orphans)} objects no run refers to"
            + ("" if remove_orphans else " (remove with --remove-orphans)")
        )
    if report.stale_temp:
        click.echo(f"stale temp files: {len(report.stale_temp)}")
    for key in report.removed:
        click.echo(f"removed: {key}")
    if not report.ok:
        click.echo("store check failed", err=True)
        sys.exit(1)
    click.echo("ok")
