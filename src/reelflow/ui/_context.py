"""What every handler of one UI shares: the store and the APIs over it, the templates, and
whether (and with which token) writes are allowed."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import jinja2
import orjson
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from reelflow.bench import Leaderboard
from reelflow.flow import Client
from reelflow.registry import Registry
from reelflow.store import Store


@dataclass
class UI:
    store: Store
    allow_writes: bool = False
    token: str | None = field(default=None, repr=False)  # never shown, never logged

    @cached_property
    def client(self) -> Client:
        return Client(self.store)

    @cached_property
    def registry(self) -> Registry:
        return Registry(self.store)

    @cached_property
    def board(self) -> Leaderboard:
        return Leaderboard(self.store)

    @cached_property
    def templates(self) -> jinja2.Environment:
        env = jinja2.Environment(
            loader=jinja2.PackageLoader("reelflow.ui", "templates"),
            autoescape=True,
        )
        env.filters.update(when=when, duration=duration, size=size, num=num, dumps=dumps_text)
        return env

    @property
    def writable(self) -> bool:
        """Write forms are shown (and accepted) only with --allow-writes and a token set."""
        return self.allow_writes and self.token is not None

    def page(self, request: Request, name: str, code: int = 200, **values: Any) -> Response:
        template = self.templates.get_template(name)
        text = template.render(request=request, writable=self.writable, **values)
        return HTMLResponse(text, status_code=code)


def json_response(value: Any, status: int = 200) -> Response:
    return Response(dumps(value), status_code=status, media_type="application/json")


def dumps(value: Any) -> bytes:
    """JSON with NaN as null and anything else orjson cannot encode as its text."""
    return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS)


def dumps_text(value: Any) -> str:
    return dumps(value).decode("utf-8")


def when(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def duration(seconds: float | None) -> str:
    if seconds is None or math.isnan(seconds):
        return "-"
    if seconds < 60:
        return f"{seconds:.2f}s" if seconds < 10 else f"{seconds:.1f}s"
    minutes, rest = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {rest:02d}s"


def size(count: int | None) -> str:
    if count is None:
        return "-"
    value = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"


def num(value: Any, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, int | float):
        return f"{value:.{digits}g}"
    return str(value)
