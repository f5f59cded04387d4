"""``monitor`` inside a flow step (a real worker process): a window like training lets the run
succeed with every result stored; a drifted one fails the step on its blocking checks."""

from __future__ import annotations

import io
from pathlib import Path

from reelflow import Client
from reelflow._errors import StepFailedError
from reelflow.flow import run_flow
from reelflow.flow._display import PlainDisplay
from reelflow.store import FAILED, SUCCEEDED, Store

from .conftest import Logged
from .traffic import DAY, DRIFTED_DAY

FLOW = str(Path(__file__).parent / "monitoring_flow.py")


def _run(store: Store, since: str) -> int:
    display = PlainDisplay(out=io.StringIO())
    try:
        return run_flow(FLOW, {"since": since}, store=store, display=display).run_id
    except StepFailedError:
        return Client(store).runs("MonitoringFlow", limit=1)[0].id


def test_a_monitoring_step_records_results_and_stops_on_blocking_ones(
    logged: Logged, store: Store
) -> None:
    healthy = Client(store).run(_run(store, DAY.isoformat()))
    assert healthy.status == SUCCEEDED
    task = healthy["start"].task
    assert (task["n_requests"], task["verdict"]) == (1500, "passed")
    names = [row["name"] for row in healthy.guard_results]
    assert names[:2] == ["monitor:requests", "monitor:fallback_share"] and len(names) == 10
    assert all(row["passed"] for row in healthy.guard_results)

    drifted = Client(store).run(_run(store, DRIFTED_DAY.isoformat()))
    assert drifted.status == FAILED
    task = drifted["start"].task
    assert "guard 'monitor:fallback_share' failed" in (task.record.error or "")
    assert "verdict" not in task
    failed = {row["name"] for row in drifted.guard_results if not row["passed"]}
    assert {"monitor:fallback_share", "drift:scores", "monitor:coverage"} <= failed
