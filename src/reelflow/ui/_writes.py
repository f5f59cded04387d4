"""Actions that change the store: tag a run, promote a version, roll an alias back.

They exist only when the UI was started with ``--allow-writes`` and ``REELFLOW_UI_TOKEN`` is
set, and each request must carry that token (``Authorization: Bearer <token>``, or a ``token``
form field). They go through the Client and the registry, so gates and history apply as on the
command line.
"""

from __future__ import annotations

import hmac
import os
from typing import Any

from starlette.requests import Request

from reelflow.registry import CHAMPION, Promotion
from reelflow.ui._context import UI
from reelflow.ui._params import BadRequest, name, tag, whole

TOKEN_ENV = "REELFLOW_UI_TOKEN"


def ui_token() -> str | None:
    """The token write actions require (None: writes are refused)."""
    token = os.environ.get(TOKEN_ENV, "").strip()
    return token or None


def check_writable(ui: UI) -> None:
    """Refuse a write (403) unless writes are on and a token is configured: decided from the
    UI's settings alone, before a byte of the request's body is read."""
    if not ui.allow_writes:
        raise BadRequest(403, "this UI is read-only; start it with 'reelflow ui --allow-writes'")
    if ui.token is None:
        raise BadRequest(403, f"writes need a token: set {TOKEN_ENV} before 'reelflow ui'")


def bearer(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer`` header (None without one)."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


def check_token(ui: UI, given: str | None) -> None:
    """Refuse a write (401) whose token, from the header or the form, is not the UI's."""
    expected = ui.token or ""
    if not given or not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        raise BadRequest(401, "a write needs the UI's token (Authorization: Bearer, or the form)")


def tag_run(ui: UI, run_id: int, form: dict[str, str]) -> list[str]:
    """Add (``action=add``, the default) or remove (``action=remove``) the tag ``tag``."""
    label = tag(form.get("tag"))
    if label is None:
        raise BadRequest(400, "give the tag to add or remove")
    action = form.get("action") or "add"
    if action not in ("add", "remove"):
        raise BadRequest(400, f"action must be add or remove, not {action!r}")
    run = ui.client.run(run_id)
    (run.add_tag if action == "add" else run.remove_tag)(label)
    return list(run.tags)


def promote(ui: UI, model: str, form: dict[str, str]) -> Promotion:
    """Promote ``version`` to ``alias`` through the default gates (as ``reelflow models
    promote`` without ``--data``); a refusal is recorded and returned, not raised."""
    from reelflow.guards import loads_in_fresh_process, no_nan_scores, not_degenerate

    version = whole(form.get("version", ""))
    if version is None or version < 1:
        raise BadRequest(400, "version must be a version number (1, 2, ...)")
    alias = name(form.get("alias"), "alias") or CHAMPION
    gates = [no_nan_scores(), not_degenerate(), loads_in_fresh_process()]
    return ui.registry.promote(
        model, version, gates=gates, alias=alias, reason=_reason(form),
        raise_on_refusal=False,
    )  # fmt: skip


def rollback(ui: UI, model: str, form: dict[str, str]) -> int:
    alias = name(form.get("alias"), "alias") or CHAMPION
    return ui.registry.rollback(model, alias=alias, reason=_reason(form))


def promotion_json(promotion: Promotion) -> dict[str, Any]:
    return {
        "id": promotion.id,
        "name": promotion.name,
        "version": promotion.version,
        "alias": promotion.alias,
        "status": promotion.status,
        "promoted": promotion.promoted,
        "summary": promotion.summary(),
        "results": [r.to_record() for r in promotion.results],
    }


def _reason(form: dict[str, str]) -> str | None:
    reason = (form.get("reason") or "").strip()
    return reason[:2000] or None
