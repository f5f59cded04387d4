"""``Flow``: the base class of user flows, and the ``inputs`` a join step receives.

Inside a task, reading ``self.x`` loads artifact ``x`` lazily from the store; assigning
``self.x = ...`` marks it to be stored when the step ends. Names starting with ``_`` are plain
attributes that are never stored.
"""

from __future__ import annotations

from collections.abc import (
    Callable,
    ItemsView,
    Iterable,
    Iterator,
    KeysView,
    Mapping,
    Set,
    Sized,
    ValuesView,
)
from dataclasses import dataclass, field
from typing import Any, cast

from reelflow._errors import FlowDefinitionError, GuardFailedError, MergeArtifactsError
from reelflow.flow._checks import as_check_record, flatten_checks
from reelflow.flow._parameters import Parameter
from reelflow.flow._spec import InputSpec, Namespace
from reelflow.flow._step import step_options
from reelflow.store._records import ArtifactRecord

Loader = Callable[[ArtifactRecord], Any]
_RESERVED = frozenset(
    {"next", "input", "index", "foreach_stack", "merge_artifacts", "name", "check"}
)


@dataclass
class TaskState:
    """The per-task bookkeeping behind a Flow instance."""

    namespace: Namespace
    loader: Loader
    params: dict[str, Any]
    frames: list[dict[str, Any]]
    assigned: set[str] = field(default_factory=set)
    loaded: dict[str, Any] = field(default_factory=dict)
    fingerprint: Callable[[Any], str | None] | None = None
    fingerprints: dict[str, str | None] = field(default_factory=dict)
    transition: dict[str, Any] | None = None
    input_value: Any = None
    input_loaded: bool = False
    checks: list[dict[str, Any]] = field(default_factory=list)


class Flow:
    """Subclass this, add ``@step`` methods from ``start`` to ``end``, and run it with reelflow."""

    _rf: TaskState | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name, value in vars(cls).items():
            if isinstance(value, Parameter):
                value.attribute = name
            elif step_options(value) is not None and name in _RESERVED:
                raise FlowDefinitionError(f"'{name}' is reserved by reelflow; rename the step")

    # --- class-level introspection ----------------------------------------------------------

    @classmethod
    def parameters(cls) -> dict[str, Parameter]:
        """The flow's parameters by their command-line name."""
        found: dict[str, Parameter] = {}
        for klass in reversed(cls.__mro__):
            for value in vars(klass).values():
                if isinstance(value, Parameter):
                    found[value.name] = value
        return found

    # --- attribute access --------------------------------------------------------------------

    def __getattr__(self, name: str) -> Any:
        state = self.__dict__.get("_rf")
        if state is None and isinstance(getattr(type(self), name, None), Parameter):
            raise AttributeError(f"parameter '{name}' has a value only inside a running step")
        if name.startswith("_") or state is None or name not in state.namespace:
            raise AttributeError(_missing(type(self).__name__, name, state))
        record = state.namespace[name]
        value = state.loader(record)
        state.loaded[name] = value
        if record.encoding == "pickle" and state.fingerprint is not None:
            state.fingerprints[name] = state.fingerprint(value)
        object.__setattr__(self, name, value)
        return value

    def __setattr__(self, name: str, value: Any) -> None:
        if not name.startswith("_"):
            if name in _RESERVED or isinstance(getattr(type(self), name, None), Parameter):
                raise AttributeError(f"'{name}' is read-only in a flow; choose another name")
            state = self.__dict__.get("_rf")
            if state is not None:
                state.assigned.add(name)
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        state = self.__dict__.get("_rf")
        if state is not None and not name.startswith("_"):
            state.assigned.discard(name)
            state.namespace.pop(name, None)
            state.loaded.pop(name, None)
            state.fingerprints.pop(name, None)
        self.__dict__.pop(name, None)

    # --- the step API ------------------------------------------------------------------------

    def next(self, *targets: Callable[..., Any], foreach: str | None = None) -> None:
        """Say which step(s) run after this one; ``foreach="x"`` runs the target once per item."""
        state = self._state()
        if state.transition is not None:
            raise FlowDefinitionError("self.next was called twice in one step; call it once, last")
        names = [_target_name(self, t) for t in targets]
        if foreach is not None:
            if not hasattr(self, foreach):
                raise FlowDefinitionError(f"foreach='{foreach}' names no attribute set on self")
            items = getattr(self, foreach)
            if isinstance(items, Set | KeysView | ValuesView | ItemsView | Mapping):
                raise FlowDefinitionError(
                    f"foreach='{foreach}' is a {type(items).__name__}, whose order differs from "
                    f"one process to the next; use a list, e.g. self.{foreach} = sorted(...)"
                )
            if not isinstance(items, Sized) or not isinstance(items, Iterable):
                raise FlowDefinitionError(
                    f"foreach='{foreach}' needs a sized iterable (list, tuple, range, array, "
                    f"DataFrame), not {type(items).__name__}"
                )
            state.transition = {"targets": names, "foreach": foreach, "count": len(items)}
        else:
            state.transition = {"targets": names, "foreach": None, "count": None}

    @property
    def input(self) -> Any:
        """The item of the innermost ``foreach`` this task was started for."""
        state = self._state()
        if not state.input_loaded:
            frame = _innermost_foreach(state.frames)
            if frame is None:
                raise AttributeError("self.input exists only in steps inside a foreach")
            items = state.loader(ArtifactRecord(**frame["ref"]))
            state.input_value = _item_at(items, frame["index"])
            state.input_loaded = True
        return state.input_value

    @property
    def index(self) -> int:
        """The position of this task's item in the innermost ``foreach``."""
        frame = _innermost_foreach(self._state().frames)
        if frame is None:
            raise AttributeError("self.index exists only in steps inside a foreach")
        return int(frame["index"])

    def foreach_stack(self) -> list[tuple[str, int, int]]:
        """(step, index, count) of each foreach enclosing this task, outermost first."""
        return [
            (f["step"], f["index"], f["count"])
            for f in self._state().frames
            if f["kind"] == "foreach"
        ]

    def merge_artifacts(
        self,
        inputs: Inputs,
        exclude: Iterable[str] = (),
        include: Iterable[str] | None = None,
    ) -> None:
        """Copy into this join the artifacts on which all inputs agree.

        Artifacts already set in this step win; a name whose value differs between inputs is an
        error unless it is excluded (or not included).
        """
        state = self._state()
        skip = set(exclude) | state.assigned
        wanted = None if include is None else set(include)
        merged, conflicts = _merge_namespaces([i._namespace for i in inputs], skip, wanted)
        if conflicts:
            listed = ", ".join(sorted(conflicts))
            raise MergeArtifactsError(
                f"inputs disagree on {listed}; set them in the join step or pass "
                f"exclude=[{', '.join(repr(c) for c in sorted(conflicts))}]"
            )
        missing = (wanted or set()) - set(merged) - state.assigned
        if missing:
            raise MergeArtifactsError(f"include names artifacts no input has: {sorted(missing)}")
        for name, record in merged.items():
            state.namespace[name] = record
            self.__dict__.pop(name, None)

    def check(self, *results: Any) -> None:
        """Record guard results with this task; a failed blocking guard then fails the step.

        Takes ``GuardResult`` objects, lists of them, or anything with a ``results`` list (a
        drift report). Warnings are recorded and the step goes on.
        """
        state = self._state()
        recorded = [as_check_record(r) for r in flatten_checks(results)]
        state.checks.extend(recorded)
        blocking = [r for r in recorded if not r["passed"] and r["severity"] == "block"]
        if blocking:
            head = blocking[0]
            more = f" (and {len(blocking) - 1} more)" if len(blocking) > 1 else ""
            raise GuardFailedError(f"guard '{head['name']}' failed: {head['message']}{more}")

    def _state(self) -> TaskState:
        state = self.__dict__.get("_rf")
        if state is None:
            raise RuntimeError("this method works only inside a running step")
        return cast(TaskState, state)

    def _rf_parameter(self, name: str) -> Any:
        state = self.__dict__.get("_rf")
        if state is None:
            raise AttributeError(f"parameter '{name}' has a value only inside a running step")
        return state.params[name]


class InputView:
    """One branch at a join: read its artifacts as attributes (``inp.model``)."""

    def __init__(self, spec: InputSpec, loader: Loader) -> None:
        self._spec = spec
        self._namespace = spec.namespace
        self._loader = loader
        self._cache: dict[str, Any] = {}

    @property
    def _step(self) -> str:
        return self._spec.step

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name not in self._cache:
            if name not in self._namespace:
                raise AttributeError(
                    f"input from step '{self._spec.step}' has no artifact '{name}'"
                )
            self._cache[name] = self._loader(self._namespace[name])
        return self._cache[name]

    def __repr__(self) -> str:
        return f"<input from {self._spec.step} (task {self._spec.task_id})>"


class Inputs:
    """What a join step receives: indexable, iterable, and by step name for static branches."""

    def __init__(self, views: list[InputView]) -> None:
        self._views = views

    def __len__(self) -> int:
        return len(self._views)

    def __iter__(self) -> Iterator[InputView]:
        return iter(self._views)

    def __getitem__(self, index: int) -> InputView:
        return self._views[index]

    def __getattr__(self, name: str) -> InputView:
        if name.startswith("_"):
            raise AttributeError(name)
        for view in self._views:
            if view._step == name:
                return view
        raise AttributeError(f"no input comes from a step named '{name}'")


def _merge_namespaces(
    namespaces: list[Namespace], skip: set[str], wanted: set[str] | None
) -> tuple[dict[str, ArtifactRecord], set[str]]:
    merged: dict[str, ArtifactRecord] = {}
    conflicts: set[str] = set()
    for namespace in namespaces:
        for name, record in namespace.items():
            if name in skip or (wanted is not None and name not in wanted):
                continue
            seen = merged.get(name)
            if seen is None:
                merged[name] = ArtifactRecord(
                    record.name, record.key, record.encoding, record.type_name, record.size
                )
            elif seen.key != record.key:
                conflicts.add(name)
    return {k: v for k, v in merged.items() if k not in conflicts}, conflicts


def _target_name(flow: Flow, target: Any) -> str:
    func = getattr(target, "__func__", None)
    if getattr(target, "__self__", None) is not flow or step_options(func) is None:
        raise FlowDefinitionError(f"self.next takes steps of this flow (self.name), not {target!r}")
    return str(func.__name__)  # type: ignore[union-attr]


def _innermost_foreach(frames: list[dict[str, Any]]) -> dict[str, Any] | None:
    for frame in reversed(frames):
        if frame["kind"] == "foreach":
            return cast(dict[str, Any], frame)
    return None


def _item_at(items: Any, index: int) -> Any:
    if hasattr(items, "iloc"):
        return items.iloc[index]
    try:
        return items[index]
    except (TypeError, KeyError):
        for position, item in enumerate(items):
            if position == index:
                return item
    raise IndexError(f"foreach item {index} no longer exists")


def _missing(flow_name: str, name: str, state: TaskState | None) -> str:
    if state is None:
        return f"'{flow_name}' object has no attribute '{name}'"
    return f"'{name}' is not set: no step before this one in {flow_name} assigned self.{name}"
