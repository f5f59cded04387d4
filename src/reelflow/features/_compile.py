"""From features to SQL: the point-in-time plans.

Every value is computed for a *probe*: a key and a time ``t``, and only from events with
``timestamp < t``. Probes are the distinct (key, ``as_of - offset``) and (key, ``as_of - offset -
window``) pairs of the spine, so spine rows that share a user and a time share the work.

- **Sorted pass** (``COUNT(*)``, ``SUM(expr)``, ``MAX(timestamp)``, ``MIN(timestamp)``, and
  ``COUNT(DISTINCT expr)`` without a window, which counts each value's first event): each key's
  events are split at its earliest and latest probe. Those before the earliest are counted
  (summed, ...) by a plain GROUP BY; those from the latest on are dropped, no probe sees them;
  only those in between are put in one stream with the probes, ordered by (key, time, probes
  before events at the same second), under a dense integer id per key so that the sort moves
  no strings. A probe's ``ROW_NUMBER`` less its rank among the probes, plus the count before
  the earliest probe, is the number of events strictly before it; running sums and the
  last/first event time come from the same window. A window's count is the count at its end
  less the count at its start. One sort per key group, however many windows, and only of the
  events between a key's first and last probe: no quadratic join, no skew problem for popular
  items, and nothing to sort for a key probed once.
- **Range join** (any other aggregate): each probe joins the events of its key inside its window
  and aggregates them. Its cost grows with the events per probe.
- **Query** features run their own SELECT on the probes (with the values of their inputs, which
  are computed first); **derived** features are expressions over the others, evaluated on the
  spine.

The SQL is the subset DuckDB and Spark SQL share (CTEs, ``UNION ALL``, named windows,
``ROW_NUMBER``, ``CASE``, ``COALESCE``, ``CAST``, ``LEAST``/``GREATEST``, joins); what the two
spell differently (where ``IGNORE NULLS`` goes, how keys get their integer ids) comes from the
engine's :class:`~reelflow.features._dialect.Dialect`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from reelflow._errors import DataError
from reelflow.features._dialect import dialect as dialect_named
from reelflow.features._dialect import expand, key_id_mark
from reelflow.features._feature import ENTITY_KEYS, Feature

SPINE = "__rf_spine"
EVENTS = "__rf_events"
EVENTS_WITH_ITEMS = "__rf_events_x"
ROW = "__rf_row"

Op = Literal["count", "sum", "last", "first", "distinct"]


@dataclass(frozen=True)
class Context:
    """What the compiler knows of the inputs."""

    spine_columns: tuple[str, ...]  # columns of the spine table, item attributes included
    event_columns: tuple[str, ...]
    item_columns: tuple[str, ...]  # attributes an items table adds (not item_id)
    dialect: str = "duckdb"
    outputs: tuple[str, ...] | None = None  # the spine columns to return (default: all)
    order: tuple[str, ...] = (ROW,)  # the spine columns the result is ordered by


@dataclass
class Plan:
    """Tables to materialise in order, then the final SELECT."""

    tables: list[tuple[str, str]] = field(default_factory=list)
    final: str = ""


@dataclass
class _SortedGroup:
    keys: tuple[str, ...]
    events: str
    where: str | None
    offsets: set[int] = field(default_factory=set)
    sums: list[str] = field(default_factory=list)
    last: bool = False
    first: bool = False
    distinct: str | None = None  # counts the first event of each value of this expression


@dataclass
class _RangeGroup:
    keys: tuple[str, ...]
    events: str
    where: str | None
    window: int | None
    offset: int
    features: list[Feature] = field(default_factory=list)


def running_form(feature: Feature) -> tuple[Op, str | None] | None:
    """How an aggregate runs as a sorted pass (its operation and its argument: SUM's, or what
    COUNT(DISTINCT ...) counts), or None when it needs a range join."""
    text = " ".join(feature.sql.split())
    if text.upper() in ("COUNT(*)", "COUNT(1)"):
        return "count", None
    call = _single_call(text)
    if call is None:
        return None
    function, argument = call
    if function == "COUNT":  # COUNT(DISTINCT x): a value counts from its first event on
        return ("distinct", argument) if feature.window is None else None
    if function == "SUM":
        return "sum", argument
    if function == "MAX" and argument.lower() == "timestamp":
        return "last", None
    if function == "MIN" and argument.lower() == "timestamp" and feature.window is None:
        return "first", None
    return None


def compile_plan(requested: Sequence[Feature], features: Sequence[Feature], ctx: Context) -> Plan:
    """The plan computing ``features`` (the requested ones and their inputs, inputs first) on
    the spine table, returning the spine's columns and the ``requested`` features."""
    _check_keys(features, ctx)
    plan = Plan()
    sorted_groups: dict[tuple[object, ...], _SortedGroup] = {}
    range_groups: dict[tuple[object, ...], _RangeGroup] = {}
    queries: list[Feature] = []
    for feature in features:
        if feature.kind == "query":
            queries.append(feature)
        elif feature.kind == "aggregate":
            _assign(feature, ctx, sorted_groups, range_groups)

    expressions: dict[str, str] = {}
    joins: list[tuple[str, str]] = []  # (alias, LEFT JOIN clause)
    for index, group in enumerate(sorted_groups.values()):
        table = f"__rf_c{index}"
        plan.tables.append((table, _sorted_sql(group, ctx.dialect)))
        for offset in sorted(group.offsets):
            alias = f"{table}_{offset}"
            joins.append((alias, _probe_join(table, alias, group.keys, f"s.as_of - {offset}")))
    for index, ranged in enumerate(range_groups.values()):
        table = f"__rf_r{index}"
        plan.tables.append((table, _range_sql(ranged)))
        joins.append((table, _probe_join(table, table, ranged.keys, "s.as_of")))
        for position, feature in enumerate(ranged.features):
            expressions[feature.name] = _defaulted(f"{table}.__rf_f{position}", feature)
    for feature in features:
        if feature.kind == "aggregate" and feature.name not in expressions:
            group_index = _index_of(sorted_groups, _sorted_key(feature, ctx))
            expressions[feature.name] = _sorted_expression(feature, group_index, sorted_groups)
    for index, feature in enumerate(queries):
        table = f"__rf_q{index}"
        plan.tables.append((table, _query_sql(feature, ctx, expressions, joins)))
        joins.append((table, _probe_join(table, table, feature.key_columns, "s.as_of")))
        expressions[feature.name] = _defaulted(f"{table}.value", feature)

    plan.final = _final_sql(requested, features, expressions, [j for _, j in joins], ctx)
    return plan


# --- grouping ------------------------------------------------------------------------------------


def _events_for(feature: Feature, ctx: Context) -> str:
    """The events relation a feature reads: with item attributes joined when it names one."""
    extra = [c for c in ctx.item_columns if c not in ctx.event_columns]
    text = " ".join([*feature.key_columns, feature.sql, feature.where or "", feature.source or ""])
    relation = EVENTS_WITH_ITEMS if _mentions(text, extra) else EVENTS
    if feature.source is not None:
        return f"({feature.source.replace('{events}', relation)})"
    return relation


def _sorted_key(feature: Feature, ctx: Context) -> tuple[object, ...]:
    form = running_form(feature)
    distinct = form[1] if form is not None and form[0] == "distinct" else None
    return (feature.key_columns, _events_for(feature, ctx), feature.where, distinct)


def _assign(
    feature: Feature,
    ctx: Context,
    sorted_groups: dict[tuple[object, ...], _SortedGroup],
    range_groups: dict[tuple[object, ...], _RangeGroup],
) -> None:
    form = running_form(feature)
    events = _events_for(feature, ctx)
    if form is None:
        key = (
            feature.key_columns,
            events,
            feature.where,
            feature.window_seconds,
            feature.offset_seconds,
        )
        group = range_groups.setdefault(key, _RangeGroup(*key))
        group.features.append(feature)
        return
    op, argument = form
    sorted_group = sorted_groups.setdefault(
        _sorted_key(feature, ctx),
        _SortedGroup(
            feature.key_columns,
            events,
            feature.where,
            distinct=argument if op == "distinct" else None,
        ),
    )
    sorted_group.offsets.update(_probe_offsets(feature))
    if op == "sum" and argument is not None and argument not in sorted_group.sums:
        sorted_group.sums.append(argument)
    sorted_group.last |= op == "last"
    sorted_group.first |= op == "first"


def _probe_offsets(feature: Feature) -> list[int]:
    """How far before ``as_of`` a feature's probes are: its window's end, and start if any."""
    end = feature.offset_seconds
    window = feature.window_seconds
    form = running_form(feature)
    if window is None or (form is not None and form[0] in ("last", "first")):
        return [end]
    return [end, end + window]


def _index_of(groups: dict[tuple[object, ...], _SortedGroup], key: tuple[object, ...]) -> int:
    return list(groups).index(key)


# --- the sorted pass ------------------------------------------------------------------------------


def _sorted_sql(group: _SortedGroup, dialect: str) -> str:
    keys = list(group.keys)
    columns = ", ".join(keys)
    present = " AND ".join(f"{k} IS NOT NULL" for k in keys)
    probes = " UNION ".join(
        f"SELECT DISTINCT {columns}, as_of - {offset} AS __rf_t FROM {SPINE} WHERE {present}"
        for offset in sorted(group.offsets)
    )
    filters = present if group.where is None else f"{present} AND ({group.where})"
    ctes, select = before_sql(
        keys,
        probes=probes,
        events=group.events,
        time="timestamp",
        where=filters,
        sums=group.sums,
        last=group.last,
        first=group.first,
        distinct=group.distinct,
        dialect=dialect,
    )
    return f"WITH {ctes}\n{select}"


def before_sql(
    keys: Sequence[str],
    *,
    probes: str,
    events: str,
    time: str,
    where: str | None = None,
    sums: Sequence[str] = (),
    last: bool = False,
    first: bool = False,
    distinct: str | None = None,
    dialect: str | None = "duckdb",
    prefix: str = "__rf_b",
) -> tuple[str, str]:
    """What the events of each probe's key hold strictly before the probe's time: CTEs (named
    ``prefix``...) and a SELECT returning ``keys``, ``__rf_t`` (the probe's time), ``__rf_n``
    (the count), and, when asked, ``__rf_last``/``__rf_first`` (the latest/earliest event time)
    and ``__rf_s{j}`` (the sum of ``sums[j]``; NULL when there is nothing to sum).

    ``probes`` is a SELECT of distinct (``keys``, ``__rf_t``); ``events`` a relation holding the
    ``keys`` and ``time`` columns, read where ``where`` holds (unqualified column names).
    ``distinct``: count each value of this expression once, from its first event on (what
    ``COUNT(DISTINCT ...)`` without a window is). ``dialect``: the engine's, or None for SQL
    written before it is known (a query feature's): the engine-specific parts are then left as
    marks the compiler spells out (:func:`~reelflow.features._dialect.expand`); such SQL must
    not ask for ``last`` or ``first``.

    Each key's events are split at its earliest and latest probe: those before the earliest are
    counted (summed, ...) by a plain GROUP BY, those from the latest on are dropped (no probe
    sees them), and only those in between go into the sorted stream with the probes, ordered by
    (key, time, probes before events at the same second), the key replaced by a dense integer
    id so that the sort moves no strings. Each probe carries the count before the split less
    its rank among its key's probes, so that adding its ``ROW_NUMBER`` in the stream gives the
    events strictly before it, with no join back. A key probed once sorts nothing; a sort costs
    what lies between a key's first and last probe, not its whole history.
    """
    columns = ", ".join(keys)
    p = prefix
    renamed = ", ".join(f"{k} AS __rf_k{i}" for i, k in enumerate(keys))
    ids = ", ".join(f"__rf_k{i}" for i in range(len(keys)))
    on_span = " AND ".join(f"__rf_e.{k} = __rf_s.__rf_k{i}" for i, k in enumerate(keys))
    on_probe = " AND ".join(f"__rf_q.{k} = __rf_s.__rf_k{i}" for i, k in enumerate(keys))
    conditions = f"__rf_e.{time} < __rf_s.__rf_hi" + (f" AND ({where})" if where else "")
    values = "".join(f", CAST({value} AS DOUBLE) AS __rf_v{j}" for j, value in enumerate(sums))
    listed_values = "".join(f", __rf_v{j}" for j in range(len(sums)))
    null_values = "".join(f", CAST(NULL AS DOUBLE) AS __rf_v{j}" for j in range(len(sums)))

    # Per key, what its events before its first probe hold (a GROUP BY, no sort) ...
    base = ["COUNT(*) AS __rf_n0"]
    # ... carried by each probe into the stream (NULL on the events' rows), with the count
    # less the probe's rank among the key's probes, so that adding its ROW_NUMBER in the stream
    # gives the events before it ...
    carried = {"__rf_c": "COALESCE(b.__rf_n0, 0) - ROW_NUMBER() OVER (PARTITION BY "
               "__rf_s.__rf_id ORDER BY __rf_q.__rf_t)"}  # fmt: skip
    kinds = {"__rf_c": "BIGINT"}
    running = ["ROW_NUMBER() OVER __rf_w AS __rf_ra"]
    # ... and the two combined.
    results = ["w.__rf_c + w.__rf_ra AS __rf_n"]
    if dialect is None and (last or first):
        raise ValueError("LAST_VALUE/FIRST_VALUE need the engine's dialect")
    spelling = dialect_named(dialect or "duckdb")
    key_ids = spelling.key_ids(ids) if dialect is not None else key_id_mark(ids)
    event_time = "CASE WHEN __rf_kind = 1 THEN __rf_t END"
    if last:
        base.append("MAX(__rf_t) AS __rf_last0")
        carried["__rf_last0"], kinds["__rf_last0"] = "b.__rf_last0", "BIGINT"
        value = spelling.last_first("LAST_VALUE", event_time)
        running.append(f"{value} OVER __rf_w AS __rf_last")
        results.append("COALESCE(w.__rf_last, w.__rf_last0) AS __rf_last")
    if first:
        base.append("MIN(__rf_t) AS __rf_first0")
        carried["__rf_first0"], kinds["__rf_first0"] = "b.__rf_first0", "BIGINT"
        value = spelling.last_first("FIRST_VALUE", event_time)
        running.append(f"{value} OVER __rf_w AS __rf_first")
        results.append("COALESCE(w.__rf_first0, w.__rf_first) AS __rf_first")
    for j in range(len(sums)):
        base.append(f"SUM(__rf_v{j}) AS __rf_s0{j}")
        carried[f"__rf_s0{j}"], kinds[f"__rf_s0{j}"] = f"b.__rf_s0{j}", "DOUBLE"
        running.append(f"SUM(__rf_v{j}) OVER __rf_w AS __rf_s{j}")
        results.append(
            f"COALESCE(w.__rf_s0{j} + w.__rf_s{j}, w.__rf_s0{j}, w.__rf_s{j}) AS __rf_s{j}"
        )
    carried_names = ", ".join(carried)
    probe_carried = ", ".join(f"{value} AS {name}" for name, value in carried.items())
    event_carried = ", ".join(f"CAST(NULL AS {kinds[name]}) AS {name}" for name in carried)
    events_in = f"""
  SELECT __rf_s.__rf_id, __rf_e.{time} AS __rf_t, __rf_s.__rf_lo{values}
  FROM {events} __rf_e JOIN {p}_span __rf_s ON {on_span}
  WHERE {conditions}
"""
    if distinct is not None:  # each value's first event (before the key's last probe) only
        events_in = f"""
  SELECT __rf_id, MIN(__rf_t) AS __rf_t, __rf_lo FROM (
    SELECT __rf_s.__rf_id, __rf_e.{time} AS __rf_t, __rf_s.__rf_lo, {distinct} AS __rf_x
    FROM {events} __rf_e JOIN {p}_span __rf_s ON {on_span}
    WHERE {conditions} AND ({distinct}) IS NOT NULL
  ) __rf_d
  GROUP BY __rf_id, __rf_lo, __rf_x
"""
    ctes = f"""{p}_p AS ({probes}),
{p}_span AS (
  SELECT {ids}, {key_ids} AS __rf_id, __rf_lo, __rf_hi
  FROM (SELECT {renamed}, MIN(__rf_t) AS __rf_lo, MAX(__rf_t) AS __rf_hi FROM {p}_p
        GROUP BY {columns}) __rf_g
),
{p}_in AS ({events_in}),
{p}_base AS (
  SELECT __rf_id, {", ".join(base)} FROM {p}_in WHERE __rf_t < __rf_lo GROUP BY __rf_id
),
{p}_probe AS (
  SELECT __rf_s.__rf_id, __rf_q.__rf_t, {probe_carried}
  FROM {p}_p __rf_q JOIN {p}_span __rf_s ON {on_probe}
  LEFT JOIN {p}_base b ON b.__rf_id = __rf_s.__rf_id
),
{p}_walk AS (
  SELECT __rf_id, __rf_t, __rf_kind, {carried_names}, {", ".join(running)}
  FROM (
    SELECT __rf_id, __rf_t, 1 AS __rf_kind{listed_values}, {event_carried}
    FROM {p}_in WHERE __rf_t >= __rf_lo
    UNION ALL
    SELECT __rf_id, __rf_t, 0 AS __rf_kind{null_values}, {carried_names} FROM {p}_probe
  ) __rf_x
  WINDOW __rf_w AS (PARTITION BY __rf_id ORDER BY __rf_t, __rf_kind
                    ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
)"""
    outputs = ", ".join(f"s.__rf_k{i} AS {k}" for i, k in enumerate(keys))
    select = f"""SELECT {outputs}, w.__rf_t, {", ".join(results)}
FROM {p}_walk w JOIN {p}_span s ON s.__rf_id = w.__rf_id
WHERE w.__rf_kind = 0"""
    return ctes, select


def _sorted_expression(
    feature: Feature, index: int, groups: dict[tuple[object, ...], _SortedGroup]
) -> str:
    group = list(groups.values())[index]
    form = running_form(feature)
    assert form is not None
    op, argument = form
    end = feature.offset_seconds
    window = feature.window_seconds
    at_end = f"__rf_c{index}_{end}"
    if op in ("count", "sum", "distinct"):
        column = "__rf_n" if op != "sum" else f"__rf_s{group.sums.index(argument or '')}"
        zero = "CAST(0 AS DOUBLE)" if op == "sum" else "0"
        value = f"COALESCE({at_end}.{column}, {zero})"
        if window is not None:
            value += f" - COALESCE(__rf_c{index}_{end + window}.{column}, {zero})"
        return _defaulted(value, feature)
    column = "__rf_last" if op == "last" else "__rf_first"
    value = f"{at_end}.{column}"
    if window is not None:
        value = f"CASE WHEN {value} >= s.as_of - {end + window} THEN {value} END"
    return _defaulted(value, feature)


# --- range joins, queries ------------------------------------------------------------------------


def _range_sql(group: _RangeGroup) -> str:
    keys = list(group.keys)
    renamed = ", ".join(f"{k} AS __rf_k{i}" for i, k in enumerate(keys))
    present = " AND ".join(f"{k} IS NOT NULL" for k in keys)
    conditions = [f"e.{k} = p.__rf_k{i}" for i, k in enumerate(keys)]
    conditions.append(f"e.timestamp < p.as_of - {group.offset}")
    if group.window is not None:
        conditions.append(f"e.timestamp >= p.as_of - {group.offset + group.window}")
    if group.where is not None:
        conditions.append(f"({group.where})")
    values = ", ".join(f"{f.sql} AS __rf_f{j}" for j, f in enumerate(group.features))
    probe_keys = ", ".join(f"p.__rf_k{i}" for i in range(len(keys)))
    outputs = ", ".join(f"p.__rf_k{i} AS {k}" for i, k in enumerate(keys))
    return f"""SELECT {outputs}, p.as_of AS __rf_t, {values}
FROM (SELECT DISTINCT {renamed}, as_of FROM {SPINE} WHERE {present}) p
JOIN {group.events} e ON {" AND ".join(conditions)}
GROUP BY {probe_keys}, p.as_of"""


def _query_sql(
    feature: Feature, ctx: Context, expressions: dict[str, str], joins: list[tuple[str, str]]
) -> str:
    """A query feature's SELECT over its probes: the distinct keys and ``as_of`` of the spine,
    with the values of its inputs (aggregates of its keys, computed before it) as columns."""
    keys = list(feature.key_columns)
    present = " AND ".join(f"s.{k} IS NOT NULL" for k in keys)
    columns = [f"s.{k}" for k in keys] + ["s.as_of"]
    used: list[str] = []
    for given in feature.inputs:
        value = expressions[given.name]
        columns.append(f"{value} AS {given.name}")
        used += [join for alias, join in joins if _mentions(value, [alias]) and join not in used]
    joined = "".join("\n" + join for join in used)
    probes = f"(SELECT DISTINCT {', '.join(columns)} FROM {SPINE} s{joined}\nWHERE {present})"
    extra = [c for c in ctx.item_columns if c not in ctx.event_columns]
    events = EVENTS_WITH_ITEMS if _mentions(feature.sql, extra) else EVENTS
    body = feature.sql.replace("{events}", events).replace("{probes}", probes)
    body = expand(body, ctx.dialect)
    outputs = ", ".join(f"__rf_q.{k}" for k in keys)
    return f"SELECT {outputs}, __rf_q.as_of AS __rf_t, __rf_q.value FROM ({body}) __rf_q"


# --- the final SELECT ---------------------------------------------------------------------------


def _final_sql(
    requested: Sequence[Feature],
    features: Sequence[Feature],
    expressions: dict[str, str],
    joins: list[str],
    ctx: Context,
) -> str:
    base = ", ".join(f"{expressions[f.name]} AS {f.name}" for f in features if f.kind != "derived")
    query = f"SELECT s.*, {base} FROM {SPINE} s\n" + "\n".join(joins)
    levels = _derived_levels(features)
    for level in sorted(set(levels.values())):
        derived = [f for f in features if levels.get(f.name) == level]
        columns = ", ".join(f"{_defaulted(f'({f.sql})', f)} AS {f.name}" for f in derived)
        query = f"SELECT __rf_l{level}.*, {columns} FROM (\n{query}\n) __rf_l{level}"
    shown = ctx.spine_columns if ctx.outputs is None else ctx.outputs
    spine = [c for c in shown if c != ROW]
    outputs = ", ".join([*spine, *(f.name for f in requested)])
    return f"SELECT {outputs} FROM (\n{query}\n) __rf_out ORDER BY {', '.join(ctx.order)}"


def _derived_levels(features: Sequence[Feature]) -> dict[str, int]:
    levels: dict[str, int] = {}
    for feature in features:  # inputs come first
        if feature.kind == "derived":
            levels[feature.name] = 1 + max(levels.get(i.name, 0) for i in feature.inputs)
    return levels


def _probe_join(table: str, alias: str, keys: Iterable[str], time: str) -> str:
    on = " AND ".join([*(f"{alias}.{k} = s.{k}" for k in keys), f"{alias}.__rf_t = {time}"])
    return f"LEFT JOIN {table} {alias} ON {on}"


def _defaulted(expression: str, feature: Feature) -> str:
    if feature.default is None:
        return expression
    return f"COALESCE({expression}, {feature.default!r})"


# --- checks and helpers --------------------------------------------------------------------------


def _check_keys(features: Sequence[Feature], ctx: Context) -> None:
    for feature in features:
        needed = set(ENTITY_KEYS[feature.entity])
        if feature.kind != "derived":
            needed |= set(feature.key_columns)
        missing = sorted(needed - set(ctx.spine_columns))
        if missing:
            hint = (
                "; pass an items table holding it"
                if any(m not in ENTITY_KEYS["user_item"] + ("region",) for m in missing)
                else ""
            )
            raise DataError(
                f"feature '{feature.name}' needs the spine column(s) {', '.join(missing)}{hint}"
            )
        if feature.kind == "aggregate":
            available = set(ctx.event_columns) | set(ctx.item_columns)
            absent = sorted(set(feature.key_columns) - available)
            if absent:
                raise DataError(
                    f"feature '{feature.name}' groups events by {', '.join(absent)}, which "
                    "neither the events nor the items table hold"
                )


def _mentions(text: str, names: Iterable[str]) -> bool:
    return any(re.search(rf"\b{re.escape(name)}\b", text) for name in names)


def _single_call(text: str) -> tuple[str, str] | None:
    """``("SUM", "weight")`` for ``SUM(weight)``, ``("COUNT", "item_id")`` for ``COUNT(DISTINCT
    item_id)``: one call spanning the whole text."""
    match = re.fullmatch(r"(SUM|MAX|MIN|COUNT)\s*\((.*)\)", text, flags=re.IGNORECASE | re.DOTALL)
    if match is None:
        return None
    argument = match.group(2)
    depth, quoted = 0, False
    for char in argument:
        if char == "'":
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
            if depth < 0:
                return None  # SUM(a) / SUM(b): the parentheses close early
    if depth != 0 or quoted:
        return None
    function = match.group(1).upper()
    distinct = re.match(r"\s*DISTINCT\b(.*)", argument, flags=re.IGNORECASE | re.DOTALL)
    if function == "COUNT":  # only COUNT(DISTINCT x) of one expression (COUNT(*) is above)
        if distinct is None or _top_level_comma(distinct.group(1)):
            return None
        return function, distinct.group(1).strip()
    if distinct is not None:
        return None
    return function, argument.strip()


def _top_level_comma(text: str) -> bool:
    depth, quoted = 0, False
    for char in text:
        if char == "'":
            quoted = not quoted
        elif not quoted and char in "()":
            depth += 1 if char == "(" else -1
        elif not quoted and depth == 0 and char == ",":
            return True
    return False
