"""The monitoring page: the latest reports ``reelflow monitor`` wrote for each model, and the
models that have a request log (served with ``reelflow serve``)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

from reelflow.ui._params import NotFound

REPORT = re.compile(
    r"monitor-(?P<model>[A-Za-z0-9_.@+\-]{1,200})-(?P<stamp>[0-9]{8}T[0-9]{6}Z)\.html"
)
KEEP = 10  # reports listed per model


def reports(home: Path) -> list[dict[str, Any]]:
    """Per model (served or monitored), its newest reports first."""
    by_model: dict[str, list[dict[str, Any]]] = {}
    folder = home / "reports"
    for path in folder.glob("monitor-*.html") if folder.is_dir() else ():
        match = REPORT.fullmatch(path.name)
        if match is None:
            continue
        try:
            when = dt.datetime.strptime(match["stamp"], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
        except ValueError:  # a name that looks like a report's but holds no real time
            continue
        entry = {"file": path.name, "at": when.timestamp(), "size": path.stat().st_size}
        by_model.setdefault(match["model"], []).append(entry)
    served = home / "serving"
    for path in served.iterdir() if served.is_dir() else ():
        if path.is_dir():
            by_model.setdefault(path.name, [])
    return [
        {
            "model": model,
            "served": (served / model).is_dir(),
            "reports": sorted(found, key=lambda e: -e["at"])[:KEEP],
        }
        for model, found in sorted(by_model.items())
    ]


def report_path(home: Path, name: str) -> Path:
    """The file of a report named in a URL: only a monitor report's name, only in the folder."""
    path = home / "reports" / name
    if REPORT.fullmatch(name) is None or not path.is_file():
        raise NotFound(f"no monitor report {name!r}")
    return path
