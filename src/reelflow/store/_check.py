"""Check an object store against the keys the metadata references (``reelflow store check``).

Every object's hash is verified; corrupt objects are reported but never deleted, because the
damaged bytes may be all that is left. Only unreferenced objects and stale temp files can be
removed, and only when asked.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from reelflow.store._objects import Objects

STALE_TEMP_SECONDS = 3600.0  # older temp files cannot belong to a live writer


@dataclass
class CheckReport:
    """What a store check found, and what it removed."""

    checked: int = 0
    corrupt: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
    stale_temp: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every referenced object is present and intact."""
        return not self.corrupt and not self.missing


def check_objects(
    objects: Objects,
    referenced: Iterable[str],
    *,
    remove_orphans: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> CheckReport:
    """Verify every stored object and compare the store with the ``referenced`` keys.

    ``progress(done, total)`` is called after each object is verified. With ``remove_orphans``,
    unreferenced objects and temp files older than an hour are deleted and listed in ``removed``
    (as keys, and as paths for temp files).
    """
    wanted = set(referenced)
    stored = sorted(objects.keys())
    report = CheckReport(checked=len(stored))
    for done, key in enumerate(stored, start=1):
        if not objects.verify(key):
            report.corrupt.append(key)
        elif key not in wanted:
            report.orphans.append(key)
        if progress is not None:
            progress(done, len(stored))
    present = set(stored)
    report.missing = sorted(wanted - present)
    report.stale_temp = objects.stale_temp(time.time() - STALE_TEMP_SECONDS)
    if remove_orphans:
        _remove(objects, report)
    return report


def _remove(objects: Objects, report: CheckReport) -> None:
    """Delete orphans and stale temp files, sparing orphans written in the last hour: a live run
    writes its objects before the metadata that refers to them."""
    cutoff = time.time() - STALE_TEMP_SECONDS
    for key in report.orphans:
        modified = objects.modified(key)
        if modified is None or modified >= cutoff:
            continue
        objects.remove(key)
        report.removed.append(key)
    for name in report.stale_temp:
        objects.remove_temp(name)
        report.removed.append(name)
