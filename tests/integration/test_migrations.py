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
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url

from adapters.sql import schema, tables
from adapters.sql.dialects import build_engine
from adapters.sql.uow import SqlUnitOfWorkFactory
from adapters.sql.verbatim import KEY_PREFIX_BYTES
from domain.media import MediaEntry
from domain.model import ConfigEntry, Tag, User, UserId
from domain.sync.staging import StagedItem, StageKind
from ports.stores import UnitOfWork
from tests.conftest import _create_database, _drop_database, server_url

DDL_OR_DML = ("CREATE", "ALTER", "DROP", "INSERT", "UPDATE", "DELETE", "RENAME", "TRUNCATE")


def _create(backend: str, tmp_path: Path) -> tuple[str, Callable[[], None]]:
    """Create an empty database; return its URL and a function that drops it."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / f'{uuid.uuid4().hex}.db'}", lambda: None
    if backend == "citus":  # a schema of its own stands for a database there
        url = _create_database(server_url(backend))
        return url, lambda: _drop_database(server_url(backend), url)
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


# Not per user: failed logins are kept per digest of a user name or client address,
# looked up before any user is known (on Citus, a reference table like `users`); host
# keys another server handed out name no user, so their digest leads to the user.
NOT_PER_USER = {"alembic_version", "login_failures", "imported_host_keys"}


def _user_tables(engine: Engine) -> list[str]:
    return sorted(set(inspect(engine).get_table_names()) - NOT_PER_USER)


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
    created = set(inspect(migrated).get_table_names()) - {"alembic_version"}
    assert sorted(created) == sorted(tables.metadata.tables)


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


# --- 0004: exact keys ----------------------------------------------------------------------

USER = UserId(7)
# What 0003 could hold: keys of up to 700 characters (2800 bytes of emoji), media names of
# up to 255 bytes, and on MariaDB no two keys that differ only in trailing spaces.
OLD_CONFIG = {"schedVer": "2", "k ": "1", "Kéy 🙂": "2", "🙂" * 700: "3", "tab\t": "4"}
OLD_TAGS = ["tag", "Tag ", "🙂" * 700, "é", "ä::child"]
OLD_STAGED = [(StageKind.TAG, "tag "), (StageKind.CONFIG, ""), (StageKind.NOTE, "123")]
OLD_MEDIA = ["pad.txt ", "é" * 127 + "a", "🙂.png"]


def _migrate(engine: Engine, revision: str, *, down: bool = False) -> None:
    from alembic import command

    cfg = schema.alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(cfg, revision)


def _insert_0003_rows(engine: Engine) -> None:
    """Rows as the code of revision 0003 wrote them (untyped columns: plain strings)."""
    config = sa.table("config", *map(sa.column, ("user_id", "key", "usn", "mtime", "val")))
    tags = sa.table("tags", *map(sa.column, ("user_id", "tag", "usn", "collapsed")))
    staging = sa.table("sync_staging", *map(sa.column, ("user_id", "kind", "okey", "payload")))
    media = sa.table("media_files", *map(sa.column, ("user_id", "fname", "sha1", "size", "usn")))
    with engine.begin() as conn:
        conn.execute(sa.insert(config), [
            {"user_id": USER, "key": k, "usn": 0, "mtime": 1, "val": v}
            for k, v in OLD_CONFIG.items()
        ])
        conn.execute(sa.insert(tags), [
            {"user_id": USER, "tag": t, "usn": i, "collapsed": False}
            for i, t in enumerate(OLD_TAGS)
        ])
        conn.execute(sa.insert(staging), [
            {"user_id": USER, "kind": int(kind), "okey": key, "payload": f"p{key}"}
            for kind, key in OLD_STAGED
        ])
        conn.execute(sa.insert(media), [
            {"user_id": USER, "fname": n, "sha1": f"{i:040x}", "size": i, "usn": i + 1}
            for i, n in enumerate(OLD_MEDIA)
        ])


def _assert_old_rows_readable(uow: UnitOfWork, *, staged: bool = True) -> None:
    assert {k: uow.collections.config_json(USER, k) for k in OLD_CONFIG} == OLD_CONFIG
    keys = [e.key for e in uow.collections.config(USER)]
    assert [k for k in keys if k in OLD_CONFIG] == sorted(OLD_CONFIG)
    tags = [t.name for t in uow.collections.tags_since(USER, 0)]
    assert [t for t in tags if t in OLD_TAGS] == sorted(OLD_TAGS)
    for kind, key in OLD_STAGED:
        # 0006 ends the syncs in progress: their staged rows go.
        assert (key in uow.staging.keys(USER, kind)) == staged
        assert (StagedItem(kind, key, f"p{key}") in list(uow.staging.read(USER, kind))) == staged
    assert uow.media.entries(USER, OLD_MEDIA) == {
        n: MediaEntry(n, f"{i:040x}", i, i + 1) for i, n in enumerate(OLD_MEDIA)
    }


def test_upgrade_from_0003_keeps_existing_keys_and_makes_keys_exact(empty_engine: Engine) -> None:
    _migrate(empty_engine, "0003")
    _insert_0003_rows(empty_engine)
    _migrate(empty_engine, "0005")
    factory = SqlUnitOfWorkFactory(empty_engine)
    with factory(write=False) as uow:
        _assert_old_rows_readable(uow)
    schema.upgrade(empty_engine)
    assert schema.is_current(empty_engine)
    with factory(write=False) as uow:
        _assert_old_rows_readable(uow, staged=False)
    # Keys alike the old ones (trailing spaces, case) and long ones are now keys of their own.
    new_config = {"k": "10", "k  ": "11", "kéy 🙂": "12", "x" * 5000: "13", "🙂" * 3001: "14"}
    new_tags = ["tag ", "Tag", "TAG ", "t" * 5000, "t" * 5000 + " "]
    with factory() as uow:
        for key, value in new_config.items():
            uow.collections.put_config(USER, ConfigEntry(key=key, usn=-1, mtime=2, json=value))
        uow.collections.add_tags(USER, [Tag(name, usn=-1) for name in [*new_tags, *OLD_TAGS]])
        uow.staging.add(USER, [StagedItem(StageKind.TAG, "tag", "new"),
                               StagedItem(StageKind.TAG, "t" * 5000, "long")])
        uow.media.save(USER, [MediaEntry("pad.txt", "f" * 40, 9, 9)])
        uow.commit()
    with factory(write=False) as uow:
        _assert_old_rows_readable(uow, staged=False)
        assert {k: uow.collections.config_json(USER, k) for k in new_config} == new_config
        assert [t.name for t in uow.collections.tags_since(USER, -1)] == sorted(
            [*OLD_TAGS, *new_tags]
        )
        assert {i.key: i.payload for i in uow.staging.read(USER, StageKind.TAG)} == {
            "tag": "new", "t" * 5000: "long"
        }
        assert uow.media.entries(USER, ["pad.txt"]) == {
            "pad.txt": MediaEntry("pad.txt", "f" * 40, 9, 9)
        }


def test_downgrade_to_0003_keeps_keys_that_fit_there(empty_engine: Engine) -> None:
    _migrate(empty_engine, "0003")
    _insert_0003_rows(empty_engine)
    schema.upgrade(empty_engine)
    _migrate(empty_engine, "0003", down=True)
    schema.upgrade(empty_engine)
    with SqlUnitOfWorkFactory(empty_engine)(write=False) as uow:
        _assert_old_rows_readable(uow, staged=False)


@mysql_only
def test_mariadb_keys_are_binary_and_indexed_by_their_encoded_prefix(migrated: Engine) -> None:
    with migrated.connect() as conn:
        keys = conn.execute(text(
            "SELECT c.TABLE_NAME, c.COLUMN_NAME, c.DATA_TYPE, s.SUB_PART"
            " FROM information_schema.COLUMNS c JOIN information_schema.STATISTICS s"
            " ON s.TABLE_SCHEMA = c.TABLE_SCHEMA AND s.TABLE_NAME = c.TABLE_NAME"
            " AND s.COLUMN_NAME = c.COLUMN_NAME AND s.INDEX_NAME = 'PRIMARY'"
            " WHERE c.TABLE_SCHEMA = DATABASE() AND c.DATA_TYPE LIKE '%blob'"
        )).all()
    assert sorted(tuple(k) for k in keys) == [
        ("config", "key", "longblob", KEY_PREFIX_BYTES),
        ("media_files", "fname", "longblob", KEY_PREFIX_BYTES),
        ("sync_staging", "okey", "longblob", KEY_PREFIX_BYTES),
        ("tags", "tag", "longblob", KEY_PREFIX_BYTES),
    ]


# --- 0006: graves' highest usn, staged row ids ----------------------------------------------


def test_upgrade_to_0006_records_each_collections_highest_grave_usn(
    empty_engine: Engine,
) -> None:
    _migrate(empty_engine, "0005")
    cols = sa.table("collections", *map(sa.column, (
        "user_id", "crt", "mtime", "scm", "ver", "dty", "usn", "ls")))
    graves = sa.table("graves", *map(sa.column, ("user_id", "kind", "oid", "usn")))
    sessions = sa.table("sync_sessions", *map(sa.column, (
        "user_id", "skey", "phase", "server_usn", "client_usn", "client_is_newer",
        "touched_ms", "chunk_stage", "client_done")))
    with empty_engine.begin() as conn:
        conn.execute(sa.insert(cols), [
            {"user_id": u, "crt": 1, "mtime": 1, "scm": 1, "ver": 11, "dty": 0, "usn": 9,
             "ls": 1} for u in (1, 2)])
        conn.execute(sa.insert(graves), [
            {"user_id": 1, "kind": 1, "oid": 5, "usn": 4},
            {"user_id": 1, "kind": 0, "oid": 6, "usn": 7}])
        conn.execute(sa.insert(sessions), [
            {"user_id": 1, "skey": "k", "phase": 1, "server_usn": 9, "client_usn": 0,
             "client_is_newer": False, "touched_ms": 1, "chunk_stage": 0,
             "client_done": False}])
    schema.upgrade(empty_engine)
    with empty_engine.connect() as conn:
        found = dict(conn.execute(text(
            "SELECT user_id, graves_usn FROM collections ORDER BY user_id")).all())
        in_sync = conn.execute(text("SELECT count(*) FROM sync_sessions")).scalar_one()
    assert found == {1: 7, 2: -1}
    assert in_sync == 0  # syncs in progress are ended
