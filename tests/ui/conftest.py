"""A store made by real runs of the example flow (one clean, one stopped by a failed guard), a
degenerate model version, leaderboard entries and a monitor report: what the UI tests read."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from starlette.testclient import TestClient

from reelflow import Client
from reelflow.data import Interactions
from reelflow.guards import GuardResult, render_guard_report
from reelflow.models import MostPopular
from reelflow.registry import Registry
from reelflow.store import Store
from reelflow.store._leaderboard import LeaderboardStore
from reelflow.ui import create_app

SMALL = ("-p", "size=30000", "-p", "candidates=mostpop,ease:l2=100|500")
SPLIT = "temporal(test_days=14)"
FINGERPRINT = "f" * 64
REPORT = "monitor-recs-20260101T000000Z.html"


def reelflow(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REELFLOW_")}
    return subprocess.run(
        [sys.executable, "-m", "reelflow", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


@pytest.fixture(scope="session")
def flow_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run 1: a clean quickstart (recs:1 champion); run 2: stopped by interactions:duplicates;
    run 3: stopped by drift:region (a failure with a plot)."""
    home = tmp_path_factory.mktemp("ui-store")
    clean = reelflow(home, "quickstart", "--plain", *SMALL)
    assert clean.returncode == 0, clean.stderr[-3000:]
    broken = reelflow(home, "quickstart", "--plain", *SMALL, "-p", "corrupt=duplicates")
    assert broken.returncode != 0 and "interactions:duplicates" in broken.stderr
    drifted = reelflow(home, "quickstart", "--plain", *SMALL, "-p", "corrupt=shift")
    assert drifted.returncode != 0 and "drift:region" in drifted.stderr
    store = Store.open(home)
    _degenerate_version(store)
    _leaderboard(store)
    _monitor_report(store)
    Client(store).run(1).add_tag("nightly")
    store.metadata.close()
    return home


def _degenerate_version(store: Store) -> None:
    """recs:2, a model whose lists all start with the same item (not_degenerate refuses it)."""
    users = [f"u{i}" for i in range(50)]
    frame = pd.DataFrame({"user_id": [*users, "v"], "item_id": ["x"] * 50 + ["y"]})
    Registry(store).register("recs", MostPopular().fit(Interactions.from_pandas(frame)),
                             verify=False)  # fmt: skip


def _leaderboard(store: Store) -> None:
    rows = [
        {"data_fingerprint": FINGERPRINT, "split": SPLIT, "model": model, "model_class": cls,
         "params": {}, "metric": "ndcg@10", "k": 10, "mean": mean, "ci_low": mean - 0.01,
         "ci_high": mean + 0.01, "n_users": 500, "fit_s": fit, "recommend_s": 0.1, "tags": []}
        for model, cls, mean, fit in [("ease", "EASE", 0.31, 2.0), ("mostpop", "MostPopular",
                                      0.12, 0.1), ("als", "ALS", 0.27, 5.0)]
    ]  # fmt: skip
    LeaderboardStore(store.metadata).add(rows)


def _monitor_report(store: Store) -> None:
    result = GuardResult("drift:scores", False, "block", 0.4, 0.1, "scores drifted")
    render_guard_report(
        [result], title="Monitor of recs:1", path=store.config.home / "reports" / REPORT
    )
    (store.config.home / "serving" / "recs").mkdir(parents=True)


@pytest.fixture
def copied_home(flow_home: Path, tmp_path: Path) -> Path:
    """A copy of the flow store that a test may change."""
    target = tmp_path / "copy"
    shutil.copytree(flow_home, target)
    return target


def client_for(home: Path, **options: object) -> Iterator[TestClient]:
    store = Store.open(home, create=False)
    app = create_app(store, **options)  # type: ignore[arg-type]
    with TestClient(app, base_url="http://127.0.0.1") as client:
        yield client
    store.metadata.close()


@pytest.fixture(scope="module")
def ui(flow_home: Path) -> Iterator[TestClient]:
    """A read-only UI on the flow store."""
    yield from client_for(flow_home)
