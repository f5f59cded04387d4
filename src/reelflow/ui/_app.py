"""The web UI's application: routes, errors as pages (or JSON under /api), security headers."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from urllib.parse import parse_qsl

import orjson
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from reelflow._errors import ArtifactNotFoundError, ReelflowError, RegistryError, UsageError
from reelflow.store import Store
from reelflow.ui import _api, _pages, _writes
from reelflow.ui import _params as p
from reelflow.ui._context import UI, json_response

Handler = Callable[[UI, Request], Response]
log = logging.getLogger("reelflow.ui")
_PAGE_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "frame-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'self'"
)
MAX_BODY_BYTES = 64 * 1024
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")


def create_app(
    store: Store,
    *,
    allow_writes: bool = False,
    token: str | None = None,
    allowed_hosts: Sequence[str] = LOOPBACK_HOSTS,
) -> Starlette:
    """The UI over ``store``: read-only unless ``allow_writes`` and a ``token`` are given.

    ``allowed_hosts`` are the Host headers answered (loopback names by default; an IPv6 address
    in brackets), so a web page elsewhere cannot reach the UI through DNS rebinding. The check
    cannot be turned off: a wildcard is refused.
    """
    if isinstance(allowed_hosts, str) or not allowed_hosts or "*" in allowed_hosts:
        raise ValueError("allowed_hosts must name the hosts answered (no '*')")
    ui = UI(store, allow_writes=allow_writes, token=token)
    middleware = [
        Middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts)),
        Middleware(BaseHTTPMiddleware, dispatch=partial(_security_headers, ui)),
    ]
    return Starlette(
        routes=_routes(ui),
        middleware=middleware,
        exception_handlers={
            HTTPException: partial(_http_error, ui),
            p.BadRequest: partial(_bad_request, ui),
            ReelflowError: partial(_reelflow_error, ui),
        },
    )


def _routes(ui: UI) -> list[Route | Mount]:
    def get(path: str, handler: Handler) -> Route:
        async def endpoint(request: Request) -> Response:
            return await run_in_threadpool(handler, ui, request)

        return Route(path, endpoint, methods=["GET", "HEAD"])

    def post(path: str, action: Callable[[UI, Request, dict[str, str]], Response]) -> Route:
        async def endpoint(request: Request) -> Response:
            # Refuse what can be refused from the headers before reading the body: a read-only
            # UI, a wrong bearer token, a declared length over the limit.
            _writes.check_writable(ui)
            token = _writes.bearer(request)
            if token is not None:
                _writes.check_token(ui, token)
            form = await _form(request)
            if token is None:
                _writes.check_token(ui, form.get("token"))
            return await run_in_threadpool(action, ui, request, form)

        return Route(path, endpoint, methods=["POST"])

    from importlib.resources import files

    static = StaticFiles(directory=str(files("reelflow.ui") / "static"))
    return [
        get("/", _pages.home),
        get("/runs", _pages.runs),
        get("/runs/{run_id}", _pages.run),
        get("/runs/{run_id}/tasks/{task_id}", _pages.task),
        get("/runs/{run_id}/tasks/{task_id}/artifacts/{name}", _pages.artifact),
        get("/runs/{run_id}/tasks/{task_id}/artifacts/{name}/payload", _api.artifact_payload),
        get("/runs/{run_id}/guards/{guard_id}.png", _api.guard_plot),
        get("/models", _pages.models),
        get("/models/{name}", _pages.model),
        get("/leaderboard", _pages.leaderboard),
        get("/leaderboard/chart.png", _api.leaderboard_chart),
        get("/monitoring", _pages.monitoring),
        get("/monitoring/reports/{file}", _api.monitor_report),
        get("/api/runs", _api.runs),
        get("/api/runs/{run_id}", _api.run),
        get("/api/runs/{run_id}/status", _api.run_status),
        get("/api/runs/{run_id}/guards", _api.run_guards),
        get("/api/runs/{run_id}/tasks/{task_id}", _api.task),
        get("/api/runs/{run_id}/tasks/{task_id}/logs", _api.task_logs),
        get("/api/runs/{run_id}/tasks/{task_id}/artifacts/{name}", _api.artifact),
        get("/api/models", _api.models),
        get("/api/models/{name}", _api.model),
        get("/api/leaderboard", _api.leaderboard),
        get("/api/monitoring", _api.monitoring),
        post("/runs/{run_id}/tags", _tag),
        post("/models/{name}/promote", _promote),
        post("/models/{name}/rollback", _rollback),
        post("/api/runs/{run_id}/tags", _tag),
        post("/api/models/{name}/promote", _promote),
        post("/api/models/{name}/rollback", _rollback),
        Mount("/static", static, name="static"),
    ]


# --- writes ---------------------------------------------------------------------------------


def _tag(ui: UI, request: Request, form: dict[str, str]) -> Response:
    run_id = p.identifier(request.path_params["run_id"], "run")
    tags = _writes.tag_run(ui, run_id, form)
    if _is_api(request):
        return json_response({"id": run_id, "tags": tags})
    return RedirectResponse(f"/runs/{run_id}", status_code=303)


def _promote(ui: UI, request: Request, form: dict[str, str]) -> Response:
    model = _known_model(ui, request)
    promotion = _writes.promote(ui, model, form)
    body = _writes.promotion_json(promotion)
    status = 200 if promotion.promoted else 409
    if _is_api(request):
        return json_response(body, status)
    return ui.page(request, "promotion.html", status, promotion=body)


def _rollback(ui: UI, request: Request, form: dict[str, str]) -> Response:
    model = _known_model(ui, request)
    version = _writes.rollback(ui, model, form)
    if _is_api(request):
        return json_response({"name": model, "version": version})
    return RedirectResponse(f"/models/{model}", status_code=303)


def _known_model(ui: UI, request: Request) -> str:
    """The model named in the path; an unknown one is a 404 before any gate runs."""
    model = p.name(request.path_params["name"], "model") or ""
    try:
        ui.registry.versions(model)
    except RegistryError:
        raise p.NotFound(f"no model named {model!r} in the registry") from None
    return model


async def _form(request: Request) -> dict[str, str]:
    """The fields of a form post (URL-encoded) or of a JSON object body, as text."""
    kind = request.headers.get("content-type", "").split(";")[0].strip()
    if kind not in ("application/json", "application/x-www-form-urlencoded", ""):
        raise p.BadRequest(415, "send a URL-encoded form or a JSON object")
    body = await _body(request)
    if kind == "application/json":
        try:
            fields = orjson.loads(body) if body else {}
        except orjson.JSONDecodeError:
            raise p.BadRequest(400, "the body is not valid JSON") from None
        if not isinstance(fields, dict):
            raise p.BadRequest(400, "the body must be a JSON object")
        return {str(k): str(v) for k, v in fields.items() if v is not None}
    return dict(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))


async def _body(request: Request) -> bytes:
    """The request's body, read only up to ``MAX_BODY_BYTES`` (413 past it, or when the
    declared Content-Length says so, before anything is read)."""
    too_big = p.BadRequest(413, f"the body is over {MAX_BODY_BYTES:,} bytes")
    declared = request.headers.get("content-length")
    if declared is not None:
        length = p.whole(declared.strip())
        if length is None:
            raise p.BadRequest(400, "the Content-Length header is not a number")
        if length > MAX_BODY_BYTES:
            raise too_big
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise too_big
        chunks.append(chunk)
    return b"".join(chunks)


# --- errors and headers ---------------------------------------------------------------------


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _error(ui: UI, request: Request, status: int, message: str) -> Response:
    if _is_api(request):
        return json_response({"error": message, "status": status}, status)
    return ui.page(request, "error.html", status, status=status, message=message)


def _internal_error(ui: UI, request: Request) -> Response:
    message = "the UI failed to answer this request; the error is in the server's log"
    try:
        return _error(ui, request, 500, message)
    except Exception:  # the error page itself failed: plain text, still with the headers
        log.exception("the error page failed")
        return PlainTextResponse(message, status_code=500)


async def _http_error(ui: UI, request: Request, exc: HTTPException) -> Response:
    message = "no such page" if exc.status_code == 404 else str(exc.detail)
    return _error(ui, request, exc.status_code, message)


async def _bad_request(ui: UI, request: Request, exc: p.BadRequest) -> Response:
    return _error(ui, request, exc.status, exc.message)


async def _reelflow_error(ui: UI, request: Request, exc: ReelflowError) -> Response:
    if isinstance(exc, ArtifactNotFoundError):
        status = 404
    elif isinstance(exc, UsageError):
        status = 400
    elif isinstance(exc, RegistryError):
        status = 409
    else:
        status = 500
    return _error(ui, request, status, str(exc).strip().splitlines()[0])


async def _security_headers(
    ui: UI, request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """Every answer gets the headers, an unexpected error too: it is logged here with its
    traceback and answered as a plain 500 (a page, or JSON under /api) that shows no detail."""
    try:
        response = await call_next(request)
    except Exception:
        log.exception("%s %s failed", request.method, request.url.path)
        response = _internal_error(ui, request)
    response.headers.setdefault("Content-Security-Policy", _PAGE_CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    return response
