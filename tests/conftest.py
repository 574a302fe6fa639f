"""Shared fixtures: hypothesis profiles and one migrated database per backend."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from adapters.sql import schema
from adapters.sql.dialects import build_engine

hypothesis_settings.register_profile("dev", max_examples=50, stateful_step_count=30)
hypothesis_settings.register_profile(
    "ci", max_examples=500, stateful_step_count=60, deadline=None
)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

IN_CI = os.environ.get("CI", "").lower() == "true"
SERVER_URLS = {"postgres": "TEST_POSTGRES_URL", "mysql": "TEST_MYSQL_URL",
               "citus": "TEST_CITUS_URL"}


def server_url(backend: str) -> str:
    """The admin URL of a database server, or skip (fail under CI) when it is not set."""
    url = os.environ.get(SERVER_URLS[backend], "")
    if not url:
        message = f"{SERVER_URLS[backend]} is not set"
        if IN_CI:
            pytest.fail(message + " (CI must run every backend)")
        pytest.skip(message)
    return url


def _is_citus(admin_url: str) -> bool:
    return bool(admin_url) and admin_url == os.environ.get(SERVER_URLS["citus"])


def _create_citus_schema(admin_url: str, name: str) -> str:
    """On a Citus coordinator, a fresh schema stands for a fresh database (each database
    of a cluster needs the extension and the workers registered anew): the URL makes it
    the connection's search path, where every ankiserv table then lives."""
    admin = create_engine(make_url(build_engine(admin_url).url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{name}"'))
    admin.dispose()
    # Few shards per table: tests make many schemas, and rebalance them.
    return make_url(build_engine(admin_url).url).update_query_dict(
        {"options": f"-csearch_path={name} -ccitus.shard_count=4"}
    ).render_as_string(hide_password=False)


def citus_schema(url: str) -> str:
    """The schema a Citus test URL works in."""
    options = str(make_url(url).query["options"]).split()
    return next(o for o in options if o.startswith("-csearch_path=")).split("=", 1)[1]


def _create_database(admin_url: str) -> str:
    """Create a fresh database on the server behind `admin_url`; return its URL."""
    name = f"ankiserv_test_{uuid.uuid4().hex[:12]}"
    if _is_citus(admin_url):
        return _create_citus_schema(admin_url, name)
    url = make_url(build_engine(admin_url).url)
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if url.get_backend_name() == "postgresql":
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        else:
            conn.execute(
                text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
            )
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def _drop_database(admin_url: str, url: str) -> None:
    name = make_url(url).database
    if _is_citus(admin_url):
        name = citus_schema(url)
        admin = create_engine(make_url(build_engine(admin_url).url),
                              isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
        admin.dispose()
        return
    admin = create_engine(make_url(build_engine(admin_url).url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if admin.dialect.name == "postgresql":
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        else:
            conn.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
    admin.dispose()


@pytest.fixture(scope="session")
def database_urls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Lazily created, migrated databases, one per backend, for the whole test session."""
    created: dict[str, str] = {}
    yield created
    for backend, url in created.items():
        if backend != "sqlite":
            _drop_database(server_url(backend), url)


def database_url(backend: str, urls: dict[str, str], tmp: Path) -> str:
    if backend not in urls:
        if backend == "sqlite":
            url = f"sqlite:///{tmp / 'ankiserv-test.db'}"
        else:
            url = _create_database(server_url(backend))
        engine = build_engine(url)
        schema.upgrade(engine)
        engine.dispose()
        urls[backend] = url
    return urls[backend]


BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    pytest.param("mysql", id="mysql", marks=pytest.mark.mysql),
    pytest.param("citus", id="citus", marks=pytest.mark.citus),
]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without a Citus coordinator (TEST_CITUS_URL), leave its tests out with one line
    (CI must have one: there they fail instead)."""
    if os.environ.get(SERVER_URLS["citus"]) or IN_CI:
        return
    kept = [item for item in items if item.get_closest_marker("citus") is None]
    left_out = [item for item in items if item.get_closest_marker("citus") is not None]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = kept
        config.stash[_CITUS_LEFT_OUT] = len(left_out)


_CITUS_LEFT_OUT = pytest.StashKey[int]()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    left_out = terminalreporter.config.stash.get(_CITUS_LEFT_OUT, 0)
    if left_out:
        terminalreporter.write_line(f"citus: {left_out} tests not run (TEST_CITUS_URL is"
                                    " not set; see the README's \"Scaling out with Citus\")")


@pytest.fixture(params=BACKENDS, scope="session")
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def db_url(
    backend: str, database_urls: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> str:
    """A migrated database of each backend (tests share it; users keep them apart)."""
    return database_url(backend, database_urls, tmp_path_factory.mktemp(backend))


@pytest.fixture(scope="session")
def engine(db_url: str) -> Iterator[Engine]:
    eng = build_engine(db_url)
    yield eng
    eng.dispose()


LEGACY_VERSION = "2.1.54"


@pytest.fixture(scope="session")
def legacy_python() -> Path:
    """The python of the venv holding anki 2.1.54 (the legacy protocol's client); skip
    (fail under CI) if pip cannot set it up."""
    from tests.legacy.clients import ClientUnavailable, ensure_venv

    try:
        return ensure_venv(LEGACY_VERSION)
    except ClientUnavailable as e:
        message = f"cannot set up anki {LEGACY_VERSION} in .venv-legacy: {e}"
        if IN_CI:
            pytest.fail(message + " (CI must run the legacy-client tests)")
        pytest.skip(message)


# -- SQL scope -----------------------------------------------------------------------------
# Every statement ankiserv sends during the session (in this process and in the servers
# tests start) must concern one user: see tests/support/sql_capture.py and sql_scope.py.
# TEST_SQL_SCOPE=0 turns the check off.


def pytest_configure(config: pytest.Config) -> None:
    from tests.support.sql_scope_plugin import Plugin

    config.pluginmanager.register(Plugin(), "ankiserv-sql-scope")
