"""``reelflow serve``: serve a registered model over HTTP, with fallbacks and hot swap."""

from __future__ import annotations

import os
import tempfile

import click

from reelflow.cli._app import cli


@cli.command()
@click.argument("ref", metavar="NAME[@ALIAS|:VERSION]")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option(
    "--workers", type=click.IntRange(min=1), default=1, show_default=True,
    help="Worker processes (each loads the model).",
)  # fmt: skip
@click.option(
    "--fallback", default=None, metavar="NAME[@ALIAS|:VERSION]",
    help="A registered popularity model (e.g. MostPopular(by='region')) for cold starts, "
    "timeouts and errors [default: global popularity from the served model].",
)  # fmt: skip
@click.option(
    "--budget-ms",
    type=click.FloatRange(min=0.1),
    default=50.0,
    show_default=True,
    help="Time the model gets per request before the fallback answers.",
)
@click.option(
    "--k",
    "default_k",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="List length when a request does not say.",
)
@click.option("--max-k", type=click.IntRange(min=1), default=100, show_default=True)
@click.option(
    "--max-batch",
    type=click.IntRange(min=1),
    default=256,
    show_default=True,
    help="Most users in one POST /recommendations.",
)
@click.option(
    "--max-body",
    "max_body_bytes",
    type=click.IntRange(min=1024),
    default=256 * 1024,
    show_default=True,
    help="Largest request body, in bytes.",
)
@click.option(
    "--poll",
    "poll_seconds",
    type=click.FloatRange(min=0.1),
    default=10.0,
    show_default=True,
    help="Seconds between checks of the alias in the registry.",
)
@click.option(
    "--log-sample",
    type=click.FloatRange(0.0, 1.0),
    default=0.1,
    show_default=True,
    help="Share of requests written to the request log (0 disables it).",
)
@click.option(
    "--threads",
    "model_threads",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="Threads per worker that run the model.",
)
@click.option(
    "--precompute-mb",
    type=click.IntRange(min=0),
    default=512,
    show_default=True,
    help="Memory for every known user's precomputed top --max-k (0: score each request live).",
)
@click.option("--access-log", is_flag=True, help="Log every request (slower).")
def serve(
    ref: str, host: str, port: int, workers: int, access_log: bool, **options: object
) -> None:
    """Serve a registered model: GET /recommendations/{user_id}, POST /recommendations,
    /health, /ready, /metrics, /openapi.json and POST /admin/reload (REELFLOW_ADMIN_TOKEN).

    Following an alias (the default, @champion), the server polls the registry and hot-swaps
    to the version the alias points at once it passes its smoke checks; a pinned NAME:VERSION
    never changes. Every answer names the version and whether the fallback gave it.
    """
    import uvicorn

    from reelflow.registry import Registry
    from reelflow.serve._app import create_app
    from reelflow.serve._service import Service
    from reelflow.serve._settings import SETTINGS_ENV, ServeSettings, admin_token
    from reelflow.store import Store

    store = Store.open(create=False)
    settings = ServeSettings(
        model=ref,
        store_home=str(store.config.home),
        store_db=store.config.db_url,
        store_artifacts=store.config.artifacts,
        **options,  # type: ignore[arg-type]
    )
    service = Service(settings, Registry(store))
    service.start()  # an unusable model fails here, with its reason, before a port is opened
    deployment = service.deployment
    assert deployment is not None
    click.echo(
        f"serving {deployment.version.ref} ({deployment.version.model_class}) on "
        f"http://{host}:{port} with {workers} worker(s); following "
        f"{service.ref if service.swap.alias else 'a pinned version'}",
        err=True,
    )
    config = {"host": host, "port": port, "log_level": "warning", "access_log": access_log}
    if workers == 1:
        uvicorn.run(create_app(service, token=admin_token()), **config)  # type: ignore[arg-type]
        return
    service.stop()
    del service, deployment
    os.environ[SETTINGS_ENV] = settings.to_env()
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="reelflow-metrics-"))
    uvicorn.run(
        "reelflow.serve._app:create_app_from_env",
        factory=True,
        workers=workers,
        **config,  # type: ignore[arg-type]
    )
