"""Moving from ankisyncd: anki 2.1.54 devices that synced with ankisyncd go on against
ankiserv after `ankiserv import ankisyncd`, with their stored logins and a normal sync,
media deletions included (which ankisyncd could not send them); old passwords work and
are re-hashed. The data folder is left as a clean stop leaves it on one backend and as a
killed server leaves it (the latest syncs only in the write-ahead log) on the others."""

from __future__ import annotations

import base64
import uuid
from pathlib import Path

import pytest

from tests.conftest import IN_CI
from tests.legacy.clients import LegacyProfile
from tests.support.ankisyncd import AnkisyncdUnavailable, ensure_ankisyncd_venv, run_ankisyncd
from tests.support.server import RunningServer

pytestmark = pytest.mark.e2e
NO_CHANGES = 0
VERSION = "2.1.54"
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(range(256))).decode()


@pytest.fixture(scope="session")
def ankisyncd_python() -> Path:
    try:
        return ensure_ankisyncd_venv()
    except AnkisyncdUnavailable as e:
        if IN_CI:
            pytest.fail(f"cannot set up .venv-ankisyncd: {e} (CI must run these tests)")
        pytest.skip(f"cannot set up .venv-ankisyncd: {e}")


def test_devices_of_ankisyncd_go_on_with_normal_syncs(
    server: RunningServer, backend: str, tmp_path: Path, legacy_python: Path,
    ankisyncd_python: Path,
) -> None:
    suffix = uuid.uuid4().hex[:6]
    ann, ben = f"ann-{suffix}", f"ben-{suffix}"
    users = {ann: "ann pass ü", ben: "ben pass"}
    data_root = tmp_path / "ankisyncd"

    def device(name: str, endpoint: str) -> LegacyProfile:
        return LegacyProfile(legacy_python, VERSION, tmp_path / name, endpoint)

    stop = "interrupt" if backend == "postgres" else "kill"
    with run_ankisyncd(data_root, users, stop=stop) as endpoint:
        a, b, c = device("a", endpoint), device("b", endpoint), device("c", endpoint)
        try:
            a.login(ann, users[ann])
            kept = a.one("add_note", front="kept", back="on every device")
            gone = a.one("add_note", front="deleted on ankisyncd")["id"]
            a.one("review", card_id=kept["cards"][0], ease=3)
            a.one("add_media", name="one.png", b64=PNG)
            a.one("add_media", name="two.txt", text="two")
            a.one("full_upload")
            a.one("sync_media")
            b.login(ann, users[ann])
            b.one("full_download")
            b.one("sync_media")
            a.one("delete_note", id=gone)
            a.one("edit_note", id=kept["id"], back="edited on a")
            assert a.sync() == NO_CHANGES
            a.one("delete_media", name="two.txt")
            a.one("sync_media")  # b cannot fetch this deletion from ankisyncd (null)
            a.one("add_media", name="three.txt", text="three")
            a.one("sync_media")
            c.login(ben, users[ben])
            c.one("add_note", front="ben's note")
            c.one("full_upload")
            assert c.sync() == NO_CHANGES
            want = a.dump()
        finally:
            for profile in (a, b, c):
                profile.close()
    if stop == "kill":
        assert (data_root / "collections" / ann / "collection.anki2-wal").exists()

    result = server.cli("import", "ankisyncd", str(data_root), "--user", ann, "--user", ben)
    assert result.returncode == 0, result.stderr
    assert "imported 2 of 2 users" in result.stdout

    a, b, c = device("a", server.endpoint), device("b", server.endpoint), \
        device("c", server.endpoint)
    try:
        assert a.sync() == NO_CHANGES  # its ankisyncd login works here
        a.one("sync_media")
        assert a.dump() == want
        assert b.sync() == NO_CHANGES  # the edit and the note's deletion arrive
        b.one("sync_media")  # and the media deletion ankisyncd could not send
        assert b.dump() == want
        assert c.sync() == NO_CHANGES
        b.one("add_note", front="added on b after the move")
        b.one("add_media", name="four.txt", text="four")
        assert b.sync() == NO_CHANGES
        b.one("sync_media")
        assert a.sync() == NO_CHANGES
        a.one("sync_media")
        assert a.dump() == b.dump()
        assert set(a.dump()["media"]) == {"one.png", "three.txt", "four.txt"}
        fresh = device("fresh", server.endpoint)
        fresh.login(ann, users[ann])  # the old password, checked against ankisyncd's hash
        fresh.one("full_download")
        fresh.one("sync_media")
        assert fresh.dump() == a.dump()
        fresh.close()
    finally:
        for profile in (a, b, c):
            profile.close()
