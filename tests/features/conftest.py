"""The Spark fixtures: one local SparkSession for the whole test session (a JVM takes seconds to
start), and an ``engine`` fixture that runs a test on DuckDB or on Spark.

Spark tests skip when pyspark or Java is missing, except in CI (``CI`` set): see
``spark_installed`` in tests/conftest.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="session")
def spark_session(spark_installed: None) -> Iterator[Any]:
    """The process's local Spark session (``local[2]``), stopped at the end of the tests."""
    from reelflow.features._spark import local_session, stop_local_session

    session = local_session()
    yield session
    stop_local_session()


@pytest.fixture
def spark(spark_session: Any) -> Iterator[Any]:
    """A Spark engine of its own (its own temporary views) on the shared session."""
    from reelflow.features import SparkEngine

    with SparkEngine(spark_session) as engine:
        yield engine


@pytest.fixture
def engine(request: pytest.FixtureRequest) -> Any:
    """``"duckdb"``, or a Spark engine: parametrize indirectly with ``["duckdb", "spark"]``."""
    if getattr(request, "param", "duckdb") == "spark":
        return request.getfixturevalue("spark")
    return "duckdb"
