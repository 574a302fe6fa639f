"""Moving from djankiserv: devices that synced with a real djankiserv 0.0.9 go on against
ankiserv after `ankiserv import djankiserv`, with their stored logins and a normal sync;
passwords carry over. djankiserv runs on PostgreSQL (for the SQLite and PostgreSQL
servers) and on MariaDB (for the MariaDB server)."""

from __future__ import annotations

import base64
import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import IN_CI, server_url
from tests.legacy.clients import ClientUnavailable, LegacyProfile, ensure_venv
from tests.support.djankiserv import Djankiserv, DjankiservUnavailable, run_djankiserv
from tests.support.server import RunningServer

pytestmark = pytest.mark.e2e
NO_CHANGES = 0
FULL_CLIENT, SUITE_CLIENT = "2.1.40", "2.1.54"  # see tests/support/djankiserv.py
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(range(256))).decode()


def _unavailable(message: str) -> None:
    if IN_CI:
        pytest.fail(message + " (CI must run the djankiserv tests)")
    pytest.skip(message)


@pytest.fixture
def djk(backend: str, tmp_path: Path) -> Iterator[Djankiserv]:
    where = "mysql" if backend == "mysql" else "postgres"
    stack = contextlib.ExitStack()
    try:
        server = stack.enter_context(run_djankiserv(tmp_path / "djankiserv",
                                                    server_url(where)))
    except DjankiservUnavailable as e:
        _unavailable(f"cannot run djankiserv: {e}")
    with stack:
        yield server


def _python(version: str) -> Path:
    try:
        return ensure_venv(version)
    except ClientUnavailable as e:
        _unavailable(f"cannot set up anki {version}: {e}")
        raise


def test_devices_of_djankiserv_go_on_with_normal_syncs(
    server: RunningServer, djk: Djankiserv, tmp_path: Path
) -> None:
    suffix = uuid.uuid4().hex[:6]
    ann, ben = f"ann_{suffix}", f"ben_{suffix}"
    djk.add_user(ann, "ann pass")
    djk.add_user(ben, "ben pass")
    full, suite = _python(FULL_CLIENT), _python(SUITE_CLIENT)

    def device(python: Path, version: str, name: str, endpoint: str) -> LegacyProfile:
        return LegacyProfile(python, version, tmp_path / name, endpoint)

    a = device(full, FULL_CLIENT, "a", djk.endpoint)
    b = device(full, FULL_CLIENT, "b", djk.endpoint)
    c = device(suite, SUITE_CLIENT, "c", djk.endpoint)
    a.login(ann, "ann pass")
    kept = a.one("add_note", front="kept", back="on every device")["id"]
    gone = a.one("add_note", front="deleted on djankiserv")["id"]
    a.one("add_media", name="one.png", b64=PNG)
    a.one("add_media", name="two.txt", text="two")
    a.one("full_upload")
    a.one("sync_media")
    b.login(ann, "ann pass")
    b.one("full_download")
    b.one("sync_media")
    a.one("delete_note", id=gone)
    a.one("edit_note", id=kept, back="edited on a")
    assert a.sync() == NO_CHANGES
    # One batch adding and deleting files makes djankiserv fail (500) half-way: apart.
    a.one("delete_media", name="two.txt")
    a.one("sync_media")  # b cannot fetch this deletion from djankiserv (it sends null)
    a.one("add_media", name="three.txt", text="three")
    a.one("sync_media")
    c.login(ben, "ben pass")
    c.one("add_note", front="ben's note")
    c.one("add_media", name="ben.txt", text="ben")
    c.one("full_upload")
    c.one("sync_media")
    want_a = a.dump()
    for profile in (a, b, c):
        profile.close()
    djk.stop()

    result = server.cli("import", "djankiserv", djk.database_url,
                        "--media-root", str(djk.data_root), "--user", ann, "--user", ben)
    assert result.returncode == 0, result.stderr
    assert "imported 2 of 2 users" in result.stdout

    a = device(full, FULL_CLIENT, "a", server.endpoint)
    b = device(full, FULL_CLIENT, "b", server.endpoint)
    c = device(suite, SUITE_CLIENT, "c", server.endpoint)
    try:
        assert a.sync() == NO_CHANGES  # its djankiserv login works here
        a.one("sync_media")
        assert a.dump() == want_a
        assert b.sync() == NO_CHANGES  # normal sync: the edit and the deletion arrive
        b.one("sync_media")  # and now the media deletion too
        assert b.dump() == want_a
        assert c.sync() == NO_CHANGES
        c.one("add_note", front="ben's second note")
        assert c.sync() == NO_CHANGES  # 2.1.54's normal syncs work again
        b.one("add_note", front="added on b after the move")
        assert b.sync() == NO_CHANGES
        assert a.sync() == NO_CHANGES
        assert a.dump()["notes"] == b.dump()["notes"]
        fresh = device(suite, SUITE_CLIENT, "fresh", server.endpoint)
        fresh.login(ann, "ann pass")  # the Django password works here
        fresh.one("full_download")
        fresh.one("sync_media")
        assert fresh.dump()["notes"] == a.dump()["notes"]
        assert set(fresh.dump()["media"]) == {"one.png", "three.txt"}
        fresh.close()
    finally:
        for profile in (a, b, c):
            profile.close()
