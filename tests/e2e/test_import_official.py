"""Moving from the official sync server: devices that synced with a real official server
(`python -m anki.syncserver`) go on against ankiserv with a normal sync after
`ankiserv import official`, keep their logins, and exchange changes and media."""

from __future__ import annotations

import base64
import hashlib
import re
import urllib.request
import uuid
from pathlib import Path

import pytest
from anki.sync import SyncAuth
from sqlalchemy import select

from adapters.sql import tables
from adapters.sql.dialects import build_engine
from tests.legacy.clients import LegacyProfile
from tests.media.devices import folder_files, remove_files, sync_all, write_files
from tests.support.anki_client import Profile, add_basic_note, content
from tests.support.official_server import official_server
from tests.support.server import RunningServer

pytestmark = pytest.mark.e2e
# What a sync reports once it is done without needing a full sync ("no changes" left).
NO_CHANGES = 0
LEGACY_VERSION = "2.1.54"


def _metric(server: RunningServer, name: str, label: str) -> float:
    text = urllib.request.urlopen(f"{server.url}/metrics", timeout=10).read().decode()
    pattern = re.compile(rf"^{name}\{{[^}}]*{label}[^}}]*\}} (\S+)$", re.M)
    return sum(float(v) for v in pattern.findall(text))


def _transfers(server: RunningServer) -> tuple[float, float]:
    """Bytes of full syncs and of media downloads so far (every worker's)."""
    return (_metric(server, "ankiserv_full_sync_bytes_total", 'direction="download"')
            + _metric(server, "ankiserv_full_sync_bytes_total", 'direction="upload"'),
            _metric(server, "ankiserv_media_bytes_total", 'direction="download"'))


def _moved(device: Profile, server: RunningServer) -> Profile:
    """The same device, now syncing with `server`, keeping the old server's login."""
    assert device.auth is not None
    device.auth = SyncAuth(hkey=device.auth.hkey, endpoint=server.endpoint)
    return device


def test_devices_of_the_official_server_go_on_with_normal_syncs(
    server: RunningServer, tmp_path: Path, legacy_python: Path
) -> None:
    alice, bob = f"alice-{uuid.uuid4().hex[:6]}", f"bob-{uuid.uuid4().hex[:6]}"
    users = {"SYNC_USER1": f"{alice}:alice's pass", "SYNC_USER2": f"{bob}:bob:pass"}
    base = tmp_path / "official"
    a, b = Profile.create(tmp_path / "a"), Profile.create(tmp_path / "b")
    old = LegacyProfile(legacy_python, LEGACY_VERSION, tmp_path / "legacy", "")
    with official_server(base, users) as url:
        a.login(alice, "alice's pass", url)
        kept = add_basic_note(a.col, "kept", "on both")
        gone = add_basic_note(a.col, "deleted later")
        write_files(a, {"one.txt": b"one", "two.txt": b"two"})
        sync_all(a, upload=True)
        b.login(alice, "alice's pass", url)
        sync_all(b, upload=False)
        # Rows and media with usns past the first sync, and graves of both kinds.
        a.col.remove_notes([gone])
        note = a.col.get_note(kept)
        note["Back"] = "edited on a"
        a.col.update_note(note)
        remove_files(a, "two.txt")
        write_files(a, {"three.txt": b"three"})
        assert sync_all(a) == NO_CHANGES
        assert sync_all(b) == NO_CHANGES
        old = LegacyProfile(legacy_python, LEGACY_VERSION, tmp_path / "legacy", url)
        old.login(bob, "bob:pass")
        old.one("add_note", front="legacy note")
        old.one("add_media", name="legacy.txt", text="from 2.1.54")
        old.one("full_upload")
        old.one("sync_media")
        old.one("add_note", front="second legacy note")
        assert old.sync() == NO_CHANGES
        old.close()
    before_a, before_b, before_old = content(a.col), content(b.col), None

    env_file = tmp_path / "official.env"
    env_file.write_text("".join(f"{k}='{v}'\n" for k, v in users.items()))
    result = server.cli("import", "official", str(base), "--env-file", str(env_file))
    assert result.returncode == 0, result.stderr
    assert "imported 2 of 2 users" in result.stdout

    full_before, media_before = _transfers(server)
    assert a.col.sync_collection(_moved(a, server).auth, sync_media=False).required \
        == NO_CHANGES
    assert sync_all(_moved(b, server)) == NO_CHANGES
    assert content(a.col) == before_a and content(b.col) == before_b
    old = LegacyProfile(legacy_python, LEGACY_VERSION, tmp_path / "legacy", server.endpoint)
    before_old = old.dump()
    assert old.sync() == NO_CHANGES
    old.one("sync_media")
    assert _transfers(server) == (full_before, media_before), "nothing was sent again"

    # Changes flow both ways afterwards, media included.
    add_basic_note(b.col, "added on b after the move")
    write_files(b, {"four.txt": b"four"})
    remove_files(b, "one.txt")
    assert sync_all(b) == NO_CHANGES
    assert sync_all(a) == NO_CHANGES
    assert content(a.col) == content(b.col)
    assert folder_files(a) == folder_files(b)
    assert set(folder_files(a)) == {"three.txt", "four.txt"}
    server_copy = Profile.create(tmp_path / "server-copy")  # what the server holds
    server_copy.login(alice, "alice's pass", server.endpoint)
    sync_all(server_copy, upload=False)
    assert content(server_copy.col) == content(a.col)
    assert folder_files(server_copy) == folder_files(a)
    server_copy.close()
    old.one("add_note", front="legacy after the move")
    assert old.sync() == NO_CHANGES
    fresh = LegacyProfile(legacy_python, LEGACY_VERSION, tmp_path / "legacy-new",
                          server.endpoint)
    fresh.login(bob, "bob:pass")  # the old password works here too
    fresh.one("full_download")
    fresh.one("sync_media")
    got, want = fresh.dump(), old.dump()
    assert got["notes"] == want["notes"] and len(got["notes"]) == 3
    assert got["media"] == want["media"] == before_old["media"]
    old.close()
    fresh.close()


def _phc_pbkdf2(password: str, salt: bytes = b"0123456789abcdef", rounds: int = 1000) -> str:
    """A PHC-format PBKDF2 hash as tools for the official server's PASSWORDS_HASHED make."""
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, rounds, 32)
    b64 = lambda data: base64.b64encode(data).decode().rstrip("=")  # noqa: E731
    return f"$pbkdf2-sha256$i={rounds},l=32${b64(salt)}${b64(digest)}"


def test_hashed_passwords_keep_working_and_are_rehashed_at_first_login(
    server: RunningServer, tmp_path: Path
) -> None:
    name = f"hashed-{uuid.uuid4().hex[:6]}"
    users = {"SYNC_USER1": f"{name}:{_phc_pbkdf2('secret pass')}", "PASSWORDS_HASHED": "1"}
    device = Profile.create(tmp_path / "device")
    with official_server(tmp_path / "official", users) as url:
        device.login(name, "secret pass", url)  # the official server takes our hash
        add_basic_note(device.col, "hashed")
        sync_all(device, upload=True)
    env_file = tmp_path / "official.env"
    env_file.write_text("".join(f"export {k}=\"{v}\"\n" for k, v in users.items()))
    result = server.cli("import", "official", str(tmp_path / "official"),
                        "--env-file", str(env_file))
    assert result.returncode == 0, result.stderr

    assert sync_all(_moved(device, server)) == NO_CHANGES  # its stored login works
    assert _stored_hash(server, name).startswith("$pbkdf2-sha256$")
    other = Profile.create(tmp_path / "other")
    other.login(name, "secret pass", server.endpoint)
    assert _stored_hash(server, name).startswith("$argon2id$")
    sync_all(other, upload=False)
    assert content(other.col) == content(device.col)
    with pytest.raises(Exception, match=r"(?i)password|auth|403"):
        Profile.create(tmp_path / "wrong").login(name, "wrong pass", server.endpoint)


def _stored_hash(server: RunningServer, name: str) -> str:
    engine = build_engine(server.database_url)
    try:
        with engine.connect() as conn:
            return str(conn.execute(select(tables.users.c.password_hash)
                                    .where(tables.users.c.name == name)).scalar_one())
    finally:
        engine.dispose()
