"""The ``@step`` decorator and the options a step carries (retries, timeout, catch, resources)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, overload

from reelflow._errors import FlowDefinitionError

F = TypeVar("F", bound=Callable[..., Any])

STEP_ATTRIBUTE = "_reelflow_step"

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_MEMORY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B?|B)?\s*$", re.IGNORECASE)
_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_BYTES = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


@dataclass(frozen=True)
class StepOptions:
    """What ``@step(...)`` asked for; executors read it when they schedule the step's tasks."""

    retries: int = 0
    retry_delay: float = 1.0
    timeout: float | None = None
    catch: str | None = None
    cpu: float = 1.0
    memory: int | None = None


def parse_duration(value: float | int | str | None, *, what: str) -> float | None:
    """Seconds from ``30``, ``"30s"``, ``"10m"``, ``"1.5h"`` or ``"250ms"``."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise FlowDefinitionError(
            f"{what} must be a duration such as 30, '30s' or '10m', not {value!r}"
        )
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if match is None:
            raise FlowDefinitionError(
                f"{what} must be a duration such as 30, '30s' or '10m', not {value!r}"
            )
        seconds = float(match.group(1)) * _SECONDS[match.group(2) or "s"]
    if seconds < 0:
        raise FlowDefinitionError(f"{what} must not be negative, got {value!r}")
    return seconds


def parse_memory(value: int | str | None) -> int | None:
    """Bytes from ``2048`` (MiB), ``"2G"``, ``"512M"`` or ``"1.5GiB"``."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise FlowDefinitionError(f"memory must be a size such as '2G' or '512M', not {value!r}")
    if isinstance(value, int):
        return value << 20
    match = _MEMORY.match(str(value))
    if match is None:
        raise FlowDefinitionError(f"memory must be a size such as '2G' or '512M', not {value!r}")
    unit = (match.group(2) or "M").upper()[0]
    return int(float(match.group(1)) * _BYTES[unit])


def make_options(
    *,
    retries: int = 0,
    retry_delay: float | str = 1.0,
    timeout: float | str | None = None,
    catch: bool | str | None = None,
    cpu: float = 1.0,
    memory: int | str | None = None,
) -> StepOptions:
    """Check the options once, where the user wrote them, and normalise their units."""
    if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
        raise FlowDefinitionError(f"retries must be a whole number >= 0, not {retries!r}")
    if isinstance(cpu, bool) or not isinstance(cpu, int | float) or cpu <= 0:
        raise FlowDefinitionError(f"cpu must be a positive number of cores, not {cpu!r}")
    if catch is True:
        catch = "exception"
    elif catch is False:
        catch = None
    if catch is not None and not (isinstance(catch, str) and catch.isidentifier()):
        raise FlowDefinitionError(
            f"catch must be True or the name of the artifact that keeps the error, not {catch!r}"
        )
    delay = parse_duration(retry_delay, what="retry_delay")
    return StepOptions(
        retries=retries,
        retry_delay=0.0 if delay is None else delay,
        timeout=parse_duration(timeout, what="timeout"),
        catch=catch,
        cpu=float(cpu),
        memory=parse_memory(memory),
    )


@overload
def step(func: F) -> F: ...


@overload
def step(
    *,
    retries: int = 0,
    retry_delay: float | str = 1.0,
    timeout: float | str | None = None,
    catch: bool | str | None = None,
    cpu: float = 1.0,
    memory: int | str | None = None,
) -> Callable[[F], F]: ...


def step(func: Any = None, **options: Any) -> Any:
    """Mark a method of a :class:`~reelflow.Flow` as a step.

    Use it bare (``@step``) or with options: ``@step(retries=2, timeout="10m", catch=True,
    cpu=2, memory="4G")``. Retries wait ``retry_delay`` seconds, doubling after each attempt.
    """
    opts = make_options(**options)

    def mark(f: F) -> F:
        if not callable(f):
            raise FlowDefinitionError(f"@step decorates a method, not {f!r}")
        setattr(f, STEP_ATTRIBUTE, opts)
        return f

    if func is not None:
        return mark(func)
    return mark


def step_options(func: Any) -> StepOptions | None:
    """The options of a step function, or None when ``func`` is not a step."""
    opts = getattr(func, STEP_ATTRIBUTE, None)
    return opts if isinstance(opts, StepOptions) else None
