"""A full upload the server cannot trust is refused and the previous collection stays (§4.3).

The refusal is an HTTP 200 whose text the client shows verbatim; anything else (a 500,
or "OK" followed by a broken download) loses the user's data or confuses the client.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.http.anki_files import altered, integrity_ok, read_col, read_rows
from tests.http.conftest import AnkiFiles
from tests.http.harness import Api
from tests.http.wire import SYNC_HEADER, Reply, decode, header_value

CORRUPT = "Your upload was corrupt. Please use Check Database, or restore from backup."
PAGE = 4096


def upload_over_a_good_collection(
    api: Api, anki_files: AnkiFiles, tmp_path: Path, send: Callable[[str], Reply]
) -> Reply:
    """Upload alpha18, then call `send(key)`; check the download still is alpha18."""
    client = api.client
    account = api.new_account()
    assert client.upload(account.key, anki_files.alpha18.data).text() == "OK"
    before = client.meta(account.key).json()

    reply = send(account.key)

    after = client.meta(account.key).json()
    assert {k: after[k] for k in ("mod", "scm", "usn", "empty")} == {
        k: before[k] for k in ("mod", "scm", "usn", "empty")
    }
    path = tmp_path / "after-bad-upload.anki2"
    path.write_bytes(client.download(account.key).payload)
    assert read_rows(path) == anki_files.alpha18.rows
    assert read_col(path)[1:] == anki_files.alpha18.col[1:]
    return reply


def assert_refused_and_kept(
    api: Api, anki_files: AnkiFiles, tmp_path: Path, data: bytes
) -> None:
    reply = upload_over_a_good_collection(
        api, anki_files, tmp_path, lambda key: api.client.upload(key, data)
    )
    assert reply.text() == CORRUPT


def _damaged(anki_files: AnkiFiles, tmp_path: Path,
             change: Callable[[sqlite3.Connection], object], *, schema: int = 18) -> bytes:
    """A logically broken but physically sound copy: only the server's own checks catch it."""
    original = anki_files.alpha18 if schema == 18 else anki_files.alpha11
    data = altered(original.data, tmp_path / "damaged.anki2", change)
    assert integrity_ok(data, tmp_path / "check.anki2")
    return data


def _damaged11(anki_files: AnkiFiles, tmp_path: Path,
               change: Callable[[sqlite3.Connection], object]) -> bytes:
    return _damaged(anki_files, tmp_path, change, schema=11)


def test_random_bytes_upload_is_refused_as_corrupt_and_previous_kept(
    backend_api: Api, anki_files: AnkiFiles, tmp_path: Path
) -> None:
    assert_refused_and_kept(backend_api, anki_files, tmp_path, os.urandom(64 * 1024))


@pytest.mark.parametrize("keep", [0.5, 0.1], ids=["half", "tenth"])
def test_truncated_sqlite_file_is_refused_as_corrupt_and_previous_kept(
    backend_api: Api, anki_files: AnkiFiles, tmp_path: Path, keep: float
) -> None:
    data = anki_files.alpha18.data
    cut = int(len(data) * keep) // PAGE * PAGE  # whole pages: only the length is wrong
    assert_refused_and_kept(backend_api, anki_files, tmp_path, data[:cut])


def test_sqlite_header_alone_is_refused_as_corrupt_and_previous_kept(
    backend_api: Api, anki_files: AnkiFiles, tmp_path: Path
) -> None:
    assert_refused_and_kept(backend_api, anki_files, tmp_path, anki_files.alpha18.data[:100])


def test_sqlite_file_that_is_not_an_anki_collection_is_refused_and_previous_kept(
    backend_api: Api, anki_files: AnkiFiles, tmp_path: Path
) -> None:
    path = tmp_path / "other.sqlite"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE shopping (item text, qty integer)")
    con.execute("INSERT INTO shopping VALUES ('milk', 2)")
    con.commit()
    con.close()
    assert_refused_and_kept(backend_api, anki_files, tmp_path, path.read_bytes())


def test_anki_file_missing_the_cards_table_is_refused_and_previous_kept(
    backend_api: Api, anki_files: AnkiFiles, tmp_path: Path
) -> None:
    data = _damaged(anki_files, tmp_path, lambda con: con.execute("DROP TABLE cards"))
    assert_refused_and_kept(backend_api, anki_files, tmp_path, data)


@pytest.mark.parametrize("version", [12, 13, 99, 0])
def test_anki_file_with_an_unsupported_schema_version_is_refused_and_previous_kept(
    backend_api: Api, anki_files: AnkiFiles, tmp_path: Path, version: int
) -> None:
    data = _damaged(anki_files, tmp_path,
                    lambda con: con.execute("UPDATE col SET ver = ?", (version,)))
    assert_refused_and_kept(backend_api, anki_files, tmp_path, data)


def _btree_page_near_the_middle(data: bytes) -> int:
    pages = len(data) // PAGE
    btree = [n for n in range(1, pages) if data[n * PAGE] in (0x02, 0x05, 0x0A, 0x0D)]
    assert btree, "no b-tree page to damage"
    return min(btree, key=lambda n: abs(n - pages // 2))


def test_file_failing_the_integrity_check_is_refused_and_previous_kept(
    backend_api: Api, anki_files: AnkiFiles, tmp_path: Path
) -> None:
    data = bytearray(anki_files.alpha18.data)
    page = _btree_page_near_the_middle(bytes(data))
    # Keep the page type, scramble the cell count, pointers and cell content.
    data[page * PAGE + 1 : page * PAGE + PAGE] = os.urandom(PAGE - 1)
    damaged = bytes(data)
    assert not integrity_ok(damaged, tmp_path / "check.anki2")  # the damage is real
    assert_refused_and_kept(backend_api, anki_files, tmp_path, damaged)


@pytest.mark.parametrize("framed", [True, False], ids=["empty-zstd-frame", "no-body-at-all"])
def test_empty_upload_is_refused_as_corrupt_and_previous_kept(
    backend_api: Api, anki_files: AnkiFiles, tmp_path: Path, framed: bool
) -> None:
    def send(key: str) -> Reply:
        if framed:
            return backend_api.client.upload(key, b"")
        return decode(backend_api.client.post_raw(
            "upload", b"", headers={SYNC_HEADER: header_value(key)}))

    reply = upload_over_a_good_collection(backend_api, anki_files, tmp_path, send)
    assert reply.text() == CORRUPT


def _note_ids_as_text(con: sqlite3.Connection) -> None:
    """Rebuild `notes` without the rowid alias so `id` can hold text, then put text in it."""
    ddl = con.execute("SELECT sql FROM sqlite_master WHERE name = 'notes'").fetchone()[0]
    assert "id integer PRIMARY KEY" in ddl
    con.execute("ALTER TABLE notes RENAME TO notes_old")
    con.execute(ddl.replace("id integer PRIMARY KEY", "id integer NOT NULL"))
    con.execute("INSERT INTO notes SELECT * FROM notes_old")
    con.execute("DROP TABLE notes_old")
    con.execute("UPDATE notes SET id = 'not-a-number' WHERE id = (SELECT max(id) FROM notes)")
    assert con.execute("SELECT count(*) FROM notes WHERE typeof(id) = 'text'").fetchone() == (1,)


def test_note_with_text_in_its_integer_id_is_refused_and_previous_kept(
    backend_api: Api, anki_files: AnkiFiles, tmp_path: Path
) -> None:
    data = _damaged(anki_files, tmp_path, _note_ids_as_text)
    assert_refused_and_kept(backend_api, anki_files, tmp_path, data)


@pytest.mark.parametrize(
    ("table", "column", "value"),
    [
        pytest.param("notes", "mod", "yesterday", id="note-mod-text"),
        pytest.param("cards", "due", 1.5, id="card-due-fraction"),
        pytest.param("revlog", "ease", b"\x01", id="revlog-ease-blob"),
        pytest.param("notes", "flds", None, id="note-flds-null"),
    ],
)
def test_row_with_a_value_of_the_wrong_type_is_refused_and_previous_kept(
    backend_api: Api, anki_files: AnkiFiles, tmp_path: Path, table: str, column: str,
    value: object,
) -> None:
    def change(con: sqlite3.Connection) -> None:
        if value is None:  # NOT NULL columns need the table rebuilt; use the legacy trick
            con.execute("PRAGMA writable_schema = ON")
            con.execute("UPDATE sqlite_master SET sql = replace(sql, 'flds text NOT NULL',"
                        " 'flds text') WHERE name = 'notes'")
            con.execute("PRAGMA writable_schema = OFF")
            con.commit()
            con.execute("PRAGMA schema_version = 1000")
        con.execute(f"UPDATE {table} SET {column} = ? WHERE id = (SELECT max(id) FROM {table})",
                    (value,))

    data = _damaged(anki_files, tmp_path, change)
    assert_refused_and_kept(backend_api, anki_files, tmp_path, data)


def test_schema_11_file_whose_note_types_are_not_json_is_refused_and_previous_kept(
    backend_api: Api, anki_files: AnkiFiles, tmp_path: Path
) -> None:
    data = _damaged11(anki_files, tmp_path,
                      lambda con: con.execute("UPDATE col SET models = '{not json'"))
    assert_refused_and_kept(backend_api, anki_files, tmp_path, data)


def _duplicate_note_type(con: sqlite3.Connection) -> None:
    models = json.loads(con.execute("SELECT models FROM col").fetchone()[0])
    first = next(iter(models.values()))
    models["1"] = dict(first, name="copy with the same id")
    con.execute("UPDATE col SET models = ?", (json.dumps(models),))


def _int_beyond_64_bits_in_a_row(con: sqlite3.Connection) -> None:
    # A REAL that is a whole number, but larger than any SQL BIGINT.
    con.execute("UPDATE notes SET mod = 9.3e18 WHERE id = (SELECT max(id) FROM notes)")


def _int_beyond_64_bits_in_json(con: sqlite3.Connection) -> None:
    models = json.loads(con.execute("SELECT models FROM col").fetchone()[0])
    first = next(iter(models.values()))
    models["2"] = dict(first, id=2**70, name="huge id")
    con.execute("UPDATE col SET models = ?", (json.dumps(models),))


def _deeply_nested_config(con: sqlite3.Connection) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    con.execute("UPDATE col SET conf = ?", ('{"deep": ' + deep + "}",))


MALFORMED_SCHEMA_11 = {
    "duplicate-note-type-id": _duplicate_note_type,
    "integer-beyond-64-bits-in-a-row": _int_beyond_64_bits_in_a_row,
    "integer-beyond-64-bits-in-json": _int_beyond_64_bits_in_json,
    "deeply-nested-json": _deeply_nested_config,
}


def test_schema_11_file_with_two_note_types_sharing_an_id_is_refused_as_corrupt(
    backend_api: Api, anki_files: AnkiFiles, tmp_path: Path
) -> None:
    data = _damaged11(anki_files, tmp_path, _duplicate_note_type)
    assert_refused_and_kept(backend_api, anki_files, tmp_path, data)


def test_row_value_beyond_64_bits_is_refused_as_corrupt(
    backend_api: Api, anki_files: AnkiFiles, tmp_path: Path
) -> None:
    data = _damaged11(anki_files, tmp_path, _int_beyond_64_bits_in_a_row)
    assert_refused_and_kept(backend_api, anki_files, tmp_path, data)


def test_note_type_id_beyond_64_bits_is_refused_as_corrupt(
    backend_api: Api, anki_files: AnkiFiles, tmp_path: Path
) -> None:
    data = _damaged11(anki_files, tmp_path, _int_beyond_64_bits_in_json)
    assert_refused_and_kept(backend_api, anki_files, tmp_path, data)


def test_deeply_nested_json_in_col_conf_is_refused_as_corrupt(
    sqlite_api: Api, anki_files: AnkiFiles, tmp_path: Path
) -> None:
    data = _damaged11(anki_files, tmp_path, _deeply_nested_config)
    assert_refused_and_kept(sqlite_api, anki_files, tmp_path, data)


@pytest.mark.parametrize("damage", MALFORMED_SCHEMA_11.values(), ids=MALFORMED_SCHEMA_11.keys())
def test_upload_that_fails_inside_the_server_still_keeps_the_previous_collection(
    backend_api: Api, anki_files: AnkiFiles, tmp_path: Path,
    damage: Callable[[sqlite3.Connection], object],
) -> None:
    # Whatever the status, a failed replacement must roll back completely.
    data = _damaged11(anki_files, tmp_path, damage)
    reply = upload_over_a_good_collection(
        backend_api, anki_files, tmp_path, lambda key: backend_api.client.upload(key, data)
    )
    assert reply.status in (200, 500)
    if reply.status == 200:
        assert reply.text() == CORRUPT
