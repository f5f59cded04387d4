"""Flow parameters: typed by their default, validated once, shown in ``--help``."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from reelflow._errors import FlowDefinitionError, ParameterError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_NO_DEFAULT: Any = object()


@dataclass
class Parameter:
    """A value set from the command line (``-p name=value``) and readable in every step.

    The type comes from ``type`` or, failing that, from the default: int, float, bool, str, or
    JSON (a list or dict default, or ``type=dict``/``list``). A parameter without a default is
    required.
    """

    name: str
    default: Any = _NO_DEFAULT
    help: str = ""
    type: Any = None
    kind: str = field(init=False)
    attribute: str = field(init=False, default="")

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise FlowDefinitionError(f"Parameter name must be an identifier, not {self.name!r}")
        self.kind = _kind_of(self.type, self.default, self.name)
        if self.has_default:
            self.default = self.convert(self.default)

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        return obj._rf_parameter(self.name)

    def __set__(self, obj: Any, value: Any) -> None:
        raise AttributeError(f"parameter '{self.name}' is read-only inside a flow")

    @property
    def has_default(self) -> bool:
        return self.default is not _NO_DEFAULT

    def convert(self, value: Any) -> Any:
        """Turn a command-line string (or a Python value) into this parameter's type."""
        try:
            return _CONVERTERS[self.kind](value)
        except (ValueError, TypeError, json.JSONDecodeError) as exc:
            raise ParameterError(
                f"parameter '{self.name}' expects {self.kind}, got {value!r}: {_reason(exc)}"
            ) from None

    def describe(self) -> str:
        """One line for ``--help``: name, type, default and help text."""
        default = f"default {self.default!r}" if self.has_default else "required"
        text = f" {self.help}" if self.help else ""
        return f"{self.name} ({self.kind}, {default}){text}"


def _kind_of(declared: Any, default: Any, name: str) -> str:
    probe = (
        declared if declared is not None else (None if default is _NO_DEFAULT else type(default))
    )
    if probe is None:
        return "str"
    for kind, types in _KINDS:
        if probe in types:
            return kind
    raise FlowDefinitionError(
        f"Parameter '{name}' has a default of type {probe.__name__}; use int, float, bool, str, "
        "or a JSON value (list or dict)"
    )


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError("use true/false, yes/no, on/off or 1/0")


def _to_int(value: Any) -> int:
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ValueError("not a whole number")
    return int(value)


def _to_float(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("not a number")
    return float(value)


def _to_json(value: Any) -> Any:
    parsed = json.loads(value) if isinstance(value, str) else value
    json.dumps(parsed)
    return parsed


def _reason(exc: Exception) -> str:
    return str(exc).split("\n")[0] or type(exc).__name__


_KINDS: tuple[tuple[str, tuple[type, ...]], ...] = (
    ("bool", (bool,)),
    ("int", (int,)),
    ("float", (float,)),
    ("str", (str,)),
    ("json", (dict, list, tuple)),
)
_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "bool": _to_bool,
    "int": _to_int,
    "float": _to_float,
    "str": str,
    "json": _to_json,
}


def resolve_parameters(
    declared: Mapping[str, Parameter], given: Mapping[str, Any]
) -> dict[str, Any]:
    """Values for every declared parameter from ``given`` (strings from the CLI or Python values).

    Unknown names and missing required values are errors that list what the flow accepts.
    """
    unknown = sorted(set(given) - set(declared))
    if unknown:
        accepted = ", ".join(sorted(declared)) or "none"
        raise ParameterError(f"unknown parameter '{unknown[0]}'; this flow accepts: {accepted}")
    values: dict[str, Any] = {}
    for name, param in declared.items():
        if name in given:
            values[name] = param.convert(given[name])
        elif param.has_default:
            values[name] = param.default
        else:
            raise ParameterError(f"parameter '{name}' is required: pass -p {name}=VALUE")
    return values


def parse_assignments(pairs: list[str] | tuple[str, ...]) -> dict[str, str]:
    """``["a=1", "b=x"]`` from ``-p`` options into a dict, rejecting malformed pairs."""
    result: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise ParameterError(f"-p expects NAME=VALUE, got {pair!r}")
        result[name.strip()] = value
    return result
