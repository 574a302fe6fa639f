"""Distributing ankiserv's tables on Citus (distributed PostgreSQL).

Every per-user table is distributed by `user_id`, all co-located with `collections`, so
one user's rows live on one worker and every statement about one user runs there alone.
The few tables looked up before the user is known (`users` by name, failed logins by
digest, imported host keys by digest) are small and read-mostly: they become reference
tables, copied to every node, which any shard's transaction may join or read. Alembic's
own `alembic_version` stays a plain table on the coordinator.

Applied by `schema.upgrade` after the migrations, on a database with the `citus`
extension only; tables distributed before are left as they are, so it is safe to run
again, and a table a later migration adds is distributed the next time. Rows already in
a table (an installation moved onto a coordinator) are moved into its shards.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

from adapters.sql import tables

REFERENCE_TABLES = ("users", "login_failures", "imported_host_keys")
ANCHOR = "collections"  # the table every per-user table is co-located with
LOCAL_TABLES = ("alembic_version",)


def is_citus(conn: Connection) -> bool:
    """Whether the database has the `citus` extension (a Citus coordinator)."""
    if conn.dialect.name != "postgresql":
        return False
    found = conn.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'citus'")).first()
    return found is not None


def distributed_tables(conn: Connection) -> dict[str, str]:
    """Table name -> 'reference' or 'distributed', for the tables Citus already manages
    in the current schema."""
    rows = conn.execute(text(
        "SELECT c.relname, p.partmethod FROM pg_dist_partition p"
        " JOIN pg_class c ON c.oid = p.logicalrelid"
        " WHERE c.relnamespace = current_schema()::regnamespace"))
    return {str(name): "reference" if method == "n" else "distributed"
            for name, method in rows}


def distribute(conn: Connection) -> list[str]:
    """Make every ankiserv table that is not yet one a reference or distributed table;
    return what was done, one line per table."""
    done: list[str] = []
    known = distributed_tables(conn)
    for name in _in_order():
        if name in known:
            continue
        quoted = _regclass(name)
        if name in REFERENCE_TABLES:
            conn.execute(text("SELECT create_reference_table(:t)"), {"t": quoted})
            done.append(f"{name}: reference table")
        elif name == ANCHOR:
            conn.execute(text("SELECT create_distributed_table(:t, 'user_id')"),
                         {"t": quoted})
            done.append(f"{name}: distributed by user_id")
        else:
            conn.execute(text("SELECT create_distributed_table(:t, 'user_id',"
                              " colocate_with => :anchor)"),
                         {"t": quoted, "anchor": _regclass(ANCHOR)})
            done.append(f"{name}: distributed by user_id, with {ANCHOR}")
        # Rows that were in the table are in its shards now; the coordinator's own copy
        # is dead weight (Citus leaves it for the operator to remove).
        conn.execute(text("SELECT truncate_local_data_after_distributing_table(:t)"),
                     {"t": quoted})
    return done


def _in_order() -> list[str]:
    """Reference tables first, then the anchor, then the other per-user tables."""
    names = [t.name for t in tables.metadata.sorted_tables if t.name not in LOCAL_TABLES]
    per_user = [n for n in names if n not in REFERENCE_TABLES and n != ANCHOR]
    return [*REFERENCE_TABLES, ANCHOR, *per_user]


def _regclass(name: str) -> str:
    """The table's name as Citus's functions take it (found on the search path)."""
    return f'"{name}"'
