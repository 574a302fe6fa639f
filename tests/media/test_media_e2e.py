"""Two real `anki` 26.9.3 devices of one account share media through a real server.

Device A uploads its collection and media right after a full sync, device B downloads
both; then both change files and sync normally, and a third device checks what a new
device gets. Every backend.
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.media.devices import (
    FULL_DOWNLOAD,
    FULL_UPLOAD,
    NO_CHANGES,
    LogMark,
    ServerSide,
    folder_files,
    media_folder,
    new_device,
    remove_files,
    server_side,
    sync_all,
    write_files,
)
from tests.media.support import assert_blobs_whole, remote_json, sha1
from tests.support.anki_client import add_basic_note
from tests.support.server import RunningServer

pytestmark = pytest.mark.e2e

NFC_NAME = "café ☕ 漢字 🙂.txt"
NFD_VIA_CLIENT = unicodedata.normalize("NFD", "naïve résumé.txt")
NFD_ON_DISK = unicodedata.normalize("NFD", "Zoë on disk.txt")
BIG = 5 * 1024 * 1024


@pytest.fixture
def side(media_server: RunningServer) -> Iterator[ServerSide]:
    with server_side(media_server) as view:
        yield view


def test_two_devices_exchange_media_and_converge(
    media_server: RunningServer, side: ServerSide, tmp_path: Path
) -> None:
    account = side.new_account()
    user = account[2]
    a = new_device(tmp_path / "a", account, media_server)
    b = new_device(tmp_path / "b", account, media_server)
    c = new_device(tmp_path / "c", account, media_server)
    try:
        # --- device A: a collection and a varied media folder, then a full upload.
        add_basic_note(a.col, "with media", '<img src="big.bin">')
        assert a.col.media.write_data(NFC_NAME, b"nfc name") == NFC_NAME
        client_nfc = a.col.media.write_data(NFD_VIA_CLIENT, b"nfd name, normalised")
        assert client_nfc == unicodedata.normalize("NFC", NFD_VIA_CLIENT) != NFD_VIA_CLIENT
        small_a = {f"a-small-{i:02}.bin": os.urandom(200_000) for i in range(30)}
        write_files(
            a,
            {
                NFD_ON_DISK: b"a non-normalised name: the client skips it",
                "empty.txt": b"",
                "big.bin": os.urandom(BIG),
                "dup-1.txt": b"the same bytes twice",
                "dup-2.txt": b"the same bytes twice",
                "replace-me.txt": b"version 1",
                "delete-me.txt": b"soon gone",
                **small_a,
            },
        )
        local_only = {NFD_ON_DISK, "empty.txt"}
        expected = {n: s for n, s in folder_files(a).items() if n not in local_only}
        assert len(expected) == 37

        mark = LogMark(media_server)
        assert sync_all(a, upload=True) == FULL_UPLOAD
        assert side.present(user) == expected
        assert side.usn(user) == 37
        blobs = assert_blobs_whole(side.blob_folder(user))
        assert blobs == set(expected.values())
        assert len(blobs) == len(expected) - 1  # dup-1.txt and dup-2.txt: one blob
        assert mark.calls("uploadChanges", at_least=3) >= 3  # 25 files or 2.5 MiB a batch

        # --- device B: a full download, then all of A's synced media.
        mark = LogMark(media_server)
        assert sync_all(b, upload=False) == FULL_DOWNLOAD
        assert folder_files(b) == expected  # no empty file, no NFD name in any form
        # 11 MiB in zips that stop after passing 2.5 MiB cannot come in 2 answers.
        assert mark.calls("downloadFiles", at_least=3) >= 3

        # --- both change media; normal syncs A, B, A.
        remove_files(a, "delete-me.txt", "dup-1.txt")
        write_files(a, {"replace-me.txt": b"version 2, longer"})
        small_b = {f"b-small-{i:02}.txt": f"from B {i}".encode() * 100 for i in range(30)}
        write_files(b, small_b)
        remove_files(b, NFC_NAME)
        mark = LogMark(media_server)
        assert [sync_all(d) for d in (a, b, a)] == [NO_CHANGES] * 3
        assert mark.calls("uploadChanges", at_least=3) >= 3  # A: 1, B: 2 (30 files)
        assert mark.calls("downloadFiles", at_least=3) >= 3  # B: 1, A: 2 (30 files)

        for name in ("delete-me.txt", "dup-1.txt", NFC_NAME):
            del expected[name]
        expected["replace-me.txt"] = sha1(b"version 2, longer")
        expected.update({n: sha1(d) for n, d in small_b.items()})
        local = folder_files(a)
        assert {n: local.pop(n) for n in local_only} == {
            NFD_ON_DISK: sha1(b"a non-normalised name: the client skips it"),
            "empty.txt": sha1(b""),
        }
        assert local == expected
        assert folder_files(b) == expected

        # --- the server: index, usn, blobs stored once by content, sanity.
        entries = side.entries(user)
        assert side.present(user) == expected
        deleted = {e.fname for e in entries if e.deleted}
        assert deleted == {"delete-me.txt", "dup-1.txt", NFC_NAME}
        assert [e.usn for e in entries] == sorted(e.usn for e in entries)
        usn = side.usn(user)
        assert usn == entries[-1].usn == 37 + 3 + 31  # A: 2 deletions, 1 replacement
        blobs = assert_blobs_whole(side.blob_folder(user))
        assert blobs == set(expected.values())  # old versions and deleted files are gone
        assert sha1(b"the same bytes twice") in blobs  # dup-1.txt went, dup-2.txt needs it

        key = a.auth.hkey if a.auth else ""
        url = media_server.url
        answer = remote_json(url, "msync/mediaSanity", {"local": len(expected)}, key=key)
        assert answer == {"data": "OK", "err": ""}
        answer = remote_json(url, "msync/mediaSanity", {"local": len(expected) + 1}, key=key)
        assert answer == {"data": "mediaSanity", "err": ""}
        assert a.auth is not None
        out = a.col.sync_collection(a.auth, sync_media=False)
        assert out.server_media_usn == usn  # meta's media_usn
        begin = remote_json(url, "msync/begin", {"v": "anki,26.09.3 (29bb700b),linux"}, key=key)
        assert begin["data"]["usn"] == usn

        # --- a new device gets exactly the synced media.
        assert sync_all(c, upload=False) == FULL_DOWNLOAD
        assert folder_files(c) == expected
        assert (media_folder(c) / "dup-2.txt").read_bytes() == b"the same bytes twice"
    finally:
        for profile in (a, b, c):
            profile.close()


def test_same_file_added_on_both_devices_is_one_change(
    media_server: RunningServer, side: ServerSide, tmp_path: Path
) -> None:
    account = side.new_account()
    user = account[2]
    a = new_device(tmp_path / "a", account, media_server)
    b = new_device(tmp_path / "b", account, media_server)
    try:
        add_basic_note(a.col, "note")
        assert sync_all(a, upload=True) == FULL_UPLOAD
        assert sync_all(b, upload=False) == FULL_DOWNLOAD
        same = {"both.txt": b"identical on both devices", "ü.txt": b"also identical"}
        write_files(a, same)
        write_files(b, same)
        sync_all(a)
        usn = side.usn(user)
        sync_all(b)  # identical bytes: nothing to download, no new usn
        sync_all(a)
        assert side.usn(user) == usn == 2
        assert (
            folder_files(a)
            == folder_files(b)
            == side.present(user)
            == {n: sha1(d) for n, d in same.items()}
        )
        assert assert_blobs_whole(side.blob_folder(user)) == {sha1(d) for d in same.values()}
        # B replaces one, A deletes the other, both at once.
        write_files(b, {"both.txt": b"B's new version"})
        remove_files(a, "ü.txt")
        for d in (a, b, a):
            sync_all(d)
        assert (
            folder_files(a)
            == folder_files(b)
            == side.present(user)
            == {"both.txt": sha1(b"B's new version")}
        )
        assert assert_blobs_whole(side.blob_folder(user)) == {sha1(b"B's new version")}
    finally:
        a.close()
        b.close()


@pytest.mark.parametrize("early", ["0-early.txt", "early.txt", "z-early.txt"])
def test_a_file_removed_before_the_first_media_sync_does_not_bring_others_back(
    media_server: RunningServer, side: ServerSide, tmp_path: Path, early: str
) -> None:
    """A's first media upload carries the deletion of a file the server never had. Every
    change an upload processes must move the server's media usn, or A's bookkeeping falls
    behind and a later deletion is undone by downloading the file again."""
    account = side.new_account()
    user = account[2]
    a = new_device(tmp_path / "a", account, media_server)
    b = new_device(tmp_path / "b", account, media_server)
    try:
        add_basic_note(a.col, "note")
        files = {early: b"gone", "keep.txt": b"kept", "later.txt": b"deleted later"}
        for name, data in files.items():  # as the editor adds them: registered at once
            assert a.col.media.write_data(name, data) == name
        a.col.media.trash_files([early])  # so its first upload deletes a file never sent
        # One media sync after each collection sync, as desktop Anki runs them.
        assert sync_all(a, upload=True, again=False) == FULL_UPLOAD
        assert sync_all(b, upload=False, again=False) == FULL_DOWNLOAD
        assert folder_files(b) == {n: sha1(files[n]) for n in ("keep.txt", "later.txt")}

        remove_files(a, "later.txt")
        for device in (a, b, a):
            sync_all(device, again=False)
        expected = {"keep.txt": sha1(b"kept")}
        assert folder_files(a) == folder_files(b) == side.present(user) == expected
    finally:
        a.close()
        b.close()
