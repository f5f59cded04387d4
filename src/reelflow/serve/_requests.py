"""Reading and checking requests: every problem is a 4xx with a JSON body saying what is wrong."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

_ID = re.compile(r"[^\x00-\x1f\x7f]{1,256}")


class BadRequest(Exception):
    """A request the service refuses, with the HTTP status and a one-line reason."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Query:
    """A checked request: users, list length, context value and items to leave out."""

    users: list[str]
    k: int
    region: str | None
    exclude: frozenset[str]


def check_id(value: Any, what: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise BadRequest(400, f"{what} must be a string or an integer, got {type(value).__name__}")
    text = str(value)
    if not _ID.fullmatch(text):
        raise BadRequest(400, f"{what} {text[:40]!r} is malformed: 1-256 printable characters")
    return text


def check_k(value: Any, max_k: int) -> int:
    if isinstance(value, str):
        value = int(value) if value.strip().lstrip("-").isdigit() else value
    elif isinstance(value, float) and value.is_integer():  # JSON Schema: 10.0 is an integer
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= max_k:
        raise BadRequest(422, f"k must be an integer from 1 to {max_k}, got {value!r}")
    return value


def check_region(value: Any, known: frozenset[str] | None) -> str | None:
    if value is None:
        return None
    region = check_id(value, "region")
    if known is not None and region not in known:
        shown = ", ".join(sorted(known)[:10])
        raise BadRequest(422, f"unknown region {region!r}; known regions: {shown}")
    return region


def check_exclude(value: Any, limit: int) -> frozenset[str]:
    if value is None:
        return frozenset()
    if not isinstance(value, list):
        raise BadRequest(422, "exclude must be a list of item ids")
    if len(value) > limit:
        raise BadRequest(413, f"exclude lists {len(value)} items; at most {limit} are allowed")
    return frozenset(check_id(v, "excluded item") for v in value)


def parse_body(raw: bytes, max_bytes: int) -> dict[str, Any]:
    if len(raw) > max_bytes:
        raise BadRequest(413, f"the body is {len(raw):,} bytes; at most {max_bytes:,} are allowed")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadRequest(400, "the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise BadRequest(400, "the body must be a JSON object with a 'users' list")
    return body


def batch_query(
    body: dict[str, Any],
    *,
    default_k: int,
    max_k: int,
    max_batch: int,
    regions: frozenset[str] | None,
) -> Query:
    """The query of ``POST /recommendations``: ``{"users": [...], "k": 10, "context":
    {"region": "us"}, "exclude": ["item", ...]}``."""
    unknown = sorted(set(body) - {"users", "k", "context", "exclude"})
    if unknown:
        raise BadRequest(422, f"unknown field(s) {unknown}; use users, k, context, exclude")
    users = body.get("users")
    if not isinstance(users, list) or not users:
        raise BadRequest(422, "users must be a non-empty list of user ids")
    if len(users) > max_batch:
        raise BadRequest(413, f"the batch has {len(users)} users; at most {max_batch} are allowed")
    context = body.get("context") or {}
    if not isinstance(context, dict):
        raise BadRequest(422, 'context must be an object such as {"region": "us"}')
    extra = sorted(set(context) - {"region"})
    if extra:
        raise BadRequest(422, f"unknown context field(s) {extra}; the service knows: region")
    return Query(
        users=[check_id(u, "user id") for u in users],
        k=check_k(body.get("k", default_k), max_k),
        region=check_region(context.get("region"), regions),
        exclude=check_exclude(body.get("exclude"), max_k * 10),
    )
