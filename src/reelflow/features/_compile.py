"""From features to SQL: the point-in-time plans.

Every value is computed for a *probe*: a key and a time ``t``, and only from events with
``timestamp < t``. Probes are the distinct (key, ``as_of - offset``) and (key, ``as_of - offset -
window``) pairs of the spine, so spine rows that share a user and a time share the work.

- **Sorted pass** (``COUNT(*)``, ``SUM(expr)``, ``MAX(timestamp)``, ``MIN(timestamp)``): the
  probes are put in the stream of events, ordered by (key, time, probes before events at the
  same second). A probe's ``ROW_NUMBER`` less its rank among the probes is the number of events
  strictly before it; running sums and the last/first event time come from the same window. A
  window's count is the count at its end less the count at its start. One sort of the events
  per key, however many windows; no quadratic join, and no skew problem for popular items.
- **Range join** (any other aggregate): each probe joins the events of its key inside its window
  and aggregates them. Its cost grows with the events per probe.
- **Query** features run their own SELECT on the probes; **derived** features are expressions
  over the others, evaluated on the spine.

The SQL is the subset DuckDB and Spark SQL share (CTEs, ``UNION ALL``, named windows,
``ROW_NUMBER``, ``CASE``, ``COALESCE``, ``CAST``, joins); the one spelling that differs (where
``IGNORE NULLS`` goes) comes from :data:`_IGNORE_NULLS`, keyed by the engine's dialect.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from reelflow._errors import DataError
from reelflow.features._feature import ENTITY_KEYS, Feature

SPINE = "__rf_spine"
EVENTS = "__rf_events"
EVENTS_WITH_ITEMS = "__rf_events_x"
ROW = "__rf_row"

_IGNORE_NULLS = {
    "duckdb": "{function}({value} IGNORE NULLS)",
    "spark": "{function}({value}) IGNORE NULLS",
}

Op = Literal["count", "sum", "last", "first"]


@dataclass(frozen=True)
class Context:
    """What the compiler knows of the inputs."""

    spine_columns: tuple[str, ...]  # columns of the spine table, item attributes included
    event_columns: tuple[str, ...]
    item_columns: tuple[str, ...]  # attributes an items table adds (not item_id)
    dialect: str = "duckdb"
    outputs: tuple[str, ...] | None = None  # the spine columns to return (default: all)


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


@dataclass
class _RangeGroup:
    keys: tuple[str, ...]
    events: str
    where: str | None
    window: int | None
    offset: int
    features: list[Feature] = field(default_factory=list)


def running_form(feature: Feature) -> tuple[Op, str | None] | None:
    """How an aggregate runs as a sorted pass (its operation and SUM's argument), or None when
    it needs a range join."""
    text = " ".join(feature.sql.split())
    if text.upper() in ("COUNT(*)", "COUNT(1)"):
        return "count", None
    call = _single_call(text)
    if call is None:
        return None
    function, argument = call
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
    joins: list[str] = []
    for index, group in enumerate(sorted_groups.values()):
        table = f"__rf_c{index}"
        plan.tables.append((table, _sorted_sql(group, ctx.dialect)))
        for offset in sorted(group.offsets):
            alias = f"{table}_{offset}"
            joins.append(_probe_join(table, alias, group.keys, f"s.as_of - {offset}"))
    for index, ranged in enumerate(range_groups.values()):
        table = f"__rf_r{index}"
        plan.tables.append((table, _range_sql(ranged)))
        joins.append(_probe_join(table, table, ranged.keys, "s.as_of"))
        for position, feature in enumerate(ranged.features):
            expressions[feature.name] = _defaulted(f"{table}.__rf_f{position}", feature)
    for index, feature in enumerate(queries):
        table = f"__rf_q{index}"
        plan.tables.append((table, _query_sql(feature, ctx)))
        joins.append(_probe_join(table, table, feature.key_columns, "s.as_of"))
        expressions[feature.name] = _defaulted(f"{table}.value", feature)
    for feature in features:
        if feature.kind == "aggregate" and feature.name not in expressions:
            group_index = _index_of(sorted_groups, _sorted_key(feature, ctx))
            expressions[feature.name] = _sorted_expression(feature, group_index, sorted_groups)

    plan.final = _final_sql(requested, features, expressions, joins, ctx)
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
    return (feature.key_columns, _events_for(feature, ctx), feature.where)


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
        _sorted_key(feature, ctx), _SortedGroup(feature.key_columns, events, feature.where)
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
    if window is None or running_form(feature) in (("last", None), ("first", None)):
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
    event_values = "".join(
        f", CAST({value} AS DOUBLE) AS __rf_v{j}" for j, value in enumerate(group.sums)
    )
    probe_values = "".join(f", CAST(NULL AS DOUBLE) AS __rf_v{j}" for j in range(len(group.sums)))
    running = ["ROW_NUMBER() OVER __rf_w AS __rf_ra"]
    event_time = "CASE WHEN __rf_kind = 1 THEN __rf_t END"
    pattern = _IGNORE_NULLS[dialect]
    if group.last:
        last = pattern.format(function="LAST_VALUE", value=event_time)
        running.append(f"{last} OVER __rf_w AS __rf_last")
    if group.first:
        first = pattern.format(function="FIRST_VALUE", value=event_time)
        running.append(f"{first} OVER __rf_w AS __rf_first")
    running += [f"SUM(__rf_v{j}) OVER __rf_w AS __rf_s{j}" for j in range(len(group.sums))]
    carried = ["w.__rf_last"] if group.last else []
    carried += ["w.__rf_first"] if group.first else []
    carried += [f"w.__rf_s{j}" for j in range(len(group.sums))]
    on = " AND ".join(f"p.{k} = w.{k}" for k in keys)
    renamed = ", ".join(f"{k} AS __rf_k{i}" for i, k in enumerate(keys))
    wanted = " AND ".join(f"__rf_e.{k} = __rf_k.__rf_k{i}" for i, k in enumerate(keys))
    extra = "".join(", " + c for c in carried)
    return f"""WITH __rf_p AS ({probes}),
__rf_stream AS (
  SELECT {", ".join(f"__rf_e.{k}" for k in keys)}, timestamp AS __rf_t, 1 AS __rf_kind{event_values}
  FROM {group.events} __rf_e
  JOIN (SELECT DISTINCT {renamed} FROM __rf_p) __rf_k ON {wanted}
  WHERE {filters}
  UNION ALL
  SELECT {columns}, __rf_t, 0 AS __rf_kind{probe_values} FROM __rf_p
),
__rf_walk AS (
  SELECT {columns}, __rf_t, __rf_kind, {", ".join(running)}
  FROM __rf_stream
  WINDOW __rf_w AS (PARTITION BY {columns} ORDER BY __rf_t, __rf_kind
                    ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
),
__rf_rank AS (
  SELECT {columns}, __rf_t, ROW_NUMBER() OVER (PARTITION BY {columns} ORDER BY __rf_t) AS __rf_rp
  FROM __rf_p
)
SELECT {", ".join(f"w.{k}" for k in keys)}, w.__rf_t, w.__rf_ra - p.__rf_rp AS __rf_n{extra}
FROM __rf_walk w JOIN __rf_rank p ON {on} AND p.__rf_t = w.__rf_t
WHERE w.__rf_kind = 0"""


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
    if op in ("count", "sum"):
        column = "__rf_n" if op == "count" else f"__rf_s{group.sums.index(argument or '')}"
        zero = "0" if op == "count" else "CAST(0 AS DOUBLE)"
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


def _query_sql(feature: Feature, ctx: Context) -> str:
    keys = list(feature.key_columns)
    present = " AND ".join(f"{k} IS NOT NULL" for k in keys)
    probes = f"(SELECT DISTINCT {', '.join(keys)}, as_of FROM {SPINE} WHERE {present})"
    extra = [c for c in ctx.item_columns if c not in ctx.event_columns]
    events = EVENTS_WITH_ITEMS if _mentions(feature.sql, extra) else EVENTS
    body = feature.sql.replace("{events}", events).replace("{probes}", probes)
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
    return f"SELECT {outputs} FROM (\n{query}\n) __rf_out ORDER BY {ROW}"


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
    """``("SUM", "weight")`` for ``SUM(weight)``: one call spanning the whole text."""
    match = re.fullmatch(r"(SUM|MAX|MIN)\s*\((.*)\)", text, flags=re.IGNORECASE | re.DOTALL)
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
    if re.match(r"\s*DISTINCT\b", argument, flags=re.IGNORECASE):
        return None
    return match.group(1).upper(), argument.strip()
