"""Start a run or resume one: load the flow, record the run, drive the scheduler, record the end."""

from __future__ import annotations

import contextlib
import shutil
import signal
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reelflow._errors import ResumeError, RunInterruptedError, StepFailedError
from reelflow.flow._display import Display, make_display
from reelflow.flow._executor import Executor, make_executor
from reelflow.flow._flowspec import Flow
from reelflow.flow._graph import FlowGraph, build_graph
from reelflow.flow._loader import load_flow, split_flow_ref
from reelflow.flow._parameters import resolve_parameters
from reelflow.flow._plan import ResumePlan
from reelflow.flow._scheduler import RunSetup, Scheduler
from reelflow.flow._spec import Namespace
from reelflow.store import (
    FAILED,
    INTERRUPTED,
    RUNNING,
    SUCCEEDED,
    ArtifactRecord,
    RunRecord,
    Store,
)


@dataclass(frozen=True)
class RunOutcome:
    """How a run ended."""

    run_id: int
    flow_name: str
    status: str


def load(flow_ref: str) -> tuple[type[Flow], FlowGraph, str]:
    """The flow class, its checked graph, and the absolute path of its file."""
    file, class_name = split_flow_ref(flow_ref)
    cls = load_flow(file, class_name)
    return cls, build_graph(cls), str(Path(file).resolve())


def run_flow(
    flow_ref: str,
    params: Mapping[str, Any] | None = None,
    *,
    max_workers: int | None = None,
    tags: Iterable[str] = (),
    store: Store | None = None,
    display: Display | None = None,
    executor: str = "local",
    ray_address: str | None = None,
) -> RunOutcome:
    """Run the flow in ``flow_ref`` (``file.py`` or ``file.py:ClassName``) to its end.

    ``executor`` is ``local`` (worker processes of this machine) or ``ray`` (a Ray task per
    task, on the cluster at ``ray_address`` or on a Ray instance started for the run).
    """
    cls, graph, file = load(flow_ref)
    values = resolve_parameters(cls.parameters(), dict(params or {}))
    store = store or Store.open()
    where = _Where(executor, max_workers, ray_address)
    return _start(store, cls, graph, file, values, where, tags, display, None)


def resume_run(
    target: str | int | None = None,
    *,
    from_step: str | None = None,
    max_workers: int | None = None,
    tags: Iterable[str] = (),
    store: Store | None = None,
    display: Display | None = None,
    executor: str = "local",
    ray_address: str | None = None,
) -> RunOutcome:
    """Resume a failed or interrupted run as a new run that re-uses what already succeeded.

    ``target`` is a run id, a flow file (its latest failed run), or None (the store's latest
    failed or interrupted run). The flow's current code is used, so fixes made since apply.
    """
    store = store or Store.open()
    origin = _origin_run(store, target, allow_succeeded=from_step is not None)
    flow_ref = origin.flow_file
    if isinstance(target, str) and not target.isdigit():
        flow_ref = target
    cls, graph, file = load(_with_class(flow_ref, origin))
    if from_step is not None and from_step not in graph.nodes:
        raise ResumeError(f"--from names no step of {graph.flow_name}: {from_step!r}")
    rerun = graph.descendants(from_step) if from_step else set()
    plan = ResumePlan.from_tasks(origin.id, store.metadata.list_tasks(origin.id), rerun, graph)
    values = _resumed_parameters(cls, origin)
    tags = [*origin.tags, *tags]
    where = _Where(executor, max_workers, ray_address)
    return _start(store, cls, graph, file, values, where, tags, display, plan)


@dataclass(frozen=True)
class _Where:
    """Which executor runs the tasks, and how it is set up."""

    executor: str
    max_workers: int | None
    ray_address: str | None


def _start(
    store: Store,
    cls: type[Flow],
    graph: FlowGraph,
    file: str,
    params: dict[str, Any],
    where: _Where,
    tags: Iterable[str],
    display: Display | None,
    plan: ResumePlan | None,
) -> RunOutcome:
    """Record the run, then drive it; a worker starts first so its start-up overlaps ours."""
    executor = _start_executor(store, where)
    try:
        param_namespace = _param_namespace(store, cls, params)
        run_id = store.metadata.create_run(
            graph.flow_name,
            params=params,
            graph=_graph_dict(graph, cls),
            flow_file=file,
            origin_run_id=None if plan is None else plan.origin_run_id,
            tags=tags,
        )
    except BaseException:
        executor.shutdown(kill=True)
        raise
    setup = RunSetup(
        store=store,
        graph=graph,
        flow_file=file,
        flow_class=cls.__name__,
        run_id=run_id,
        params=params,
        param_namespace=param_namespace,
        cpu_budget=executor.cpu_budget,
        memory_budget=executor.memory_budget,
        origin_run_id=None if plan is None else plan.origin_run_id,
    )
    return _drive(setup, executor, display, plan)


def _start_executor(store: Store, where: _Where) -> Executor:
    """Start a worker now, so its start-up overlaps the scheduler's own set-up."""
    executor = make_executor(
        where.executor,
        str(store.config.home),
        where.max_workers,
        where.ray_address,
        store.config.artifacts,
    )
    executor.prestart(1)
    return executor


def _resumed_parameters(cls: type[Flow], origin: RunRecord) -> dict[str, Any]:
    """The original run's values for the parameters the flow still has; defaults for new ones."""
    declared = cls.parameters()
    kept = {name: value for name, value in origin.params.items() if name in declared}
    return resolve_parameters(declared, kept)


def _drive(
    setup: RunSetup, executor: Executor, display: Display | None, plan: ResumePlan | None
) -> RunOutcome:
    store, graph, run_id = setup.store, setup.graph, setup.run_id
    display = display or make_display()
    scheduler = Scheduler(setup, executor, display, resume=plan)
    display.start(graph.flow_name, run_id, [node.name for node in graph])
    status = FAILED
    try:
        with _sigterm_as_interrupt():
            scheduler.run()
        status = SUCCEEDED
    except StepFailedError as exc:
        store.metadata.finish_run(run_id, FAILED, str(exc))
        advice = f"fix it, then 'reelflow resume {run_id}'"
        if exc.error_type == "GuardFailedError":  # resume re-uses the data the guard refused
            advice = (
                f"see 'reelflow report {run_id}'; fix the cause, then run again "
                f"(or 'reelflow resume {run_id}' if the steps before it need not rerun)"
            )
        raise StepFailedError(
            f"{exc.message}; {advice}", file=exc.file, line=exc.line, error_type=exc.error_type
        ) from None
    except KeyboardInterrupt:
        status = INTERRUPTED
        scheduler.interrupt()
        executor.shutdown(kill=True)
        store.metadata.finish_run(run_id, INTERRUPTED, "interrupted")
        raise RunInterruptedError(
            f"run {run_id} was interrupted; resume it with 'reelflow resume {run_id}'"
        ) from None
    except Exception as exc:
        store.metadata.finish_run(run_id, FAILED, f"internal error: {type(exc).__name__}: {exc}")
        raise
    finally:
        display.stop()
        executor.shutdown(kill=status != SUCCEEDED)
        shutil.rmtree(store.config.home / "running" / str(run_id), ignore_errors=True)
    store.metadata.finish_run(run_id, SUCCEEDED)
    return RunOutcome(run_id, graph.flow_name, SUCCEEDED)


def _graph_dict(graph: FlowGraph, cls: type[Flow]) -> dict[str, Any]:
    return {**graph.to_dict(), "class_name": cls.__name__}


def _param_namespace(store: Store, cls: type[Flow], values: dict[str, Any]) -> Namespace:
    namespace: Namespace = {}
    for name, param in cls.parameters().items():
        stored = store.save(values[name])
        attr = param.attribute or name
        namespace[attr] = ArtifactRecord(
            attr, stored.key, stored.encoding, stored.type_name, stored.size, inherited=True
        )
    return namespace


def _origin_run(
    store: Store, target: str | int | None, *, allow_succeeded: bool = False
) -> RunRecord:
    meta = store.metadata
    if isinstance(target, int) or (isinstance(target, str) and target.isdigit()):
        run = meta.get_run(int(target))
    else:
        flow_name = None
        if target is not None:
            _, graph, _ = load(target)
            flow_name = graph.flow_name
        run = _latest_unresumed_failure(store, flow_name)
    if run.status == RUNNING:
        raise ResumeError(
            f"run {run.id} is still running (pid {run.pid} on {run.host}); "
            "stop it first (Ctrl-C) or wait for it to end"
        )
    if run.status == SUCCEEDED and not allow_succeeded:
        raise ResumeError(
            f"run {run.id} succeeded, so there is nothing to resume; "
            f"add --from STEP to re-run it from a step"
        )
    return run


def _latest_unresumed_failure(store: Store, flow_name: str | None) -> RunRecord:
    """The newest failed or interrupted run that no successful run has resumed yet."""
    meta = store.metadata
    resumed = {r.origin_run_id for r in meta.list_runs(flow_name, statuses=[SUCCEEDED])}
    for run in meta.list_runs(flow_name, statuses=[FAILED, INTERRUPTED]):
        if run.id not in resumed:
            return run
    which = f"of {flow_name} " if flow_name else ""
    raise ResumeError(
        f"no failed or interrupted run {which}is waiting to be resumed; "
        "name one with 'reelflow resume RUN_ID'"
    )


def _with_class(flow_ref: str, origin: RunRecord) -> str:
    file, class_name = split_flow_ref(flow_ref)
    return flow_ref if class_name else f"{file}:{origin.graph.get('class_name', '')}".rstrip(":")


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM stops the run the way Ctrl-C does, so a scheduler's kill leaves a resumable run."""

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
