"""Flows: plain Python classes whose ``@step`` methods reelflow runs as a workflow.

Defining a flow imports only this light surface; the runtime, the store and the Client load
when a run or a query needs them.
"""

from typing import TYPE_CHECKING

from reelflow._lazy import lazy_exports
from reelflow.flow._current import current
from reelflow.flow._flowspec import Flow, Inputs
from reelflow.flow._parameters import Parameter
from reelflow.flow._spec import CaughtException
from reelflow.flow._step import step

if TYPE_CHECKING:
    from reelflow.flow._client import Client, Run, Step, Task
    from reelflow.flow._runner import RunOutcome, resume_run, run_flow

__all__ = [
    "CaughtException",
    "Client",
    "Flow",
    "Inputs",
    "Parameter",
    "Run",
    "RunOutcome",
    "Step",
    "Task",
    "current",
    "resume_run",
    "run_flow",
    "step",
]

__getattr__ = lazy_exports(
    __name__,
    {
        "Client": "reelflow.flow._client",
        "Run": "reelflow.flow._client",
        "Step": "reelflow.flow._client",
        "Task": "reelflow.flow._client",
        "RunOutcome": "reelflow.flow._runner",
        "resume_run": "reelflow.flow._runner",
        "run_flow": "reelflow.flow._runner",
    },
)
