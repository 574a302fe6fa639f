"""Per-user export and import in Anki's own backup format, checked with the real client
library: what `ankiserv user export` writes, Anki imports whole (notes, cards, reviews,
decks, note types, media bytes); what Anki exports, `ankiserv user import` restores, and
devices then full-sync to it."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
import zipfile
from pathlib import Path

import pytest
from anki._backend import RustBackend
from anki.collection import Collection

from tests.media.devices import folder_files, sync_all, write_files
from tests.support.anki_client import Profile, add_basic_note, content
from tests.support.server import RunningServer

pytestmark = pytest.mark.e2e
FULL_DOWNLOAD = 3
NO_CHANGES = 0
PICTURE = bytes(range(256)) * 40


def _studied_device(directory: Path, account: tuple[str, str], server: RunningServer
                    ) -> Profile:
    """A device with notes in two decks, a review, a custom note type and media, synced."""
    device = Profile.create(directory)
    device.login(*account, server.endpoint)
    add_basic_note(device.col, "front <img src='pic.png'>", "back", tags=["t1"])
    add_basic_note(device.col, "in another deck", deck="Other::Child")
    model = device.col.models.copy(device.col.models.by_name("Basic"))
    model["name"] = "Copied type"
    device.col.models.update_dict(model)
    card = device.col.sched.getCard()
    assert card is not None
    device.col.sched.answerCard(card, 3)
    write_files(device, {"pic.png": PICTURE, "sound é.mp3": b"sound" * 10})
    assert sync_all(device, upload=True) in (NO_CHANGES, 4, 2)
    return device


def _imported_by_anki(package: Path, into: Path) -> Collection:
    """What Anki desktop's File → Import of a .colpkg restores."""
    into.mkdir()
    (into / "collection.media").mkdir()
    RustBackend().import_collection_package(
        col_path=str(into / "collection.anki2"), backup_path=str(package),
        media_folder=str(into / "collection.media"), media_db=str(into / "media.db"))
    return Collection(str(into / "collection.anki2"))


def _media(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha1(p.read_bytes()).hexdigest() for p in folder.iterdir()}


def test_an_exported_package_is_what_anki_imports(
    server: RunningServer, account: tuple[str, str], tmp_path: Path
) -> None:
    device = _studied_device(tmp_path / "device", account, server)
    package = tmp_path / "backup.colpkg"
    result = server.cli("user", "export", account[0], str(package))
    assert result.returncode == 0, result.stderr
    assert "exported 2 notes and 2 media files" in result.stdout

    restored = _imported_by_anki(package, tmp_path / "restored")
    try:
        assert content(restored) == content(device.col)
        assert restored.card_count() == 2 and len(content(restored)["revlog"]) == 1
        assert _media(Path(restored.media.dir())) == folder_files(device)
    finally:
        restored.close()
        device.close()


def test_a_new_user_exports_an_empty_collection(server: RunningServer,
                                                account: tuple[str, str], tmp_path: Path
                                                ) -> None:
    package = tmp_path / "empty.colpkg"
    assert server.cli("user", "export", account[0], str(package)).returncode == 0
    restored = _imported_by_anki(package, tmp_path / "restored")
    try:
        assert restored.note_count() == 0 and restored.decks.all_names_and_ids()
    finally:
        restored.close()


@pytest.mark.parametrize("kind", ["colpkg", "legacy colpkg", "anki2"])
def test_a_package_from_anki_replaces_the_collection_and_devices_full_sync(
    server: RunningServer, account: tuple[str, str], tmp_path: Path, kind: str
) -> None:
    device = _studied_device(tmp_path / "device", account, server)
    source = Profile.create(tmp_path / "source")
    add_basic_note(source.col, "restored note", "from a backup")
    add_basic_note(source.col, "second restored note")
    write_files(source, {"restored.png": PICTURE[::-1]})
    source.col.media.check()
    want = content(source.col)
    if kind == "anki2":
        source.close()
        backup = tmp_path / "backup.anki2"
        shutil.copy(source.path, backup)
    else:
        backup = tmp_path / "backup.colpkg"
        source.col.export_collection_package(str(backup), include_media=True,
                                             legacy=kind == "legacy colpkg")
    result = server.cli("user", "import", account[0], str(backup))
    assert result.returncode == 0, result.stderr
    assert "its devices will be asked for a full sync" in result.stdout

    assert device.col.sync_collection(device.auth, sync_media=False).required \
        in (2, FULL_DOWNLOAD)
    assert sync_all(device, upload=False) in (2, FULL_DOWNLOAD, NO_CHANGES)
    assert content(device.col)["notes"] == want["notes"]
    assert content(device.col)["cards"] == want["cards"]
    if kind == "anki2":  # the collection alone: media stay as they were
        assert set(folder_files(device)) == {"pic.png", "sound é.mp3"}
    else:
        assert folder_files(device) == {"restored.png":
                                        hashlib.sha1(PICTURE[::-1]).hexdigest()}
    again = Profile.create(tmp_path / "again")
    again.login(*account, server.endpoint)
    assert sync_all(again, upload=False) in (FULL_DOWNLOAD, NO_CHANGES)
    assert content(again.col)["notes"] == want["notes"]
    assert folder_files(again) == folder_files(device)
    device.close()
    again.close()


def before_collection(tmp_path: Path) -> bytes:
    """The collection file of the package the test exported first."""
    with zipfile.ZipFile(tmp_path / "before.colpkg") as package:
        return package.read("collection.anki21")


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def test_bad_files_are_refused_in_one_line_and_change_nothing(
    server: RunningServer, account: tuple[str, str], tmp_path: Path
) -> None:
    device = _studied_device(tmp_path / "device", account, server)
    before = server.cli("user", "export", account[0], str(tmp_path / "before.colpkg"))
    assert before.returncode == 0
    text = tmp_path / "notes.txt"
    text.write_text("not a collection")
    not_anki = tmp_path / "other.db"
    with sqlite3.connect(not_anki) as con:
        con.execute("create table t (x)")
    con.close()
    cases = {
        tmp_path / "missing.colpkg": "is not a file",
        text: "file is not a database",
        not_anki: "the collection is corrupt or not an Anki collection",
        _zip(tmp_path / "empty.colpkg", {"readme": b"x"}): "no collection in the package",
        _zip(tmp_path / "meta.colpkg", {"meta": b"\x08\x09"}): "package version 9 is not",
        _zip(tmp_path / "nomedia.colpkg", {"collection.anki21": b"garbage",
                                           "media": b"{not json"}): "media list is malformed",
        _zip(tmp_path / "escape.colpkg", {"collection.anki21": b"garbage",
                                          "media": b'{"../../escaped": "a.txt"}'}):
            "../../escaped is missing from the package",
        _zip(tmp_path / "slash.colpkg", {"collection.anki21": before_collection(tmp_path),
                                         "0": b"x", "media": b'{"0": "../a.txt"}'}):
            "separator",
    }
    for path, message in cases.items():
        result = server.cli("user", "import", account[0], str(path))
        assert result.returncode == 1, (path, result.stdout)
        assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
    unknown = server.cli("user", "import", "nobody-here", str(tmp_path / "before.colpkg"))
    assert unknown.returncode == 1 and "no user named nobody-here" in unknown.stderr
    no_export = server.cli("user", "export", "nobody-here", str(tmp_path / "x.colpkg"))
    assert no_export.returncode == 1 and "no user named nobody-here" in no_export.stderr
    nowhere = server.cli("user", "export", account[0], str(tmp_path / "no" / "x.colpkg"))
    assert nowhere.returncode == 1 and "is not a folder" in nowhere.stderr
    for result in (unknown, no_export, nowhere):
        assert result.stderr.count("\n") == 1, result.stderr
    assert not (tmp_path / "x.colpkg").exists()
    assert device.col.sync_collection(device.auth, sync_media=False).required == NO_CHANGES
    device.close()
