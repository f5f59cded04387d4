"""``reelflow models`` as users run it: list, show, promote through gates, rollback, history."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from reelflow.cli._bench import load_data, parse_split
from reelflow.models import EASE, Random
from reelflow.registry import Registry
from reelflow.store import Store

DATA = "synthetic:6000"


def reelflow(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reelflow", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "COLUMNS": "250"},  # Rich tables on one line each
    )


@pytest.fixture
def registered(store: Store) -> Registry:
    """recs:1 (EASE) and recs:2 (Random), both trained on the training part of DATA."""
    columns = {"user": "user_id", "item": "item_id", "rating": None, "timestamp": None}
    train = parse_split("per_user:0.2", 0)(load_data(DATA, columns, 0)).train
    registry = Registry(store)
    registry.register("recs", EASE(l2=50.0).fit(train), data=train, verify=False)
    registry.register("recs", Random(random_state=0).fit(train), data=train, verify=False)
    return registry


def test_list_show_promote_refuse_rollback_history(registered: Registry, tmp_path: Path) -> None:
    listed = reelflow("models", "list", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "recs" in listed.stdout and " 2 " in listed.stdout

    first = reelflow("models", "promote", "recs", "1", "--data", DATA, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "promoted recs:1 to champion" in first.stdout
    assert "not_worse_than_champion:ndcg@10" in first.stdout
    assert "loads_in_fresh_process" in first.stdout
    assert "warning" not in first.stderr, "same training data: no leakage warning"

    refused = reelflow(
        "models", "promote", "recs", "2", "--data", DATA, "--gate", "not_worse:ndcg@10:0.01",
        cwd=tmp_path,
    )  # fmt: skip
    assert refused.returncode == 1
    assert "refused recs:2 for champion" in refused.stdout

    no_reason = reelflow("models", "promote", "recs", "2", "--force", cwd=tmp_path)
    assert no_reason.returncode == 1
    assert no_reason.stderr.strip() == (
        "error: --force needs a reason; say why the gates are overridden"
    )
    forced = reelflow(
        "models", "promote", "recs", "2", "--data", DATA, "--gate", "not_worse:ndcg@10",
        "--force", "--reason", "holdout A/B", cwd=tmp_path,
    )  # fmt: skip
    assert forced.returncode == 0, forced.stderr
    assert "forced recs:2 to champion past failed gates: holdout A/B" in forced.stdout

    shown = reelflow("models", "show", "recs@champion", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "recs:2 Random" in shown.stdout and "champion" in shown.stdout

    back = reelflow("models", "rollback", "recs", "--reason", "bad clicks", cwd=tmp_path)
    assert back.returncode == 0, back.stderr
    assert "recs@champion is now version 1" in back.stdout

    history = reelflow("models", "history", "recs", cwd=tmp_path)
    assert history.returncode == 0, history.stderr
    lines = [line.split() for line in history.stdout.splitlines()[1:]]
    assert [line[5] for line in lines] == ["promote", "forced", "rollback"]
    assert "bad clicks" in history.stdout and "holdout A/B" in history.stdout


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("models", "promote", "recs", "1", "--gate", "fast"), 2, "gate 'fast' is malformed"),
        (("models", "show", "recs:7"), 1, "model recs has no version 7"),
        (("models", "show", "../x"), 1, "model name '../x' is invalid"),
        (("models", "rollback", "recs"), 1, "recs@champion is not set"),
    ],
)
def test_bad_input_is_a_one_line_error(
    registered: Registry, tmp_path: Path, args: tuple[str, ...], code: int, message: str
) -> None:
    done = reelflow(*args, cwd=tmp_path)
    assert done.returncode == code
    assert done.stderr.startswith("error: ") and message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
