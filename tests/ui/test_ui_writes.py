"""Writes (tag, promote, roll back) exist only with --allow-writes and the token, and go through
the registry's gates: a degenerate version is refused and the refusal is in the history."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from .conftest import client_for

TOKEN = "s3cret-token"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def writable(copied_home: Path) -> Iterator[TestClient]:
    yield from client_for(copied_home, allow_writes=True, token=TOKEN)


def test_writes_are_refused_by_a_read_only_ui(ui: TestClient) -> None:
    refused = ui.post("/api/runs/1/tags", json={"tag": "x"}, headers=BEARER)
    assert refused.status_code == 403 and "read-only" in refused.json()["error"]
    assert ui.post("/runs/1/tags", data={"tag": "x", "token": TOKEN}).status_code == 403
    assert (
        "nightly" in ui.get("/api/runs/1").json()["tags"] and "<form" not in ui.get("/runs/1").text
    )


def test_writes_are_refused_without_a_configured_token(copied_home: Path) -> None:
    for client in client_for(copied_home, allow_writes=True, token=None):
        refused = client.post("/api/runs/1/tags", json={"tag": "x"}, headers=BEARER)
        assert refused.status_code == 403 and "REELFLOW_UI_TOKEN" in refused.json()["error"]


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}]
)
def test_writes_need_the_right_token(writable: TestClient, headers: dict[str, str]) -> None:
    refused = writable.post("/api/runs/1/tags", json={"tag": "x"}, headers=headers)
    assert refused.status_code == 401 and TOKEN not in refused.text
    assert "x" not in writable.get("/api/runs/1").json()["tags"]


def test_tagging_with_the_token(writable: TestClient) -> None:
    added = writable.post("/api/runs/1/tags", json={"tag": "best run"}, headers=BEARER)
    assert added.status_code == 200 and "best run" in added.json()["tags"]
    form = {"tag": "best run", "action": "remove", "token": TOKEN}
    removed = writable.post("/runs/1/tags", data=form, follow_redirects=False)
    assert removed.status_code == 303 and removed.headers["location"] == "/runs/1"
    assert "best run" not in writable.get("/api/runs/1").json()["tags"]
    assert 'name="token"' in writable.get("/runs/1").text
    assert writable.post("/api/runs/1/tags", json={"tag": ""}, headers=BEARER).status_code == 400
    assert writable.post("/api/runs/99/tags", json={"tag": "a"}, headers=BEARER).status_code == 404


def test_promotion_goes_through_the_gates(writable: TestClient) -> None:
    refused = writable.post("/api/models/recs/promote", json={"version": 2}, headers=BEARER)
    assert refused.status_code == 409
    body = refused.json()
    assert body["status"] == "refused" and "not_degenerate" in body["summary"]
    assert writable.get("/api/models/recs").json()["aliases"] == {"champion": 1}
    history = writable.get("/api/models/recs").json()["history"]
    assert history[0]["action"] == "refused" and history[0]["promotion"]["results"]
    page = writable.post("/models/recs/promote", data={"version": "1", "alias": "challenger",
                                                       "token": TOKEN})  # fmt: skip
    assert page.status_code == 200 and "promoted recs:1 to challenger" in page.text
    assert writable.get("/api/models/recs").json()["aliases"] == {"champion": 1, "challenger": 1}
    assert (
        writable.post("/api/models/recs/promote", json={"version": "x"}, headers=BEARER).status_code
        == 400
    )
    assert (
        writable.post("/api/models/nope/promote", json={"version": 1}, headers=BEARER).status_code
        == 404
    )


def test_rollback_follows_the_registry_rules(writable: TestClient) -> None:
    nothing = writable.post("/api/models/recs/rollback", json={"reason": "bad"}, headers=BEARER)
    assert nothing.status_code == 409 and "no earlier version" in nothing.json()["error"]
