"""The service in-process: answers and fallbacks, every 4xx, hot swap and refusal, rollback,
admin token, metrics, and request logging (also when the disk is full)."""

from __future__ import annotations

import errno
import time
from typing import Any

import numpy as np
import pytest
from starlette.testclient import TestClient

from reelflow.data import Interactions
from reelflow.models import EASE, MostPopular
from reelflow.registry import Registry
from reelflow.serve._app import create_app
from reelflow.serve._log_format import read_requests
from reelflow.serve._service import Service
from reelflow.store import Store

from .conftest import TOKEN, known_user, settings_for, user_seen


def test_a_known_user_gets_the_models_list_without_seen_items(
    client: TestClient, log: Interactions
) -> None:
    user = known_user(log)
    body = client.get(f"/recommendations/{user}", params={"k": 5}).json()
    assert (body["model"], body["version"], body["fallback"]) == ("recs", 1, None)
    assert len(body["items"]) == 5 and body["scores"] == sorted(body["scores"], reverse=True)
    assert not set(body["items"]) & user_seen(log, user)
    excluded = client.get(
        f"/recommendations/{user}", params={"k": 5, "exclude": ",".join(body["items"][:2])}
    ).json()
    assert excluded["items"][:3] == body["items"][2:]


def test_cold_start_users_get_regional_popularity(client: TestClient, log: Interactions) -> None:
    answers = {
        region: client.get("/recommendations/newcomer", params={"k": 5, "region": region}).json()
        for region in ("us", "eu")
    }
    assert all(a["fallback"] == "cold_start" for a in answers.values())
    expected = (
        MostPopular(by="region")
        .fit(log)
        .recommend([log.users.ids[0]], k=5, exclude_seen=False, context=["eu"])
    )
    assert answers["eu"]["items"] == [str(v) for v in expected.items[0]]
    assert answers["us"]["items"] != answers["eu"]["items"], "regions differ in the synthetic log"


def test_model_errors_and_timeouts_get_the_fallback(
    store: Store, registry: Registry, log: Interactions, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = known_user(log)
    service = Service(settings_for(store, budget_ms=300.0, precompute_mb=0), registry)
    with TestClient(create_app(service)) as client:
        deployment = service.deployment
        assert deployment is not None

        def broken(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("model exploded")

        monkeypatch.setattr(deployment.model, "recommend", broken)
        body = client.get(f"/recommendations/{user}").json()
        assert body["fallback"] == "error" and len(body["items"]) == 10
        assert not set(body["items"]) & user_seen(log, user), "seen items left out"

        def slow(*args: Any, **kwargs: Any) -> Any:
            time.sleep(2.0)
            raise AssertionError("unreachable in time")

        monkeypatch.setattr(deployment.model, "recommend", slow)
        started = time.perf_counter()
        response = client.get(f"/recommendations/{user}")
        elapsed = time.perf_counter() - started
        assert response.status_code == 200 and response.json()["fallback"] == "timeout"
        assert elapsed < 1.5, "answered within the budget, not after the model"
        metrics = client.get("/metrics").text
        assert 'reelflow_fallbacks_total{reason="error"} 1.0' in metrics
        assert 'reelflow_fallbacks_total{reason="timeout"} 1.0' in metrics


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "message"),
    [
        ("get", "/recommendations/1", {"params": {"k": 0}}, 422, "k must be an integer from 1"),
        ("get", "/recommendations/1", {"params": {"k": 101}}, 422, "k must be an integer from 1"),
        ("get", "/recommendations/1", {"params": {"k": "ten"}}, 422, "got 'ten'"),
        ("get", "/recommendations/%01x", {}, 400, "is malformed"),
        ("get", "/recommendations/" + "u" * 300, {}, 400, "is malformed"),
        ("get", "/recommendations/1", {"params": {"region": "mars"}}, 422, "unknown region"),
        ("post", "/recommendations", {"content": b"{not json"}, 400, "not valid JSON"),
        ("post", "/recommendations", {"content": b"[1, 2]"}, 400, "must be a JSON object"),
        ("post", "/recommendations", {"json": {"users": []}}, 422, "non-empty list"),
        ("post", "/recommendations", {"json": {"users": ["1"] * 257}}, 413, "at most 256"),
        ("post", "/recommendations", {"json": {"users": [1], "kk": 3}}, 422, "unknown field"),
        ("post", "/recommendations", {"json": {"users": [1.5]}}, 400, "string or an integer"),
        (
            "post",
            "/recommendations",
            {"json": {"users": ["1"], "context": {"device": "tv"}}},
            422,
            "unknown context field",
        ),
        (
            "post",
            "/recommendations",
            {"json": {"users": ["1"], "exclude": "abc"}},
            422,
            "exclude must be a list",
        ),
        ("post", "/recommendations", {"content": b"x" * 300_000}, 413, "at most 262,144"),
        ("get", "/nowhere", {}, 404, "Not Found"),
        ("delete", "/recommendations", {}, 405, "Method Not Allowed"),
    ],
)
def test_bad_requests_are_4xx_with_a_json_reason(
    client: TestClient, method: str, path: str, kwargs: dict[str, Any], status: int, message: str
) -> None:
    response = getattr(client, method)(path, **kwargs)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]


def test_the_batch_endpoint_answers_each_user(client: TestClient, log: Interactions) -> None:
    users = [known_user(log), "stranger", int(log.users.ids[1])]
    body = client.post(
        "/recommendations", json={"users": users, "k": 3, "context": {"region": "us"}}
    ).json()
    answers = body["recommendations"]
    assert [a["user_id"] for a in answers] == [str(u) for u in users]
    assert [a["fallback"] for a in answers] == [None, "cold_start", None]
    assert all(len(a["items"]) == 3 for a in answers)


def test_health_ready_openapi(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/ready").json() == {"ready": True, "model": "recs", "version": 1}
    spec = client.get("/openapi.json").json()
    assert set(spec["paths"]) >= {"/recommendations/{user_id}", "/recommendations"}


def test_hot_swap_refuses_a_broken_candidate_then_follows_promotion_and_rollback(
    client: TestClient,
    service: Service,
    registry: Registry,
    log: Interactions,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    user = known_user(log)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert client.post("/admin/reload").status_code == 401
    assert client.post("/admin/reload", headers={"Authorization": "Bearer nope"}).status_code == 401

    registry.register("recs", EASE(l2=10.0).fit(log), verify=False)  # version 2: sound
    original = EASE.save

    def broken_save(self: EASE, path: Any) -> Any:
        folder = original(self, path)
        (folder / "arrays.npz").write_bytes(b"damaged")
        return folder

    monkeypatch.setattr(EASE, "save", broken_save)
    registry.register("recs", EASE(l2=50.0).fit(log), verify=False)  # version 3: cannot load
    monkeypatch.undo()

    registry.promote("recs", 3)
    refused = client.post("/admin/reload", headers=auth).json()
    assert refused["swapped"] is False and "recs:3 refused" in refused["reason"]
    assert client.get(f"/recommendations/{user}").json()["version"] == 1, "old one serves"

    registry.promote("recs", 2)
    assert client.post("/admin/reload", headers=auth).json() == {
        "swapped": True,
        "version": 2,
        "previous": 1,
    }
    assert client.get(f"/recommendations/{user}").json()["version"] == 2
    assert "reelflow_model_version" in client.get("/metrics").text

    registry.rollback("recs")  # champion back to 3 (the broken one): refused again
    assert registry.get("recs@champion").version == 3
    assert client.post("/admin/reload", headers=auth).json()["swapped"] is False
    registry.rollback("recs")  # and back to 1
    assert client.post("/admin/reload", headers=auth).json()["version"] == 1
    assert client.get(f"/recommendations/{user}").json()["version"] == 1
    assert service.metrics.swaps.labels("refused")._value.get() == 2


def test_the_watcher_swaps_without_being_asked(
    store: Store, registry: Registry, log: Interactions
) -> None:
    service = Service(settings_for(store, poll_seconds=0.2), registry)
    with TestClient(create_app(service)) as client:
        registry.register("recs", EASE(l2=10.0).fit(log), verify=False)
        registry.promote("recs", 2)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if client.get("/ready").json()["version"] == 2:
                break
            time.sleep(0.1)
        assert client.get("/ready").json()["version"] == 2


def test_sampled_requests_are_written_as_parquet(
    store: Store, registry: Registry, log: Interactions
) -> None:
    service = Service(settings_for(store, log_sample=1.0, log_flush_seconds=0.2), registry)
    with TestClient(create_app(service)) as client:
        for user in (known_user(log), "stranger"):
            client.get(f"/recommendations/{user}", params={"k": 4, "region": "eu"})
    table = read_requests(store.config.home, "recs")
    rows = table.to_pylist()
    assert [(r["user_id"], r["fallback"], r["region"], r["k"]) for r in rows] == [
        (known_user(log), None, "eu", 4),
        ("stranger", "cold_start", "eu", 4),
    ]
    assert rows[0]["version"] == 1 and len(rows[0]["items"]) == 4
    assert np.isfinite(rows[0]["scores"]).all() and rows[0]["latency_ms"] > 0


def test_a_full_disk_drops_log_rows_never_requests(
    store: Store, registry: Registry, log: Interactions
) -> None:
    service = Service(settings_for(store, log_sample=1.0, log_flush_seconds=0.1), registry)

    def full_disk(*args: Any, **kwargs: Any) -> Any:
        raise OSError(errno.ENOSPC, "No space left on device")

    service.requests_log._writer = full_disk
    with TestClient(create_app(service)) as client:
        for _ in range(20):
            assert client.get(f"/recommendations/{known_user(log)}").status_code == 200
        time.sleep(0.4)
        metrics = client.get("/metrics").text
    assert 'reelflow_request_log_dropped_total{reason="write_failed"} 20.0' in metrics
    assert read_requests(store.config.home, "recs").num_rows == 0


def test_precomputed_answers_equal_live_ones(
    store: Store, registry: Registry, log: Interactions
) -> None:
    cached = Service(settings_for(store, max_k=20), registry)
    live = Service(settings_for(store, max_k=20, precompute_mb=0), registry)
    with TestClient(create_app(cached)) as fast, TestClient(create_app(live)) as slow:
        assert cached.deployment is not None and cached.deployment.cache is not None
        assert live.deployment is not None and live.deployment.cache is None
        for user in [str(u) for u in log.users.ids[:25]]:
            for params in ({"k": 7}, {"k": 20}, {"k": 5, "exclude": "1,2,3,4,5,6,7,8"}):
                ours, theirs = (
                    c.get(f"/recommendations/{user}", params=params).json() for c in (fast, slow)
                )
                assert ours["items"] == theirs["items"], (user, params)
                assert ours["scores"] == pytest.approx(theirs["scores"], rel=1e-5)
                assert ours["fallback"] is theirs["fallback"] is None


def test_excluding_past_the_stored_depth_asks_the_model(
    store: Store, registry: Registry, log: Interactions
) -> None:
    service = Service(settings_for(store, max_k=5, default_k=5), registry)
    with TestClient(create_app(service)) as client:
        deployment = service.deployment
        assert deployment is not None and deployment.cache is not None
        user = known_user(log)
        top = client.get(f"/recommendations/{user}", params={"k": 5}).json()["items"]
        assert deployment.cached(0, 5, None, frozenset(top)) is None
        rest = client.get(
            f"/recommendations/{user}", params={"k": 5, "exclude": ",".join(top)}
        ).json()
        assert rest["fallback"] is None and len(rest["items"]) == 5
        assert not set(rest["items"]) & set(top)
