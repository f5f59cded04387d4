"""Monitoring: served traffic compared with the champion's training data and answers.

``monitor(name)`` reads a window of the request log, compares it with the reference profile the
registry keeps with the version that answered, and returns a :class:`MonitorReport` of
``GuardResult`` s (``reelflow monitor NAME`` on the command line; ``docs/monitoring.md``).
"""

from typing import TYPE_CHECKING

from reelflow._lazy import lazy_exports

if TYPE_CHECKING:
    from reelflow.monitor._monitor import MonitorReport, monitor
    from reelflow.monitor._settings import DEFAULTS

__all__ = ["DEFAULTS", "MonitorReport", "monitor"]

__getattr__ = lazy_exports(
    __name__,
    {
        "MonitorReport": "reelflow.monitor._monitor",
        "monitor": "reelflow.monitor._monitor",
        "DEFAULTS": "reelflow.monitor._settings",
    },
)
