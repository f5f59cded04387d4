"""Guard results recorded by a step (``self.check``), kept duck-typed so the flow layer does not
depend on the guards layer above it: anything with ``to_record()`` is a result."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from reelflow._errors import FlowDefinitionError

_FIELDS = ("name", "passed", "severity", "value", "threshold", "message", "details")


def flatten_checks(values: Iterable[Any]) -> Iterator[Any]:
    """Results, lists of results and reports (objects with a ``results`` list), flattened."""
    for value in values:
        if hasattr(value, "to_record"):
            yield value
        elif hasattr(value, "results") and not isinstance(value, (str, bytes)):
            yield from flatten_checks(value.results)
        elif isinstance(value, Iterable) and not isinstance(value, (str, bytes)):
            yield from flatten_checks(value)
        else:
            raise FlowDefinitionError(
                f"self.check() takes GuardResult objects (or lists of them), "
                f"not {type(value).__name__}; build one with reelflow.guards"
            )


def as_check_record(result: Any) -> dict[str, Any]:
    """The JSON-ready record of one result, with every field the store keeps."""
    record = result.to_record()
    missing = [f for f in _FIELDS if f not in record]
    if missing:
        raise FlowDefinitionError(
            f"{type(result).__name__}.to_record() lacks {missing}; return a GuardResult record"
        )
    return {f: record[f] for f in _FIELDS}
