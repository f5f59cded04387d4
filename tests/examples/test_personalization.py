"""The main job end to end, as a user runs it: `reelflow quickstart` twice on a small synthetic
log (the second run gates its best candidate against the first run's champion), and a log that
fails its data guards."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from reelflow import Client
from reelflow.examples import _personalization as lib
from reelflow.registry import Registry
from reelflow.store import Store

SMALL = ("-p", "size=30000", "-p", "candidates=mostpop,ease:l2=100|500,mostpop_region")


def reelflow(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reelflow", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_quickstart_trains_gates_promotes_then_defends_the_champion(
    store: Store, tmp_path: Path
) -> None:
    first = reelflow("quickstart", "--plain", *SMALL, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    out = first.stdout + first.stderr
    assert "validation leaderboard" in out and "decision: promoted recs:1 to champion" in out
    assert "reelflow serve recs@champion" in out

    run = Client(store).latest_run("PersonalizationFlow")
    names = {r["name"] for r in run.guard_results}
    assert {"schema", "interactions:duplicates", "gate:beats_champion:ndcg@10"} <= names
    assert len(run["train_candidate"].tasks) == 4
    board = run["choose"].task["leaderboard"]
    assert list(board["ndcg@10"]) == sorted(board["ndcg@10"], reverse=True)

    second = reelflow("quickstart", "--plain", *SMALL, cwd=tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    out = second.stdout + second.stderr
    assert "expect:rows" in {
        r["name"] for r in Client(store).latest_run("PersonalizationFlow").guard_results
    }, "the second run holds its data to the first run's"
    # the same data and seed give the same best model: it cannot beat itself significantly
    assert "refused recs:2 for champion" in out and "the champion stays recs:1" in out
    assert Registry(store).get("recs@champion").version == 1


def test_a_log_that_fails_its_data_guards_stops_the_flow(store: Store, tmp_path: Path) -> None:
    log = lib.ingest("synthetic", 5000, 0)[0].to_pandas()
    broken = pd.concat([log, log.head(500)])  # 500 duplicate events
    broken[["user_id", "item_id", "timestamp"]].to_csv(tmp_path / "events.csv", index=False)
    done = reelflow(
        "run", str(Path(lib.__file__).with_name("personalization.py")), "--plain",
        "-p", f"source={tmp_path / 'events.csv'}", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 1
    assert "guard 'interactions:duplicates' failed" in done.stderr


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nope", "unknown candidate 'nope'"),
        ("ease:l2", "write NAME=V or NAME=V1|V2"),
        ("", "no candidates given"),
    ],
)
def test_bad_candidate_grids_are_clear_errors(text: str, message: str) -> None:
    from reelflow._errors import UsageError

    with pytest.raises(UsageError, match=message.replace("|", r"\|")):
        lib.parse_candidates(text)


def test_candidate_grids_expand() -> None:
    specs = lib.parse_candidates("ease:l2=100|500,als:factors=32:regularization=1|10")
    assert [s.label for s in specs] == [
        "ease(l2=100)",
        "ease(l2=500)",
        "als(factors=32,regularization=1)",
        "als(factors=32,regularization=10)",
    ]


def test_a_catalogue_file_replaces_the_sources(tmp_path: Path) -> None:
    from reelflow._errors import UsageError

    log, items = lib.ingest("synthetic", 5000, 0)
    items.head(10).to_csv(tmp_path / "items.csv", index=False)
    frame = log.to_pandas()
    assert len(lib.ingest("synthetic", 5000, 0, str(tmp_path / "items.csv"))[1]) == 10
    guards = lib.data_guards(log, pd.read_csv(tmp_path / "items.csv"), None)
    unknown = next(r for r in guards if r.name == "interactions:catalogue")
    assert not unknown.passed and unknown.value == pytest.approx(
        1 - frame["item_id"].isin(range(10)).mean()
    )
    items.drop(columns="item_id").to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(UsageError, match="has no item_id column"):
        lib.ingest("synthetic", 5000, 0, str(tmp_path / "bad.csv"))
    with pytest.raises(UsageError, match="is not a file"):
        lib.ingest("synthetic", 5000, 0, str(tmp_path / "missing.csv"))
    with pytest.raises(UsageError, match="corrupt='typo' is unknown"):
        lib.ingest("synthetic", 5000, 0, corrupt="typo")


def test_the_reference_is_the_last_good_run_on_the_same_data(store: Store, tmp_path: Path) -> None:
    flow = str(Path(lib.__file__).with_name("personalization.py"))
    done = reelflow("run", flow, "--plain", "-p", "size=5000", "-p", "candidates=mostpop",
                    cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    first = Client(store).latest_run("PersonalizationFlow").id
    data = {"source": "synthetic", "catalogue": "", "size": 5000, "seed": 0}
    assert len(lib.previous_log("PersonalizationFlow", first + 1, data)) == 5000
    assert lib.previous_log("PersonalizationFlow", first, data) is None, "not its own log"
    assert lib.previous_log("PersonalizationFlow", first + 1, {**data, "seed": 1}) is None


def test_a_candidate_over_its_budget_is_left_out_with_a_warning() -> None:
    import time

    with pytest.raises(lib.OverBudget), lib.time_budget(0.05):
        time.sleep(2)
    with lib.time_budget(0):
        time.sleep(0.01)  # no limit

    log = lib.ingest("synthetic", 5000, 0)[0]
    _, _, inner, valid = lib.temporal_splits(log, 14)
    spec = lib.parse_candidates("ease:l2=100")[0]
    result, check = lib.validate_candidate(spec, inner, valid, 0, budget_s=1e-4)
    assert result is None and not check.passed and check.severity == "warn"
    assert check.name == "budget:ease(l2=100)" and "over its budget of 0.0001 s" in check.message
    result, check = lib.validate_candidate(spec, inner, valid, 0, budget_s=600)
    assert result is not None and check.passed
    assert lib.rank_candidates([None, result], "ndcg@10").models.keys() == {"ease(l2=100)"}

    from reelflow._errors import UsageError

    with pytest.raises(UsageError, match="none of the 2 candidates finished within its budget"):
        lib.rank_candidates([None, None], "ndcg@10")
