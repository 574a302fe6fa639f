"""Every endpoint except `hostKey` needs a valid host key, and only for its own user (§2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.http.anki_files import read_rows
from tests.http.conftest import AnkiFiles
from tests.http.harness import Account, Api
from tests.http.wire import Reply, SyncClient

UPLOAD_OK = "OK"


def call(client: SyncClient, endpoint: str, key: str) -> Reply:
    if endpoint == "meta":
        return client.meta(key)
    if endpoint == "download":
        return client.download(key)
    return client.upload(key, b"SQLite format 3\x00 not really")


ENDPOINTS = ["meta", "upload", "download"]


def bad_keys(account: Account, other: Account) -> dict[str, str]:
    user, _dot, secret = account.key.partition(".")
    wrong_secret = ("0" if secret[0] != "0" else "1") + secret[1:]
    return {
        "empty": "",
        "blank": "   ",
        "garbage": "not a host key",
        "no-secret": f"{user}.",
        "no-user": f".{secret}",
        "secret-only": secret,
        "other-users-id-wrong-secret": f"{other.id}.{wrong_secret}",
        "own-id-wrong-secret": f"{user}.{wrong_secret}",
        "other-users-id-own-secret": f"{other.id}.{secret}",
        "own-key-upper-case": account.key.upper(),
        "own-key-plus-char": account.key + "0",
        "own-key-minus-char": account.key[:-1],
        "leading-zero-id": f"0{account.key}",
        "negative-id": f"-{account.key}",
        "huge-id": f"{10**30}.{secret}",
        "fullwidth-digits": f"{''.join(chr(0xFF10 + int(d)) for d in user)}.{secret}",
        "very-long": "1." + "a" * 100_000,
    }


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_invalid_host_keys_are_refused_with_403(sqlite_api: Api, endpoint: str) -> None:
    account, other = sqlite_api.new_account(), sqlite_api.new_account()
    client = sqlite_api.client
    for label, key in bad_keys(account, other).items():
        assert call(client, endpoint, key).status == 403, label
    # The same requests with the real key get through.
    assert call(client, endpoint, account.key).status == 200


def test_a_user_only_ever_sees_their_own_collection(
    backend_api: Api, anki_files: AnkiFiles, tmp_path: Path
) -> None:
    client = backend_api.client
    alice, bob = backend_api.new_account(), backend_api.new_account()
    assert client.upload(alice.key, anki_files.alpha18.data).text() == UPLOAD_OK
    assert client.upload(bob.key, anki_files.beta18.data).text() == UPLOAD_OK

    for who, expected in ((alice, anki_files.alpha18), (bob, anki_files.beta18)):
        path = tmp_path / f"{who.name}.anki2"
        path.write_bytes(client.download(who.key).payload)
        assert read_rows(path)["notes"] == expected.rows["notes"]
        assert client.meta(who.key).json()["mod"] == expected.col[2]

    # Alice's secret under Bob's id is not Bob's key.
    forged = f"{bob.id}.{alice.key.partition('.')[2]}"
    assert client.download(forged).status == 403
    assert client.upload(forged, anki_files.alpha18.data).status == 403
    path = tmp_path / "bob-after.anki2"
    path.write_bytes(client.download(bob.key).payload)
    assert read_rows(path)["notes"] == anki_files.beta18.rows["notes"]


def test_changing_the_password_revokes_every_old_key(sqlite_api: Api) -> None:
    client = sqlite_api.client
    account = sqlite_api.new_account()
    second_key = client.login(account.name, account.password)
    sqlite_api.services.accounts.set_password(account.name, "a new password")
    assert client.meta(account.key).status == 403
    assert client.meta(second_key).status == 403
    assert client.host_key(account.name, account.password).status == 403
    assert client.meta(client.login(account.name, "a new password")).status == 200


def test_removing_a_user_revokes_their_keys(sqlite_api: Api) -> None:
    client = sqlite_api.client
    account = sqlite_api.new_account()
    assert client.meta(account.key).status == 200
    sqlite_api.services.accounts.remove_user(account.name)
    assert client.meta(account.key).status == 403
    assert client.download(account.key).status == 403
    assert client.host_key(account.name, account.password).status == 403


def test_a_recreated_user_does_not_honour_the_old_users_key(sqlite_api: Api) -> None:
    # SQLite may hand the freed user id to the next user; the old key must still fail.
    client = sqlite_api.client
    old = sqlite_api.new_account()
    sqlite_api.services.accounts.remove_user(old.name)
    sqlite_api.services.accounts.add_user(old.name, old.password)
    assert client.meta(old.key).status == 403
    assert client.meta(client.login(old.name, old.password)).status == 200
