"""Checks on what users send (path ids, query parameters, form fields): a bad value is a 400
with a message that says what was expected, never an exception from deeper down."""

from __future__ import annotations

import re
from collections.abc import Mapping

from reelflow.store._records import RUN_STATUSES

_NAME = re.compile(r"[A-Za-z0-9_.@:+\-]{1,200}")
_TAG = re.compile(r"[^\x00-\x1f\x7f]{1,200}")
_DIGITS = re.compile(r"[0-9]{1,12}")  # ASCII only: "²".isdigit() is True but int() refuses it
MAX_PAGE_SIZE = 200


class BadRequest(Exception):
    """A request the UI cannot answer as asked: an HTTP status and a message for the user."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class NotFound(BadRequest):
    def __init__(self, message: str) -> None:
        super().__init__(404, message)


def whole(value: object) -> int | None:
    """``value`` as a whole number when it is one written in 1 to 12 ASCII digits (or an int
    of that size), else None: the one reading of numbers sent by users, so no Unicode digit,
    sign, space or huge number reaches ``int()``."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not _DIGITS.fullmatch(value):
        return None
    return int(value)


def integer(value: str | None, what: str, *, default: int, low: int, high: int) -> int:
    """A whole number in ``[low, high]`` (``default`` when absent)."""
    if value is None or value == "":
        return default
    number = whole(value)
    if number is None or not low <= number <= high:
        raise BadRequest(
            400, f"{what} must be a whole number from {low} to {high}, not {value[:40]!r}"
        )
    return number


def identifier(value: str, what: str) -> int:
    """A positive database id from a path segment (``12``)."""
    number = whole(value)
    if number is None or number < 1:
        raise NotFound(f"{what} {value[:40]!r} is not a valid id")
    return number


def name(value: str | None, what: str) -> str | None:
    """A flow, model, alias or metric name: letters, digits and ``_.@:+-``."""
    if value is None or value == "":
        return None
    if not _NAME.fullmatch(value):
        raise BadRequest(400, f"{what} {value[:60]!r} is malformed (letters, digits, _.@:+- only)")
    return value


def tag(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if not _TAG.fullmatch(value):
        raise BadRequest(400, "a tag is 1 to 200 printable characters")
    return value


def status(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if value not in RUN_STATUSES:
        raise BadRequest(400, f"status must be one of {', '.join(RUN_STATUSES)}, not {value!r}")
    return value


def only_known(params: Mapping[str, str], known: set[str]) -> None:
    """Reject query parameters the endpoint does not read (a typo would silently do nothing)."""
    unknown = sorted(set(params) - known)
    if unknown:
        raise BadRequest(
            400, f"unknown query parameter {unknown[0]!r}; expected {', '.join(sorted(known))}"
        )
