"""Full `upload` and `download` with collection files written by `anki` 26.9.3 (§4)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from adapters.ankifile.writer import write_collection
from domain.model import UserId
from tests.http.anki_files import (
    CollectionFile,
    altered,
    copy_to,
    describe,
    note_count_in_anki,
    read_col,
    read_rows,
    visible_objects,
)
from tests.http.conftest import AnkiFiles
from tests.http.harness import Account, Api, start_api
from tests.http.wire import SYNC_HEADER, decode, frame, header_value
from tests.support.collection_file import file_content

SQLITE_MAGIC = b"SQLite format 3\x00"


def _file(anki_files: AnkiFiles, which: str) -> CollectionFile:
    collection: CollectionFile = getattr(anki_files, which)
    return collection


@pytest.mark.parametrize("which", ["alpha18", "alpha11"], ids=["schema18-wal", "schema11"])
def test_upload_then_download_returns_the_collection_as_uploaded(
    backend_api: Api, anki_files: AnkiFiles, tmp_path: Path, which: str
) -> None:
    """Until it changes, the collection goes back as the file that came in (the official
    server too sends its stored schema-18 file to clients of sync version 11)."""
    uploaded = _file(anki_files, which)
    client = backend_api.client
    account = backend_api.new_account()

    assert client.upload(account.key, uploaded.data).text() == "OK"
    meta = client.meta(account.key).json()
    reply = client.download(account.key)

    assert reply.payload.startswith(SQLITE_MAGIC)
    path = tmp_path / "downloaded.anki2"
    path.write_bytes(reply.payload)
    assert read_col(path) == (uploaded.schema, meta["usn"], meta["mod"], meta["scm"])
    assert read_col(path)[1:] == uploaded.col[1:]  # usn, mod, scm kept exactly as uploaded
    assert read_rows(path) == uploaded.rows
    assert note_count_in_anki(path) == uploaded.note_count


# Our writes to a copy would fire a file's triggers, and renaming its graves table checks
# its views: such files have their rows copied into a file of our own schema instead.
_HOSTILE = {
    "trigger": "CREATE TRIGGER wipe AFTER INSERT ON notes BEGIN DELETE FROM cards; END",
    "view": "CREATE VIEW stale AS SELECT oid FROM graves",
}


@pytest.mark.parametrize("base", ["alpha18", "alpha11", "built", "alpha11:trigger",
                                  "alpha18:view"])
def test_a_download_after_the_collection_changed_holds_the_change(
    backend_api: Api, anki_files: AnkiFiles, tmp_path: Path, base: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A kept file is sent only while the collection is at its version; once anything
    writes the collection, the next download is the kept file brought up to date (a
    schema-11 file), exactly what a download built from every row holds."""
    client = backend_api.client
    account = backend_api.new_account()
    which, _, hostile = base.partition(":")
    uploaded = _file(anki_files, "alpha18" if which == "built" else which)
    data = uploaded.data if not hostile else altered(
        uploaded.data, tmp_path / "hostile.anki2", lambda con: con.execute(_HOSTILE[hostile]))
    assert client.upload(account.key, data).text() == "OK"
    if base == "built":  # the next download builds and keeps a file: then change again
        client.download(account.key)
    gone = uploaded.rows["notes"][0][0]
    added = _add_note_through_the_api(backend_api, account)
    _delete_note_through_the_api(backend_api, account, gone)
    path = tmp_path / "after.anki2"
    with caplog.at_level("WARNING", logger="ankiserv.sync"):
        path.write_bytes(client.download(account.key).payload)
    assert not caplog.records, "the kept file was not used"
    assert read_col(path)[0] == 11
    notes = {row[0] for row in read_rows(path)["notes"]}
    assert added in notes and gone not in notes
    assert file_content(path) == _fresh_download(backend_api, account, tmp_path)
    with sqlite3.connect(path) as con:
        assert not con.execute("SELECT name FROM sqlite_master WHERE type IN"
                               " ('trigger', 'view')").fetchall()
    again = tmp_path / "again.anki2"
    again.write_bytes(client.download(account.key).payload)  # now kept: the same file
    assert again.read_bytes() == path.read_bytes()
    assert note_count_in_anki(path) == uploaded.note_count  # one added, one deleted


def _fresh_download(api: Api, account: Account, tmp_path: Path) -> dict[str, Any]:
    """What a download built from every stored row holds."""
    fresh = tmp_path / "fresh.anki2"
    with api.services.uow(write=False) as uow:
        write_collection(uow.collections.export(UserId(account.id)), fresh)
    return file_content(fresh)


def test_without_the_download_cache_every_download_is_built(
    anki_files: AnkiFiles, tmp_path: Path
) -> None:
    api = start_api(tmp_path / "data", download_cache=False)
    try:
        account = api.new_account()
        assert api.client.upload(account.key, anki_files.alpha18.data).text() == "OK"
        for i in range(2):
            path = tmp_path / f"down{i}.anki2"
            path.write_bytes(api.client.download(account.key).payload)
            assert read_col(path)[0] == 11
            assert read_rows(path) == anki_files.alpha18.rows
        assert not (tmp_path / "data" / "downloads").exists()
    finally:
        api.close()


def _api_auth(api: Api, account: Account) -> dict[str, str]:
    token = api.client.http.simulate_post("/api/v1/token", json={
        "username": account.name, "password": account.password}).json["token"]
    return {"Authorization": f"Bearer {token}"}


def _delete_note_through_the_api(api: Api, account: Account, nid: int) -> None:
    deleted = api.client.http.simulate_delete(f"/api/v1/notes/{nid}",
                                              headers=_api_auth(api, account))
    assert deleted.status_code in (200, 204), deleted.text


def _add_note_through_the_api(api: Api, account: Account) -> int:
    http = api.client.http
    auth = _api_auth(api, account)
    notetypes = http.simulate_get("/api/v1/notetypes", headers=auth).json["items"]
    basic = next(nt["id"] for nt in notetypes if nt["name"] == "Basic")
    added = http.simulate_post("/api/v1/notes", headers=auth, json={"notes": [
        {"notetype_id": basic, "fields": {"Front": "added", "Back": "x"}}]})
    assert added.status_code == 201, added.text
    return int(added.json["ids"][0])


def test_downloaded_file_uses_a_rollback_journal_not_wal(
    sqlite_api: Api, anki_files: AnkiFiles
) -> None:
    # Legacy clients cannot open a WAL-mode file; bytes 18-19 must be 1, 1.
    account = sqlite_api.new_account()
    assert sqlite_api.client.upload(account.key, anki_files.alpha18.data).text() == "OK"
    data = sqlite_api.client.download(account.key).payload
    assert data[18:20] == b"\x01\x01"


def test_upload_accepts_a_frame_with_content_size_and_chunked_framing(
    sqlite_api: Api, anki_files: AnkiFiles, tmp_path: Path
) -> None:
    account = sqlite_api.new_account()
    for content_size, chunked in ((True, False), (False, True), (True, True)):
        reply = sqlite_api.client.upload(account.key, anki_files.beta18.data,
                                         content_size=content_size, chunked=chunked)
        assert reply.text() == "OK", (content_size, chunked)
    path = tmp_path / "downloaded.anki2"
    path.write_bytes(sqlite_api.client.download(account.key).payload)
    assert read_rows(path) == anki_files.beta18.rows


def test_second_upload_replaces_the_whole_first_collection(
    backend_api: Api, anki_files: AnkiFiles, tmp_path: Path
) -> None:
    client = backend_api.client
    account = backend_api.new_account()
    assert client.upload(account.key, anki_files.alpha18.data).text() == "OK"
    assert client.upload(account.key, anki_files.beta18.data).text() == "OK"
    path = tmp_path / "downloaded.anki2"
    path.write_bytes(client.download(account.key).payload)
    assert read_rows(path) == anki_files.beta18.rows  # no alpha rows left behind
    assert read_col(path)[1:] == anki_files.beta18.col[1:]
    assert note_count_in_anki(path) == anki_files.beta18.note_count


def test_download_of_a_never_uploaded_account_opens_in_anki(
    backend_api: Api, tmp_path: Path
) -> None:
    client = backend_api.client
    account = backend_api.new_account()
    reply = client.download(account.key)
    path = tmp_path / "new.anki2"
    path.write_bytes(reply.payload)
    meta = client.meta(account.key).json()
    assert read_col(path) == (11, meta["usn"], meta["mod"], meta["scm"])
    assert read_rows(path) == {"notes": [], "cards": [], "revlog": []}
    assert note_count_in_anki(path) == 0


def test_download_before_any_meta_call_creates_the_new_collection(
    sqlite_api: Api, tmp_path: Path
) -> None:
    # A first-ever request may be `download` (desktop "download from AnkiWeb").
    account = sqlite_api.new_account()
    path = tmp_path / "new.anki2"
    path.write_bytes(sqlite_api.client.download(account.key).payload)
    assert note_count_in_anki(path) == 0
    assert sqlite_api.client.meta(account.key).json()["empty"] is True


def test_download_accepts_legacy_empty_object_and_empty_payload(
    sqlite_api: Api, anki_files: AnkiFiles
) -> None:
    # NOTE: v11 clients send {"_pad":null}; legacy-shaped callers send {} or nothing.
    account = sqlite_api.new_account()
    assert sqlite_api.client.upload(account.key, anki_files.beta18.data).text() == "OK"
    expected = sqlite_api.client.download(account.key).payload
    for payload in (b"{}", b""):
        reply = sqlite_api.client.post("download", payload, key=account.key)
        assert reply.payload == expected


def test_upload_answer_is_the_bare_text_ok(sqlite_api: Api, anki_files: AnkiFiles) -> None:
    account = sqlite_api.new_account()
    result = sqlite_api.client.post_raw(
        "upload", frame(anki_files.beta18.data), headers={SYNC_HEADER: header_value(account.key)}
    )
    assert decode(result).payload == b"OK"


def test_downloaded_collection_shows_the_same_decks_note_types_and_notes_in_anki(
    backend_api: Api, anki_files: AnkiFiles, tmp_path: Path
) -> None:
    client = backend_api.client
    account = backend_api.new_account()
    assert client.upload(account.key, anki_files.alpha18.data).text() == "OK"
    downloaded = tmp_path / "downloaded" / "collection.anki2"
    downloaded.parent.mkdir()
    downloaded.write_bytes(client.download(account.key).payload)
    original = tmp_path / "original" / "collection.anki2"
    original.parent.mkdir()
    original.write_bytes(anki_files.alpha18.data)
    assert visible_objects(downloaded) == visible_objects(original)


def test_note_text_with_control_characters_round_trips_exactly(
    backend_api: Api, backend: str, anki_files: AnkiFiles, tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    def change(con: sqlite3.Connection) -> None:
        con.execute("UPDATE notes SET flds = ?, tags = ? WHERE id = (SELECT min(id) FROM notes)",
                    ("nul\x00inside\x1fbell\x07 tab\t", " odd\x00tag "))

    data = altered(anki_files.alpha18.data, tmp_path / "control.anki2", change)
    expected = describe(copy_to(data, tmp_path / "expected" / "collection.anki2")).rows
    account = backend_api.new_account()
    assert backend_api.client.upload(account.key, data).text() == "OK"
    path = tmp_path / "downloaded.anki2"
    path.write_bytes(backend_api.client.download(account.key).payload)
    assert read_rows(path) == expected


def test_a_note_bigger_than_the_database_takes_is_refused_with_a_message(
    db_url: str, backend: str, tmp_path: Path
) -> None:
    """MariaDB takes at most `max_allowed_packet` (16 MB by default) in one statement: a
    bigger note is refused up front with a message, not a lost connection half-way."""
    import dataclasses

    from tests.contract.contents import rich_contents

    base = rich_contents("huge", 3)
    huge = base.note_list[0]._replace(flds="z" * (17 * 1024 * 1024) + "\x1fback")
    path = tmp_path / "huge.anki2"
    write_collection(dataclasses.replace(base, note_list=(huge, *base.note_list[1:])), path)
    api = start_api(tmp_path / "data", db_url, max_payload_mb=64)
    try:
        account = api.new_account()
        answer = api.client.upload(account.key, path.read_bytes())
        meta = api.client.meta(account.key).json()
    finally:
        api.close()
    if backend == "mysql":
        assert "more than this server's database accepts in one piece" in answer.text()
        assert meta["empty"]  # nothing was stored
    else:
        assert answer.text() == "OK"
        assert not meta["empty"]
