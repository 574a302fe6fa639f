"""`sync/meta`: what the server holds, and whether this client may sync it (§3.4)."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest

from tests.http.anki_files import altered
from tests.http.conftest import AnkiFiles
from tests.http.harness import Account, Api

# Every key a current client deserialises; a missing one fails the whole sync.
META_TYPES: dict[str, type] = {
    "mod": int, "scm": int, "usn": int, "ts": int, "msg": str, "cont": bool, "hostNum": int,
    "empty": bool, "media_usn": int,
}
V2_SCHEDULER_MSG = "Your client does not support the v2 scheduler"
V2_TIMEZONE_MSG = "Your client does not support the new timezone handling."


def test_meta_has_every_field_current_clients_need_with_the_right_types(
    sqlite_api: Api, account: Account
) -> None:
    body = sqlite_api.client.meta(account.key).json()
    assert set(META_TYPES) <= set(body)
    for key, kind in META_TYPES.items():
        value = body[key]
        # bool is an int in Python, but not in the client's JSON decoder.
        assert type(value) is kind, (key, value)
    assert body["hostNum"] == 0


def test_meta_ts_is_the_server_time_in_seconds(sqlite_api: Api, account: Account) -> None:
    before = time.time()
    ts = sqlite_api.client.meta(account.key).json()["ts"]
    after = time.time()
    assert before - 2 <= ts <= after + 2


def test_new_account_reports_an_empty_never_modified_collection(
    sqlite_api: Api, account: Account
) -> None:
    body = sqlite_api.client.meta(account.key).json()
    assert (body["mod"], body["usn"], body["empty"], body["media_usn"]) == (0, 0, True, 0)
    assert (body["cont"], body["msg"]) == (True, "")
    now_ms = time.time() * 1000
    assert now_ms - 60_000 < body["scm"] <= now_ms + 1000  # ms, around account creation


def test_meta_is_stable_between_calls(sqlite_api: Api, account: Account) -> None:
    first = sqlite_api.client.meta(account.key).json()
    second = sqlite_api.client.meta(account.key).json()
    for key in ("mod", "scm", "usn", "empty"):
        assert first[key] == second[key], key


@pytest.mark.parametrize("version", [7, 12, 0, 100])
def test_meta_json_version_outside_8_to_11_is_client_too_old_501(
    sqlite_api: Api, account: Account, version: int
) -> None:
    assert sqlite_api.client.meta(account.key, v=version).status == 501


@pytest.mark.parametrize("version", [8, 9, 10, 11])
def test_meta_json_versions_8_to_11_are_answered(
    sqlite_api: Api, account: Account, version: int
) -> None:
    assert sqlite_api.client.meta(account.key, v=version).status == 200


def _with_config(data: bytes, scratch: Path, changes: dict[str, object | None]) -> bytes:
    """A schema-18 file with config keys set (JSON values) or removed (None)."""
    def change(con: sqlite3.Connection) -> None:
        for key, value in changes.items():
            if value is None:
                con.execute("DELETE FROM config WHERE KEY = ?", (key,))
            else:
                con.execute(
                    "UPDATE config SET val = ? WHERE KEY = ?", (json.dumps(value).encode(), key)
                )
                assert con.execute("SELECT changes()").fetchone()[0] == 1, key
    return altered(data, scratch, change)


def _uploaded(api: Api, data: bytes) -> Account:
    account = api.new_account()
    assert api.client.upload(account.key, data).text() == "OK"
    return account


def test_v2_scheduler_collection_refuses_a_version_8_client(
    sqlite_api: Api, anki_files: AnkiFiles, tmp_path: Path
) -> None:
    data = _with_config(anki_files.alpha18.data, tmp_path / "c.anki2",
                        {"schedVer": 2, "creationOffset": None})
    account = _uploaded(sqlite_api, data)
    refused = sqlite_api.client.meta(account.key, v=8).json()
    assert (refused["cont"], refused["msg"]) == (False, V2_SCHEDULER_MSG)
    allowed = sqlite_api.client.meta(account.key, v=9).json()
    assert (allowed["cont"], allowed["msg"]) == (True, "")


def test_v1_scheduler_collection_lets_a_version_8_client_sync(
    sqlite_api: Api, anki_files: AnkiFiles, tmp_path: Path
) -> None:
    data = _with_config(anki_files.alpha18.data, tmp_path / "c.anki2",
                        {"schedVer": 1, "creationOffset": None})
    account = _uploaded(sqlite_api, data)
    body = sqlite_api.client.meta(account.key, v=8).json()
    assert (body["cont"], body["msg"]) == (True, "")


def test_collection_with_creation_offset_refuses_a_version_9_client(
    sqlite_api: Api, anki_files: AnkiFiles, tmp_path: Path
) -> None:
    data = _with_config(anki_files.alpha18.data, tmp_path / "c.anki2", {"creationOffset": -120})
    account = _uploaded(sqlite_api, data)
    refused = sqlite_api.client.meta(account.key, v=9).json()
    assert (refused["cont"], refused["msg"]) == (False, V2_TIMEZONE_MSG)
    allowed = sqlite_api.client.meta(account.key, v=10).json()
    assert (allowed["cont"], allowed["msg"]) == (True, "")


def test_creation_offset_of_zero_still_counts_as_set(
    sqlite_api: Api, anki_files: AnkiFiles, tmp_path: Path
) -> None:
    # Anki writes creationOffset 0 for collections made in UTC; it is set, not absent.
    data = _with_config(anki_files.alpha18.data, tmp_path / "c.anki2", {"creationOffset": 0})
    account = _uploaded(sqlite_api, data)
    assert sqlite_api.client.meta(account.key, v=9).json()["cont"] is False


def test_schema_11_upload_keeps_the_scheduler_settings_meta_checks(
    sqlite_api: Api, anki_files: AnkiFiles
) -> None:
    # The real schema-11 file has schedVer 2 and creationOffset in col.conf.
    account = _uploaded(sqlite_api, anki_files.alpha11.data)
    assert sqlite_api.client.meta(account.key, v=8).json()["msg"] == V2_SCHEDULER_MSG
    assert sqlite_api.client.meta(account.key, v=9).json()["msg"] == V2_TIMEZONE_MSG
    assert sqlite_api.client.meta(account.key, v=10).json()["cont"] is True


def test_meta_after_upload_reports_the_uploaded_col_row(
    sqlite_api: Api, anki_files: AnkiFiles
) -> None:
    account = _uploaded(sqlite_api, anki_files.alpha18.data)
    body = sqlite_api.client.meta(account.key).json()
    _ver, usn, mod, scm = anki_files.alpha18.col
    assert (body["mod"], body["scm"], body["usn"], body["empty"]) == (mod, scm, usn, False)
