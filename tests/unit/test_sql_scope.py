"""The checker behind the SQL scope check (tests/support/sql_scope.py): statements that
concern one user pass, statements that could reach other users' rows are caught, on the
SQL text of each database."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.support import sql_scope
from tests.support.sql_text import normalise, prepared

ROOT = Path(__file__).resolve().parents[2]


def verdict(sql: str, dialect: str = "postgresql") -> sql_scope.Verdict:
    return sql_scope.judge(normalise(sql, dialect), dialect)


GOOD = [
    # the shapes ankiserv sends, in each database's text
    ("sqlite", "SELECT notes.id, notes.usn FROM notes WHERE notes.user_id = ? AND notes.usn >= ?"
               " ORDER BY notes.id"),
    ("mysql", "SELECT config.`key` FROM config WHERE config.user_id = %s AND config.`key` ="
              " 'it\\'s' FOR UPDATE"),
    ("postgresql", "SELECT cards.id FROM cards WHERE cards.user_id = %(user_id_1)s AND"
                   " cards.id = ANY (%(ids)s)"),
    ("postgresql", "SELECT notes.id FROM notes WHERE notes.user_id = 42"),  # literal binds
    ("postgresql", "SELECT notes.id FROM notes WHERE (notes.user_id = $1)"),
    ("postgresql", "SELECT notes.id FROM notes WHERE notes.user_id = CAST($1 AS BIGINT)"),
    # joins on user_id to a pinned table, here or in the enclosing query
    ("sqlite", "SELECT s.kind FROM sync_staging AS s LEFT OUTER JOIN revlog AS live ON"
               " s.kind = 1 AND live.user_id = s.user_id AND live.id = s.oid"
               " WHERE s.user_id = ? AND (s.kind, s.okey) > (?, ?) LIMIT ?"),
    ("postgresql", "SELECT * FROM users LEFT OUTER JOIN collections ON collections.user_id ="
                   " users.user_id WHERE users.user_id = $1"),
    ("postgresql", "SELECT collections.usn, (SELECT count(*) FROM cards WHERE cards.user_id ="
                   " collections.user_id) FROM collections WHERE collections.user_id = $1"),
    ("sqlite", "SELECT count(*) FROM sync_staging WHERE sync_staging.user_id = ? AND NOT"
               " (EXISTS (SELECT * FROM notes WHERE notes.user_id = ? AND notes.id ="
               " sync_staging.oid))"),
    ("sqlite", "SELECT 1 AS part FROM notetypes WHERE notetypes.user_id = ? UNION ALL SELECT 3"
               " FROM tags WHERE tags.user_id = ?"),
    ("postgresql", "SELECT count(*) FROM (SELECT id FROM notes WHERE notes.user_id = 1) AS a"),
    # writes
    ("sqlite", "INSERT INTO notes (user_id, id) VALUES (?, ?) ON CONFLICT (user_id, id) DO"
               " UPDATE SET id = excluded.id"),
    ("mysql", "INSERT INTO sync_sessions (user_id, a) VALUES (%s, %s) ON DUPLICATE KEY UPDATE"
              " a = VALUES(a)"),
    ("mysql", "INSERT INTO media_files (user_id, fname) VALUES (%s, %s), (%s, %s), (%s, %s)"),
    ("sqlite", "INSERT INTO tags VALUES (?, ?, ?, ?)"),  # no column list: the table's order
    ("postgresql", "PREPARE ankiserv_s7 AS INSERT INTO graves (user_id, kind, oid) SELECT"
                   " CAST($1 AS BIGINT), kind, oid FROM unnest(CAST($2::BIGINT[] AS"
                   " BIGINT[]), CAST($3::BIGINT[] AS BIGINT[])) AS src(kind, oid) ON CONFLICT"
                   " (user_id, kind, oid) DO UPDATE SET usn = EXCLUDED.usn"),
    ("postgresql", "INSERT INTO notes (user_id, id) SELECT s.user_id, s.oid FROM sync_staging"
                   " AS s WHERE s.user_id = $1"),
    ("sqlite", 'INSERT INTO main."notes" ("user_id", "id") SELECT ?, id FROM'
               " ankiserv_upload.notes"),  # an upload's rows, from the attached file
    ("postgresql", "COPY notes (user_id, id, guid) FROM STDIN"),
    ("mysql", "UPDATE collections SET usn=%s, n_notes=(collections.n_notes + %s) WHERE"
              " collections.user_id = %s"),
    ("mysql", "UPDATE collections JOIN notes ON notes.user_id = collections.user_id SET"
              " collections.usn = 1 WHERE collections.user_id = %s"),
    ("postgresql", "DELETE FROM tags WHERE tags.user_id = $1 AND tags.tag IN ($2, $3, $4)"),
    # the writes waiting in a PostgreSQL transaction, sent as one statement at commit
    ("postgresql", "BEGIN ISOLATION LEVEL READ COMMITTED; PREPARE ankiserv_c3 AS WITH w0 AS"
                   " (UPDATE collections SET usn = $1 WHERE collections.user_id = $2), w1 AS"
                   " (DELETE FROM sync_staging WHERE sync_staging.user_id = $3) DELETE FROM"
                   " sync_sessions WHERE sync_sessions.user_id = $4; COMMIT"),
    ("postgresql", "WITH notes AS (SELECT * FROM cards WHERE cards.user_id = 1) SELECT * FROM"
                   " notes"),  # a CTE named like a table is not the table
    # not concerned: shared tables, another schema, transaction control, no table at all
    ("postgresql", "SELECT users.user_id FROM users WHERE users.name = 'notes'"),
    ("postgresql", "DELETE FROM login_failures WHERE login_failures.key_hash = $1"),
    ("postgresql", "SELECT imported_host_keys.user_id FROM imported_host_keys WHERE"
                   " imported_host_keys.key_hash = $1"),
    ("sqlite", "SELECT count(*) FROM ankiserv_upload.notes"),
    ("postgresql", "BEGIN ISOLATION LEVEL READ COMMITTED; SET LOCAL synchronous_commit TO OFF"),
    ("mysql", "SELECT @@max_allowed_packet"),
    ("postgresql", "CREATE TABLE scratch (a int)"),
]


BAD = [
    # no user_id at all, or not an equality on one value
    ("postgresql", "SELECT count(*) FROM notes", "notes"),
    ("sqlite", "SELECT count(*) FROM notes WHERE notes.usn > ?", "notes"),
    ("postgresql", "SELECT count(*) FROM notes WHERE notes.user_id IN (1, 2)", "notes"),
    ("postgresql", "SELECT count(*) FROM notes WHERE notes.user_id IN ($1)", "notes"),
    ("postgresql", "SELECT count(*) FROM notes WHERE notes.user_id = ANY ($1)", "notes"),
    ("postgresql", "SELECT count(*) FROM notes WHERE notes.user_id = $1 OR notes.id = $2",
     "notes"),
    ("postgresql", "SELECT count(*) FROM notes WHERE NOT notes.user_id = $1", "notes"),
    ("postgresql", "SELECT count(*) FROM notes WHERE notes.user_id > $1", "notes"),
    ("postgresql", "SELECT count(*) FROM notes WHERE notes.user_id = notes.usn", "notes"),
    ("postgresql", "SELECT count(*) FROM notes WHERE notes.user_id IS NULL", "notes"),
    # a join not on user_id, or to a table that is not pinned
    ("postgresql", "SELECT n.id FROM notes AS n JOIN cards AS c ON c.nid = n.id WHERE"
                   " n.user_id = $1", "cards"),
    ("postgresql", "SELECT * FROM users LEFT OUTER JOIN collections ON collections.user_id ="
                   " users.user_id", "collections"),
    ("postgresql", "SELECT * FROM notes, cards WHERE notes.user_id = $1", "cards"),
    # subqueries, unions and CTEs are each checked
    ("postgresql", "DELETE FROM notes WHERE notes.user_id = $1 AND notes.id IN (SELECT"
                   " cards.nid FROM cards)", "cards"),
    ("sqlite", "SELECT EXISTS (SELECT * FROM revlog WHERE revlog.user_id = ?), EXISTS (SELECT"
               " * FROM cards WHERE cards.usn >= ?)", "cards"),
    ("sqlite", "SELECT notes.id FROM notes WHERE notes.user_id = ? UNION ALL SELECT cards.id"
               " FROM cards", "cards"),
    ("postgresql", "WITH x AS (SELECT * FROM notes) SELECT * FROM x", "notes"),
    ("postgresql", "SELECT count(*) FROM (SELECT id, user_id FROM notes) AS a WHERE"
                   " a.user_id = $1", "notes"),
    ("postgresql", "UPDATE collections SET graves_usn = (SELECT max(g.usn) FROM graves AS g"
                   " WHERE g.user_id = collections.user_id)", "collections"),
    # writes
    ("mysql", "UPDATE collections SET scm=%s", "collections"),
    ("mysql", "UPDATE collections JOIN notes ON notes.id = collections.usn SET"
              " collections.usn = 1 WHERE collections.user_id = %s", "notes"),
    ("sqlite", "DELETE FROM sync_staging", "sync_staging"),
    ("postgresql", "UPDATE notes SET user_id = $1 WHERE notes.user_id = $2", "notes"),
    ("sqlite", "INSERT INTO notes (id, guid) VALUES (?, ?)", "notes"),
    ("sqlite", "INSERT INTO notes (id, user_id) VALUES (?, ?), (?, notes.id)", "notes"),
    ("postgresql", "INSERT INTO notes (user_id, id) SELECT s.user_id, s.oid FROM sync_staging"
                   " AS s", "notes"),
    ("postgresql", "COPY notes (id, guid) FROM STDIN", "notes"),
    ("postgresql", "PREPARE ankiserv_s9 AS WITH w0 AS (DELETE FROM graves) UPDATE collections"
                   " SET usn = $1 WHERE collections.user_id = $2", "graves"),
    # schema statements on a per-user table span every user
    ("postgresql", "CREATE INDEX ix_x ON notes (user_id, usn)", "notes"),
    ("sqlite", "TRUNCATE notes", "notes"),
    ("mysql", "ALTER TABLE cards ADD COLUMN x INTEGER", "cards"),
]


@pytest.mark.parametrize(("dialect", "sql"), GOOD)
def test_statements_scoped_to_one_user_pass(dialect: str, sql: str) -> None:
    found = verdict(sql, dialect)
    assert found.ok, found.problems


@pytest.mark.parametrize(("dialect", "sql", "table"), BAD)
def test_statements_that_may_reach_other_users_are_caught(
    dialect: str, sql: str, table: str
) -> None:
    found = verdict(sql, dialect)
    assert not found.ok
    assert table in found.unpinned, found


def test_values_and_lists_of_them_are_normalised_alike() -> None:
    one = normalise("SELECT a FROM t WHERE t.user_id = 5 AND t.id IN (1, 2, 3) AND"
                    " t.name = 'it''s; x'", "postgresql")
    other = normalise("SELECT a FROM t WHERE t.user_id = $1 AND t.id IN ($2)  AND\n"
                      " t.name = %(name)s", "postgresql")
    assert one == other == "SELECT a FROM t WHERE t.user_id = ? AND t.id IN (?) AND t.name = ?"
    # MySQL's strings take backslash escapes; identifiers and names with digits stay.
    assert normalise("SELECT `x1`, anon_1.n_2 FROM t WHERE t.a = 'a\\'b;' AND t.b = -3",
                     "mysql") == "SELECT `x1`, anon_1.n_2 FROM t WHERE t.a = ? AND t.b = ?"
    # A batch of rows is one row: its user_id is judged the same.
    assert normalise("INSERT INTO t (a, b) VALUES (?, ?), (?, ?), (?, ?)", "sqlite") == (
        "INSERT INTO t (a, b) VALUES (?, ?)")
    assert prepared("PREPARE ankiserv_s1 AS SELECT ?") == ("ankiserv_s1", "SELECT ?")


def test_every_table_but_the_shared_ones_is_per_user() -> None:
    assert "users" not in sql_scope.PER_USER_TABLES
    assert {"notes", "cards", "revlog", "collections", "host_keys", "media_files",
            "sync_staging"} <= sql_scope.PER_USER_TABLES


@pytest.mark.parametrize("entry", sql_scope.ALLOWED, ids=lambda e: e.function)
def test_each_allowed_entry_names_a_function_that_exists(entry: sql_scope.Allowed) -> None:
    """An entry whose function was renamed or removed would allow nothing, silently."""
    path, qualname = entry.function.split(":")
    tree = ast.parse((ROOT / path).read_text())
    names: set[str] = set()

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(prefix + child.name)
                visit(child, prefix + child.name + ".")

    visit(tree, "")
    assert qualname in names
    assert entry.reason and entry.kinds <= sql_scope.KINDS
    assert entry.tables <= sql_scope.PER_USER_TABLES


def test_allowed_matches_only_under_its_function_kinds_and_tables() -> None:
    usage = "adapters/sql/user_store.py:SqlUserStore.usage"
    under = ("adapters/sql/transaction.py:_Driver.run", usage, "entrypoints/cli.py:main")
    assert sql_scope.allowed("select", frozenset({"notes"}), under) is not None
    assert sql_scope.allowed("select", frozenset({"notes"}), under[:1]) is None
    assert sql_scope.allowed("delete", frozenset({"notes"}), under) is None
    assert sql_scope.allowed("select", frozenset({"notes", "cards"}), under) is None
