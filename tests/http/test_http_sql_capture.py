"""The SQL scope check itself (tests/support/sql_capture.py), on every backend: it sees
statements on every path to the database, catches one that ankiserv sends for more than
one user, lets through what ALLOWED lists only where it is listed, and hears from server
processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import Engine, func, select

from adapters.sql import backup, dialects, tables
from adapters.sql.statements import Statement
from adapters.sql.transaction import PREPARED_TEXT
from adapters.sql.user_store import SqlUserStore
from tests.http.conftest import AnkiFiles
from tests.http.harness import start_api
from tests.support import sql_capture
from tests.support.server import ANKISERV

# What a careless hot-path statement would look like: every user's notes.
EVERY_USERS_NOTES = Statement(lambda _d: select(func.count()).select_from(tables.notes),
                              tables=["notes"])
ONE_USERS_NOTES = Statement(lambda _d: select(func.count()).select_from(tables.notes)
                            .where(tables.notes.c.user_id == 1), tables=["notes"])


def _fetch(engine: Engine, stmt: Statement) -> None:
    """Run `stmt` as the stores do: on the driver's cursor, in a unit of work's
    transaction (prepared, then EXECUTEd, on PostgreSQL)."""
    with engine.connect() as conn:
        tx, _ = dialects.open_transaction(conn, write=False)
        try:
            tx.fetch(stmt, {})
            tx.fetch(stmt, {})
        finally:
            tx.close()


def test_a_statement_for_every_user_on_the_hot_path_is_caught(engine: Engine) -> None:
    with sql_capture.collecting() as (found, _):
        _fetch(engine, ONE_USERS_NOTES)
    assert found == []

    with sql_capture.collecting() as (found, _):
        _fetch(engine, EVERY_USERS_NOTES)
    assert len(found) == 1, found  # once, though run twice
    finding = found[0]
    assert finding.unpinned == {"notes"}
    assert "FROM notes" in finding.sql
    assert finding.origin[0].startswith("adapters/sql/transaction.py:")
    assert "tests/http/test_http_sql_capture.py:_fetch" in finding.origin
    if engine.dialect.name == "postgresql":
        assert EVERY_USERS_NOTES.name in PREPARED_TEXT  # judged by its PREPARE


def test_what_allowed_lists_passes_only_under_its_function(engine: Engine) -> None:
    """The totals of `user list --details` span users on purpose; backup's read of a
    whole table is allowed under `dump`, not when something else runs it."""
    with sql_capture.collecting() as (found, _), engine.connect() as conn:
        tx, _level = dialects.open_transaction(conn, write=False)
        try:
            SqlUserStore(conn, tx).usage()
        finally:
            tx.close()
    assert found == []

    with sql_capture.collecting() as (found, _), engine.connect() as conn:
        for _row in backup._rows(conn, tables.revlog):
            break
    assert [f.unpinned for f in found] == [{"revlog"}]
    assert found[0].origin[0] == "adapters/sql/backup.py:_rows"


def test_statements_sent_by_a_test_itself_are_not_ankiservs(engine: Engine) -> None:
    with sql_capture.collecting() as (found, _), engine.connect() as conn:
        conn.execute(select(func.count()).select_from(tables.cards)).scalar()
    assert found == []


def test_every_path_to_the_database_is_seen(
    db_url: str, backend: str, anki_files: AnkiFiles, tmp_path: Path
) -> None:
    """A full upload (COPY on PostgreSQL, INSERT ... SELECT from the attached file on
    SQLite), a download built from every row (the driver's streaming cursor) and a sync
    step (prepared statements on PostgreSQL) all reach the capture."""
    api = start_api(tmp_path, db_url, download_cache=False)
    try:
        account = api.new_account()
        with sql_capture.collecting(everything=True) as (found, seen):
            assert api.client.upload(account.key, anki_files.alpha18.data).text() == "OK"
            assert api.client.download(account.key).payload
            api.client.meta(account.key).json()
    finally:
        api.close()
    assert found == []
    texts = [sql for _, sql in seen]
    streamed = f"WHERE notes.user_id = {account.id}"  # values written in, not bound
    assert any("FROM notes" in t and streamed in t for t in texts), texts
    if backend == "postgres":
        assert any(t.startswith("COPY notes (") for t in texts)
        assert any(t.startswith("PREPARE ankiserv_") for t in texts)
        assert any("EXECUTE ankiserv_" in t for t in texts)
    if backend == "sqlite":
        assert any(t.startswith("INSERT INTO main.") and "ankiserv_upload.notes" in t
                   for t in texts)


def test_a_server_process_reports_to_the_session(db_url: str, tmp_path: Path) -> None:
    """`user list --details` run as tests run servers: the process says it started and
    hands over what the session did not know was good, with its call path; the session
    judges it (here: the totals that ALLOWED lets span users)."""
    folder = tmp_path / "capture"
    folder.mkdir()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("ANKISERV_")},
           sql_capture.ENV: str(folder), "ANKISERV_DATABASE_URL": db_url,
           "ANKISERV_DATA_DIR": str(tmp_path / "data"),
           "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    done = subprocess.run([*ANKISERV, "user", "list", "--details"], env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert ANKISERV[:3] == [sys.executable, "-m", "tests.support.run_ankiserv"]

    lines = (folder / sql_capture.FINDINGS).read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert "started" in records[0]
    assert {r["kind"] for r in records[1:]} == {"unjudged"}  # no known.txt: nothing known
    usage = "adapters/sql/user_store.py:SqlUserStore.usage"
    assert any(usage in r["origin"] and "GROUP BY" in r["sql"] for r in records[1:])

    session = sql_capture.Session(folder)
    session.read_servers()
    assert (session.servers, session.findings) == (1, [])
    assert session.server_allowed[usage] >= 4  # notes, media_files, host_keys, users+col

    # Told what is good, a server hands over only the rest.
    (folder / sql_capture.FINDINGS).unlink()
    (folder / sql_capture.KNOWN).write_text("\n".join(session.capture.good))
    done = subprocess.run([*ANKISERV, "user", "list", "--details"], env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    again = [json.loads(line) for line in
             (folder / sql_capture.FINDINGS).read_text().splitlines()[1:]]
    assert again and all(usage in r["origin"] for r in again)
