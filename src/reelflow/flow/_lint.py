"""The rules a flow must follow, one small function each.

Every rule raises :class:`FlowDefinitionError` with the user's file and line and a sentence saying
what is wrong and how to fix it. ``_graph.build_graph`` runs them in order and stops at the first.
"""

from __future__ import annotations

import ast
import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, NoReturn

from reelflow._errors import FlowDefinitionError
from reelflow.flow._step import StepOptions

if TYPE_CHECKING:
    from reelflow.flow._graph import StepNode

FuncDef = ast.FunctionDef | ast.AsyncFunctionDef


@dataclass(frozen=True)
class StepSource:
    """One step function as parsed from the user's file, its line numbers already real."""

    name: str
    file: str
    tree: FuncDef
    options: StepOptions

    @property
    def lineno(self) -> int:
        """The line of the ``def``."""
        return self.tree.lineno

    @property
    def args(self) -> list[str]:
        """The names of the positional parameters, ``self`` included."""
        return [a.arg for a in (*self.tree.args.posonlyargs, *self.tree.args.args)]

    @property
    def self_name(self) -> str:
        """What the step calls its first argument (normally ``self``)."""
        return self.args[0] if self.args else "self"

    def next_calls(self) -> list[ast.Call]:
        """Every ``self.next(...)`` call in the step, in source order."""
        calls = [n for n in ast.walk(self.tree) if isinstance(n, ast.Call) and self.is_next(n)]
        return sorted(calls, key=lambda c: (c.lineno, c.col_offset))

    def tail_call(self) -> ast.Call | None:
        """The ``self.next(...)`` call that is the step's last statement, or None."""
        last = self.tree.body[-1]
        if isinstance(last, ast.Expr) and isinstance(last.value, ast.Call):
            return last.value if self.is_next(last.value) else None
        return None

    def foreach_keyword(self) -> ast.keyword | None:
        """The ``foreach=`` argument of the step's ``self.next``, if any."""
        call = self.tail_call()
        return None if call is None else foreach_keyword(call)

    def is_next(self, call: ast.Call) -> bool:
        """Whether ``call`` is ``self.next(...)``."""
        return self_attribute(call.func, self.self_name) == "next"


def self_attribute(node: ast.AST, self_name: str) -> str | None:
    """``x`` when ``node`` is ``self.x``, else None."""
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return node.attr if node.value.id == self_name else None
    return None


def foreach_keyword(call: ast.Call) -> ast.keyword | None:
    """The ``foreach=`` argument of a ``self.next`` call, if any."""
    return next((k for k in call.keywords if k.arg == "foreach"), None)


def assigned_attributes(src: StepSource) -> set[str]:
    """Names ``x`` the step sets as ``self.x`` (assignment, for, with, setattr)."""
    targets: list[ast.AST] = []
    names: set[str] = set()
    for node in ast.walk(src.tree):
        if isinstance(node, ast.Assign):
            targets.extend(node.targets)
        elif isinstance(node, ast.AnnAssign | ast.AugAssign | ast.For | ast.AsyncFor):
            targets.append(node.target)
        elif isinstance(node, ast.withitem) and node.optional_vars is not None:
            targets.append(node.optional_vars)
        elif isinstance(node, ast.Call):
            names.update(_setattr_name(node, src.self_name))
    return names.union(*(_unpack(t, src.self_name) for t in targets))


def _setattr_name(call: ast.Call, self_name: str) -> list[str]:
    """``["x"]`` for ``setattr(self, "x", ...)``, else nothing."""
    if not (isinstance(call.func, ast.Name) and call.func.id == "setattr") or len(call.args) < 2:
        return []
    obj, attr = call.args[0], call.args[1]
    if isinstance(obj, ast.Name) and obj.id == self_name and isinstance(attr, ast.Constant):
        return [attr.value] if isinstance(attr.value, str) else []
    return []


def _unpack(target: ast.AST, self_name: str) -> list[str]:
    """The ``self`` attributes an assignment target binds, looking inside tuples and stars."""
    if isinstance(target, ast.Tuple | ast.List):
        return [name for elt in target.elts for name in _unpack(elt, self_name)]
    if isinstance(target, ast.Starred):
        return _unpack(target.value, self_name)
    name = self_attribute(target, self_name)
    return [] if name is None else [name]


def _fail(where: StepSource | StepNode, message: str, line: int | None = None) -> NoReturn:
    """Raise at ``line`` of the step's file, or at its ``def`` when no line is given."""
    raise FlowDefinitionError(message, file=where.file, line=line or where.lineno)


# --- rules on one step's source ----------------------------------------------------------------


def check_plain_def(src: StepSource) -> None:
    """Steps are plain ``def`` methods; the runtime does not await coroutines."""
    if isinstance(src.tree, ast.AsyncFunctionDef):
        _fail(src, f"step '{src.name}' is async: declare it with a plain def")


def check_signature(src: StepSource) -> None:
    """A step is ``def name(self)`` or, for a join, ``def name(self, inputs)``."""
    a = src.tree.args
    extra = a.vararg or a.kwarg or a.kwonlyargs or a.defaults
    if extra or len(src.args) not in (1, 2) or src.args[1:] not in ([], ["inputs"]):
        msg = f"step '{src.name}' must be declared def {src.name}(self) or, for a join, "
        _fail(src, msg + f"def {src.name}(self, inputs)")


def check_start_takes_no_inputs(src: StepSource) -> None:
    """``start`` opens the flow, so it has nothing to join."""
    if src.name == "start" and len(src.args) == 2:
        _fail(src, "step 'start' cannot take inputs: declare it def start(self)")


def check_next_placement(src: StepSource) -> None:
    """``self.next`` is called exactly once, as the last statement; ``end`` never calls it."""
    tail = src.tail_call()
    for call in src.next_calls():
        if src.name == "end":
            _fail(src, "step 'end' ends the flow and cannot call self.next: remove it", call.lineno)
        if call is not tail:
            msg = f"step '{src.name}' calls self.next here, but self.next must be called once, "
            _fail(src, msg + "as the step's last statement: move it to the end", call.lineno)
    if tail is None and src.name != "end":
        _fail(src, f"step '{src.name}' must end with self.next(...) naming the step(s) after it")


def check_next_targets(src: StepSource) -> None:
    """``self.next`` names one or more distinct steps as ``self.<step>``, and only ``foreach=``."""
    call = src.tail_call()
    if call is None:
        return
    names = [self_attribute(arg, src.self_name) for arg in call.args]
    if not names:
        msg = f"step '{src.name}' calls self.next() without steps: name the steps that follow, "
        _fail(src, msg + "e.g. self.next(self.end)", call.lineno)
    for arg, name in zip(call.args, names, strict=True):
        if name is None:
            msg = f"step '{src.name}' passes {ast.unparse(arg)} to self.next: name steps as "
            _fail(src, msg + "self.<step>, e.g. self.next(self.train)", call.lineno)
    if len(set(names)) != len(names):
        _fail(
            src, f"step '{src.name}' names a step twice in self.next: name each once", call.lineno
        )
    for kw in call.keywords:
        if kw.arg != "foreach":
            msg = f"self.next in step '{src.name}' takes only foreach=, not {kw.arg}=: remove it"
            _fail(src, msg, call.lineno)


def check_foreach_form(src: StepSource) -> None:
    """A foreach names exactly one step and its ``foreach=`` value is a string literal."""
    call, kw = src.tail_call(), src.foreach_keyword()
    if call is None or kw is None:
        return
    if not (isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str)):
        msg = f"foreach in step '{src.name}' must be the name of an attribute as a string literal"
        _fail(src, msg + ", e.g. foreach='regions'", kw.value.lineno)
    if len(call.args) != 1:
        _fail(src, f"a foreach in step '{src.name}' must name exactly one step", kw.value.lineno)


def check_foreach_sets_attribute(src: StepSource) -> None:
    """The attribute a foreach fans out over is set in the same step."""
    kw = src.foreach_keyword()
    name = kw.value.value if kw is not None and isinstance(kw.value, ast.Constant) else None
    if kw is not None and isinstance(name, str) and name not in assigned_attributes(src):
        msg = f"foreach={name!r} names an attribute that step '{src.name}' never sets: "
        _fail(src, msg + f"set self.{name} in {src.name}", kw.value.lineno)


def check_no_catch_on_foreach(src: StepSource) -> None:
    """A caught failure would leave the foreach's fan-out unknown, so the two cannot mix."""
    if src.options.catch is not None and src.foreach_keyword() is not None:
        msg = f"step '{src.name}' does a foreach split, so it cannot use catch (its fan-out "
        _fail(src, msg + "would be unknown after a failure): remove catch from it")


STEP_RULES = (
    check_plain_def,
    check_signature,
    check_start_takes_no_inputs,
    check_next_placement,
    check_next_targets,
    check_foreach_form,
    check_foreach_sets_attribute,
    check_no_catch_on_foreach,
)


# --- rules on the graph ------------------------------------------------------------------------


def check_start_and_end(
    flow_cls: type, steps: Mapping[str, object], file: str | None, line: int | None
) -> None:
    """Every flow has a ``start`` step and an ``end`` step."""
    for name in ("start", "end"):
        if name not in steps:
            msg = f"flow {flow_cls.__name__} has no '{name}' step: add an @step method named {name}"
            raise FlowDefinitionError(msg, file=file, line=line)


def check_targets_are_steps(node: StepNode, nodes: Mapping[str, StepNode], flow_cls: type) -> None:
    """Each name given to ``self.next`` is a step of the flow."""
    for target in node.targets:
        if target in nodes:
            continue
        close = difflib.get_close_matches(target, list(nodes), n=1)
        hint = f"there is no step '{target}'" + (f" (did you mean '{close[0]}'?)" if close else "")
        hint += ": name an existing step or add it"
        if hasattr(flow_cls, target):
            hint = f"'{target}' is not a step: decorate it with @step"
        msg = f"step '{node.name}' calls self.next(self.{target}), but {hint}"
        _fail(node, msg, node.next_lineno)


def check_start_has_no_predecessors(nodes: Mapping[str, StepNode]) -> None:
    """Nothing leads back to ``start``."""
    for node in nodes.values():
        if "start" in node.targets:
            msg = f"step '{node.name}' goes to start, but start must be the first step only: "
            _fail(node, msg + "name another step in self.next", node.next_lineno)


def check_reachable(nodes: Mapping[str, StepNode]) -> None:
    """Every step can be reached from ``start``."""
    seen, todo = {"start"}, ["start"]
    while todo:
        fresh = [t for t in nodes[todo.pop()].targets if t not in seen]
        seen.update(fresh)
        todo.extend(fresh)
    for node in nodes.values():
        if node.name not in seen:
            msg = f"step '{node.name}' is never reached from start: name it in the self.next of "
            _fail(node, msg + "an earlier step, or remove it")


def check_acyclic(nodes: Mapping[str, StepNode]) -> None:
    """The flow only moves forward; the step whose ``self.next`` closes a loop is reported."""
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        for target in nodes[name].targets:
            if target in path:
                msg = f"step '{name}' goes back to '{target}', which makes a cycle: a flow only "
                _fail(
                    nodes[name],
                    msg + "moves forward, so name a later step",
                    nodes[name].next_lineno,
                )
            if target not in done:
                visit(target, (*path, target))
        done.add(name)

    visit("start", ("start",))


def check_reaches_end(nodes: Mapping[str, StepNode]) -> None:
    """Every branch of every step reaches ``end`` (already true once the rules above pass)."""
    reaching, grown = {"end"}, True
    while grown:
        more = {n.name for n in nodes.values() if n.targets and set(n.targets) <= reaching}
        grown, reaching = not more <= reaching, reaching | more
    for node in nodes.values():
        if node.name not in reaching:
            _fail(node, f"a branch of step '{node.name}' never reaches end: lead it to end")


def check_join_arity(node: StepNode) -> None:
    """A step reached from several steps gathers them, so it must take ``inputs``."""
    if len(node.predecessors) > 1 and not node.is_join:
        msg = f"step '{node.name}' is reached from {', '.join(node.predecessors)}, so it is a "
        _fail(node, msg + f"join: declare it def {node.name}(self, inputs)")


def check_join_closes_one_split(node: StepNode, incoming: Mapping[str, tuple[str, ...]]) -> None:
    """A join gathers the branches of one split: the innermost one open in all its inputs."""
    stacks = set(incoming.values())
    if stacks == {()}:
        msg = f"step '{node.name}' takes inputs but joins no split or foreach: declare it "
        _fail(node, msg + f"def {node.name}(self)")
    if len(stacks) > 1:
        opened = ", ".join(f"{p} (in {' > '.join(s) or 'no split'})" for p, s in incoming.items())
        msg = f"join '{node.name}' gathers branches of different splits: {opened}; "
        _fail(node, msg + "close each inner split with its own join first")


def check_branches_have_steps(node: StepNode, split: StepNode) -> None:
    """A split cannot go straight to its own join; each branch needs a step."""
    if split.name in node.predecessors:
        msg = f"step '{split.name}' splits straight into its join '{node.name}': put a step on "
        _fail(split, msg + "every branch, or drop the split", split.next_lineno)


def check_split_closed_once(node: StepNode, split: str, closed_by: Mapping[str, str]) -> None:
    """All the branches of a split meet in exactly one join."""
    if split in closed_by:
        msg = f"join '{node.name}' closes the split at '{split}', which '{closed_by[split]}' "
        _fail(node, msg + f"already closes: send all branches of '{split}' to one join")


def check_end_outside_splits(nodes: Mapping[str, StepNode]) -> None:
    """Every split and foreach is closed by a join before ``end``."""
    end = nodes["end"]
    if end.split_parents:
        split = nodes[end.split_parents[-1]]
        what = f"{'foreach' if split.foreach else 'split'} at '{split.name}'"
        last = nodes[end.predecessors[0]]
        msg = f"step '{last.name}' leads to end while the {what} is still open: gather its "
        msg += f"branches in a join first (def {last.name}(self, inputs) if '{last.name}' is it)"
        _fail(last, msg, last.next_lineno)
