"""reelflow: an open-source ML platform for personalization.

The top-level names are imported lazily so that ``import reelflow`` stays fast; the heavy engines
(pyarrow, SQLAlchemy, pandas) load only when a run or the store needs them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["Client", "Flow", "Parameter", "ReelflowError", "__version__", "current", "step"]

if TYPE_CHECKING:
    from reelflow._errors import ReelflowError
    from reelflow.flow import Client, Flow, Parameter, current, step

_LAZY = {
    "Flow": "reelflow.flow",
    "Parameter": "reelflow.flow",
    "step": "reelflow.flow",
    "current": "reelflow.flow",
    "Client": "reelflow.flow",
    "ReelflowError": "reelflow._errors",
}


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'reelflow' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value
