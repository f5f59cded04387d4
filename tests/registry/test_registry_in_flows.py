"""Registering from a flow step (a real worker process): lineage names the run and task."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from reelflow import Client
from reelflow.flow import run_flow
from reelflow.flow._display import PlainDisplay
from reelflow.registry import Registry
from reelflow.store import SUCCEEDED, Store
from reelflow.store._guards import GuardResultStore

FLOW = str(Path(__file__).parents[1] / "flow" / "runtime_flows" / "registering.py")


@pytest.mark.parametrize("store", ["sqlite", "postgres"], indirect=True)
def test_a_step_registers_with_its_lineage_and_guard_results(store: Store) -> None:
    outcome = run_flow(FLOW, {}, store=store, display=PlainDisplay(out=io.StringIO()))
    assert outcome.status == SUCCEEDED
    task = Client(store).run(outcome.run_id)["register"].task
    version = Registry(store).get("popular:1")
    assert task["version"] == 1
    assert version.lineage["flow"] == "RegisteringFlow"
    assert (version.lineage["run_id"], version.lineage["task_id"]) == (outcome.run_id, task.id)
    assert version.lineage["step"] == "register"
    assert version.data_fingerprint == task["train"].fingerprint
    rows = GuardResultStore(store.metadata).query(subject="model:popular:1")
    assert [r["name"] for r in rows] == ["rows"]
    users = task["train"].users.ids[:3]
    assert len(Registry(store).load("popular:1").recommend(users, k=3).items) == 3
