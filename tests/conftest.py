"""Shared fixtures: a fresh store per test, a fresh PostgreSQL database per test (when a server
is configured), whether Spark can run, and helpers to run the flows under tests/flow."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

from reelflow.store import Store

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


@pytest.fixture
def store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[Store]:
    """An empty store in a temporary working directory (the embedded default layout).

    Parametrized indirectly with ``"postgres"``, its metadata is in a fresh PostgreSQL database
    instead (``REELFLOW_DB`` set, so processes the test starts in that directory use it too):
    ``@pytest.mark.parametrize("store", ["sqlite", "postgres"], indirect=True)``. With ``"s3"``
    its artifacts are in a fresh prefix of the test S3 bucket (``REELFLOW_ARTIFACTS``), and with
    ``"postgres+s3"`` both: the layout of a team's cluster.
    """
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("REELFLOW_HOME", raising=False)
    monkeypatch.delenv("REELFLOW_DB", raising=False)
    monkeypatch.delenv("REELFLOW_ARTIFACTS", raising=False)
    kind = getattr(request, "param", "sqlite")
    if kind in ("postgres", "postgres+s3"):
        monkeypatch.setenv("REELFLOW_DB", request.getfixturevalue("postgres_url"))
    if kind in ("s3", "postgres+s3"):
        monkeypatch.setenv("REELFLOW_ARTIFACTS", request.getfixturevalue("s3_url"))
    opened = Store.open(tmp_path)
    yield opened
    if "metadata" in opened.__dict__ and opened.config.db_url.startswith("postgresql"):
        opened.metadata.close()  # before its database is dropped


@pytest.fixture
def output() -> io.StringIO:
    return io.StringIO()


def _postgres_unavailable(reason: str) -> NoReturn:
    if os.environ.get("REELFLOW_REQUIRE_POSTGRES") == "1":
        pytest.fail(
            f"{reason} (REELFLOW_REQUIRE_POSTGRES=1: PostgreSQL is required)", pytrace=False
        )
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Any]:
    """An AUTOCOMMIT engine on the PostgreSQL server named by ``REELFLOW_TEST_POSTGRES`` (a
    SQLAlchemy URL of a role that may create databases). Without it PostgreSQL tests skip, or
    fail when ``REELFLOW_REQUIRE_POSTGRES=1`` (CI, whose ``.ci/run`` starts a server)."""
    url = os.environ.get("REELFLOW_TEST_POSTGRES")
    if not url:
        _postgres_unavailable(
            "no PostgreSQL server to test against: set REELFLOW_TEST_POSTGRES to a SQLAlchemy URL"
            " such as postgresql+psycopg://user:password@127.0.0.1:5432/postgres"
        )
    import sqlalchemy as sa

    try:
        engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except ImportError as exc:
        _postgres_unavailable(f"the PostgreSQL driver is not installed ({exc.name})")
    except sa.exc.SQLAlchemyError as exc:
        shown = sa.engine.make_url(url).render_as_string(hide_password=True)
        first = str(exc).strip().splitlines()[0]
        _postgres_unavailable(f"the PostgreSQL server at {shown} is unreachable: {first}")
    yield engine
    engine.dispose()


@pytest.fixture
def postgres_url(postgres_server: Any) -> Iterator[str]:
    """The URL of a new, empty database on the test server, dropped after the test. Its
    collation is linguistic (ICU en-US, as production servers often are, where the server
    supports it) so that no result depends on the database sorting text by code point."""
    import sqlalchemy as sa

    name = f"reelflow_test_{uuid.uuid4().hex[:16]}"
    with postgres_server.connect() as conn:
        try:
            conn.exec_driver_sql(
                f'CREATE DATABASE "{name}" TEMPLATE template0'
                " LOCALE_PROVIDER icu ICU_LOCALE 'en-US'"
            )
        except sa.exc.DBAPIError:  # before PostgreSQL 15, or built without ICU
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = postgres_server.url.set(database=name)
    yield url.render_as_string(hide_password=False)
    with postgres_server.connect() as conn:  # WITH (FORCE) ends connections a test left open
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _required(what: str, reason: str) -> NoReturn:
    """Fail in CI (``CI`` set: every engine is installed there), skip elsewhere."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set: {what} is required)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """A local S3-compatible server (moto's, on loopback) with one bucket: its ``s3://`` URL.

    The AWS variables point every client of this process and of the processes tests start at
    it (``AWS_ENDPOINT_URL`` is honoured by botocore, so by s3fs); they are restored after.
    """
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as exc:
        _required("moto", f"moto's S3 server is not installed ({exc.name}): pip install -e .[dev]")
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not a line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    settings = {
        "AWS_ENDPOINT_URL": f"http://{host}:{port}",
        "AWS_ACCESS_KEY_ID": "reelflow-test",
        "AWS_SECRET_ACCESS_KEY": "reelflow-test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    saved = {name: os.environ.get(name) for name in settings}
    os.environ.update(settings)
    try:
        import s3fs

        s3fs.S3FileSystem(skip_instance_cache=True).mkdir("reelflow-tests")
        yield "s3://reelflow-tests"
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        server.stop()


@pytest.fixture
def s3_url(s3_server: str) -> str:
    """A fresh prefix of the test bucket, for one test."""
    return f"{s3_server}/{uuid.uuid4().hex[:16]}"


@pytest.fixture(scope="session")
def ray_instance(request: pytest.FixtureRequest) -> Iterator[str]:
    """One local Ray instance for the whole session, sized for this 2-core machine: its GCS
    address (``--ray-address`` for subprocesses). Runs in this process use it as it is (a Ray
    executor never shuts down an instance it did not start). Ray must be installed: it is in the
    ``dev`` extra, so a missing Ray fails here rather than skipping the Ray half of the suite."""
    import logging

    import ray

    # Ray's processes keep the environment they start with: the S3 server's settings first.
    with contextlib.suppress(pytest.skip.Exception):
        request.getfixturevalue("s3_server")
    previous = os.getcwd()
    os.chdir(ROOT)  # Ray's processes keep the directory they start in: not a test's tmp_path
    try:
        ray.init(
            num_cpus=2,
            object_store_memory=128 << 20,
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.WARNING,
            namespace="reelflow-tests",
        )
    finally:
        os.chdir(previous)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


@pytest.fixture(params=["local", "ray"])
def executor(request: pytest.FixtureRequest) -> str:
    """The executor a runtime behaviour test runs against: each such test runs on both.

    Tasks on Ray run in processes the shared instance started, which do not see this process's
    later environment changes: the flows under tests/flow are steered by parameters instead.
    """
    if request.param == "ray":
        request.getfixturevalue("ray_instance")
    return str(request.param)


def _spark_missing() -> str | None:
    if importlib.util.find_spec("pyspark") is None:
        return 'pyspark is not installed (pip install -e ".[dev]")'
    home = os.environ.get("JAVA_HOME")
    if shutil.which("java") is None and not (home and os.path.exists(f"{home}/bin/java")):
        return "no Java for Spark (java on PATH or JAVA_HOME)"
    return None


@pytest.fixture(scope="session")
def spark_installed() -> None:
    """Nothing, for tests that run Spark (in this process or in one they start): they skip when
    pyspark or Java is missing, except in CI (``CI`` set), where the dev extra installs pyspark
    and the machine has Java: there a missing one fails them."""
    missing = _spark_missing()
    if missing is not None:
        _required("Spark", missing)
