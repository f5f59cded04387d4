"""``reelflow ui``: a local web UI over the store (read-only unless told otherwise)."""

from __future__ import annotations

import ipaddress

import click

from reelflow.cli._app import cli


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True)
@click.option(
    "--allow-writes",
    is_flag=True,
    help="Offer tagging runs, promoting and rolling back (each needs REELFLOW_UI_TOKEN).",
)
def ui(host: str, port: int, allow_writes: bool) -> None:
    """Serve a web UI of the store: runs and their graphs, tasks, logs and artifacts, guard
    results with their plots, the registry's models and history, the leaderboard, monitoring.

    It listens on 127.0.0.1 by default and answers only requests addressed to a loopback name
    then. It is read-only by default: with --allow-writes, a run can be tagged and a model
    promoted (through the default gates) or rolled back, each request carrying the token set in
    REELFLOW_UI_TOKEN (without it, writes are refused). JSON endpoints live under /api.
    """
    import uvicorn

    from reelflow.store import Store
    from reelflow.ui import create_app
    from reelflow.ui._writes import TOKEN_ENV, ui_token

    store = Store.open(create=False)
    store.metadata  # noqa: B018  (a missing or unreadable store fails here, before a port opens)
    token = ui_token()
    if allow_writes and token is None:
        click.echo(f"warning: --allow-writes without {TOKEN_ENV} set: writes are refused", err=True)
    app = create_app(
        store, allow_writes=allow_writes, token=token, allowed_hosts=_allowed_hosts(host)
    )
    mode = "writes allowed (token required)" if allow_writes and token else "read-only"
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"reelflow ui on http://{shown}:{port} ({mode}); Ctrl-C stops it", err=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


def _allowed_hosts(host: str) -> list[str] | None:
    """Loopback names when bound to loopback (against DNS rebinding); any name otherwise."""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    return ["127.0.0.1", "localhost", "::1", "[::1]"] if loopback else None
