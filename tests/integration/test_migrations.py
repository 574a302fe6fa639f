"""The Alembic migrations build exactly the schema `tables.metadata` describes, on every backend.

Each backend gets fresh, empty databases here (not the shared test database), so the
migrations are what creates every table. On MariaDB the database's default character
set is latin1: the tables must carry utf8mb4 themselves.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url

from adapters.sql import schema, tables
from adapters.sql.dialects import build_engine
from adapters.sql.uow import SqlUnitOfWorkFactory
from domain.model import User
from tests.conftest import server_url

DDL_OR_DML = ("CREATE", "ALTER", "DROP", "INSERT", "UPDATE", "DELETE", "RENAME", "TRUNCATE")


def _create(backend: str, tmp_path: Path) -> tuple[str, Callable[[], None]]:
    """Create an empty database; return its URL and a function that drops it."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / f'{uuid.uuid4().hex}.db'}", lambda: None
    admin_url = make_url(build_engine(server_url(backend)).url)
    name = f"ankiserv_mig_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if backend == "postgres":
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        else:
            conn.execute(text(f"CREATE DATABASE `{name}` CHARACTER SET latin1"))

    def drop() -> None:
        with admin.connect() as conn:
            if backend == "postgres":
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            else:
                conn.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
        admin.dispose()

    return admin_url.set(database=name).render_as_string(hide_password=False), drop


@pytest.fixture
def empty_engine(backend: str, tmp_path: Path) -> Iterator[Engine]:
    url, drop = _create(backend, tmp_path)
    engine = build_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()
        drop()


@pytest.fixture(scope="module")
def migrated(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A fresh database of this backend, upgraded once, shared by this module."""
    url, drop = _create(backend, tmp_path_factory.mktemp(f"migrations-{backend}"))
    engine = build_engine(url)
    schema.upgrade(engine)
    try:
        yield engine
    finally:
        engine.dispose()
        drop()


def _user_tables(engine: Engine) -> list[str]:
    return sorted(set(inspect(engine).get_table_names()) - {"alembic_version"})


def _describe(engine: Engine) -> dict[str, Any]:
    """Everything the inspector knows about the schema, as comparable values."""
    insp = inspect(engine)
    described: dict[str, Any] = {}
    for name in sorted(insp.get_table_names()):
        described[name] = {
            "columns": [
                (c["name"], str(c["type"]), c["nullable"], str(c.get("default")))
                for c in insp.get_columns(name)
            ],
            "pk": insp.get_pk_constraint(name)["constrained_columns"],
            "indexes": sorted((i["name"] or "", tuple(i["column_names"]), bool(i["unique"]))
                              for i in insp.get_indexes(name)),
            "unique": sorted(tuple(u["column_names"]) for u in insp.get_unique_constraints(name)),
        }
    return described


def test_migrations_build_the_schema_of_tables_metadata(migrated: Engine) -> None:
    with migrated.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        differences = compare_metadata(context, tables.metadata)
    assert differences == []


def test_migrations_create_every_table_of_the_metadata(migrated: Engine) -> None:
    assert _user_tables(migrated) == sorted(tables.metadata.tables)


def test_empty_database_is_not_current_until_upgraded(empty_engine: Engine) -> None:
    assert not schema.is_current(empty_engine)
    schema.upgrade(empty_engine)
    assert schema.is_current(empty_engine)


def test_database_at_an_older_revision_is_not_current(empty_engine: Engine) -> None:
    from alembic import command

    cfg = schema.alembic_config(empty_engine)
    with empty_engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
    assert not schema.is_current(empty_engine)
    schema.upgrade(empty_engine)
    assert schema.is_current(empty_engine)


def test_migrated_database_is_current(migrated: Engine) -> None:
    assert schema.is_current(migrated)


def test_second_upgrade_changes_nothing(migrated: Engine) -> None:
    name = f"kept-{uuid.uuid4().hex}"
    factory = SqlUnitOfWorkFactory(migrated)
    with factory() as uow:
        user_id = uow.users.add(name, "hash", 0)
        uow.commit()
    before = _describe(migrated)
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(migrated, "before_cursor_execute", record)
    try:
        schema.upgrade(migrated)
    finally:
        event.remove(migrated, "before_cursor_execute", record)
    changes = [s for s in statements if s.lstrip().upper().startswith(DDL_OR_DML)]
    assert changes == []
    assert _describe(migrated) == before
    assert schema.is_current(migrated)
    with factory(write=False) as uow:
        assert uow.users.find(name) == (User(user_id, name), "hash")


def test_every_primary_key_starts_with_user_id(migrated: Engine) -> None:
    insp = inspect(migrated)
    for name in _user_tables(migrated):
        pk = insp.get_pk_constraint(name)["constrained_columns"]
        assert pk and pk[0] == "user_id", (name, pk)


def test_every_index_starts_with_user_id(migrated: Engine) -> None:
    """Except the unique user name, which login looks up before any user id is known."""
    insp = inspect(migrated)
    for name in _user_tables(migrated):
        for index in insp.get_indexes(name):
            if name == "users" and index["column_names"] == ["name"]:
                continue
            assert index["column_names"][0] == "user_id", (name, index)


def test_user_names_are_unique_in_the_schema(migrated: Engine) -> None:
    insp = inspect(migrated)
    unique: list[list[str | None]] = [
        list(u["column_names"]) for u in insp.get_unique_constraints("users")
    ]
    unique += [list(i["column_names"]) for i in insp.get_indexes("users") if i["unique"]]
    assert ["name"] in unique


mysql_only = pytest.mark.parametrize(
    "backend", [pytest.param("mysql", marks=pytest.mark.mysql)], indirect=True
)


@mysql_only
def test_mariadb_tables_are_utf8mb4_binary(migrated: Engine) -> None:
    with migrated.connect() as conn:
        table_collations: dict[str, str] = dict(conn.execute(text(
            "SELECT TABLE_NAME, TABLE_COLLATION FROM information_schema.TABLES"
            " WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME <> 'alembic_version'"
        )).all())
        columns = conn.execute(text(
            "SELECT TABLE_NAME, COLUMN_NAME, CHARACTER_SET_NAME, COLLATION_NAME"
            " FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE()"
            " AND CHARACTER_SET_NAME IS NOT NULL AND TABLE_NAME <> 'alembic_version'"
        )).all()
    assert sorted(table_collations) == sorted(tables.metadata.tables)
    assert set(table_collations.values()) == {"utf8mb4_bin"}, table_collations
    assert columns, "text columns exist"
    wrong = [c for c in columns if (c[2], c[3]) != ("utf8mb4", "utf8mb4_bin")]
    assert wrong == []


@mysql_only
def test_mariadb_keeps_emoji_and_case_in_a_latin1_database(migrated: Engine) -> None:
    factory = SqlUnitOfWorkFactory(migrated)
    suffix = uuid.uuid4().hex
    with factory() as uow:
        upper = uow.users.add(f"Émoji 🙂 {suffix}", "hash", 0)
        lower = uow.users.add(f"émoji 🙂 {suffix}", "hash", 0)
        uow.commit()
    with factory(write=False) as uow:
        assert uow.users.get(upper) == User(upper, f"Émoji 🙂 {suffix}")
        assert uow.users.find(f"émoji 🙂 {suffix}") == (User(lower, f"émoji 🙂 {suffix}"), "hash")
