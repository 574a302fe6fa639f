"""Two ankiserv instances (two app hosts) sharing only the database and a media folder
(as an NFS or other shared mount would be): media written through one is read through
the other, and replaced or deleted files are seen the same way by both."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.media.devices import folder_files, remove_files, sync_all, write_files
from tests.support.anki_client import Profile, add_basic_note, content
from tests.support.server import start_server

pytestmark = pytest.mark.e2e
PICTURE = bytes(range(256)) * 300


def test_media_through_one_instance_is_read_through_the_other(
    db_url: str, tmp_path: Path
) -> None:
    shared = tmp_path / "shared-media"
    first = start_server(tmp_path / "host-a", db_url, ANKISERV_MEDIA_DIR=str(shared))
    second = start_server(tmp_path / "host-b", db_url, ANKISERV_MEDIA_DIR=str(shared))
    name = f"hosts-{uuid.uuid4().hex[:8]}"
    first.add_user(name, "pw")
    a, b = Profile.create(tmp_path / "a"), Profile.create(tmp_path / "b")
    try:
        a.login(name, "pw", first.endpoint)
        add_basic_note(a.col, "<img src='pic.png'>")
        write_files(a, {"pic.png": PICTURE, "old.txt": b"old"})
        sync_all(a, upload=True)
        b.login(name, "pw", second.endpoint)
        sync_all(b, upload=False)
        assert folder_files(b) == folder_files(a)

        write_files(b, {"pic.png": PICTURE[::-1], "new.txt": b"new"})
        remove_files(b, "old.txt")
        assert sync_all(b) == 0
        assert sync_all(a) == 0
        assert folder_files(a) == folder_files(b)
        assert set(folder_files(a)) == {"pic.png", "new.txt"}
        assert content(a.col) == content(b.col)
        # Neither host keeps media of its own: one folder holds every blob.
        assert not (tmp_path / "host-a" / "media").exists()
        assert not (tmp_path / "host-b" / "media").exists()
    finally:
        a.close()
        b.close()
        first.stop()
        second.stop()
