"""Pages of runs for lists that must stay fast on large stores (the web UI's run list).

Filtering, counting and paging happen in SQL (``LIMIT``/``OFFSET`` over the primary key, or over
``ix_runs_flow``/``ix_runs_status``/``ix_tags_tag`` when filtered), so a page reads only its own
rows whatever the number of runs. Statuses are the stored ones: a run whose scheduler died still
matches ``running`` here, and is shown as interrupted once read.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from reelflow.store import _schema as t
from reelflow.store._records import RunRecord

if TYPE_CHECKING:
    from reelflow.store._metadata import MetadataStore


@dataclass(frozen=True)
class RunPage:
    """One page of runs, newest first, and how many runs match in all."""

    runs: list[RunRecord]
    total: int
    limit: int
    offset: int


def search_runs(
    metadata: MetadataStore,
    *,
    flow_name: str | None = None,
    status: str | None = None,
    tag: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> RunPage:
    """Runs matching every filter given (a flow, a stored status, a tag), newest first."""
    from reelflow.store._metadata import _run

    where = _conditions(flow_name, status, tag)
    query = sa.select(t.runs).where(*where).order_by(t.runs.c.id.desc()).limit(limit)
    count = sa.select(sa.func.count()).select_from(t.runs).where(*where)
    with metadata._reader.connect() as conn:
        runs = [_run(row, ()) for row in conn.execute(query.offset(offset))]
        total = int(conn.execute(count).scalar() or 0)
        tags = metadata._tags(conn, [run.id for run in runs])
    runs = [replace(run, tags=tags.get(run.id, ())) for run in runs]
    return RunPage(runs, total, limit, offset)


def _conditions(flow_name: str | None, status: str | None, tag: str | None) -> list[Any]:
    where: list[Any] = []
    if flow_name is not None:
        where.append(t.runs.c.flow_name == flow_name)
    if status is not None:
        where.append(t.runs.c.status == status)
    if tag is not None:
        tagged = sa.select(t.tags.c.run_id).where(t.tags.c.tag == tag)
        where.append(t.runs.c.id.in_(tagged))
    return where
