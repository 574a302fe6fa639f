"""Contract fixtures: every storage adapter behind one `uow_factory` fixture.

The suites run on the in-memory adapter (what unit and property tests use) and on the
SQL adapter over the shared migrated database of each backend.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from adapters.memory.store import InMemoryStore
from adapters.sql.dialects import build_engine
from adapters.sql.uow import SqlUnitOfWorkFactory
from ports.stores import UnitOfWork, UnitOfWorkFactory
from tests.conftest import BACKENDS, database_url

ADAPTERS = [pytest.param("memory", id="memory"), *BACKENDS]


@pytest.fixture(params=ADAPTERS, scope="session")
def adapter(request: pytest.FixtureRequest) -> str:
    """`memory`, or the SQL backend: `sqlite`, `postgres`, `mysql`."""
    return str(request.param)


@pytest.fixture(scope="session")
def sql_engines(database_urls: dict[str, str]) -> Iterator[dict[str, Engine]]:
    """Engines by backend, disposed before `database_urls` drops the databases."""
    engines: dict[str, Engine] = {}
    yield engines
    for engine in engines.values():
        engine.dispose()


def make_factory(
    adapter: str,
    engines: dict[str, Engine],
    urls: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> UnitOfWorkFactory:
    """A fresh in-memory store, or units of work on the shared database of a backend."""
    if adapter == "memory":
        return InMemoryStore()
    if adapter not in engines:
        url = database_url(adapter, urls, tmp_path_factory.mktemp(adapter))
        engines[adapter] = build_engine(url)
    return SqlUnitOfWorkFactory(engines[adapter])


@pytest.fixture
def uow_factory(
    adapter: str,
    sql_engines: dict[str, Engine],
    database_urls: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> UnitOfWorkFactory:
    return make_factory(adapter, sql_engines, database_urls, tmp_path_factory)


@pytest.fixture
def uow(uow_factory: UnitOfWorkFactory) -> Iterator[UnitOfWork]:
    """One unit of work, never committed: each test sees only its own writes."""
    with uow_factory() as unit:
        yield unit
