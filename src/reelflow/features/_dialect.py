"""The spellings DuckDB and Spark SQL do not share, in one place.

The compiler writes the subset both engines read; where a construct differs, or where the
same SQL would run badly on one of them, it asks the engine's :class:`Dialect` instead of
spelling it itself. There are two such places:

- ``IGNORE NULLS`` in ``LAST_VALUE``/``FIRST_VALUE``: inside the call on DuckDB, after it on
  Spark;
- the integer id that stands for a key (so that a sort moves no strings): DuckDB numbers the
  distinct keys with one global ``ROW_NUMBER() OVER (ORDER BY keys)``, which its parallel sort
  handles well; Spark would run that window on a single partition, so there the keys are
  spread by a hash into buckets, numbered within each bucket, and the id is (bucket, number)
  packed into one BIGINT: unique and deterministic like the global number, and computed on
  every core. Only uniqueness matters: the id is joined on and partitioned by, never ordered.

SQL written before the engine is known (a query feature's, such as co-occurrence) marks the
key id as ``{key_id:COLUMNS}``; :func:`expand` spells it for the engine at compile time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from reelflow._errors import DataError

#: Spark's key buckets: enough to spread the numbering over any cluster's cores, few enough
#: that the bucket times 2**32 stays far inside a BIGINT.
SPARK_KEY_BUCKETS = 1024


@dataclass(frozen=True)
class Dialect:
    """How one engine spells what the two do not share."""

    name: str
    ignore_nulls: str  # a pattern with {function} and {value}
    key_id: str  # a pattern with {keys}: a unique BIGINT per distinct row of the key columns

    def last_first(self, function: str, value: str) -> str:
        """``LAST_VALUE``/``FIRST_VALUE`` of ``value`` skipping NULLs (an OVER clause follows)."""
        return self.ignore_nulls.format(function=function, value=value)

    def key_ids(self, keys: str) -> str:
        """A unique BIGINT for each distinct ``keys`` (a comma-separated column list) of a
        relation that holds each key once."""
        return self.key_id.format(keys=keys)


_MARK = re.compile(r"\{key_id:([^{}]+)\}")


def key_id_mark(keys: str) -> str:
    """The engine-neutral mark for :meth:`Dialect.key_ids`, spelled out by :func:`expand`."""
    return f"{{key_id:{keys}}}"


def expand(sql: str, name: str) -> str:
    """``sql`` with its ``{key_id:...}`` marks spelled for the dialect ``name``."""
    spelling = dialect(name)
    return _MARK.sub(lambda m: spelling.key_ids(m.group(1)), sql)


_SPARK_BUCKET = f"pmod(xxhash64({{keys}}), {SPARK_KEY_BUCKETS})"

DIALECTS = {
    "duckdb": Dialect(
        "duckdb",
        ignore_nulls="{function}({value} IGNORE NULLS)",
        key_id="ROW_NUMBER() OVER (ORDER BY {keys})",
    ),
    "spark": Dialect(
        "spark",
        ignore_nulls="{function}({value}) IGNORE NULLS",
        key_id=(
            f"{_SPARK_BUCKET} * 4294967296 + "
            f"ROW_NUMBER() OVER (PARTITION BY {_SPARK_BUCKET} ORDER BY {{keys}})"
        ),
    ),
}


def dialect(name: str) -> Dialect:
    """The dialect called ``name`` (an engine's ``dialect`` attribute)."""
    try:
        return DIALECTS[name]
    except KeyError:
        raise DataError(
            f"unknown SQL dialect {name!r}; an engine's dialect is one of {', '.join(DIALECTS)}"
        ) from None
