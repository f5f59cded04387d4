"""Feature definitions: :class:`Feature` (one named value per entity and point in time) and
:class:`FeatureSet` (a named collection of them).

A feature is SQL: an aggregate over the events of its key in a time window (``COUNT(*)``,
``SUM(weight)``, ``COUNT(DISTINCT item_id)``), an expression over other features (a ratio, a
recency), or a whole query for what neither can say (co-occurrence). Nothing here runs SQL; the
compiler (``_compile``) turns features into queries and an engine runs them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal, get_args

from reelflow._errors import DataError

Entity = Literal["user", "item", "user_item", "item_region", "user_region"]
Kind = Literal["aggregate", "derived", "query"]

ENTITY_KEYS: dict[str, tuple[str, ...]] = {
    "user": ("user_id",),
    "item": ("item_id",),
    "user_item": ("user_id", "item_id"),
    "item_region": ("item_id", "region"),
    "user_region": ("user_id", "region"),
}

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DURATION = re.compile(r"\s*(\d+)\s*(s|m|h|d|w)\s*", re.IGNORECASE)
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
RESERVED_PREFIX = "__rf"


@dataclass(frozen=True)
class Feature:
    """One feature: a value per spine row, computed only from events strictly before its time.

    - ``kind="aggregate"`` (the default): ``sql`` is an aggregate over the events whose ``keys``
      match the spine row and whose timestamp is in ``[as_of - offset - window, as_of - offset)``
      (``window=None``: all history), optionally filtered by ``where``. ``COUNT(*)``,
      ``SUM(expr)``, ``MAX(timestamp)``, and without a window ``MIN(timestamp)`` and
      ``COUNT(DISTINCT expr)``, run as one sorted pass over the events; any other aggregate runs
      as a range join.
    - ``kind="derived"``: ``sql`` is a scalar expression over the features in ``inputs`` (by
      name), ``as_of`` and the spine's columns.
    - ``kind="query"``: ``sql`` is a SELECT with ``{events}`` and ``{probes}`` placeholders that
      returns the key columns, ``as_of`` and ``value`` for every probe (its author keeps it
      point-in-time correct). Its ``inputs``, aggregates over some of its keys, are computed
      first and read as columns of ``{probes}``.

    ``entity`` names the spine columns a row needs (``user_item``: ``user_id`` and
    ``item_id``); ``keys`` (default: the entity's columns) are the columns events are grouped by,
    which may include item attributes such as ``genre`` joined from an items table.
    """

    name: str
    entity: Entity
    sql: str
    window: str | int | timedelta | None = None
    description: str = ""
    offset: str | int | timedelta | None = None
    where: str | None = None
    keys: tuple[str, ...] | None = None
    kind: Kind = "aggregate"
    inputs: tuple[Feature, ...] = ()
    default: int | float | None = None
    source: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        check_identifier(self.name, "feature name")
        if self.entity not in ENTITY_KEYS:
            raise DataError(
                f"feature '{self.name}': entity must be one of {', '.join(ENTITY_KEYS)}, "
                f"got {self.entity!r}"
            )
        if self.kind not in get_args(Kind):
            raise DataError(f"feature '{self.name}': kind must be aggregate, derived or query")
        if not self.sql.strip():
            raise DataError(f"feature '{self.name}' has no SQL")
        for key in self.key_columns:
            check_identifier(key, f"key of feature '{self.name}'")
        window, offset = seconds(self.window), seconds(self.offset)
        if window is not None and window <= 0:
            raise DataError(f"feature '{self.name}': window must be positive")
        if offset is not None and offset < 0:
            raise DataError(f"feature '{self.name}': offset must not be negative")
        if self.kind == "derived" and not self.inputs:
            raise DataError(f"derived feature '{self.name}' names no inputs")
        if self.kind == "aggregate" and self.inputs:
            raise DataError(f"feature '{self.name}': only derived and query features take inputs")
        if self.kind == "query":
            for given in self.inputs:
                if given.kind != "aggregate" or not set(given.key_columns) <= set(self.key_columns):
                    raise DataError(
                        f"query feature '{self.name}': its input '{given.name}' must be an "
                        f"aggregate over some of its keys ({', '.join(self.key_columns)})"
                    )
        if self.kind == "query" and not ("{events}" in self.sql and "{probes}" in self.sql):
            raise DataError(
                f"query feature '{self.name}' must read {{events}} and {{probes}} in its SQL"
            )
        if self.kind != "aggregate" and (self.window or self.offset or self.where or self.source):
            raise DataError(
                f"feature '{self.name}': window, offset, where and source apply to aggregates only"
            )

    # --- constructors ---------------------------------------------------------------------------

    @classmethod
    def derived(
        cls,
        name: str,
        entity: Entity,
        sql: str,
        inputs: Iterable[Feature],
        description: str = "",
        *,
        default: int | float | None = None,
    ) -> Feature:
        """A scalar expression over ``inputs`` (by name), ``as_of`` and the spine's columns."""
        return cls(
            name,
            entity,
            sql,
            description=description,
            kind="derived",
            inputs=tuple(inputs),
            default=default,
        )

    @classmethod
    def query(
        cls,
        name: str,
        entity: Entity,
        sql: str,
        description: str = "",
        *,
        default: int | float | None = None,
        inputs: Iterable[Feature] = (),
    ) -> Feature:
        """A SELECT over ``{events}`` and ``{probes}`` returning keys, ``as_of`` and ``value``;
        ``{probes}`` holds the values of ``inputs`` (aggregates over some of its keys) too."""
        return cls(
            name,
            entity,
            sql,
            description=description,
            kind="query",
            inputs=tuple(inputs),
            default=default,
        )

    # --- reading --------------------------------------------------------------------------------

    @property
    def key_columns(self) -> tuple[str, ...]:
        """The columns events are grouped by (for derived features: the entity's columns)."""
        return self.keys if self.keys is not None else ENTITY_KEYS[self.entity]

    @property
    def window_seconds(self) -> int | None:
        return seconds(self.window)

    @property
    def offset_seconds(self) -> int:
        return seconds(self.offset) or 0

    def __repr__(self) -> str:
        window = f", window={self.window!r}" if self.window is not None else ""
        return f"Feature({self.name!r}, {self.entity}, {self.kind}{window})"


@dataclass(frozen=True)
class FeatureSet:
    """A named, ordered collection of features with unique names."""

    name: str
    features: tuple[Feature, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "features", tuple(self.features))
        seen: set[str] = set()
        for feature in self.features:
            if not isinstance(feature, Feature):
                raise DataError(f"feature set '{self.name}' holds {feature!r}, not a Feature")
            if feature.name in seen:
                raise DataError(f"feature set '{self.name}' holds '{feature.name}' twice")
            seen.add(feature.name)

    def __iter__(self) -> Iterator[Feature]:
        return iter(self.features)

    def __len__(self) -> int:
        return len(self.features)

    def __getitem__(self, name: str) -> Feature:
        for feature in self.features:
            if feature.name == name:
                return feature
        raise KeyError(f"feature set '{self.name}' has no feature '{name}'")

    def __contains__(self, name: object) -> bool:
        return any(feature.name == name for feature in self.features)

    @property
    def names(self) -> list[str]:
        return [feature.name for feature in self.features]

    def select(self, *names: str, name: str | None = None) -> FeatureSet:
        """The features called ``names``, in that order."""
        return FeatureSet(name or self.name, tuple(self[n] for n in names))

    def __add__(self, other: FeatureSet) -> FeatureSet:
        return FeatureSet(f"{self.name}+{other.name}", (*self.features, *other.features))

    def __repr__(self) -> str:
        return f"<FeatureSet {self.name!r}: {', '.join(self.names)}>"


def seconds(duration: str | int | timedelta | None) -> int | None:
    """``"7d"``, ``"12h"``, ``"30m"``, ``"90s"``, ``"2w"``, an int of seconds or a timedelta."""
    if duration is None:
        return None
    if isinstance(duration, timedelta):
        return int(duration.total_seconds())
    if isinstance(duration, int) and not isinstance(duration, bool):
        return duration
    if isinstance(duration, str):
        match = _DURATION.fullmatch(duration)
        if match:
            return int(match.group(1)) * _UNIT[match.group(2).lower()]
    raise DataError(f"{duration!r} is not a duration; write one like '7d', '12h' or '30m'")


def check_identifier(name: str, what: str) -> None:
    """Raise unless ``name`` is a plain SQL identifier that reelflow has not reserved."""
    if not isinstance(name, str) or not _IDENTIFIER.fullmatch(name):
        raise DataError(f"{what} {name!r} must be a plain SQL identifier (letters, digits, _)")
    if name.lower().startswith(RESERVED_PREFIX):
        raise DataError(f"{what} {name!r}: names starting with '{RESERVED_PREFIX}' are reserved")


def flatten(features: Feature | FeatureSet | Iterable[Feature | FeatureSet]) -> list[Feature]:
    """The features asked for, in order, with unique names."""
    if isinstance(features, Feature):
        items: list[Feature] = [features]
    elif isinstance(features, FeatureSet):
        items = list(features)
    else:
        items = []
        for entry in features:
            items.extend(flatten(entry))
    return list(FeatureSet("requested", tuple(items)))


def closure(features: list[Feature]) -> list[Feature]:
    """The requested features and every input they need, inputs first; a name must always mean
    the same definition."""
    ordered: dict[str, Feature] = {}

    def visit(feature: Feature, path: tuple[str, ...]) -> None:
        if feature.name in path:
            raise DataError(f"feature '{feature.name}' depends on itself")
        known = ordered.get(feature.name)
        if known is not None:
            if known != feature:
                raise DataError(f"two different features are called '{feature.name}'")
            return
        for dependency in feature.inputs:
            visit(dependency, (*path, feature.name))
        ordered[feature.name] = feature

    for feature in features:
        visit(feature, ())
    return list(ordered.values())
