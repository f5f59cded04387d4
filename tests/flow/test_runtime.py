"""The local runtime end to end: real worker processes, a real store, runtime_flows/."""

from __future__ import annotations

import io
import itertools
from pathlib import Path

import pytest

from reelflow import Client
from reelflow._errors import ParameterError, StepFailedError
from reelflow.flow import resume_run, run_flow
from reelflow.flow._display import PlainDisplay
from reelflow.store import CAUGHT, FAILED, SUCCEEDED, Store

FLOWS = Path(__file__).parent / "runtime_flows"


def run(
    name: str,
    store: Store,
    out: io.StringIO | None = None,
    *,
    executor: str = "local",
    **params: object,
):
    display = PlainDisplay(out=out or io.StringIO())
    return run_flow(
        str(FLOWS / name), params, store=store, display=display, max_workers=2, executor=executor
    )


def quiet(executor: str) -> dict[str, object]:
    """Keyword arguments for run_flow and resume_run: no display, on ``executor``."""
    return {"display": PlainDisplay(out=io.StringIO()), "executor": executor}


def test_branches_nested_foreach_and_merges(store: Store, executor: str) -> None:
    outcome = run("branches.py", store, scale=3, executor=executor)
    assert outcome.status == SUCCEEDED
    data = Client(store).run(outcome.run_id).data
    assert data.summary == ("same everywhere", ["left", "right"], 30, [9, 36])
    inner = Client(store).run(outcome.run_id)["inner"]
    assert len(inner) == 5
    stacks = sorted(task["position"] for task in inner)
    assert stacks[0] == [("meet", 0, 2), ("outer", 0, 2)]
    assert stacks[-1] == [("meet", 1, 2), ("outer", 2, 3)]


def test_parameters_reach_every_step_and_inputs(store: Store, executor: str) -> None:
    params = {"count": "2", "ratio": "0.25", "verbose": "yes", "config": '{"depth": 5}'}
    outcome = run("misc.py", store, executor=executor, **params)
    task = Client(store).run(outcome.run_id)["start"].task
    assert task["params_seen"] == {
        "count": 2,
        "ratio": 0.25,
        "verbose": True,
        "label": "x",
        "config": {"depth": 5},
        "unpicklable": False,
        "sleep": 0.0,
    }
    assert task["count"] == 2
    assert Client(store).run(outcome.run_id).params["config"] == {"depth": 5}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"cuont": "2"}, "unknown parameter 'cuont'"),
        ({"count": "two"}, "parameter 'count' expects int"),
        ({"verbose": "maybe"}, "parameter 'verbose' expects bool"),
        ({"config": "{not json"}, "parameter 'config' expects json"),
    ],
)
def test_bad_parameters_fail_before_anything_runs(store: Store, params, message) -> None:
    with pytest.raises(ParameterError, match=message):
        run("misc.py", store, **params)
    assert Client(store).runs() == []


def test_artifacts_keep_their_types_and_in_place_mutation_is_kept(
    store: Store, executor: str
) -> None:
    outcome = run("misc.py", store, executor=executor)
    client_run = Client(store).run(outcome.run_id)
    start = client_run["start"].task
    assert start.artifacts["frame"].encoding.startswith("arrow")
    assert start.artifacts["array"].encoding == "npy"
    assert list(start["frame"]["a"]) == [0, 1, 2]
    assert client_run["middle"].task["frame_sum"] == 3
    assert client_run.data.seen_mutable == [1, 2, 3]
    assert start["mutable"] == [1, 2]


def test_unchanged_artifacts_are_inherited_not_rewritten(store: Store) -> None:
    outcome = run("misc.py", store)
    client_run = Client(store).run(outcome.run_id)
    start, middle = client_run["start"].task, client_run["middle"].task
    assert middle.artifacts["frame"].inherited
    assert middle.artifacts["frame"].key == start.artifacts["frame"].key
    assert not middle.artifacts["frame_sum"].inherited


def test_logs_are_captured_per_task_at_the_fd_level(store: Store, executor: str) -> None:
    out = io.StringIO()
    outcome = run("misc.py", store, out, executor=executor)
    start = Client(store).run(outcome.run_id)["start"].task
    assert start.stdout() == "to stdout\nraw fd write\n"
    assert start.stderr() == "to stderr\n"
    assert f"[start/{start.id}] raw fd write" in out.getvalue()


def test_unpicklable_artifact_fails_with_its_name(store: Store, executor: str) -> None:
    with pytest.raises(StepFailedError, match=r"artifact 'lock'.*cannot"):
        run("misc.py", store, unpicklable="true", executor=executor)
    failed = Client(store).runs()[0]
    assert failed.status == FAILED
    assert failed["start"].task.status == SUCCEEDED


def test_retries_then_success_and_catch(store: Store, executor: str) -> None:
    outcome = run("options.py", store, executor=executor)
    client_run = Client(store).run(outcome.run_id)
    assert client_run.data.attempt_seen == 1
    flaky = client_run["flaky"].task
    assert [a.status for a in flaky.attempts()] == [FAILED, SUCCEEDED]
    assert "first attempt always fails" in flaky.attempts()[0].error_message
    fragile = client_run["fragile"].task
    assert fragile.status == CAUGHT
    assert client_run["meet"].task["caught"] == "ValueError: fragile broke"


def test_a_killed_worker_fails_its_task_only(store: Store, executor: str) -> None:
    outcome = run("options.py", store, crash="segfault", executor=executor)
    fragile = Client(store).run(outcome.run_id)["fragile"].task
    assert fragile.status == CAUGHT
    assert "killed by SIGSEGV" in fragile["failure"].message


def test_timeout_kills_the_task(store: Store, executor: str) -> None:
    with pytest.raises(StepFailedError, match=r"timed out after 0\.5s"):
        run("slow.py", store, executor=executor)


def test_wide_foreach_of_a_thousand_tasks_on_long_lived_workers(store: Store) -> None:
    outcome = run("wide.py", store, n="1000")
    client_run = Client(store).run(outcome.run_id)
    pids = {a.worker_pid for task in client_run["work"] for a in task.attempts()}
    assert len(pids) <= 2
    data = client_run.data
    assert data.count == 1000
    assert data.total == sum(2 * i for i in range(1000))


def test_merge_conflicts_name_the_artifact(store: Store, executor: str) -> None:
    with pytest.raises(StepFailedError, match=r"MergeArtifactsError: inputs disagree on x") as info:
        run("conflict.py", store, executor=executor)
    assert info.value.line == 23


def test_resume_reuses_succeeded_tasks_and_matches_a_clean_run(
    store: Store, tmp_path: Path, executor: str
) -> None:
    marker = tmp_path / "die"
    marker.touch()
    with pytest.raises(StepFailedError, match="killed by SIGKILL"):
        run("resumable.py", store, marker=str(marker), executor=executor)
    failed = Client(store).runs()[0]
    marker.unlink()
    outcome = resume_run(store=store, **quiet(executor))
    resumed = Client(store).run(outcome.run_id)
    assert resumed.origin_run_id == failed.id
    assert resumed.data.result == 1 + 4 + 9 + 1
    for name in ("start", "square", "gather"):
        old = {t.branch: t for t in failed[name]}
        for task in resumed[name]:
            assert task.origin_task_id == old[task.branch].id
            assert task.artifacts == old[task.branch].artifacts
    assert resumed["fragile"].task.origin_task_id is None
    clean = Client(store).run(run("resumable.py", store, marker=str(marker)).run_id)
    assert clean["end"].task.artifacts == resumed["end"].task.artifacts


def test_resume_from_a_step_reruns_it_and_what_follows(store: Store, executor: str) -> None:
    first = run("resumable.py", store, executor=executor)
    outcome = resume_run(first.run_id, from_step="gather", store=store, **quiet(executor))
    resumed = Client(store).run(outcome.run_id)
    assert all(t.origin_task_id for t in resumed["square"])
    assert resumed["gather"].task.origin_task_id is None
    assert resumed["end"].task.origin_task_id is None


def test_resume_picks_up_code_fixed_since_the_failure(
    store: Store, tmp_path: Path, executor: str
) -> None:
    flow = tmp_path / "fixable.py"
    source = (
        "from reelflow import Flow, step\n\nclass FixableFlow(Flow):\n    @step\n"
        "    def start(self):\n        self.base = 20\n        self.next(self.compute)\n\n"
        "    @step\n    def compute(self):\n        self.value = self.base / DIVISOR\n"
        "        self.next(self.end)\n\n    @step\n    def end(self):\n        pass\n"
    )
    flow.write_text("DIVISOR = 0\n" + source)
    with pytest.raises(StepFailedError, match="ZeroDivisionError") as info:
        run_flow(str(flow), store=store, **quiet(executor))
    assert info.value.line == 12
    flow.write_text("DIVISOR = 4\n" + source)
    outcome = resume_run(str(flow), store=store, **quiet(executor))
    resumed = Client(store).run(outcome.run_id)
    assert resumed.data.value == 5.0
    assert resumed["start"].task.origin_task_id is not None


def test_resuming_a_succeeded_run_needs_from(store: Store) -> None:
    from reelflow._errors import ResumeError

    first = run("resumable.py", store)
    with pytest.raises(ResumeError, match="add --from STEP"):
        resume_run(first.run_id, store=store, display=PlainDisplay(out=io.StringIO()))
    with pytest.raises(ResumeError, match="no failed or interrupted run"):
        resume_run(store=store, display=PlainDisplay(out=io.StringIO()))
    with pytest.raises(ResumeError, match="--from names no step"):
        resume_run(
            first.run_id, from_step="nope", store=store, display=PlainDisplay(out=io.StringIO())
        )


def test_empty_foreach_runs_the_join_with_no_inputs(store: Store, executor: str) -> None:
    outcome = run("wide.py", store, n="0", executor=executor)
    data = Client(store).run(outcome.run_id).data
    assert (data.count, data.total) == (0, 0)


def test_cpu_hints_limit_how_many_tasks_run_at_once(store: Store, executor: str) -> None:
    outcome = run("heavy.py", store, executor=executor)
    spans = Client(store).run(outcome.run_id).data.spans
    for earlier, later in itertools.pairwise(spans):
        assert later[0] >= earlier[1]


def test_values_only_read_stay_inherited_even_when_their_pickle_varies(store: Store) -> None:
    outcome = run("readonly.py", store)
    read = Client(store).run(outcome.run_id)["read"].task
    assert read.artifacts["tags"].inherited and read.artifacts["weights"].inherited
    assert not read.artifacts["history"].inherited
    assert read["history"] == [1, 2]


def test_resume_after_a_parameter_was_added_uses_its_default(store: Store, tmp_path: Path) -> None:
    flow = tmp_path / "growing.py"
    body = (
        "    @step\n    def start(self):\n        self.total = self.a + {extra}\n"
        "        self.next(self.end)\n\n    @step\n    def end(self):\n        pass\n"
    )
    head = "from reelflow import Flow, Parameter, step\n\nclass GrowingFlow(Flow):\n"
    flow.write_text(head + '    a = Parameter("a", default=1)\n' + body.format(extra="1 / 0"))
    display = PlainDisplay(out=io.StringIO())
    with pytest.raises(StepFailedError):
        run_flow(str(flow), {"a": "5"}, store=store, display=display)
    flow.write_text(
        head
        + '    a = Parameter("a", default=1)\n    b = Parameter("b", default=10)\n'
        + body.format(extra="self.b")
    )
    outcome = resume_run(store=store, display=display)
    resumed = Client(store).run(outcome.run_id)
    assert resumed.params == {"a": 5, "b": 10}
    assert resumed["start"].task["total"] == 15


def test_resume_without_a_target_skips_runs_already_resumed(store: Store, tmp_path: Path) -> None:
    from reelflow._errors import ResumeError

    marker = tmp_path / "die"
    marker.touch()
    with pytest.raises(StepFailedError):
        run("resumable.py", store, marker=str(marker))
    marker.unlink()
    display = PlainDisplay(out=io.StringIO())
    resume_run(store=store, display=display)
    with pytest.raises(ResumeError, match="no failed or interrupted run is waiting"):
        resume_run(store=store, display=display)


def test_classes_from_a_flow_file_with_a_dashed_name_load_in_every_worker(store: Store) -> None:
    outcome = run("my-flow.py", store)
    assert Client(store).run(outcome.run_id).data.total == 3


def test_an_empty_foreach_keeps_what_came_before_it(store: Store, executor: str) -> None:
    outcome = run("edge_cases.py", store, executor=executor)
    join = Client(store).run(outcome.run_id)["join"].task
    assert join["upstream"] == 41
    assert Client(store).run(outcome.run_id)["start"].task.id in join.record.parents


def test_a_failed_run_does_not_wait_for_retries_and_records_them(
    store: Store, executor: str
) -> None:
    with pytest.raises(StepFailedError, match="fails at once"):
        run("edge_cases.py", store, mode="fail", executor=executor)
    failed = Client(store).runs()[0]
    retrying = failed["slow_retry"].task
    assert retrying.status == FAILED
    assert len(retrying.attempts()) == 1


def test_foreach_over_a_set_is_refused_with_a_fix(store: Store, tmp_path: Path) -> None:
    flow = tmp_path / "setflow.py"
    flow.write_text(
        "from reelflow import Flow, step\n\nclass SetFlow(Flow):\n    @step\n"
        "    def start(self):\n        self.users = {'a', 'b'}\n"
        "        self.next(self.each, foreach='users')\n\n"
        "    @step\n    def each(self):\n        self.next(self.join)\n\n"
        "    @step\n    def join(self, inputs):\n        self.next(self.end)\n\n"
        "    @step\n    def end(self):\n        pass\n"
    )
    with pytest.raises(StepFailedError, match=r"is a set, whose order differs.*sorted"):
        run_flow(str(flow), store=store, display=PlainDisplay(out=io.StringIO()))


def test_a_worker_that_exits_points_at_the_step(
    store: Store, tmp_path: Path, executor: str
) -> None:
    flow = tmp_path / "exits.py"
    flow.write_text(
        "import os\nfrom reelflow import Flow, step\n\nclass ExitFlow(Flow):\n    @step\n"
        "    def start(self):\n        os._exit(3)\n        self.next(self.end)\n\n"
        "    @step\n    def end(self):\n        pass\n"
    )
    with pytest.raises(StepFailedError, match="exited with code 3") as info:
        run_flow(str(flow), store=store, **quiet(executor))
    assert (Path(info.value.file or "").name, info.value.line) == ("exits.py", 6)


def test_resume_after_a_step_was_renamed_reruns_instead_of_crashing(
    store: Store, tmp_path: Path
) -> None:
    flow = tmp_path / "renamed.py"
    template = (
        "from reelflow import Flow, step\n\nclass RenamedFlow(Flow):\n    @step\n"
        "    def start(self):\n        self.v = 1\n        self.next(self.{name})\n\n"
        "    @step\n    def {name}(self):\n        self.w = self.v + {add}\n"
        "        self.next(self.end)\n\n    @step\n    def end(self):\n        pass\n"
    )
    flow.write_text(template.format(name="a", add="1 / 0"))
    display = PlainDisplay(out=io.StringIO())
    with pytest.raises(StepFailedError):
        run_flow(str(flow), store=store, display=display)
    flow.write_text(template.format(name="b", add="1"))
    outcome = resume_run(str(flow), store=store, display=display)
    resumed = Client(store).run(outcome.run_id)
    assert resumed.data.w == 2
    assert resumed["start"].task.origin_task_id is None


def test_a_run_still_running_cannot_be_resumed(store: Store) -> None:
    from reelflow._errors import ResumeError

    run_id = store.metadata.create_run("F", params={}, graph={}, flow_file="f.py")
    with pytest.raises(ResumeError, match=f"run {run_id} is still running"):
        resume_run(run_id, store=store, display=PlainDisplay(out=io.StringIO()))


def test_interactions_travel_between_steps_as_arrow(store: Store, executor: str) -> None:
    outcome = run("with_data.py", store, executor=executor)
    client_run = Client(store).run(outcome.run_id)
    assert client_run["start"].task.artifacts["log"].encoding == "arrow.object"
    assert client_run.data.shape[2] == 500
