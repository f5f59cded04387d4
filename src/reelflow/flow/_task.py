"""Run one attempt of one task inside a worker: call the step, then store what it set."""

from __future__ import annotations

import pickle
import traceback
from collections.abc import Callable
from pathlib import Path
from types import MappingProxyType
from typing import Any

from reelflow._errors import GuardFailedError, ReelflowError, SerializationError
from reelflow.flow._current import TaskContext, current
from reelflow.flow._flowspec import Flow, Inputs, InputView, TaskState
from reelflow.flow._loader import load_flow
from reelflow.flow._spec import Namespace, TaskError, TaskResult, TaskSpec
from reelflow.store._codecs import StoredValue, load_value, store_value
from reelflow.store._objects import Objects, hash_bytes
from reelflow.store._records import ArtifactRecord


def run_task(spec: TaskSpec, objects: Objects, flow_cls: type[Flow] | None = None) -> TaskResult:
    """Execute ``spec`` and return its namespace and transition, or the error it raised.

    ``flow_cls`` is the flow's class when the caller already loaded it.
    """
    loader = _loader_for(objects)
    state = TaskState(
        namespace=dict(spec.namespace),
        loader=loader,
        params=dict(spec.params),
        frames=spec.frames,
        fingerprint=pickle_digest,
    )
    try:
        flow_cls = flow_cls or load_flow(spec.flow_file, spec.flow_class)
        flow = flow_cls.__new__(flow_cls)
        object.__setattr__(flow, "_rf", state)
        current._bind(_context(spec))
        _call_step(flow, spec, loader)
        if spec.catch:
            setattr(flow, spec.catch, None)
        namespace = _persist(flow, state, objects)
    except BaseException as exc:  # the step may raise anything, SystemExit included
        if isinstance(exc, KeyboardInterrupt):
            raise
        error = describe_error(exc, spec.flow_file)
        return TaskResult(spec.task_id, spec.attempt, error=error, checks=tuple(state.checks))
    finally:
        current._bind(None)
    return TaskResult(
        spec.task_id,
        spec.attempt,
        namespace=namespace,
        transition=state.transition,
        checks=tuple(state.checks),
    )


def _call_step(flow: Flow, spec: TaskSpec, loader: Callable[[ArtifactRecord], Any]) -> None:
    method = getattr(flow, spec.step)
    if spec.inputs is None:
        method()
    else:
        method(Inputs([InputView(i, loader) for i in spec.inputs]))


def _persist(flow: Flow, state: TaskState, objects: Objects) -> Namespace:
    """The task's namespace: inherited records, plus what the step set or mutated, stored."""
    namespace: Namespace = {name: _as_inherited(record) for name, record in state.namespace.items()}
    changed = set(state.assigned) | _mutated(state)
    for name in sorted(changed):
        value = flow.__dict__[name]
        try:
            stored = store_value(objects, value)
        except SerializationError as exc:
            raise SerializationError(f"artifact '{name}': {exc}") from None
        namespace[name] = _record(name, stored)
    return namespace


def _mutated(state: TaskState) -> set[str]:
    """Pickled artifacts the step read and then changed in place.

    The value is compared with itself as loaded in this process (not with the stored bytes),
    since some pickles, such as sets of strings, differ from one process to the next.
    """
    changed = set()
    for name, before in state.fingerprints.items():
        if name not in state.assigned and pickle_digest(state.loaded[name]) != before:
            changed.add(name)
    return changed


def pickle_digest(value: Any) -> str | None:
    """A digest of ``value``'s pickle, or None when it cannot be pickled again."""
    try:
        return hash_bytes(pickle.dumps(value, protocol=5))
    except Exception:
        return None


def _as_inherited(record: ArtifactRecord) -> ArtifactRecord:
    if record.inherited:
        return record
    return ArtifactRecord(
        record.name, record.key, record.encoding, record.type_name, record.size, inherited=True
    )


def _record(name: str, stored: StoredValue) -> ArtifactRecord:
    return ArtifactRecord(name, stored.key, stored.encoding, stored.type_name, stored.size)


def _loader_for(objects: Objects) -> Callable[[ArtifactRecord], Any]:
    def load(record: ArtifactRecord) -> Any:
        return load_value(objects, record.key, record.encoding)

    return load


def _context(spec: TaskSpec) -> TaskContext:
    return TaskContext(
        flow_name=spec.flow_name,
        run_id=spec.run_id,
        step_name=spec.step,
        task_id=spec.task_id,
        attempt=spec.attempt,
        parameters=MappingProxyType(dict(spec.params)),
        origin_run_id=spec.origin_run_id,
    )


_PACKAGE_DIR = str(Path(__file__).resolve().parents[1])


def _user_traceback(exc: BaseException) -> traceback.TracebackException:
    """The traceback without reelflow's own leading frames, so it starts in the user's code."""
    trace = traceback.TracebackException.from_exception(exc)
    frames = list(trace.stack)
    while len(frames) > 1 and str(Path(frames[0].filename).resolve()).startswith(_PACKAGE_DIR):
        frames.pop(0)
    trace.stack = traceback.StackSummary.from_list(frames)
    return trace


def describe_error(exc: BaseException, flow_file: str) -> TaskError:
    """The error as the user should see it: type, message, and the line in their flow file."""
    text = "".join(_user_traceback(exc).format())
    file: str | None = None
    line: int | None = None
    if isinstance(exc, ReelflowError) and exc.file:
        file, line = exc.file, exc.line
    else:
        target = Path(flow_file).resolve()
        for frame in traceback.extract_tb(exc.__traceback__):
            if Path(frame.filename).resolve() == target:
                file, line = frame.filename, frame.lineno
    message = exc.message if isinstance(exc, ReelflowError) else str(exc)
    if isinstance(exc, GuardFailedError):  # an expected stop: its sentence says it all
        text = f"{type(exc).__name__}: {message}\n"
    return TaskError(type(exc).__name__, message, text, file, line)
