"""The floor of the serving benchmark: a minimal Starlette app answering
``GET /recommendations/{user_id}?k=K`` from precomputed lists held in a dict.

It does what any HTTP service must (parse the request, look the user up, encode JSON with orjson,
send it) and nothing else, with the same JSON shape as ``reelflow serve``: model, version,
user_id, items, scores, fallback. Started by ``serve_load.py`` as

    uvicorn benchlib.serve_floor:create_app --factory --loop uvloop --http httptools
        --log-level warning --no-access-log

with ``BENCH_FLOOR_LISTS`` naming a JSON file ``{"user": {"items": [...], "scores": [...]}}``.
"""

from __future__ import annotations

import os
from pathlib import Path

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


def create_app() -> Starlette:
    lists = orjson.loads(Path(os.environ["BENCH_FLOOR_LISTS"]).read_bytes())

    async def one_user(request: Request) -> Response:
        user = request.path_params["user_id"]
        k = int(request.query_params.get("k", 10))
        found = lists.get(user)
        if found is None:
            return Response(b'{"error":"unknown user"}', 404, media_type="application/json")
        body = {
            "model": "recs",
            "version": 1,
            "user_id": user,
            "items": found["items"][:k],
            "scores": found["scores"][:k],
            "fallback": None,
        }
        return Response(orjson.dumps(body), media_type="application/json")

    async def health(request: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    return Starlette(
        routes=[
            Route("/recommendations/{user_id}", one_user, methods=["GET"]),
            Route("/health", health, methods=["GET"]),
        ]
    )
