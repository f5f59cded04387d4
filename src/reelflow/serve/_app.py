"""The HTTP routes (Starlette): recommendations, health, readiness, metrics, admin reload."""

from __future__ import annotations

import contextlib
import hmac
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from reelflow.serve._openapi import openapi_spec
from reelflow.serve._requests import (
    BadRequest,
    Query,
    batch_query,
    check_exclude,
    check_id,
    check_k,
    check_region,
    parse_body,
)
from reelflow.serve._service import Answer, Service, dumps
from reelflow.serve._settings import ServeSettings, admin_token

JSON = "application/json"


def json_response(value: Any, status: int = 200) -> Response:
    return Response(dumps(value), status_code=status, media_type=JSON)


def create_app(service: Service, *, token: str | None = None) -> Starlette:
    """The application around a service (started on startup, stopped on shutdown)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if not service.ready:
            service.start()
        yield
        service.stop()

    async def one_user(request: Request) -> Response:
        started = time.perf_counter()
        params = request.query_params
        exclude = params.get("exclude")
        query = Query(
            users=[check_id(request.path_params["user_id"], "user id")],
            k=check_k(params.get("k", service.settings.default_k), service.settings.max_k),
            region=check_region(params.get("region"), service.regions),
            exclude=check_exclude([e for e in exclude.split(",") if e] if exclude else None, 256),
        )
        done = service.answer_from_cache(query) or await service.answer(query)
        deployment, answers = done
        body = {**_model(deployment), **_answer(answers[0])}
        return _done(service, "user", deployment, query, answers, started, body)

    async def batch(request: Request) -> Response:
        started = time.perf_counter()
        settings = service.settings
        body = parse_body(
            await _read_limited(request, settings.max_body_bytes), settings.max_body_bytes
        )
        query = batch_query(
            body,
            default_k=settings.default_k,
            max_k=settings.max_k,
            max_batch=settings.max_batch,
            regions=service.regions,
        )
        deployment, answers = service.answer_from_cache(query) or await service.answer(query)
        payload = {**_model(deployment), "recommendations": [_answer(a) for a in answers]}
        return _done(service, "batch", deployment, query, answers, started, payload)

    async def health(request: Request) -> Response:
        return json_response({"status": "ok"})

    async def ready(request: Request) -> Response:
        deployment = service.deployment
        if deployment is None:
            return json_response({"ready": False}, 503)
        return json_response({"ready": True, **_model(deployment)})

    async def metrics(request: Request) -> Response:
        text, content_type = service.metrics.render()
        return Response(text, media_type=content_type)

    async def openapi(request: Request) -> Response:
        return json_response(openapi_spec(service.settings, service.regions))

    async def reload(request: Request) -> Response:
        _authorize(request, token)
        from starlette.concurrency import run_in_threadpool

        outcome = await run_in_threadpool(service.check_alias, retry_refused=True)
        return json_response(outcome)

    routes = [
        Route("/recommendations/{user_id}", one_user, methods=["GET"]),
        Route("/recommendations", batch, methods=["POST"]),
        Route("/health", health, methods=["GET"]),
        Route("/ready", ready, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/admin/reload", reload, methods=["POST"]),
    ]
    handlers = {BadRequest: _bad_request, HTTPException: _http_error, Exception: _server_error}
    return Starlette(routes=routes, lifespan=lifespan, exception_handlers=handlers)


def create_app_from_env() -> Starlette:
    """The app of one worker process of ``reelflow serve`` (settings from the environment)."""
    from reelflow.registry import Registry
    from reelflow.store import Store, StoreConfig

    settings = ServeSettings.from_env()
    config = StoreConfig.at(settings.store_home, settings.store_db, settings.store_artifacts)
    store = Store(config, create=False)
    return create_app(Service(settings, Registry(store)), token=admin_token())


def _done(
    service: Service,
    endpoint: str,
    deployment: Any,
    query: Query,
    answers: list[Answer],
    started: float,
    body: dict[str, Any],
) -> Response:
    seconds = time.perf_counter() - started
    fallback = any(a.fallback for a in answers)
    service.metrics.count_request(endpoint, "fallback" if fallback else "ok", seconds)
    service.log_request(deployment, query, answers, seconds)
    return json_response(body)


def _model(deployment: Any) -> dict[str, Any]:
    return {"model": deployment.version.name, "version": deployment.version.version}


def _answer(answer: Answer) -> dict[str, Any]:
    return {
        "user_id": answer.user_id,
        "items": answer.items,
        "scores": answer.scores,
        "fallback": answer.fallback,
    }


async def _read_limited(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it exceeds ``limit`` (never read whole first)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BadRequest(413, f"the body is {int(declared):,} bytes; at most {limit:,} are allowed")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BadRequest(413, f"the body is over {limit:,} bytes, the limit")
        chunks.append(chunk)
    return b"".join(chunks)


def _authorize(request: Request, token: str | None) -> None:
    if token is None:
        raise BadRequest(
            403, "admin endpoints are disabled; start the server with REELFLOW_ADMIN_TOKEN set"
        )
    given = request.headers.get("authorization", "")
    scheme, _, value = given.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(value.encode(), token.encode()):
        raise BadRequest(401, "admin endpoints need 'Authorization: Bearer <token>'")


async def _bad_request(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, BadRequest)
    return json_response({"error": exc.message}, exc.status)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return json_response({"error": str(exc.detail)}, exc.status_code)


async def _server_error(request: Request, exc: Exception) -> Response:
    return json_response({"error": f"internal error: {type(exc).__name__}"}, 500)
