"""``reelflow ui``: a local web UI over the store (read-only unless told otherwise)."""

from __future__ import annotations

import contextlib
import ipaddress
import socket
from collections.abc import Sequence

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
@click.option(
    "--allowed-host",
    "allowed_host",
    multiple=True,
    metavar="NAME",
    help="Also answer requests addressed to NAME (a host name or address; repeatable). The "
    "loopback names and the address listened on are always answered.",
)
def ui(host: str, port: int, allow_writes: bool, allowed_host: tuple[str, ...]) -> None:
    """Serve a web UI of the store: runs and their graphs, tasks, logs and artifacts, guard
    results with their plots, the registry's models and history, the leaderboard, monitoring.

    It listens on 127.0.0.1 by default. It answers only requests addressed (the Host header) to
    a loopback name, to the address it listens on (and this machine's name when it listens on
    every address, 0.0.0.0 or ::) or to a name given with --allowed-host, so a web page
    elsewhere cannot reach it through DNS rebinding.

    It is read-only by default: with --allow-writes, a run can be tagged and a model promoted
    (through the default gates) or rolled back, each request carrying the token set in
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
    names = _allowed_hosts(host, allowed_host)
    app = create_app(store, allow_writes=allow_writes, token=token, allowed_hosts=names)
    mode = "writes allowed (token required)" if allow_writes and token else "read-only"
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"reelflow ui on http://{shown}:{port} ({mode}); Ctrl-C stops it", err=True)
    click.echo(f"answering requests addressed to: {', '.join(names)}", err=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
WILDCARDS = ("0.0.0.0", "::", "")


def _allowed_hosts(host: str, extra: Sequence[str] = ()) -> list[str]:
    """The Host header names the UI answers: the loopback names, the address it listens on,
    for a wildcard address this machine's names and addresses, and ``extra``. Never any name:
    a page elsewhere could then reach the UI through DNS rebinding."""
    names = [*LOOPBACK_NAMES, _host_name(host)]
    if host in WILDCARDS:
        names += [_host_name(n) for n in _machine_names()]
    for name in extra:
        if not name or "*" in name or "/" in name or " " in name:
            raise click.BadParameter(
                f"{name!r} is not a host name or address", param_hint="--allowed-host"
            )
        names.append(_host_name(name))
    return list(dict.fromkeys(n for n in names if n))


def _host_name(name: str) -> str:
    """``name`` as a Host header carries it: lower case, an IPv6 address in brackets."""
    name = name.strip().lower()
    try:
        return f"[{name}]" if ipaddress.ip_address(name).version == 6 else name
    except ValueError:
        return name


def _machine_names() -> list[str]:
    """This machine's host name, fully qualified name and their addresses (best effort)."""
    hostname = socket.gethostname()
    names = [hostname, socket.getfqdn()]
    with contextlib.suppress(OSError):
        names += [str(info[4][0]) for info in socket.getaddrinfo(hostname, None)]
    return [n.split("%")[0] for n in names]  # no IPv6 zone: a Host header cannot carry one
