"""The UI's JSON API and pages over a store made by real flow runs: what each shows, and a
proper 404 or 400 (as a page, or JSON under /api) for unknown ids and malformed input."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from .conftest import FINGERPRINT, REPORT, SPLIT


def test_run_list_pages_filters_and_counts(ui: TestClient) -> None:
    body = ui.get("/api/runs").json()
    assert body["total"] == 3 and [r["id"] for r in body["runs"]] == [3, 2, 1]
    assert [r["status"] for r in body["runs"]] == ["failed", "failed", "succeeded"]
    first = body["runs"][2]
    assert first["params"]["size"] == 30000 and first["tags"] == ["nightly", "quickstart"]
    assert first["duration"] > 0
    assert ui.get("/api/runs?status=failed").json()["total"] == 2
    assert [r["id"] for r in ui.get("/api/runs?tag=nightly").json()["runs"]] == [1]
    assert ui.get("/api/runs?flow=NoSuchFlow").json()["total"] == 0
    paged = ui.get("/api/runs?per_page=1&page=2").json()
    assert (paged["pages"], [r["id"] for r in paged["runs"]]) == (3, [2])
    page = ui.get("/runs?status=failed&per_page=1")
    assert page.status_code == 200 and 'href="/runs/3"' in page.text
    assert 'href="/runs/1"' not in page.text
    assert 'per_page=1&amp;status=failed&page=2" rel="next"' in page.text


def test_run_detail_has_steps_tasks_and_the_graph(ui: TestClient) -> None:
    run = ui.get("/api/runs/1").json()
    steps = {s["name"]: s["tasks"] for s in run["steps"]}
    assert len(steps["train_candidate"]) == 3 and steps["end"][0]["status"] == "succeeded"
    page = ui.get("/runs/1").text
    assert 'class="dag"' in page and "train_candidate \u00d73" in page  # the foreach, summarised
    assert page.count('<g class="node succeeded"') == 8
    status = ui.get("/api/runs/2/status").json()
    assert status["running"] is False and status["nodes"]["validate"]["status"] == "failed"
    assert status["nodes"]["features"]["status"] == "pending"


def test_guards_list_failures_first_with_their_plots(ui: TestClient) -> None:
    guards = ui.get("/api/runs/2/guards").json()
    assert guards[0]["name"] == "interactions:duplicates" and guards[0]["status"] == "failed"
    drifted = ui.get("/api/runs/3/guards").json()[0]
    assert (drifted["name"], drifted["status"], drifted["plot"]) == (
        "drift:region",
        "failed",
        "categories",
    )
    image = ui.get(f"/runs/3/guards/{drifted['id']}.png")
    assert image.headers["content-type"] == "image/png" and image.content[:4] == b"\x89PNG"
    assert ui.get(f"/runs/2/guards/{guards[0]['id']}.png").status_code == 404  # no plot
    page = ui.get("/runs/2").text
    assert page.index("interactions:duplicates") < page.index("interactions:missing")


def test_tasks_show_attempts_logs_and_artifact_previews(ui: TestClient) -> None:
    task = ui.get("/api/runs/2/tasks/12").json()
    assert task["status"] == "failed" and task["attempts"][0]["error_type"] == "GuardFailedError"
    logs = ui.get("/api/runs/2/tasks/12/logs").json()
    assert "GuardFailedError" in logs["stderr"] and logs["running"] is False
    table = ui.get("/api/runs/1/tasks/1/artifacts/items?offset=10&limit=5").json()
    assert table["kind"] == "table" and len(table["rows"]) == 5 and table["offset"] == 10
    assert table["total_rows"] > 15 and "item_id" in table["columns"]
    value = ui.get("/api/runs/1/tasks/8/artifacts/test_result").json()
    assert value["kind"] == "pickle" and value["type"] == "dict"
    assert value["hint"] == 'Client().run(1)["choose"].task["test_result"]'
    assert "rows \u00d7" in ui.get("/runs/1/tasks/1/artifacts/log").text


def test_registry_shows_versions_lineage_and_history(ui: TestClient) -> None:
    assert [m["name"] for m in ui.get("/api/models").json()] == ["recs"]
    model = ui.get("/api/models/recs").json()
    assert model["aliases"] == {"champion": 1}
    first = next(v for v in model["versions"] if v["version"] == 1)
    assert first["run_id"] == 1 and first["lineage"]["step"] == "promote"
    promoted = model["history"][-1]
    assert promoted["action"] == "promote" and promoted["promotion"]["results"]
    page = ui.get("/models/recs").text
    assert 'href="/runs/1"' in page and "promotion" in page


def test_leaderboard_groups_entries_sorting_and_chart(ui: TestClient) -> None:
    groups = ui.get("/api/leaderboard").json()["groups"]
    assert [(g["metric"], g["split"], g["entries"]) for g in groups] == [("ndcg@10", SPLIT, 3)]
    query = {"metric": "ndcg@10", "data": FINGERPRINT, "split": SPLIT}
    best = ui.get("/api/leaderboard", params=query).json()["entries"]
    assert [e["model"] for e in best] == ["ease", "als", "mostpop"]
    assert best[0]["ci_low"] == pytest.approx(0.30)
    fastest = ui.get("/api/leaderboard", params={**query, "sort": "fit_s", "desc": "0"}).json()
    assert [e["model"] for e in fastest["entries"]] == ["mostpop", "ease", "als"]
    chart = ui.get("/leaderboard/chart.png", params=query)
    assert chart.status_code == 200 and chart.content[:4] == b"\x89PNG"
    assert "ease" in ui.get("/leaderboard", params=query).text


def test_monitoring_lists_reports_and_serves_them_sandboxed(ui: TestClient) -> None:
    models = ui.get("/api/monitoring").json()
    assert models == [{"model": "recs", "served": True, "reports": [models[0]["reports"][0]]}]
    assert models[0]["reports"][0]["file"] == REPORT
    report = ui.get(f"/monitoring/reports/{REPORT}")
    assert "drift:scores" in report.text
    assert report.headers["content-security-policy"].startswith("sandbox")
    assert ui.get("/monitoring/reports/..%2F..%2Fmetadata.db").status_code == 404
    assert ui.get("/monitoring/reports/monitor-x-20260101T000000Z.html").status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/runs/999", "/runs/abc", "/runs/1/tasks/999", "/runs/1/tasks/1/artifacts/nope",
        "/models/nope", "/runs/1/guards/999999.png", "/no/such/page",
    ],
)  # fmt: skip
def test_unknown_things_are_a_404_page_and_a_json_404(ui: TestClient, path: str) -> None:
    page = ui.get(path)
    assert page.status_code == 404 and "404" in page.text and "<html" in page.text
    if not path.startswith("/no/") and not path.endswith(".png"):
        api = ui.get("/api" + path)
        assert api.status_code == 404 and api.json()["status"] == 404


@pytest.mark.parametrize(
    "query",
    [
        "/runs?page=0", "/runs?page=x", "/runs?per_page=100000", "/runs?status=weird",
        "/runs?flow=a%20b", "/runs?colour=red", "/leaderboard?metric=ndcg@10",
        "/leaderboard?metric=ndcg@10&data=x&split=y&sort=evil",
        "/runs/1/tasks/1/artifacts/items?offset=-1",
    ],
)  # fmt: skip
def test_malformed_queries_are_a_400(ui: TestClient, query: str) -> None:
    page = ui.get(query)
    assert page.status_code == 400 and "bad request" in page.text
    assert ui.get("/api" + query).status_code == 400


def test_pages_answer_loopback_names_only_and_send_security_headers(ui: TestClient) -> None:
    assert ui.get("/runs", headers={"host": "evil.example"}).status_code == 400
    page = ui.get("/runs", headers={"host": "localhost:8080"})
    assert page.status_code == 200
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert ui.get("/static/ui.js").status_code == 200
