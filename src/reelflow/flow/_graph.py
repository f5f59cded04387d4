"""A flow's DAG, read from the user's source with ``inspect`` and ``ast`` and checked by ``_lint``.

A step has one role word, :attr:`StepNode.kind`, for display, and orthogonal facts for the runtime:
``is_join`` (it gathers ``inputs``), ``is_split`` (it fans out: several targets or ``foreach``) and
``foreach``. A join that splits again is ``kind == "join"`` with ``is_split`` true; a ``start``
that fans out is ``kind == "start"`` with ``is_split`` true.
"""

from __future__ import annotations

import ast
import heapq
import inspect
import textwrap
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal, cast

from reelflow._errors import FlowDefinitionError
from reelflow.flow import _lint
from reelflow.flow._lint import StepSource
from reelflow.flow._step import StepOptions, step_options

StepKind = Literal["start", "linear", "split", "foreach", "join", "end"]


@dataclass(frozen=True)
class StepNode:
    """One step of the graph: where it is written, where it goes, and which splits enclose it."""

    name: str
    file: str
    lineno: int
    next_lineno: int | None
    targets: tuple[str, ...]
    foreach: str | None
    is_join: bool
    options: StepOptions
    doc: str | None
    predecessors: tuple[str, ...] = ()
    split_parents: tuple[str, ...] = ()
    is_foreach_join: bool = False
    closes: str | None = None

    @property
    def is_split(self) -> bool:
        """Whether the step fans out: several targets, or a foreach."""
        return len(self.targets) > 1 or self.foreach is not None

    @property
    def kind(self) -> StepKind:
        """The step's role; first match of start, end, join, foreach, split, linear."""
        if self.name in ("start", "end"):
            return "start" if self.name == "start" else "end"
        if self.is_join:
            return "join"
        if self.foreach is not None:
            return "foreach"
        return "split" if self.is_split else "linear"

    def to_dict(self) -> dict[str, Any]:
        """The node as JSON-able data."""
        data = asdict(self)
        data.update(kind=self.kind, is_split=self.is_split, options=asdict(self.options))
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}


@dataclass(frozen=True)
class FlowGraph:
    """A checked flow graph; ``nodes`` are in source order with ``start`` first."""

    flow_name: str
    file: str
    nodes: dict[str, StepNode]

    def __getitem__(self, name: str) -> StepNode:
        return self.nodes[name]

    def __iter__(self) -> Iterator[StepNode]:
        """The steps in topological order from ``start``, ties broken by source order."""
        return (self.nodes[name] for name in _topological(self.nodes))

    def descendants(self, name: str) -> set[str]:
        """Steps reachable from ``name``, ``name`` included."""
        seen, todo = {name}, [name]
        while todo:
            fresh = [t for t in self.nodes[todo.pop()].targets if t not in seen]
            seen.update(fresh)
            todo.extend(fresh)
        return seen

    def render_text(self) -> str:
        """The DAG as text, one line per step, indented by the splits that enclose it."""
        rows = [
            ("  " * len(n.split_parents) + n.name, ", ".join(n.targets), _note(n, self.nodes))
            for n in self
        ]
        name_width = max(len(name) for name, _, _ in rows)
        target_width = max(len(targets) for _, targets, _ in rows)
        lines = [self.flow_name]
        for name, targets, note in rows:
            arrow = f"  → {targets.ljust(target_width)}" if targets else ""
            line = f"{name.ljust(name_width)}{arrow}" + (f"  ({note})" if note else "")
            lines.append(line.rstrip())
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """The graph as JSON-able data, stored with each run."""
        return {
            "flow": self.flow_name,
            "file": self.file,
            "order": [node.name for node in self],
            "steps": {name: node.to_dict() for name, node in self.nodes.items()},
        }


def _note(node: StepNode, nodes: dict[str, StepNode]) -> str:
    """The bracketed remark after a step's arrow in ``render_text``."""
    notes = []
    if node.closes is not None:
        what = "foreach" if nodes[node.closes].foreach else "split"
        notes.append(f"joins {what} of {node.closes}")
    if node.foreach is not None:
        notes.append(f"foreach {node.foreach}")
    elif node.is_split:
        notes.append("split")
    return "; ".join(notes)


def _topological(nodes: dict[str, StepNode]) -> list[str]:
    """Kahn's order over an acyclic graph, preferring the step written first."""
    index = {name: i for i, name in enumerate(nodes)}
    waiting = {name: len(node.predecessors) for name, node in nodes.items()}
    ready = [(index[name], name) for name, count in waiting.items() if count == 0]
    order: list[str] = []
    while ready:
        _, name = heapq.heappop(ready)
        order.append(name)
        for target in nodes[name].targets:
            waiting[target] -= 1
            if waiting[target] == 0:
                heapq.heappush(ready, (index[target], target))
    return order


# --- reading the source ------------------------------------------------------------------------


def build_graph(flow_cls: type) -> FlowGraph:
    """Read ``flow_cls``'s steps from source, run every lint rule and return the checked graph."""
    file, line = _class_location(flow_cls)
    functions = _step_functions(flow_cls)
    _lint.check_start_and_end(flow_cls, functions, file, line)
    sources = [_parse_step(name, func) for name, func in functions.items()]
    for src in sources:
        for rule in _lint.STEP_RULES:
            rule(src)
    drafts = {src.name: _draft_node(src) for src in sources}
    for node in drafts.values():
        _lint.check_targets_are_steps(node, drafts, flow_cls)
    nodes = _with_predecessors(drafts)
    _lint.check_start_has_no_predecessors(nodes)
    _lint.check_reachable(nodes)
    _lint.check_acyclic(nodes)
    _lint.check_reaches_end(nodes)
    return FlowGraph(flow_cls.__name__, file or nodes["start"].file, _with_splits(nodes))


def _class_location(flow_cls: type) -> tuple[str | None, int | None]:
    """The file and ``class`` line of the flow, or None where the source is not available."""
    try:
        file = inspect.getsourcefile(flow_cls) or inspect.getfile(flow_cls)
        lines, first = inspect.getsourcelines(flow_cls)
    except (OSError, TypeError):
        return None, None
    offset = next((i for i, text in enumerate(lines) if text.lstrip().startswith("class ")), 0)
    return file, first + offset


def _step_functions(flow_cls: type) -> dict[str, Any]:
    """The flow's step functions, subclass definitions winning, in source order with start first."""
    found: dict[str, tuple[int, int, Any]] = {}
    for depth, klass in enumerate(reversed(flow_cls.__mro__)):
        for name, value in vars(klass).items():
            found.pop(name, None)
            if step_options(value) is not None:
                code = getattr(inspect.unwrap(value), "__code__", None)
                found[name] = (depth, getattr(code, "co_firstlineno", 0), value)
    ordered = sorted(found, key=lambda n: (n != "start", found[n][:2]))
    return {name: found[name][2] for name in ordered}


def _parse_step(name: str, func: Any) -> StepSource:
    """Parse one step function, moving its line numbers to the real lines of its file."""
    try:
        file = inspect.getsourcefile(func) or inspect.getfile(func)
        lines, first = inspect.getsourcelines(func)
    except (OSError, TypeError) as err:
        raise FlowDefinitionError(
            f"cannot read the source of step '{name}' ({err}): define the flow in a .py file"
        ) from err
    head = _function_tree("".join(lines), first)
    if not isinstance(head, ast.FunctionDef | ast.AsyncFunctionDef):
        raise FlowDefinitionError(
            f"step '{name}' must be a def in the flow class", file=file, line=first
        )
    return StepSource(name, file, head, step_options(func) or StepOptions())


def _function_tree(source: str, first: int) -> ast.stmt:
    """The first statement of ``source`` (a def starting on line ``first``), real lines set."""
    try:
        module = ast.parse(textwrap.dedent(source))
        offset, body = first - 1, module.body
    except SyntaxError:  # a less-indented line inside a string defeats dedent
        module = ast.parse("if 1:\n" + source)
        offset, body = first - 2, cast(ast.If, module.body[0]).body
    ast.increment_lineno(module, offset)
    return body[0]


def _draft_node(src: StepSource) -> StepNode:
    """A node from a checked step source; predecessors and splits are filled in later."""
    call = src.tail_call()
    targets = (
        ()
        if call is None
        else tuple(_lint.self_attribute(a, src.self_name) or "" for a in call.args)
    )
    kw = None if call is None else _lint.foreach_keyword(call)
    return StepNode(
        name=src.name,
        file=src.file,
        lineno=src.tree.lineno,
        next_lineno=None if call is None else call.lineno,
        targets=targets,
        foreach=None if kw is None else str(ast.literal_eval(kw.value)),
        is_join=len(src.args) == 2,
        options=src.options,
        doc=ast.get_docstring(src.tree),
    )


def _with_predecessors(nodes: dict[str, StepNode]) -> dict[str, StepNode]:
    """Nodes with ``predecessors`` filled in, in source order."""
    preds: dict[str, list[str]] = {name: [] for name in nodes}
    for node in nodes.values():
        for target in node.targets:
            preds[target].append(node.name)
    return {name: replace(node, predecessors=tuple(preds[name])) for name, node in nodes.items()}


def _with_splits(nodes: dict[str, StepNode]) -> dict[str, StepNode]:
    """Nodes with their split stack and closed split, checking the split/join rules on the way."""
    done: dict[str, StepNode] = {}
    closed_by: dict[str, str] = {}
    for name in _topological(nodes):
        node = nodes[name]
        _lint.check_join_arity(node)
        incoming = {p: _stack_after(done[p]) for p in node.predecessors}
        stack = next(iter(incoming.values()), ())
        if node.is_join:
            _lint.check_join_closes_one_split(node, incoming)
            closes, stack = stack[-1], stack[:-1]
            _lint.check_branches_have_steps(node, nodes[closes])
            _lint.check_split_closed_once(node, closes, closed_by)
            closed_by[closes] = name
            node = replace(node, closes=closes, is_foreach_join=nodes[closes].foreach is not None)
        done[name] = replace(node, split_parents=stack)
    _lint.check_end_outside_splits(done)
    return {name: done[name] for name in nodes}


def _stack_after(node: StepNode) -> tuple[str, ...]:
    """The splits open on the edges leaving ``node``."""
    return (*node.split_parents, node.name) if node.is_split else node.split_parents
