"""The flow graph read from source, and every lint rule pointing at the user's file and line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
if str(HERE) not in sys.path:  # the fixture flows import each other by plain module name
    sys.path.insert(0, str(HERE))

import flows_bad  # noqa: E402
import flows_base  # noqa: E402
import flows_good  # noqa: E402

from reelflow._errors import FlowDefinitionError  # noqa: E402
from reelflow.flow import _lint  # noqa: E402
from reelflow.flow._graph import FlowGraph, StepNode, build_graph  # noqa: E402
from reelflow.flow._step import StepOptions  # noqa: E402


def marked_line(module: object, tag: str) -> tuple[str, int]:
    """The file of ``module`` and the line carrying the comment ``# !tag``."""
    file = str(Path(module.__file__).resolve())  # type: ignore[attr-defined]
    lines = Path(file).read_text().splitlines()
    hits = [i for i, text in enumerate(lines, 1) if text.rstrip().endswith(f"# !{tag}")]
    assert len(hits) == 1, tag
    return file, hits[0]


# --- every rule, with the user's file and line -------------------------------------------------

BAD = [
    ("NoStart", "has no 'start' step"),
    ("NoEnd", "has no 'end' step"),
    ("MissingNext", "must end with self.next"),
    ("NextNotLast", "last statement"),
    ("NextTwice", "called once"),
    ("EndCallsNext", "'end' ends the flow and cannot call self.next"),
    ("NoTargets", "without steps"),
    ("TargetNotAttribute", "passes 'end' to self.next"),
    ("UnknownTarget", "there is no step 'trian' (did you mean 'train'?)"),
    ("TargetNotStep", "'helper' is not a step: decorate it with @step"),
    ("UnknownKeyword", "not num_parallel="),
    ("DuplicateTarget", "names a step twice"),
    ("ForeachTwoTargets", "must name exactly one step"),
    ("ForeachNotLiteral", "string literal"),
    (
        "ForeachUnset",
        "foreach='regions' names an attribute that step 'start' never sets: "
        "set self.regions in start",
    ),
    ("CatchOnForeach", "cannot use catch"),
    ("JoinWithoutInputs", "reached from a, b, so it is a join: declare it def join(self, inputs)"),
    ("ForeachNeverJoined", "leads to end while the foreach at 'start' is still open"),
    ("InputsNotJoin", "takes inputs but joins no split or foreach: declare it def middle(self)"),
    ("BadSignature", "must be declared def middle(self) or, for a join, def middle(self, inputs)"),
    ("VarArgs", "must be declared def start(self)"),
    ("AsyncStep", "is async"),
    ("LambdaStep", "must be a def"),
    ("StartWithInputs", "'start' cannot take inputs"),
    ("BackToStart", "start must be the first step only"),
    ("Unreachable", "'orphan' is never reached from start"),
    ("Cycle", "step 'b' goes back to 'a', which makes a cycle"),
    ("SplitClosedTwice", "which 'join_a' already closes"),
    ("JoinMixesSplits", "gathers branches of different splits"),
    ("SplitStraightToJoin", "'start' splits straight into its join 'join'"),
]


@pytest.mark.parametrize(("name", "message"), BAD, ids=[name for name, _ in BAD])
def test_bad_flow_reports_problem_file_and_line(name: str, message: str) -> None:
    with pytest.raises(FlowDefinitionError) as info:
        build_graph(getattr(flows_bad, name))
    err = info.value
    assert message in err.message
    assert (str(Path(err.file or "").resolve()), err.line) == marked_line(flows_bad, name)
    assert str(err).startswith(f"{err.file}:{err.line}: ")


def test_error_in_inherited_step_points_at_the_base_class_file() -> None:
    with pytest.raises(FlowDefinitionError, match="there is no step 'middle'") as info:
        build_graph(flows_bad.InheritsDangling)
    err = info.value
    assert (str(Path(err.file or "").resolve()), err.line) == marked_line(
        flows_base, "InheritsDangling"
    )


def _node(name: str, *targets: str) -> StepNode:
    return StepNode(name, "f.py", 1, 2, targets, None, False, StepOptions(), None)


def test_branch_that_never_reaches_end_is_reported() -> None:
    # Unreachable once the cycle and reachability rules pass; checked on hand-made nodes.
    nodes = {"start": _node("start", "a"), "a": _node("a", "a"), "end": _node("end")}
    with pytest.raises(FlowDefinitionError, match="branch of step 'start' never reaches end"):
        _lint.check_reaches_end(nodes)


# --- valid graphs --------------------------------------------------------------------------------


def test_linear_flow() -> None:
    graph = build_graph(flows_good.LinearFlow)
    assert isinstance(graph, FlowGraph)
    assert graph.flow_name == "LinearFlow"
    assert list(graph.nodes) == ["start", "middle", "end"]
    assert [n.kind for n in graph] == ["start", "linear", "end"]
    middle = graph["middle"]
    file, def_line = marked_line(flows_good, "middle-def")
    assert (str(Path(middle.file).resolve()), middle.lineno) == (file, def_line)
    assert middle.next_lineno == marked_line(flows_good, "middle-next")[1]
    assert middle.predecessors == ("start",)
    assert middle.targets == ("end",)
    assert middle.options.retries == 2 and middle.options.timeout == 600.0
    assert graph["start"].doc == "Begin."
    assert graph["end"].targets == () and graph["end"].next_lineno is None
    assert "helper" not in graph.nodes
    assert graph.descendants("middle") == {"middle", "end"}


def test_foreach_with_static_split_inside() -> None:
    graph = build_graph(flows_good.TrainFlow)
    assert [n.name for n in graph] == ["start", "train", "a", "b", "join_ab", "join", "end"]
    kinds = {n.name: n.kind for n in graph}
    assert kinds == {
        "start": "start",
        "train": "split",
        "a": "linear",
        "b": "linear",
        "join_ab": "join",
        "join": "join",
        "end": "end",
    }
    assert graph["start"].foreach == "regions" and graph["start"].is_split
    parents = {n.name: n.split_parents for n in graph}
    assert parents == {
        "start": (),
        "train": ("start",),
        "a": ("start", "train"),
        "b": ("start", "train"),
        "join_ab": ("start",),
        "join": (),
        "end": (),
    }
    assert graph["join_ab"].predecessors == ("a", "b")
    assert graph["join_ab"].closes == "train" and not graph["join_ab"].is_foreach_join
    assert graph["join"].closes == "start" and graph["join"].is_foreach_join
    assert graph.descendants("a") == {"a", "join_ab", "join", "end"}
    assert graph.descendants("start") == set(graph.nodes)


def test_nested_foreach() -> None:
    graph = build_graph(flows_good.NestedForeachFlow)
    assert graph["region"].kind == "foreach" and graph["region"].foreach == "models"
    assert graph["fit"].split_parents == ("start", "region")
    assert graph["pick_model"].closes == "region" and graph["pick_model"].is_foreach_join
    assert graph["pick_model"].split_parents == ("start",)
    assert graph["pick_region"].closes == "start" and graph["pick_region"].is_foreach_join
    assert graph["end"].split_parents == ()


def test_join_that_splits_again_and_end_as_join() -> None:
    graph = build_graph(flows_good.JoinSplitsFlow)
    mid = graph["mid"]
    assert (mid.kind, mid.is_join, mid.is_split) == ("join", True, True)
    assert mid.closes == "start" and mid.split_parents == ()
    assert graph["c"].split_parents == ("mid",)
    assert graph["end"].kind == "end" and graph["end"].closes == "mid"
    assert [n.name for n in graph] == ["start", "a", "b", "mid", "c", "d", "end"]


def test_inherited_steps_subclass_wins() -> None:
    graph = build_graph(flows_good.ChildFlow)
    assert list(graph.nodes) == ["start", "end", "train", "evaluate"]
    assert [n.name for n in graph] == ["start", "train", "evaluate", "end"]
    assert graph["train"].targets == ("evaluate",)
    base_file = str(Path(flows_base.__file__).resolve())
    assert str(Path(graph["start"].file).resolve()) == base_file
    assert str(Path(graph["train"].file).resolve()) == str(Path(flows_good.__file__).resolve())
    assert str(Path(graph.file).resolve()) == str(Path(flows_good.__file__).resolve())


@pytest.mark.parametrize(
    "name",
    ["AnnotatedFlow", "AugmentedFlow", "TupleFlow", "WithFlow", "ForTargetFlow", "SetattrFlow"],
)
def test_foreach_attribute_may_be_set_in_any_form(name: str) -> None:
    graph = build_graph(getattr(flows_good, name))
    assert graph["start"].foreach == "items"
    assert graph["gather"].is_foreach_join


def test_render_text_shows_steps_foreach_splits_and_depth() -> None:
    text = build_graph(flows_good.TrainFlow).render_text()
    lines = text.splitlines()
    assert lines[0] == "TrainFlow"
    assert lines[1].startswith("start ") and "→ train" in lines[1]
    assert "(foreach regions)" in lines[1]
    assert lines[2].startswith("  train ") and "→ a, b" in lines[2] and "(split)" in lines[2]
    assert lines[3].startswith("    a ")
    assert "joins split of train" in lines[5] and "joins foreach of start" in lines[6]
    assert lines[-1] == "end"
    assert len({line.index("→") for line in lines[1:-1]}) == 1  # arrows line up
    assert len({line.index("(") for line in lines[1:-1] if "(" in line}) == 1  # notes too
    end = build_graph(flows_good.JoinSplitsFlow).render_text().splitlines()[-1]
    assert end.startswith("end") and end.endswith("(joins split of mid)")


def test_to_dict_is_json_and_complete() -> None:
    data = json.loads(json.dumps(build_graph(flows_good.TrainFlow).to_dict()))
    assert data["flow"] == "TrainFlow"
    assert data["order"][0] == "start" and data["order"][-1] == "end"
    join = data["steps"]["join"]
    assert join["kind"] == "join" and join["is_foreach_join"] and join["closes"] == "start"
    assert data["steps"]["start"]["foreach"] == "regions"
    assert data["steps"]["train"]["split_parents"] == ["start"]
    assert data["steps"]["start"]["options"]["retries"] == 0


def test_line_numbers_survive_a_less_indented_string() -> None:
    graph = build_graph(flows_good.OddStringFlow)
    assert graph["start"].next_lineno == marked_line(flows_good, "odd-next")[1]


def test_flow_defined_inside_a_function() -> None:
    from flows_base import Flow

    from reelflow.flow._step import step

    class LocalFlow(Flow):
        @step
        def start(self):
            self.next(self.end)

        @step
        def end(self):
            pass

    graph = build_graph(LocalFlow)
    lines = Path(__file__).read_text().splitlines()
    assert lines[graph["start"].lineno - 1].strip() == "def start(self):"
    assert lines[(graph["start"].next_lineno or 0) - 1].strip() == "self.next(self.end)"
    assert graph.file == graph["start"].file == __file__
