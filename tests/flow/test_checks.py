"""``self.check`` in a step: results stored with the task, blocking failures fail the step
without retries, warnings let it go on, and resume carries the re-used tasks' results."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from reelflow import Client
from reelflow._errors import FlowDefinitionError, StepFailedError
from reelflow.flow import resume_run, run_flow
from reelflow.flow._checks import as_check_record, flatten_checks
from reelflow.flow._display import PlainDisplay
from reelflow.guards import GuardResult
from reelflow.store import FAILED, SUCCEEDED, Store

FLOW = str(Path(__file__).parent / "runtime_flows" / "guarded.py")


def _run(store: Store, gate_file: Path) -> int:
    display = PlainDisplay(out=io.StringIO())
    try:
        outcome = run_flow(
            FLOW, {"gate_file": str(gate_file)}, store=store, display=display, max_workers=2
        )
    except StepFailedError:
        return Client(store).runs("GuardedFlow", limit=1)[0].id
    return outcome.run_id


def test_results_are_stored_with_their_tasks(store: Store, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    gate.write_text("0.05")
    run = Client(store).run(_run(store, gate))
    assert run.status == SUCCEEDED
    rows = run.guard_results
    assert [(r["step"], r["name"], r["passed"], r["severity"]) for r in rows] == [
        ("start", "row_count", True, "block"),
        ("start", "null_rate:age", False, "warn"),
        ("gate", "psi:score", True, "block"),
    ]
    gate_row = run["gate"].task.guard_results[0]
    assert gate_row["value"] == pytest.approx(0.05)
    assert gate_row["details"]["plot"]["current"] == [0.2, 0.8]
    assert GuardResult.from_record(gate_row).passed


def test_a_blocking_failure_fails_the_step_once_and_keeps_its_results(
    store: Store, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    gate.write_text("0.31")
    run = Client(store).run(_run(store, gate))
    assert run.status == FAILED
    task = run["gate"].task
    assert task.status == FAILED
    assert len(task.attempts()) == 1, "a failed guard is not retried"
    assert "guard 'psi:score' failed: PSI 0.31 vs 0.2" in (task.record.error or "")
    assert "after_gate" not in task
    (failed,) = task.guard_results
    assert failed["passed"] is False and failed["value"] == pytest.approx(0.31)


def test_a_failed_guard_points_at_the_report_and_logs_no_traceback(
    store: Store, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    gate.write_text("0.31")
    display = PlainDisplay(out=io.StringIO())
    with pytest.raises(StepFailedError) as raised:
        run_flow(FLOW, {"gate_file": str(gate)}, store=store, display=display, max_workers=2)
    run = Client(store).runs("GuardedFlow", limit=1)[0]
    assert f"see 'reelflow report {run.id}'; fix the cause" in raised.value.message
    logged = run["gate"].task.stderr()
    assert "Traceback" not in logged and "GuardFailedError: guard 'psi:score' failed" in logged


def test_resume_re_uses_results_of_re_used_tasks(store: Store, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    gate.write_text("0.5")
    first = _run(store, gate)
    gate.write_text("0.1")
    outcome = resume_run(first, store=store, display=PlainDisplay(out=io.StringIO()))
    run = Client(store).run(outcome.run_id)
    assert run.status == SUCCEEDED
    names = [(r["step"], r["name"], r["passed"]) for r in run.guard_results]
    assert names == [
        ("start", "row_count", True),
        ("start", "null_rate:age", False),
        ("gate", "psi:score", True),
    ]


def test_check_rejects_what_is_not_a_result() -> None:
    with pytest.raises(FlowDefinitionError, match="takes GuardResult objects"):
        list(flatten_checks([42]))
    record = as_check_record(GuardResult("x", True))
    assert record["severity"] == "block" and record["details"] == {}
