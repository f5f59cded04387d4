"""Guard rails doing their job (docs/guards.md, "Rehearse the guard rails"): a champion from a
clean run is served; runs fed a corrupted log (duplicated events, a broken item-id column, a
shifted distribution) are each stopped by the guard made for that fault, and a run whose best
candidate is worse than the champion is refused. The champion stays champion throughout and the
server keeps answering with it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from loopback import start_server
from reelflow import Client
from reelflow.registry import Registry
from reelflow.store import Store

pytestmark = pytest.mark.slow

SMALL = ("-p", "size=30000", "-p", "candidates=mostpop,ease:l2=100|500")


def reelflow(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("REELFLOW_HOME", "REELFLOW_DB")}
    return subprocess.run(
        [sys.executable, "-m", "reelflow", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


class Champion:
    """A store whose `recs` champion came from a clean quickstart run, and a server on it."""

    def __init__(self, home: Path, url: str) -> None:
        self.home, self.url = home, url
        self.store = Store.open(home)

    def answer(self, user: str = "1") -> dict[str, object]:
        reply = httpx.get(f"{self.url}/recommendations/{user}", params={"k": 5}, timeout=10)
        assert reply.status_code == 200, reply.text
        return dict(reply.json())

    def assert_still_champion(self) -> None:
        registry = Registry(self.store)
        assert registry.get("recs@champion").version == 1
        served = self.answer()
        assert (served["version"], served["fallback"], len(served["items"])) == (1, None, 5)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def champion(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Champion]:
    home = tmp_path_factory.mktemp("guard-rails")
    first = reelflow(home, "quickstart", "--plain", *SMALL)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "decision: promoted recs:1 to champion" in first.stdout + first.stderr
    server, url = start_server(home, "recs@champion", "--poll", "0.2")
    try:
        yield Champion(home, url)
    finally:
        server.kill()
        server.wait()


@pytest.mark.parametrize(
    ("fault", "guard", "says"),
    [
        ("duplicates", "interactions:duplicates", "duplicate (user_id, item_id, timestamp) events"),
        ("item-ids", "interactions:catalogue", "missing from the catalogue"),
        ("shift", "drift:region", "region drifted: Jensen-Shannon distance"),
    ],
)
def test_a_corrupted_log_is_stopped_by_its_guard_and_the_champion_keeps_serving(
    champion: Champion, fault: str, guard: str, says: str
) -> None:
    done = reelflow(champion.home, "quickstart", "--plain", *SMALL, "-p", f"corrupt={fault}")
    assert done.returncode == 1
    assert f"guard '{guard}' failed" in done.stderr

    run = Client(champion.store).latest_run("PersonalizationFlow", successful=False)
    assert run.params["corrupt"] == fault and not run.successful
    failed = [r for r in run.guard_results if not r["passed"] and r["severity"] == "block"]
    assert [r["name"] for r in failed] == [guard], "one fault, one guard: no false alarms"
    assert says in failed[0]["message"]
    assert {s.name for s in run} == {"start", "validate"}, "nothing ran past the data guards"

    report = reelflow(champion.home, "report", str(run.id))
    assert report.returncode == 0, report.stderr
    page = Path(report.stdout.strip()).read_text(encoding="utf-8")
    assert guard in page and "<span class='verdict failed'>failed</span>" in page
    if fault == "shift":
        assert "categories plot of drift:region" in page  # the shares side by side

    assert [v.version for v in Registry(champion.store).versions("recs")] == [1]
    champion.assert_still_champion()


def test_a_candidate_worse_than_the_champion_is_not_promoted(champion: Champion) -> None:
    done = reelflow(champion.home, "quickstart", "--plain", "-p", "size=30000",
                    "-p", "candidates=mostpop")  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout + done.stderr
    assert "refused recs:2 for champion" in out and "the champion stays recs:1" in out

    run = Client(champion.store).latest_run("PersonalizationFlow")
    gate = next(r for r in run.guard_results if r["name"] == "gate:beats_champion:ndcg@10")
    assert not gate["passed"] and gate["value"] < 0, "the candidate scored below the champion"
    assert all(r["passed"] for r in run.guard_results if not r["name"].startswith("gate:"))
    champion.assert_still_champion()
