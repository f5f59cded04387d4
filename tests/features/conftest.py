"""The Spark fixtures: one local SparkSession for the whole test session (a JVM takes seconds to
start), and an ``engine`` fixture that runs a test on DuckDB or on Spark.

Spark tests skip when pyspark or Java is missing, except in CI (``CI`` set), where the dev
extra installs pyspark and the machine has Java: there a missing one fails them.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest


def _spark_missing() -> str | None:
    if importlib.util.find_spec("pyspark") is None:
        return 'pyspark is not installed (pip install -e ".[dev]")'
    home = os.environ.get("JAVA_HOME")
    if shutil.which("java") is None and not (home and os.path.exists(f"{home}/bin/java")):
        return "no Java for Spark (java on PATH or JAVA_HOME)"
    return None


@pytest.fixture(scope="session")
def spark_session() -> Iterator[Any]:
    """The process's local Spark session (``local[2]``), stopped at the end of the tests."""
    missing = _spark_missing()
    if missing is not None:
        if os.environ.get("CI"):
            pytest.fail(f"{missing}; CI runs the Spark tests", pytrace=False)
        pytest.skip(missing)
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
