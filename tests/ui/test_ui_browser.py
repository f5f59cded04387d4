"""End to end in headless Chromium (Debian's package, driven by Playwright): the run list, a
run's graph and its failed guard, a model's history, a running flow followed live. Takes the
screenshots docs/ui.md shows (see IMAGES). In CI (``CI`` set) a missing browser fails these
tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from loopback import start_reelflow

from .conftest import FINGERPRINT, SPLIT

CHROMIUM = os.environ.get("REELFLOW_TEST_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
# Screenshots go to a temporary folder, or, to refresh the docs' pictures, where
# REELFLOW_SCREENSHOTS says (`REELFLOW_SCREENSHOTS=docs/img pytest tests/ui/test_ui_browser.py`).
ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / os.environ.get(
    "REELFLOW_SCREENSHOTS", str(Path(tempfile.gettempdir()) / "reelflow-ui-screenshots")
)
FLOWS = Path(__file__).resolve().parent / "flows"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set: the browser tests must run)", pytrace=False)
    pytest.skip(f"{reason}; install Debian's chromium and 'pip install playwright'")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed")
    if not os.access(CHROMIUM, os.X_OK):
        _unavailable(f"no Chromium at {CHROMIUM}")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        launched.close()


def start_ui(cwd: Path, *args: str) -> tuple[subprocess.Popen[str], str]:
    """``reelflow ui`` in ``cwd`` on a free loopback port, once it answers."""
    return start_reelflow(cwd, "ui", *args, ready="/api/runs")


@pytest.fixture
def ui_url(flow_home: Path) -> Iterator[str]:
    server, url = start_ui(flow_home)
    yield url
    server.terminate()
    server.wait(10)


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    yield opened
    context.close()
    assert not errors, f"the browser console had errors: {errors}"


def _images_loaded(page: Any) -> None:
    """Wait until every image of the page is drawn (a plot, a chart) and none is broken."""
    check = "images => images.every(i => i.complete && i.naturalWidth > 0)"
    images = page.locator("img")
    for index in range(images.count()):  # plots load lazily, once scrolled to
        images.nth(index).scroll_into_view_if_needed()
    deadline = time.monotonic() + 30
    while not page.locator("img").evaluate_all(check):
        assert time.monotonic() < deadline, "images did not load in 30 s"
        time.sleep(0.1)


def _shot(page: Any, name: str) -> None:
    IMAGES.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(IMAGES / f"ui-{name}.png"), full_page=False)


def test_runs_a_failed_guard_and_a_models_history(page: Any, ui_url: str) -> None:
    page.goto(f"{ui_url}/runs")
    rows = page.locator("#runs tbody tr")
    assert rows.count() == 3 and "failed" in rows.nth(1).inner_text()
    _shot(page, "runs")
    page.click("#runs a[href='/runs/2']")
    page.wait_for_selector("svg.dag")
    assert page.locator("svg.dag g.node.failed").get_attribute("data-step") == "validate"
    assert page.locator("svg.dag g.node.pending").count() == 6
    failed = page.locator("tr.guard.failed").first
    assert "interactions:duplicates" in failed.inner_text()
    page.goto(f"{ui_url}/runs/1")
    assert "train_candidate \u00d73" in page.locator("svg.dag").text_content()
    page.locator("#guards").scroll_into_view_if_needed()
    _images_loaded(page)
    page.goto(f"{ui_url}/runs/2")
    _shot(page, "run")
    page.goto(f"{ui_url}/runs/3")
    _images_loaded(page)
    failed_plot = page.locator("figure.plot.failed").first
    assert "drift:region" in failed_plot.inner_text()
    failed_plot.screenshot(path=str(IMAGES / "ui-guard-plot.png"))
    page.goto(f"{ui_url}/models")
    page.click("#models a[href='/models/recs']")
    history = page.locator("#history-table tbody tr")
    assert "promote" in history.last.inner_text()
    history.last.locator("summary").click()
    assert "passed" in history.last.locator(".evidence").inner_text()
    _shot(page, "model")
    page.goto(f"{ui_url}/leaderboard?metric=ndcg@10&data={FINGERPRINT}&split={SPLIT}")
    _images_loaded(page)
    assert page.locator("#entries tbody tr").first.inner_text().split("\t")[1] == "ease"
    _shot(page, "leaderboard")


def test_a_running_flow_is_followed_live(page: Any, copied_home: Path) -> None:
    shutil.copy(FLOWS / "ticking.py", copied_home / "ticking.py")
    env = {k: v for k, v in os.environ.items() if not k.startswith("REELFLOW_")}
    run = subprocess.Popen(
        [sys.executable, "-m", "reelflow", "run", "ticking.py", "--plain"],
        cwd=copied_home, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    server, url = start_ui(copied_home)
    try:
        deadline = time.monotonic() + 30
        while not httpx.get(f"{url}/api/runs?flow=TickingFlow").json()["runs"]:
            assert time.monotonic() < deadline, "the flow did not start"
            time.sleep(0.1)
        page.goto(f"{url}/runs/4")
        assert page.locator("#run-status").inner_text() == "running"
        page.wait_for_selector("svg.dag g.node.running[data-step='tick']", timeout=20_000)
        tasks = httpx.get(f"{url}/api/runs/4/status").json()["tasks"]
        ticking = next(t for t in tasks if t["step"] == "tick" and t["status"] == "running")
        logs = page.context.new_page()  # the run's page keeps polling in its own tab
        logs.goto(f"{url}/runs/4/tasks/{ticking['id']}")
        assert logs.locator("#logs[data-poll]").count() == 1  # the attempt is running
        logs.locator("#stdout", has_text=" 7").wait_for(timeout=30_000)
        assert "tick" in logs.locator("#stdout").inner_text()
        page.wait_for_selector("#run-status.succeeded", timeout=60_000)  # no reload by the test
        assert page.locator("svg.dag g.node.succeeded").count() == 4
        assert "tick \u00d73" in page.locator("svg.dag").text_content()
    finally:
        server.terminate()
        server.wait(10)
        assert run.wait(60) == 0, run.stderr.read() if run.stderr else ""
