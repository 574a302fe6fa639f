"""The djankiserv fixture (`tests/support/djankiserv.py`): real djankiserv 0.0.9 data.

Real Anki clients sync with a real djankiserv on PostgreSQL and MySQL, and the data it
keeps is checked where `ankiserv import djankiserv` will read it: the user's schema (or
MySQL database), the media folder, `auth_user` and `django_session`.

djankiserv speaks sync v10. anki 2.1.54 logs in, full-syncs and media-syncs with it but
fails every normal sync that exchanges something (it wants `null` from `applyChunk`,
djankiserv answers `{}`); anki 2.1.40 ignores that body and does everything. anki 26.9.3
(v11) cannot log in.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text

from tests.conftest import IN_CI, server_url
from tests.legacy.clients import (
    FULL_DOWNLOAD,
    FULL_SYNC,
    NO_CHANGES,
    ClientUnavailable,
    DriverError,
    LegacyProfile,
    ensure_venv,
)
from tests.support.djankiserv import Djankiserv, DjankiservUnavailable, run_djankiserv

pytestmark = pytest.mark.e2e

FULL_CLIENT = "2.1.40"  # the newest release that also normal-syncs with djankiserv
SUITE_CLIENT = "2.1.54"  # the suite's legacy client: full and media sync only
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(range(256))).decode()


def unavailable(message: str) -> None:
    if IN_CI:
        pytest.fail(message + " (CI must run the djankiserv tests)")
    pytest.skip(message)


@pytest.fixture(scope="module", params=[
    pytest.param("postgres", marks=pytest.mark.postgres),
    pytest.param("mysql", marks=pytest.mark.mysql),
])
def djk(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[Djankiserv]:
    """A djankiserv on a fresh database of each backend, shared by this module's tests."""
    url = server_url(request.param)
    stack = contextlib.ExitStack()
    try:
        server = stack.enter_context(
            run_djankiserv(tmp_path_factory.mktemp(f"djankiserv-{request.param}"), url))
    except DjankiservUnavailable as e:
        unavailable(f"cannot run djankiserv: {e}")
    with stack:
        yield server


@pytest.fixture(scope="module")
def client_python() -> Iterator[dict[str, Path]]:
    """The venv pythons of the legacy clients, made on first use."""
    made: dict[str, Path] = {}
    yield made


def device(client_python: dict[str, Path], version: str, directory: Path,
           djk: Djankiserv) -> LegacyProfile:
    if version not in client_python:
        try:
            client_python[version] = ensure_venv(version)
        except ClientUnavailable as e:
            unavailable(f"cannot set up anki {version}: {e}")
    return LegacyProfile(client_python[version], version, directory, djk.endpoint)


@pytest.fixture
def devices(client_python: dict[str, Path], djk: Djankiserv, tmp_path: Path
            ) -> Iterator[Any]:
    made: list[LegacyProfile] = []

    def make(version: str, name: str) -> LegacyProfile:
        profile = device(client_python, version, tmp_path / name, djk)
        made.append(profile)
        return profile

    yield make
    for profile in made:
        profile.close()


def new_user(djk: Djankiserv, name: str) -> tuple[str, str]:
    user, password = f"{name}_{uuid.uuid4().hex[:8]}", "pw-" + uuid.uuid4().hex[:8]
    djk.add_user(user, password)
    return user, password


@contextlib.contextmanager
def user_db(djk: Djankiserv, user: str) -> Iterator[Any]:
    engine: Engine = create_engine(djk.user_database_url(user))
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


def rows(conn: Any, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in conn.execute(text(sql))]


def check_pbkdf2(password: str, encoded: str) -> bool:
    """Django's PBKDF2PasswordHasher with hashlib alone (layout doc, auth_user)."""
    algorithm, iterations, salt, digest = encoded.split("$", 3)
    assert algorithm == "pbkdf2_sha256"
    raw = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), int(iterations))
    return base64.b64encode(raw).decode().strip() == digest


def session_payload(session_data: str) -> dict[str, Any]:
    """The JSON in django_session.session_data (Django >= 3.1 format), read without the
    SECRET_KEY: '[.]<urlsafe base64 of (zlib) JSON>:<timestamp>:<signature>'."""
    payload = session_data.split(":", 1)[0]
    compressed, payload = payload.startswith("."), payload.lstrip(".")
    raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    return dict(json.loads(zlib.decompress(raw) if compressed else raw))


def test_devices_full_sync_and_media_sync_through_djankiserv(
    djk: Djankiserv, devices: Any
) -> None:
    """Two users; one uploads notes and a picture from one device, a second device of the
    same user downloads both. Then the data is where the importer will look for it."""
    alice, alice_pw = new_user(djk, "alice")
    bob, bob_pw = new_user(djk, "bob")
    a1, a2, b1 = (devices(SUITE_CLIENT, n) for n in ("alice-1", "alice-2", "bob-1"))

    added = a1.run(
        {"op": "add_note", "front": "hello ünïcödé 漢字", "back": "<img src=\"pic.png\">",
         "tags": ["vocab"]},
        {"op": "add_note", "front": "second", "back": "2", "deck": "Extra"},
        {"op": "add_media", "name": "pic.png", "b64": PNG},
    )
    hkey = a1.login(alice, alice_pw)
    assert a1.sync() == FULL_SYNC  # djankiserv's meta lacks `empty`: the client must choose
    a1.one("full_upload")
    assert a1.sync() == NO_CHANGES
    a1.one("sync_media")

    b1.run({"op": "add_note", "front": "bob's own", "back": "b"})
    b1.login(bob, bob_pw)
    assert b1.sync() == FULL_SYNC
    b1.one("full_upload")

    a2.login(alice, alice_pw)
    assert a2.sync() == FULL_DOWNLOAD
    a2.one("full_download")
    a2.one("sync_media")
    content = a1.dump()
    assert a2.dump() == content
    assert content["media"] == {"pic.png": hashlib.sha1(base64.b64decode(PNG)).hexdigest()}

    # Where the importer will read it.
    with user_db(djk, alice) as conn:
        s = djk.user_schema(alice)
        notes = rows(conn, f"select id, guid, mid, modified, usn, tags, flds from {s}.notes"
                           " order by id")
        assert [n[0] for n in notes] == [added[0]["id"], added[1]["id"]]
        assert notes[0][6] == "hello ünïcödé 漢字\x1f<img src=\"pic.png\">"
        assert notes[0][5].split() == ["vocab"]
        assert rows(conn, f"select count(*) from {s}.cards") == [(2,)]
        (col_usn, scm, ver, models, decks), = rows(
            conn, f"select usn, scm, ver, models, decks from {s}.col")
        # the uploader's col row, as it was after its pre-upload step: schema 11, a new
        # scm, usn incremented from 0 (rows themselves at usn 0)
        assert ver == 11 and scm > 0 and col_usn == 1
        assert "Extra" in {d["name"] for d in json.loads(decks).values()}
        assert "Basic" in {m["name"] for m in json.loads(models).values()}
        assert rows(conn, f"select fname, usn, csum from {s}.media") == [
            ("pic.png", 1, content["media"]["pic.png"])]
    assert (djk.media_dir(alice) / "pic.png").read_bytes() == base64.b64decode(PNG)
    with user_db(djk, bob) as conn:
        assert [r[0].split("\x1f")[0] for r in rows(
            conn, f"select flds from {djk.user_schema(bob)}.notes")] == ["bob's own"]
    assert not djk.media_dir(bob).exists()  # no media synced: no folder

    engine = create_engine(djk.database_url)
    try:
        with engine.connect() as conn:
            (encoded,), = rows(conn, f"select password from auth_user where username = '{alice}'")
            sessions = rows(conn, "select session_key, session_data from django_session")
    finally:
        engine.dispose()
    assert check_pbkdf2(alice_pw, encoded) and not check_pbkdf2(alice_pw + "x", encoded)
    by_key = {key: session_payload(data) for key, data in sessions}
    assert by_key[hkey]["name"] == alice and by_key[hkey]["skey"] == hkey

    # anki 2.1.54 cannot normal-sync a change with djankiserv (the reason for FULL_CLIENT).
    a2.run({"op": "add_note", "front": "after", "back": "x"})
    with pytest.raises(DriverError, match="expected unit"):
        a2.sync()


def test_normal_sync_with_reviews_deletions_and_media_changes(
    djk: Djankiserv, devices: Any
) -> None:
    """anki 2.1.40 on two devices: full sync, then normal syncs that leave usns, graves,
    revlog rows and a deleted media file on the server."""
    user, password = new_user(djk, "carol")
    a, b = devices(FULL_CLIENT, "a"), devices(FULL_CLIENT, "b")
    n0, n1, _ = a.run(
        {"op": "add_note", "front": "n0", "back": "<img src=\"one.png\">"},
        {"op": "add_note", "front": "n1", "back": "b1"},
        {"op": "add_media", "name": "one.png", "b64": PNG},
    )
    a.login(user, password)
    assert a.sync() == FULL_SYNC
    a.one("full_upload")
    a.one("sync_media")
    b.login(user, password)
    assert b.sync() == FULL_DOWNLOAD
    b.one("full_download")
    b.one("sync_media")

    added, *_ = b.run(
        {"op": "add_note", "front": "from b", "back": "nb", "deck": "Lang::Japanese"},
        {"op": "delete_note", "id": n1["id"]},
        {"op": "review", "card_id": n0["cards"][0], "ease": 3},
        {"op": "add_media", "name": "two.txt", "text": "zwei"},
    )
    assert b.sync() == NO_CHANGES  # 2.1.40 reports a completed normal sync so
    b.one("sync_media")
    assert a.sync() == NO_CHANGES
    a.one("sync_media")
    assert a.dump() == b.dump()
    assert set(a.dump()["media"]) == {"one.png", "two.txt"}

    # NOTE: a media upload that both adds and deletes files trips an assertion of
    # djankiserv (500) after it stored both with the same usn: delete in a sync of its own.
    b.run({"op": "delete_media", "name": "one.png"}, {"op": "sync_media"})
    # djankiserv keeps a deleted file as a row with csum NULL and sends that as `null`;
    # Rust clients (2.1.28+) want a string, so no other device can media-sync any more.
    with pytest.raises(DriverError, match="invalid type: null, expected a string"):
        a.one("sync_media")
    assert set(b.dump()["media"]) == {"two.txt"}

    with user_db(djk, user) as conn:
        s = djk.user_schema(user)
        (col_usn,), = rows(conn, f"select usn from {s}.col")
        assert col_usn >= 2  # each normal sync's finish sets usn = its start usn + 1
        graves = rows(conn, f"select oid, type, usn from {s}.graves order by type")
        assert [(oid, kind) for oid, kind, _ in graves] == [
            (n1["cards"][0], 0), (n1["id"], 1)]
        assert rows(conn, f"select cid, ease from {s}.revlog") == [(n0["cards"][0], 3)]
        assert rows(conn, f"select usn from {s}.notes where id = {added['id']}") != [(0,)]
        media = dict((r[0], r[1:]) for r in rows(conn, f"select fname, usn, csum from {s}.media"))
        assert media["one.png"] == (3, None)  # deleted: csum NULL, a new usn
        assert media["two.txt"] == (2, hashlib.sha1(b"zwei").hexdigest())
    assert sorted(p.name for p in djk.media_dir(user).iterdir()) == ["two.txt"]


def test_a_current_client_cannot_log_in(djk: Djankiserv, tmp_path: Path) -> None:
    """anki 26.9.3 speaks sync v11 (bodies are zstd, no multipart): djankiserv answers 415."""
    from anki.errors import NetworkError

    from tests.support.anki_client import Profile

    user, password = new_user(djk, "dave")
    profile = Profile.create(tmp_path / "current")
    try:
        with pytest.raises(NetworkError, match="415"):
            profile.login(user, password, djk.endpoint)
    finally:
        profile.close()
