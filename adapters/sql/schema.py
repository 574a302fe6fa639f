"""Bring a database's schema up to date with the Alembic migrations."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from adapters.sql import citus

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    # configparser reads % as interpolation: a URL's %-escapes must be doubled.
    url = engine.url.render_as_string(hide_password=False).replace("%", "%%")
    cfg.set_main_option("sqlalchemy.url", url)
    return cfg


def upgrade(engine: Engine, target: str = "head") -> list[str]:
    """Apply every pending migration up to `target` (no-op when the schema is there); on
    a Citus coordinator, then distribute what is not yet (see `citus`). Returns what the
    distribution did, one line per table."""
    cfg = alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, target)
    with engine.begin() as conn:
        return citus.distribute(conn) if citus.is_citus(conn) else []


def newest(engine: Engine) -> str:
    """The newest migration of this version of ankiserv."""
    head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
    assert head is not None
    return head


def revision(engine: Engine) -> str | None:
    """The migration the database is at (None: no ankiserv schema)."""
    with engine.connect() as conn:
        return revision_on(conn)


def revision_on(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def is_current(engine: Engine) -> bool:
    """Return whether the database is at the newest migration."""
    return revision(engine) == newest(engine)


def readiness_check(engine: Engine) -> Callable[[], str | None]:
    """A check cheap enough to run every second: None when the database answers and its
    schema is at the newest migration, else what is wrong. The newest migration is read
    from the migration scripts once, here."""
    head = newest(engine)

    def check() -> str | None:
        try:
            conn = engine.connect()
        except DBAPIError:
            return "the database does not answer"
        with conn:
            try:
                current = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            except DBAPIError:
                return "the database has no ankiserv schema: run `ankiserv db upgrade`"
        if current != head:
            return (f"the database schema is at {current}, this version needs {head}:"
                    " run `ankiserv db upgrade`")
        return None

    return check
