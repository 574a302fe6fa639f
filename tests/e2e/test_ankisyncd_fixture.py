"""An ankisyncd data folder made the real way: anki 2.1.54 devices syncing with ankisyncd.

ankisyncd (anki-sync-server 2.4.0, legacy protocol v10) runs from
`tests/support/ankisyncd.py` in `.venv-ankisyncd/`; the devices are anki 2.1.54 in
`.venv-legacy/2.1.54`, driven through `tests/legacy/driver.py`. Both venvs are created on
first use (pip needs PyPI once); without them the test skips, and under CI=true fails.

The data folder stays in the test's tmp_path (pytest keeps the last three runs); with
ANKISYNCD_FIXTURE_OUT=DIR the whole tmp_path (data folder, devices, logs) is copied there.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from tests.legacy.clients import (
    FULL_DOWNLOAD,
    FULL_SYNC,
    NO_CHANGES,
    ClientUnavailable,
    LegacyProfile,
    ensure_venv,
)
from tests.support.anki_client import file_meta
from tests.support.ankisyncd import (
    AnkisyncdUnavailable,
    ensure_ankisyncd_venv,
    password_matches,
    run_ankisyncd,
)

pytestmark = pytest.mark.e2e

LEGACY_VERSION = "2.1.54"
IN_CI = os.environ.get("CI", "").lower() == "true"
USERS = {"alice": "alice-pw ünï", "bob": "bob-pw"}
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(range(256))).decode()


def _unavailable(message: str) -> None:
    if IN_CI:
        pytest.fail(message + " (CI must run the ankisyncd fixture test)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def legacy_python() -> Path:
    try:
        return ensure_venv(LEGACY_VERSION)
    except ClientUnavailable as e:
        _unavailable(f"cannot set up anki {LEGACY_VERSION} in .venv-legacy: {e}")
        raise


@pytest.fixture(scope="session")
def ankisyncd_python() -> Path:
    try:
        return ensure_ankisyncd_venv()
    except AnkisyncdUnavailable as e:
        _unavailable(f"cannot set up .venv-ankisyncd: {e}")
        raise


def test_devices_sync_through_ankisyncd_and_leave_its_data_folder(
        tmp_path: Path, legacy_python: Path, ankisyncd_python: Path) -> None:
    data_root = tmp_path / "ankisyncd-data"
    with run_ankisyncd(data_root, USERS) as endpoint:
        devices = {name: LegacyProfile(legacy_python, LEGACY_VERSION, tmp_path / name, endpoint)
                   for name in ("alice-a", "alice-b", "bob-a")}
        alice_a, alice_b, bob_a = devices.values()
        try:
            # alice's first device: notes, a review and a picture, then the first sync
            added = alice_a.run(
                {"op": "add_note", "front": "Bonjour", "back": "<img src='pic.png'>",
                 "tags": ["fr"]},
                {"op": "add_note", "front": "漢字 🙂", "back": "kanji", "deck": "Japanese"},
                {"op": "add_media", "name": "pic.png", "b64": PNG})
            alice_a.one("review", card_id=added[0]["cards"][0], ease=3)
            hkey_a = alice_a.login("alice", USERS["alice"])
            assert alice_a.sync() == FULL_SYNC  # a new user: the server has an empty collection
            alice_a.one("full_upload")
            assert alice_a.sync() == NO_CHANGES
            alice_a.one("sync_media")

            # her second device downloads everything
            hkey_b = alice_b.login("alice", USERS["alice"])
            assert alice_b.sync() == FULL_DOWNLOAD
            alice_b.one("full_download")
            alice_b.one("sync_media")

            # a normal sync each way: an edit and a new note from b, seen by a
            alice_b.one("edit_note", id=added[1]["id"], back="kanji (edited)")
            alice_b.one("add_note", front="from b", back="b")
            alice_b.sync()
            alice_a.sync()
            assert alice_a.dump() == alice_b.dump()

            # bob, apart
            hkey_bob = bob_a.login("bob", USERS["bob"])
            bob_a.one("add_note", front="bob's only note", back="x")
            assert bob_a.sync() == FULL_SYNC
            bob_a.one("full_upload")
            bob_note_count = len(bob_a.dump()["notes"])
        finally:
            for device in devices.values():
                device.close()

    # ---- what ankisyncd left on disk, the server stopped (SIGINT: collections closed) ----
    alice = data_root / "collections" / "alice"
    assert (alice / "collection.anki2").is_file()
    assert not (alice / "collection.anki2-wal").exists()
    assert (alice / "collection.anki2.tmp").is_file()  # left by the full upload
    picture = base64.b64decode(PNG)
    assert (alice / "collection.media" / "pic.png").read_bytes() == picture
    with closing(sqlite3.connect(alice / "collection.media.server.db")) as media:
        assert media.execute("select fname, usn, csum from media").fetchall() == [
            ("pic.png", 1, hashlib.sha1(picture).hexdigest())]

    with closing(sqlite3.connect(data_root / "auth.db")) as auth:
        stored = dict(auth.execute("select username, hash from auth").fetchall())
    assert sorted(stored) == ["alice", "bob"]
    assert all(password_matches(stored[u], u, p) for u, p in USERS.items())
    assert not password_matches(stored["alice"], "alice", "wrong")

    with closing(sqlite3.connect(data_root / "session.db")) as sessions:
        owners = dict(sessions.execute("select hkey, username from session").fetchall())
    assert owners == {hkey_a: "alice", hkey_b: "alice", hkey_bob: "bob"}

    # the server's collection: ankisyncd's anki 2.1.49 leaves schema 18; alice-a synced last
    ver, usn, mod, scm = file_meta(alice / "collection.anki2")
    assert ver == 18
    _, device_usn, device_mod, device_scm = file_meta(tmp_path / "alice-a" / "collection.anki2")
    assert (usn, scm) == (device_usn, device_scm)
    # `finish` hands the device its mod, then anki 2.1.49 stamps the commit after it with the
    # clock again (a commit of changes made through the Python DB proxy): equal or a little later
    assert 0 <= mod - device_mod < 1000
    with closing(sqlite3.connect(data_root / "collections" / "bob" / "collection.anki2")) as bob:
        flds = bob.execute("select flds from notes").fetchall()
    assert len(flds) == bob_note_count == 1 and flds[0][0].startswith("bob's only note")

    if out := os.environ.get("ANKISYNCD_FIXTURE_OUT"):
        shutil.copytree(tmp_path, out, dirs_exist_ok=True)
    print(f"ankisyncd data folder left in {data_root}")
