"""Writing many rows in one statement: insert, or update the rows whose key exists.

The rows come as parameters named after their columns, with `user_id` shared by all
(`Transaction.write_rows`). PostgreSQL takes one array per column (`unnest`), so any
number of rows is one prepared statement; SQLite and MySQL/MariaDB run the one-row form
for each row (the drivers batch it).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import BigInteger, Table, bindparam, text
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.sql import ClauseElement

from adapters.sql.statements import Statement


def upsert(table: Table, key: Sequence[str], update: Sequence[str] | None) -> Statement:
    """Write rows of `table`; where `key` (which starts with user_id) exists, overwrite
    the `update` columns (None: leave the existing row as it is)."""

    def build(dialect: str) -> ClauseElement:
        if dialect == "postgresql":
            return _pg_unnest(table, key, update)
        values = {c.name: bindparam(c.name, type_=c.type) for c in table.columns}
        if dialect == "sqlite":
            lite = sqlite.insert(table).values(values)
            if update is None:
                return lite.on_conflict_do_nothing(index_elements=list(key))
            return lite.on_conflict_do_update(
                index_elements=list(key), set_={c: lite.excluded[c] for c in update})
        my = mysql.insert(table).values(values)
        # "Leave it as it is": set a key column to itself (INSERT IGNORE hides other errors).
        changes = {c: my.inserted[c] for c in update} if update is not None \
            else {key[-1]: table.c[key[-1]]}
        return my.on_duplicate_key_update(changes)

    return Statement(build, tables=[table.name])


def _pg_unnest(table: Table, key: Sequence[str], update: Sequence[str] | None) -> ClauseElement:
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    quote = dialect.identifier_preparer.quote
    columns = [c for c in table.columns if c.name != "user_id"]
    arrays = ", ".join(
        f"CAST(:{c.name} AS {postgresql.ARRAY(c.type).compile(dialect=dialect)})"
        for c in columns)
    names = ", ".join(quote(c.name) for c in columns)
    sql = (f"INSERT INTO {quote(table.name)} (user_id, {names}) "
           f"SELECT CAST(:user_id AS BIGINT), {names} FROM unnest({arrays}) AS src({names}) "
           f"ON CONFLICT ({', '.join(quote(k) for k in key)}) ")
    if update is None:
        sql += "DO NOTHING"
    else:
        sql += "DO UPDATE SET " + ", ".join(f"{quote(c)} = EXCLUDED.{quote(c)}" for c in update)
    return text(sql).bindparams(
        bindparam("user_id", type_=BigInteger),
        *(bindparam(c.name, type_=postgresql.ARRAY(c.type)) for c in columns))
