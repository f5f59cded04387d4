"""``reelflow bench`` and ``reelflow leaderboard`` as users run them, on synthetic data."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from reelflow.store import Store


def reelflow(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reelflow", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_bench_prints_reports_and_fills_the_leaderboard(store: Store, tmp_path: Path) -> None:
    done = reelflow(
        "bench", "--data", "synthetic:3000", "--models", "mostpop,itemknn,ease",
        "--split", "per_user:0.25", "--metrics", "ndcg@10,recall@20", "--baseline", "mostpop",
        "--seed", "42", "--bootstrap", "200", "--param", "ease.l2=100", "--report", "out.html",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "per_user_holdout(test_fraction=0.25, seed=42, min_train=1)" in done.stdout
    assert "p vs mostpop" in done.stdout and "recall@20" in done.stdout
    assert "bench ease: fitted in" in done.stderr
    assert "data:image/png;base64," in (tmp_path / "out.html").read_text(encoding="utf-8")
    listed = reelflow("leaderboard", "--metric", "ndcg@10", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    rows = [line for line in listed.stdout.splitlines() if "ndcg@10" in line]
    assert rows[0].split()[1] in {"ease", "itemknn"}
    assert len(rows) == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--models", "ease,nope"], "error: unknown model 'nope'"),
        (["--split", "per_user:half"], "error: split 'per_user:half' is malformed"),
        (["--metrics", "recall@20", "--k", "10"], "error: metric 'recall@20' needs lists of 20"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    store: Store, tmp_path: Path, args: list[str], message: str
) -> None:
    done = reelflow("bench", "--data", "synthetic:500", "--no-leaderboard", *args, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [done.stderr.strip()]
    assert done.stderr.startswith(message)
