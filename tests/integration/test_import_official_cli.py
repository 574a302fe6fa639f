"""`ankiserv import official` on real official-server data gone wrong: each user is
imported all or nothing, with one clear line for what stopped it, and running the same
import again is safe. Real processes on SQLite data folders."""

from __future__ import annotations

import os
import pty
import select
import shutil
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.media.devices import sync_all, write_files
from tests.support.anki_client import Profile, add_basic_note
from tests.support.official_server import official_server

ANKISERV = [sys.executable, "-m", "entrypoints"]
PASSWORDS = {"ann": "ann pass", "ben": "ben pass"}


@pytest.fixture(scope="module")
def official_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real official server's SYNC_BASE: two users, each with notes and media."""
    root = tmp_path_factory.mktemp("official")
    with official_server(root / "base", _users()) as url:
        for name, password in PASSWORDS.items():
            device = Profile.create(root / f"device-{name}")
            device.login(name, password, url)
            add_basic_note(device.col, f"note of {name}")
            write_files(device, {f"{name}.txt": name.encode() * 100})
            sync_all(device, upload=True)
            device.close()
    return root / "base"


def _users() -> dict[str, str]:
    return {f"SYNC_USER{i}": f"{n}:{p}" for i, (n, p) in enumerate(PASSWORDS.items(), 1)}


@pytest.fixture
def source(official_data: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "base"
    shutil.copytree(official_data, copy)
    (tmp_path / "official.env").write_text(
        "".join(f"{k}={v}\n" for k, v in _users().items()))
    return copy


def run(tmp_path: Path, *args: str, env: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ANKISERV, *args], capture_output=True, text=True, timeout=120, check=False,
        env={"PATH": os.environ["PATH"], "LANG": "C.UTF-8",
             "ANKISERV_DATA_DIR": str(tmp_path / "data"), **(env or {})})


def imported(tmp_path: Path, source: Path, *more: str) -> subprocess.CompletedProcess[str]:
    return run(tmp_path, "import", "official", str(source), "--env-file",
               str(tmp_path / "official.env"), *more)


def users(tmp_path: Path) -> list[str]:
    result = run(tmp_path, "user", "list")
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def database_rows(tmp_path: Path) -> dict[str, int]:
    con = sqlite3.connect(tmp_path / "data" / "ankiserv.db")
    try:
        names = [r[0] for r in con.execute(
            "select name from sqlite_master where type = 'table' and name != 'alembic_version'")]
        return {n: con.execute(f'select count(*) from "{n}"').fetchone()[0] for n in names}
    finally:
        con.close()


def blob_folders(tmp_path: Path) -> set[str]:
    media = tmp_path / "data" / "media"
    return {p.name for p in media.iterdir()} if media.exists() else set()


def test_import_then_again_is_safe_and_replace_overwrites(tmp_path: Path, source: Path) -> None:
    first = imported(tmp_path, source)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip().splitlines()[-1].startswith("imported 2 of 2 users: 2 notes,"
                                                            " 2 media files")
    assert users(tmp_path) == ["ann", "ben"]
    rows = database_rows(tmp_path)

    again = imported(tmp_path, source)
    assert again.returncode == 1
    assert "ann: not imported: a user with this name exists here already (use --replace" \
        in again.stderr
    assert database_rows(tmp_path) == rows

    replaced = imported(tmp_path, source, "--replace", "--user", "ben")
    assert replaced.returncode == 0, replaced.stderr
    assert "imported 1 of 1 users" in replaced.stdout
    assert database_rows(tmp_path) == rows


@pytest.mark.parametrize("damage, message", [
    ("corrupt collection", "collection.anki2: file is not a database"),
    ("not a collection", "the collection file is corrupt or not an Anki collection"),
    ("missing media file", "ben.txt is missing"),
    ("changed media file", "do not match the checksum the old server recorded"),
    ("truncated media file", "has 150 bytes, the media database says 300"),
    ("corrupt media database", "cannot read"),
])
def test_a_broken_user_is_left_out_whole_and_others_are_imported(
    tmp_path: Path, source: Path, damage: str, message: str
) -> None:
    ben = source / "ben"
    if damage == "corrupt collection":
        (ben / "collection.anki2").write_bytes(b"SQLite format 3\x00" + b"\x01" * 5000)
    elif damage == "not a collection":
        (ben / "collection.anki2").unlink()
        with sqlite3.connect(ben / "collection.anki2") as con:
            con.execute("create table other (x)")
        con.close()
    elif damage == "missing media file":
        (ben / "media" / "ben.txt").unlink()
    elif damage == "changed media file":
        (ben / "media" / "ben.txt").write_bytes(b"x" * 300)
    elif damage == "truncated media file":
        (ben / "media" / "ben.txt").write_bytes(b"b" * 150)
    else:  # the official server leaves its write-ahead log beside it
        for wal in ben.glob("media.db-*"):
            wal.unlink()
        (ben / "media.db").write_bytes(b"not a database at all" * 100)
    result = imported(tmp_path, source)
    assert result.returncode == 1
    line = next(x for x in result.stderr.splitlines() if x.startswith("ankiserv: ben:"))
    assert message in line, result.stderr
    assert "failed: ben" in result.stdout
    assert users(tmp_path) == ["ann"]
    assert len(blob_folders(tmp_path)) == 1  # ann's only
    rows = database_rows(tmp_path)
    assert rows["imported_host_keys"] == 1 and rows["collections"] == 1


@pytest.mark.parametrize("settings, message", [
    ("", "no users: SYNC_USER1 is not set"),
    ("SYNC_USER1=nocolon\n", "SYNC_USER1 is not in 'username:password' format"),
    ("SYNC_USER1=ann:plain\nPASSWORDS_HASHED=1\n", "is not a PBKDF2 hash in PHC format"),
    ("just some words\n", "not a KEY=value line"),
])
def test_bad_settings_are_one_line_and_import_nothing(
    tmp_path: Path, source: Path, settings: str, message: str
) -> None:
    (tmp_path / "official.env").write_text(settings)
    result = imported(tmp_path, source)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
    assert users(tmp_path) == []


def test_missing_files_and_unknown_users_are_one_line(tmp_path: Path, source: Path) -> None:
    gone = run(tmp_path, "import", "official", str(tmp_path / "nowhere"),
               "--env-file", str(tmp_path / "official.env"))
    assert gone.returncode == 1 and "nowhere is not a folder" in gone.stderr
    no_file = run(tmp_path, "import", "official", str(source), "--env-file",
                  str(tmp_path / "missing.env"))
    assert no_file.returncode == 1 and "cannot read" in no_file.stderr
    unknown = imported(tmp_path, source, "--user", "zed")
    assert unknown.returncode == 1 and "no user named zed in the source" in unknown.stderr
    for result in (gone, no_file, unknown):
        assert result.stderr.count("\n") == 1, result.stderr


def test_users_come_from_the_environment_and_unnamed_folders_are_reported(
    tmp_path: Path, source: Path
) -> None:
    shutil.copytree(source / "ben", source / "stranger")
    result = run(tmp_path, "import", "official", str(source), env=_users())
    assert result.returncode == 0, result.stderr
    assert "stranger: no SYNC_USER names this folder; not imported" in result.stderr
    assert users(tmp_path) == ["ann", "ben"]


def test_an_interrupted_import_is_taken_over(tmp_path: Path, source: Path) -> None:
    assert run(tmp_path, "db", "upgrade").returncode == 0
    con = sqlite3.connect(tmp_path / "data" / "ankiserv.db")
    con.execute("insert into users (name, password_hash, created) values"
                " ('ann', '!importing', 0)")
    con.commit()
    con.close()
    result = imported(tmp_path, source)
    assert result.returncode == 0, result.stderr
    assert users(tmp_path) == ["ann", "ben"]


def test_a_running_official_server_is_named_as_the_problem(tmp_path: Path, source: Path
                                                          ) -> None:
    with official_server(source, _users()) as url:
        device = Profile.create(tmp_path / "device")
        device.login("ann", PASSWORDS["ann"], url)
        sync_all(device, upload=False)  # opens ann's media database, which it locks
        result = imported(tmp_path, source, "--user", "ann")
        device.close()
    assert result.returncode == 1
    assert "is the old server still running? stop it first" in result.stderr


def test_progress_is_shown_on_a_terminal(tmp_path: Path, source: Path) -> None:
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [*ANKISERV, "import", "official", str(source), "--env-file",
         str(tmp_path / "official.env")], stdin=terminal, stdout=terminal, stderr=terminal,
        env={"PATH": os.environ["PATH"], "LANG": "C.UTF-8",
             "ANKISERV_DATA_DIR": str(tmp_path / "data")})
    os.close(terminal)
    output = b""
    while True:
        ready, _, _ = select.select([controller], [], [], 60)
        try:
            chunk = os.read(controller, 4096) if ready else b""
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    assert process.wait(timeout=60) == 0
    text = output.decode()
    assert "[0/2 users] ann:" in text and "[1/2 users] ben:" in text
    assert "ann: 1 notes, 1 media files, 1 device login(s) kept" in text
    assert "imported 2 of 2 users" in text
    assert uuid  # names stay unique per test through tmp_path


def test_a_user_who_never_synced_is_imported_empty_and_said_so(tmp_path: Path,
                                                               source: Path) -> None:
    result = run(tmp_path, "import", "official", str(source),
                 env={**_users(), "SYNC_USER3": "cat:cat pass"})
    assert result.returncode == 0, result.stderr
    assert "imported 3 of 3 users" in result.stdout
    assert "ankiserv: cat: the old server holds no collection for this user: it starts" \
        " empty" in result.stderr
    assert users(tmp_path) == ["ann", "ben", "cat"]
