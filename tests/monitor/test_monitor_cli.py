"""``reelflow monitor`` as a scheduler runs it: a table, an HTML report, exit code 1 only when a
blocking check failed, and one-line errors (exit 1, or 2 for malformed options)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from reelflow.data import Interactions
from reelflow.models import MostPopular
from reelflow.registry import Registry
from reelflow.store import Store

from .conftest import Logged, Trained
from .traffic import DAY, DRIFTED_DAY


def reelflow(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reelflow", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "COLUMNS": "250"},
    )


def test_exit_codes_tables_and_reports(logged: Logged, store: Store, tmp_path: Path) -> None:
    healthy = reelflow(
        "monitor", "recs", "--since", DAY.isoformat(), "--until", DRIFTED_DAY.isoformat(),
        cwd=tmp_path,
    )  # fmt: skip
    assert healthy.returncode == 0, healthy.stderr
    assert "monitor recs:1: passed (10 passed) on 1,500 request(s)" in healthy.stdout
    assert "drift:recommended_popularity" in healthy.stdout
    (written,) = (store.config.home / "reports").glob("monitor-recs-*.html")
    assert f"report: {written}" in healthy.stdout

    report = tmp_path / "drifted.html"
    drifted = reelflow(
        "monitor", "recs", "--since", DRIFTED_DAY.date().isoformat(), "--window", "1d",
        "--report", str(report), "--threshold", "unknown_users=0.5", cwd=tmp_path,
    )  # fmt: skip
    assert drifted.returncode == 1, drifted.stderr
    assert "monitor recs:1: failed" in drifted.stdout and report.is_file()
    assert "monitor:unknown_users" in drifted.stdout
    assert drifted.stderr == ""

    relaxed = reelflow(
        "monitor", "recs", "--version", "1", "--since", DRIFTED_DAY.isoformat(), "--window", "24h",
        "--severity", "fallback_share=warn", "--severity", "scores=warn",
        "--severity", "recommended_popularity=warn", "--severity", "coverage=warn",
        "--report", str(tmp_path / "relaxed.html"), cwd=tmp_path,
    )  # fmt: skip
    assert relaxed.returncode == 0, relaxed.stderr
    assert "monitor recs:1: warning" in relaxed.stdout


def test_bad_input_is_one_line(
    logged: Logged, store: Store, tmp_path: Path, trained: Trained
) -> None:
    train: Interactions = trained.train
    Registry(store).register("bare", MostPopular().fit(train), verify=False)
    cases = [
        (("monitor", "nope"), 1, "no model named 'nope'"),
        (("monitor", "bare", "--version", "1"), 1, "registered without data="),
        (("monitor", "recs", "--since", "05/01/2024"), 2, "not a date or time"),
        (("monitor", "recs", "--threshold", "scores"), 2, "write NAME=VALUE"),
        (("monitor", "recs", "--alias", "champion", "--version", "1"), 2, "not both"),
    ]
    for args, code, message in cases:
        done = reelflow(*args, cwd=tmp_path)
        assert done.returncode == code, (args, done.stdout, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], lines
