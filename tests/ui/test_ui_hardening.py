"""What a reviewer found: inputs that made the UI fail with a 500 (Unicode digits, numbers too
large), an unexpected error answered without the security headers, and pages past the end."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from reelflow.ui import _params as p

from .conftest import client_for
from .test_ui_writes import BEARER, TOKEN


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/runs/%C2%B2", 404),  # "²".isdigit() is True, int("²") fails
        ("/runs/%D9%A1", 404),  # ARABIC-INDIC DIGIT ONE: int() reads it as 1
        ("/runs?page=%C2%B2", 400),
        ("/runs?per_page=%C2%B9", 400),
        ("/runs/1/guards/%C2%B2.png", 404),
        ("/runs/1/tasks/1/logs?attempt=%C2%B2", 400),
        ("/runs/1/tasks/%D9%A1", 404),
        ("/runs/1/tasks/1/artifacts/items?offset=%D9%A1", 400),
        ("/runs/%EF%BC%91", 404),  # FULLWIDTH DIGIT ONE
        ("/runs/+1", 404),
        ("/runs/%201", 404),
    ],
)
def test_unicode_digits_are_not_numbers(ui: TestClient, path: str, status: int) -> None:
    api = ui.get("/api" + path)
    assert api.status_code == status and api.json()["status"] == status
    if not path.endswith(("logs?attempt=%C2%B2",)):
        page = ui.get(path)
        assert page.status_code == status and "<html" in page.text


def test_whole_accepts_ascii_digits_only() -> None:
    assert p.whole("12") == 12 and p.whole(7) == 7 and p.whole("0") == 0
    for bad in (
        "\u00b2",
        "\u0661",
        "\uff11",
        "",
        "-1",
        "+1",
        " 1",
        "1\n",
        "1" * 13,
        True,
        None,
        1.0,
    ):
        assert p.whole(bad) is None, bad


@pytest.fixture
def writable(copied_home: Path) -> Iterator[TestClient]:
    yield from client_for(copied_home, allow_writes=True, token=TOKEN)


@pytest.mark.parametrize("version", ["99999999999999999999999", "\u00b2", "\u0661", "-1", "0"])
def test_a_promotion_of_a_malformed_version_is_a_400(writable: TestClient, version: str) -> None:
    answer = writable.post("/api/models/recs/promote", json={"version": version}, headers=BEARER)
    assert answer.status_code == 400 and "version" in answer.json()["error"]
    assert writable.get("/api/models/recs").json()["aliases"] == {"champion": 1}


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.text = ""

    def emit(self, record: logging.LogRecord) -> None:
        self.text += self.format(record) + "\n"


def test_an_unexpected_error_is_a_500_with_the_security_headers(
    flow_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reelflow.ui import _runs

    def broken(*args: object) -> None:
        raise RuntimeError("secret detail")

    monkeypatch.setattr(_runs, "run_list", broken)
    logged = _Records()
    logging.getLogger("reelflow.ui").addHandler(logged)
    try:
        for client in client_for(flow_home):
            page = client.get("/runs")
            api = client.get("/api/runs")
    finally:
        logging.getLogger("reelflow.ui").removeHandler(logged)
    assert page.status_code == 500 and "<html" in page.text
    assert "secret detail" not in page.text and "secret detail" not in api.text
    assert api.status_code == 500 and api.json()["status"] == 500
    for answer in (page, api):
        assert "script-src 'self'" in answer.headers["content-security-policy"]
        assert answer.headers["x-content-type-options"] == "nosniff"
    assert "secret detail" in logged.text and "Traceback" in logged.text


def test_pickled_artifacts_show_how_to_load_them_and_are_never_loaded(
    ui: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pickle

    from reelflow.store import Store

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the UI unpickled an artifact")

    for target, attribute in ((pickle, "loads"), (pickle, "load"), (Store, "load")):
        monkeypatch.setattr(target, attribute, refuse)
    second = ui.get("/api/runs/1/tasks/6/artifacts/result").json()  # a foreach's second task
    assert second["kind"] == "pickle"
    assert second["hint"] == 'Client().run(1)["train_candidate"].tasks[1]["result"]'
    page = ui.get("/runs/1/tasks/6/artifacts/result")
    assert page.status_code == 200 and "never loads pickles" in page.text
    assert "Client().run(1)[&#34;train_candidate&#34;].tasks[1][&#34;result&#34;]" in page.text
    assert ui.get("/runs/1/tasks/6/artifacts/result/raw").status_code == 404


FLOWS = Path(__file__).resolve().parent / "flows"
CHUNK = b"tag=" + b"x" * (16 * 1024 - 4)


def _post(app: object, path: str, headers: dict[str, str], chunks: int) -> tuple[int, int]:
    """POST ``chunks`` pieces of 16 KB to ``app`` over ASGI; the status and how many pieces
    the app read."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    read = 0
    status = 0

    async def receive() -> dict[str, object]:
        nonlocal read
        read += 1
        return {"type": "http.request", "body": CHUNK, "more_body": read < chunks}

    async def send(message: dict[str, object]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])  # type: ignore[call-overload]

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8080),
        "headers": [(b"host", b"127.0.0.1")]
        + [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }  # fmt: skip
    with ThreadPoolExecutor(1) as thread:  # its own event loop, whatever else runs one
        thread.submit(asyncio.run, app(scope, receive, send)).result()  # type: ignore[operator]
    return status, read


FORM = {"content-type": "application/x-www-form-urlencoded"}


def test_writes_are_refused_before_the_body_is_read(flow_home: Path, copied_home: Path) -> None:
    from reelflow.store import Store
    from reelflow.ui import create_app

    stores = [Store.open(flow_home, create=False), Store.open(copied_home, create=False)]
    read_only = create_app(stores[0])
    assert _post(read_only, "/api/runs/1/tags", FORM, chunks=1000) == (403, 0)
    writable = create_app(stores[1], allow_writes=True, token=TOKEN)
    wrong = {**FORM, "authorization": "Bearer wrong"}
    assert _post(writable, "/api/runs/1/tags", wrong, chunks=1000) == (401, 0)
    declared = {**BEARER, **FORM, "content-length": str(10**9)}
    assert _post(writable, "/api/runs/1/tags", declared, chunks=1000) == (413, 0)
    status, read = _post(writable, "/api/runs/1/tags", {**BEARER, **FORM}, chunks=1000)
    assert status == 413 and read <= 5  # streamed, stopped past 64 KB
    status, read = _post(writable, "/runs/1/tags", FORM, chunks=1000)  # the form's token
    assert status == 413 and read <= 5
    assert _post(writable, "/api/runs/1/tags", {**FORM, "content-length": "1e3"}, 1)[0] == 400
    for store in stores:
        store.metadata.close()


def test_a_killed_runs_unfinished_attempts_show_as_interrupted(copied_home: Path) -> None:
    """The scheduler and its workers killed with SIGKILL leave the run, its tasks and attempts
    marked running in the store; the UI shows them interrupted and stops following them."""
    import os
    import shutil
    import signal
    import subprocess
    import sys
    import time

    shutil.copy(FLOWS / "ticking.py", copied_home / "ticking.py")
    env = {k: v for k, v in os.environ.items() if not k.startswith("REELFLOW_")}
    flow = subprocess.Popen(
        [sys.executable, "-m", "reelflow", "run", "ticking.py", "--plain"], cwd=copied_home,
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        for client in client_for(copied_home):
            deadline = time.monotonic() + 60
            while not [t for t in _tasks(client, 4) if t["step"] == "tick"]:
                assert time.monotonic() < deadline, "the flow did not reach its tick step"
                time.sleep(0.2)
            time.sleep(1.0)  # an attempt has printed
    finally:
        os.killpg(flow.pid, signal.SIGKILL)  # the scheduler and its workers, as kill -9 does
        flow.wait(10)
    for client in client_for(copied_home):
        run = client.get("/api/runs/4").json()
        assert run["status"] == "interrupted"
        ticks = [t for t in _tasks(client, 4) if t["step"] == "tick"]
        assert ticks and {t["status"] for t in ticks} == {"interrupted"}
        status = client.get("/api/runs/4/status").json()
        assert status["running"] is False and status["nodes"]["tick"]["status"] == "interrupted"
        assert "running" not in {t["status"] for t in status["tasks"]}
        task = client.get(f"/api/runs/4/tasks/{ticks[0]['id']}").json()
        assert [a["status"] for a in task["attempts"]] == ["interrupted"]
        logs = client.get(f"/api/runs/4/tasks/{ticks[0]['id']}/logs").json()
        assert logs["running"] is False and logs["status"] == "interrupted"
        assert "tick" in logs["stdout"]  # what it printed before it was killed
        page = client.get(f"/runs/4/tasks/{ticks[0]['id']}").text
        assert "data-poll" not in page and 'class="status interrupted"' in page
        assert 'class="status running"' not in page
        assert "data-poll" not in client.get("/runs/4").text


def _tasks(client: TestClient, run_id: int) -> list[dict[str, object]]:
    answer = client.get(f"/api/runs/{run_id}")
    if answer.status_code != 200:
        return []
    return [t for step in answer.json()["steps"] for t in step["tasks"]]


@pytest.mark.parametrize("page", ["4", "1000000000"])
def test_a_page_past_the_end_is_the_last_page(ui: TestClient, page: str) -> None:
    listed = ui.get(f"/api/runs?per_page=1&page={page}").json()
    assert (listed["page"], listed["pages"], [r["id"] for r in listed["runs"]]) == (3, 3, [1])
    html = ui.get(f"/runs?per_page=1&page={page}").text
    assert "page 3 of 3" in html and 'href="/runs/1"' in html
    alone = ui.get(f"/api/runs?flow=NoSuchFlow&page={page}").json()
    assert (alone["page"], alone["pages"], alone["runs"]) == (1, 1, [])


def _counting(monkeypatch: pytest.MonkeyPatch, owner: type, method: str) -> list[object]:
    """Count the calls of ``owner.method`` (still made)."""
    calls: list[object] = []
    real = getattr(owner, method)

    def counted(self: object, *args: object, **kwargs: object) -> object:
        calls.append(kwargs or args)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(owner, method, counted)
    return calls


def test_a_task_and_its_log_poll_read_one_task_not_the_runs_tasks(
    ui: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reelflow.store._metadata import MetadataStore

    listed = _counting(monkeypatch, MetadataStore, "list_tasks")
    assert ui.get("/api/runs/1/tasks/1/logs").status_code == 200
    assert ui.get("/api/runs/1/tasks/1").status_code == 200
    assert ui.get("/runs/1/tasks/1").status_code == 200
    assert listed == []
    assert ui.get("/api/runs/2/tasks/1").status_code == 404  # task 1 is run 1's


def test_the_run_page_reads_its_guard_results_once(
    ui: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reelflow.store._guards import GuardResultStore

    queries = _counting(monkeypatch, GuardResultStore, "query")
    assert ui.get("/runs/3").status_code == 200
    assert len(queries) == 1


def test_a_models_page_reads_every_promotions_results_in_one_query(
    writable: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reelflow.store._guards import GuardResultStore

    writable.post("/api/models/recs/promote", json={"version": 2}, headers=BEARER)  # refused
    queries = _counting(monkeypatch, GuardResultStore, "query")
    history = writable.get("/api/models/recs").json()["history"]
    assert [e["action"] for e in history][:1] == ["refused"] and len(history) >= 2
    assert all(e["promotion"]["results"] for e in history if e["promotion"])
    assert len(queries) == 1


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("", 200), ("metric=ndcg@10", 400), ("metric=ndcg@10&data=x", 400),
        ("metric=ndcg@10&data=x&split=y", 200), ("metric=ndcg@10&data=x&split=y&sort=evil", 400),
        ("metric=ndcg@10&data=x&split=y&sort=fit_s&desc=0", 200), ("colour=red", 400),
    ],
)  # fmt: skip
def test_the_leaderboard_page_and_api_read_a_query_alike(
    ui: TestClient, query: str, status: int
) -> None:
    assert ui.get(f"/leaderboard?{query}").status_code == status
    assert ui.get(f"/api/leaderboard?{query}").status_code == status


def test_a_monitor_report_name_must_match_whole() -> None:
    from reelflow.ui._monitoring import REPORT

    assert REPORT.fullmatch("monitor-recs-20260101T000000Z.html")
    assert not REPORT.fullmatch("monitor-recs-20260101T000000Z.html\n")
    assert not REPORT.fullmatch("monitor-recs-2026\u0661101T000000Z.html")
