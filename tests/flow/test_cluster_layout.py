"""Flows on a team's layout: artifacts in S3 (a local S3-compatible server), metadata in
PostgreSQL, tasks on the local executor and on Ray. Nothing but a cache stays on the machine,
and another machine (an empty cache) reads every artifact back."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from reelflow import Client
from reelflow._errors import ExecutorError, StepFailedError
from reelflow.flow import resume_run, run_flow
from reelflow.flow._display import PlainDisplay
from reelflow.flow._logs import LogTail
from reelflow.flow._spec import TaskSpec
from reelflow.store import FAILED, SUCCEEDED, RemoteObjectStore, Store

FLOWS = Path(__file__).parent / "runtime_flows"
CLUSTER = pytest.mark.parametrize("store", ["postgres+s3"], indirect=True)


def run(name: str, store: Store, executor: str, **params: object):
    display = PlainDisplay(out=io.StringIO())
    return run_flow(
        str(FLOWS / name), params, store=store, display=display, max_workers=2, executor=executor
    )


def on_another_machine(store: Store) -> Store:
    """The same store seen from a machine that has none of its objects cached."""
    shutil.rmtree(store.config.home / "cache", ignore_errors=True)
    return Store(store.config, create=False)


@CLUSTER
def test_a_flow_keeps_every_artifact_and_log_in_the_bucket(store: Store, executor: str) -> None:
    outcome = run("branches.py", store, executor, scale=3)
    assert not (store.config.home / "objects").exists()
    objects = store.objects
    assert isinstance(objects, RemoteObjectStore) and objects.url.startswith("s3://")
    elsewhere = Client(on_another_machine(store)).run(outcome.run_id)
    assert elsewhere.data.summary == ("same everywhere", ["left", "right"], 30, [9, 36])
    keys = set(objects.keys())
    for step in elsewhere:
        for task in step:
            assert {a.key for a in task.artifacts.values()} <= keys
    start = Client(on_another_machine(store)).run(run("misc.py", store, executor).run_id)
    assert start["start"].task.stdout() == "to stdout\nraw fd write\n"


@CLUSTER
def test_resume_reads_the_failed_runs_artifacts_from_the_bucket(
    store: Store, tmp_path: Path, executor: str
) -> None:
    marker = tmp_path / "die"
    marker.touch()
    with pytest.raises(StepFailedError, match="killed by SIGKILL"):
        run("resumable.py", store, executor, marker=str(marker))
    marker.unlink()
    shutil.rmtree(store.config.home / "cache")  # resumed where none of it is cached
    display = PlainDisplay(out=io.StringIO())
    outcome = resume_run(store=store, display=display, executor=executor)
    assert Client(on_another_machine(store)).run(outcome.run_id).data.result == 1 + 4 + 9 + 1


@pytest.mark.parametrize("store", ["s3"], indirect=True)
def test_store_check_verifies_the_bucket(store: Store) -> None:
    outcome = run("misc.py", store, "local")
    env = {**os.environ, "REELFLOW_ARTIFACTS": str(store.config.artifacts)}
    command = [sys.executable, "-m", "reelflow", "store", "check"]
    ok = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith(f"store {store.config.artifacts}: ")
    artifact = next(iter(Client(store).run(outcome.run_id)["start"].task.artifacts.values()))
    objects = store.objects
    assert isinstance(objects, RemoteObjectStore)
    path = f"{objects.root}/objects/{artifact.key[:2]}/{artifact.key[2:]}"
    objects.fs.pipe_file(path, b"damaged in the bucket")
    bad = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert bad.returncode == 1 and f"corrupt: {artifact.key}" in bad.stdout


def test_a_ray_node_without_the_stores_home_says_what_to_mount(tmp_path: Path) -> None:
    from reelflow.flow._ray import run_in_ray_worker

    with pytest.raises(ExecutorError, match=r"cannot see the store's home .*not-mounted-here"):
        run_in_ray_worker(task_spec(tmp_path / "not-mounted-here"))


def task_spec(home: Path) -> TaskSpec:
    logs = home / "running" / "7"
    return TaskSpec(
        flow_file="flow.py", flow_class="Flow", flow_name="Flow", run_id=7, task_id=1,
        attempt=1, step="start", params={}, namespace={}, frames=[], store_home=str(home),
        stdout_path=str(logs / "1.1.out"), stderr_path=str(logs / "1.1.err"),
    )  # fmt: skip


# --- tasks on other nodes than the driver's: no shared filesystem ------------------------------


@pytest.fixture
def elsewhere(monkeypatch: pytest.MonkeyPatch, ray_instance: str) -> str:
    """Ray runs as if the driver were not on the task's node (every task runs detached)."""
    import reelflow.flow._ray as ray_executor

    monkeypatch.setattr(ray_executor, "_driver_node_id", lambda ray: "a-machine-off-the-cluster")
    return "ray"


@pytest.mark.parametrize("store", ["s3", "sqlite"], indirect=True)
def test_tasks_on_other_nodes_store_their_logs_and_artifacts(
    store: Store, elsewhere: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    replayed: list[int] = []
    replay = LogTail.replay
    monkeypatch.setattr(
        LogTail, "replay", lambda tail, *a: (replayed.append(tail.task_id), replay(tail, *a))[1]
    )
    out = io.StringIO()
    outcome = run_flow(
        str(FLOWS / "misc.py"), {}, store=store, display=PlainDisplay(out=out), executor=elsewhere
    )
    start = Client(on_another_machine(store)).run(outcome.run_id)["start"].task
    assert start.stdout() == "to stdout\nraw fd write\n"
    assert start.stderr() == "to stderr\n"
    assert f"[start/{start.id}] raw fd write" in out.getvalue()  # shown when the task ended
    assert start.id in replayed  # from the logs the task's node stored, not from files
    branches = run("branches.py", store, elsewhere, scale=3)
    summary = Client(on_another_machine(store)).run(branches.run_id).data.summary
    assert summary == ("same everywhere", ["left", "right"], 30, [9, 36])


@pytest.mark.parametrize("store", ["s3"], indirect=True)
def test_timeouts_retries_and_crashes_on_other_nodes(store: Store, elsewhere: str) -> None:
    with pytest.raises(StepFailedError, match=r"timed out after 0\.5s"):  # counted from the board
        run("slow.py", store, elsewhere)
    outcome = run("options.py", store, elsewhere, crash="segfault")
    run_ = Client(store).run(outcome.run_id)
    assert [a.status for a in run_["flaky"].task.attempts()] == [FAILED, SUCCEEDED]
    assert "killed by SIGSEGV" in run_["fragile"].task["failure"].message


def test_a_node_that_sees_neither_bucket_nor_home_says_what_to_do(tmp_path: Path) -> None:
    from reelflow.flow._ray import _on_this_node

    with pytest.raises(ExecutorError, match=r"cannot see the store's artifacts .*s3://"):
        _on_this_node(task_spec(tmp_path / "not-mounted-here"))
