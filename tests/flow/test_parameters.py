"""Parameters: typed by their default, converted from the command line, validated once."""

from __future__ import annotations

import pytest

from reelflow import Flow, Parameter
from reelflow._errors import FlowDefinitionError, ParameterError
from reelflow.flow._parameters import parse_assignments, resolve_parameters


@pytest.mark.parametrize(
    ("default", "given", "expected"),
    [
        (1, "42", 42),
        (0.5, "1e-3", 0.001),
        (False, "yes", True),
        (True, "off", False),
        ("a", "b=c", "b=c"),
        ({"x": 1}, '{"y": [1, 2]}', {"y": [1, 2]}),
        ([1], "[3, 4]", [3, 4]),
    ],
)
def test_values_convert_to_the_type_of_the_default(default, given, expected) -> None:
    assert Parameter("p", default=default).convert(given) == expected


def test_declared_type_wins_and_required_parameters_must_be_given() -> None:
    ratio = Parameter("ratio", type=float)
    assert ratio.kind == "float" and not ratio.has_default
    with pytest.raises(ParameterError, match="'ratio' is required: pass -p ratio=VALUE"):
        resolve_parameters({"ratio": ratio}, {})
    assert resolve_parameters({"ratio": ratio}, {"ratio": "2"}) == {"ratio": 2.0}


@pytest.mark.parametrize(
    ("default", "given"), [(1, "1.5"), (1, "x"), (1.0, "nan?"), (True, "2"), ({}, "{")]
)
def test_bad_values_are_rejected_with_the_expected_type(default, given) -> None:
    with pytest.raises(ParameterError, match="expects"):
        Parameter("p", default=default).convert(given)


def test_unsupported_defaults_and_names_fail_at_definition() -> None:
    with pytest.raises(FlowDefinitionError, match="use int, float, bool, str"):
        Parameter("p", default=object())
    with pytest.raises(FlowDefinitionError, match="must be an identifier"):
        Parameter("not valid")


def test_parse_assignments() -> None:
    assert parse_assignments(["a=1", "b= x=y"]) == {"a": "1", "b": " x=y"}
    with pytest.raises(ParameterError, match="NAME=VALUE"):
        parse_assignments(["novalue"])


def test_parameters_are_read_only_in_a_flow_and_listed_by_name() -> None:
    class P(Flow):
        alpha = Parameter("alpha", default=0.5, help="rate")
        k = Parameter("k", default=10)

    assert set(P.parameters()) == {"alpha", "k"}
    assert P.alpha.describe() == "alpha (float, default 0.5) rate"
    flow = P()
    with pytest.raises(AttributeError, match="read-only"):
        flow.alpha = 1.0
    with pytest.raises(AttributeError, match="only inside a running step"):
        _ = flow.alpha
