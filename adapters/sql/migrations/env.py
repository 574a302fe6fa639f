"""Alembic environment: runs on the connection or URL that `adapters.sql.schema` hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from adapters.sql.dialects import build_engine
from adapters.sql.tables import metadata

config = context.config


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = build_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


run_migrations_online()
