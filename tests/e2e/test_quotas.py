"""Quotas with a real client: a full upload or a media upload past the user's quota is
refused with a message Anki shows, and the server stores none of it. Quotas are set with
`ankiserv user quota`."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from anki.errors import BackendError

from tests.media.devices import sync_media
from tests.support.anki_client import Profile, add_basic_note
from tests.support.server import RunningServer

pytestmark = pytest.mark.e2e
REFUSED = "larger than this server allows for your account (1 MB)"


def _account(server: RunningServer, *quota: str) -> tuple[str, str]:
    name, password = f"user-{uuid.uuid4().hex[:8]}", "pw-" + uuid.uuid4().hex[:8]
    server.add_user(name, password)
    result = server.cli("user", "quota", name, *quota)
    assert result.returncode == 0, result.stderr
    return name, password


def test_a_collection_past_the_quota_is_refused_with_a_message(
    server: RunningServer, profiles: list[Path]
) -> None:
    name, password = _account(server, "--collection-mb", "1")
    device = Profile.create(profiles[0])
    add_basic_note(device.col, "big", "x" * (2 * 1024 * 1024))
    device.login(name, password, server.endpoint)
    with pytest.raises(BackendError) as refused:
        device.sync()
    assert REFUSED in str(refused.value)
    device.close()
    other = Profile.create(profiles[1])  # the server still holds an empty collection
    other.login(name, password, server.endpoint)
    other.sync(upload=False)
    assert other.col.note_count() == 0
    other.close()


def test_media_past_the_quota_is_refused_with_a_message(
    server: RunningServer, profiles: list[Path]
) -> None:
    name, password = _account(server, "--media-mb", "1")
    device = Profile.create(profiles[0])
    add_basic_note(device.col, "with media")
    for i in range(2):
        device.col.media.write_data(f"{i}.bin", bytes([i]) * (700 * 1024))
    device.login(name, password, server.endpoint)
    device.sync()  # the collection fits
    with pytest.raises(BackendError) as refused:
        sync_media(device)
    assert REFUSED in str(refused.value)
    device.close()
    listed = server.cli("user", "quota", name)
    assert listed.stdout == "collection: no limit (server default)\nmedia: 1 MB\n"
