"""A real server on loopback, started and stopped like a user does: `reelflow serve`."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from loopback import free_port, start_server
from reelflow.data import Interactions
from reelflow.models import EASE
from reelflow.registry import Registry
from reelflow.serve._log_format import read_requests
from reelflow.store import Store

from .conftest import TOKEN, known_user

# uvicorn shuts down gracefully on SIGTERM, then re-raises the signal so the exit status says so
GRACEFUL = (0, -signal.SIGTERM)


def start(cwd: Path, *args: str) -> tuple[subprocess.Popen[str], str]:
    return start_server(cwd, *args, env={"REELFLOW_ADMIN_TOKEN": TOKEN})


@pytest.fixture
def stop_later() -> Iterator[list[subprocess.Popen[str]]]:
    servers: list[subprocess.Popen[str]] = []
    yield servers
    for server in servers:
        if server.poll() is None:
            server.kill()
            server.wait()


def test_serve_answers_follows_the_champion_and_stops_gracefully(
    store: Store,
    registry: Registry,
    log: Interactions,
    stop_later: list[subprocess.Popen[str]],
) -> None:
    server, url = start(
        store.config.home.parent, "recs", "--fallback", "popular:1", "--poll", "0.3",
        "--log-sample", "1",
    )  # fmt: skip
    stop_later.append(server)
    user = known_user(log)
    first = httpx.get(f"{url}/recommendations/{user}", params={"k": 3}).json()
    assert (first["version"], first["fallback"], len(first["items"])) == (1, None, 3)

    registry.register("recs", EASE(l2=20.0).fit(log), verify=False)
    registry.promote("recs", 2)
    deadline = time.monotonic() + 20
    while httpx.get(f"{url}/ready").json()["version"] != 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert httpx.get(f"{url}/recommendations/{user}").json()["version"] == 2

    server.send_signal(signal.SIGTERM)
    assert server.wait(timeout=30) in GRACEFUL
    assert "serving recs:1 (EASE)" in server.communicate()[1]
    logged = read_requests(store.config.home, "recs").to_pylist()
    assert [r["version"] for r in logged] == [1, 2], "the shutdown flushed the request log"


def test_two_workers_share_the_port_and_their_metrics(
    store: Store,
    registry: Registry,
    log: Interactions,
    stop_later: list[subprocess.Popen[str]],
) -> None:
    server, url = start(store.config.home.parent, "recs@champion", "--workers", "2")
    stop_later.append(server)
    with httpx.Client() as client:
        for _i in range(40):
            assert client.get(f"{url}/recommendations/{known_user(log)}").status_code == 200
        metrics = client.get(f"{url}/metrics").text
    counted = [line for line in metrics.splitlines() if line.startswith("reelflow_requests_total")]
    assert sum(float(line.rsplit(" ", 1)[1]) for line in counted) == 40
    server.send_signal(signal.SIGTERM)
    assert server.wait(timeout=30) in GRACEFUL


def test_an_unservable_reference_fails_before_opening_a_port(
    store: Store, registry: Registry
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "reelflow", "serve", "recs@challenger", "--port", str(free_port())],
        cwd=store.config.home.parent,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "error: recs@challenger is not set; promote a version to challenger first"
    )
