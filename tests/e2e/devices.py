"""Helpers shared by the normal-sync e2e tests: two devices of one account, convergence."""

from __future__ import annotations

import math
import re
import time
import uuid
from pathlib import Path
from typing import Any

from anki.collection import Collection
from anki.errors import SyncError

from tests.support.anki_client import Profile, add_basic_note, content
from tests.support.server import RunningServer, add_user_in_process

NO_CHANGES, FULL_SYNC, FULL_DOWNLOAD, FULL_UPLOAD = 0, 2, 3, 4


def new_account(server: RunningServer) -> tuple[str, str]:
    """A fresh user on `server`: (name, password)."""
    name, password = f"user-{uuid.uuid4().hex[:8]}", "pass-" + uuid.uuid4().hex[:6]
    add_user_in_process(server, name, password)
    return name, password


def seed(col: Collection) -> None:
    """A small collection with two decks, a reversed note type in use and tags."""
    for i in range(4):
        add_basic_note(col, f"seed {i}", f"back {i}", tags=["seed"])
    for i in range(3):
        add_basic_note(col, f"extra {i}", deck="Extra", tags=["extra"])
    reversed_type = col.models.by_name("Basic (and reversed card)")
    note = col.new_note(reversed_type)
    note["Front"], note["Back"] = "two-way", "both"
    col.add_note(note, col.decks.id("Default"))


def linked_pair(server_endpoint: str, account: tuple[str, str],
                dirs: list[Path]) -> tuple[Profile, Profile]:
    """Device A uploads a seeded collection, device B downloads it."""
    a, b = Profile.create(dirs[0]), Profile.create(dirs[1])
    seed(a.col)
    a.login(*account, server_endpoint)
    assert sync(a) == FULL_UPLOAD
    b.login(*account, server_endpoint)
    assert sync(b) == FULL_DOWNLOAD
    assert_converged(a, b)
    return a, b


def downloaded_content(endpoint: str, account: tuple[str, str], directory: Path
                       ) -> dict[str, Any]:
    """What a fresh device downloads now (a download also ends any sync in progress)."""
    device = Profile.create(directory / f"probe-{uuid.uuid4().hex[:6]}")
    try:
        device.login(*account, endpoint)
        device.sync(upload=False)
        return content(device.col)
    finally:
        device.close()


def differences(a: Profile, b: Profile) -> dict[str, Any]:
    """For each part of `content()` that differs, the items only A has and only B has."""
    ca, cb = content(a.col), content(b.col)
    diff: dict[str, Any] = {}
    for key in ca:
        if ca[key] != cb[key]:
            only_a = [item for item in ca[key] if item not in cb[key]]
            only_b = [item for item in cb[key] if item not in ca[key]]
            diff[key] = {"only a": only_a, "only b": only_b}
    return diff


def assert_converged(a: Profile, b: Profile) -> None:
    diff = differences(a, b)
    assert not diff, f"devices differ in {sorted(diff)}: {diff}"


def sync(device: Profile, *, upload: bool | None = None) -> int:
    """`Profile.sync`, then drop the library's note type cache as desktop Anki does.

    NOTE: anki 26.9.3's Python `ModelManager` caches note types and a normal sync does
    not clear that cache, so without this a device would show stale note types.
    """
    required = device.sync(upload=upload)
    device.col.models._clear_cache()
    return required


def sync_outcome(device: Profile) -> str:
    """`ok:<required>` for a sync that completed, `conflict` when the server said another
    device syncs, `error:<message>` for anything else."""
    try:
        return f"ok:{sync(device)}"
    except SyncError as error:
        conflict = "Only one copy of Anki can sync" in str(error)
        return "conflict" if conflict else f"error:{error}"


def normal_sync(*devices: Profile) -> None:
    """Sync each device in turn; every one must be a normal (not a full) sync."""
    for device in devices:
        assert sync(device) == NO_CHANGES


def exchange(a: Profile, b: Profile) -> None:
    """A sends, B sends and receives, A receives; then both must show the same content."""
    normal_sync(a, b, a)
    assert_converged(a, b)


def next_second() -> None:
    """Wait until the wall clock enters a new second, so the next mtime is strictly later."""
    now = time.time()
    time.sleep(math.floor(now) + 1 - now + 0.01)


def note_ids(col: Collection, search: str = "") -> list[int]:
    return [int(n) for n in col.find_notes(search)]


def front_texts(col: Collection) -> set[str]:
    return {col.get_note(n).fields[0] for n in col.find_notes("")}


def requests_in(log: str, method: str) -> int:
    """How many `POST /sync/<method>` lines the gunicorn access log shows."""
    return len(re.findall(rf'"POST /sync/{method} HTTP', log))


class LogMark:
    """The part of the server log written after this mark (tests run one at a time)."""

    def __init__(self, server: RunningServer) -> None:
        self._server = server
        self._start = len(server.log())

    def text(self) -> str:
        return self._server.log()[self._start:]

    def wait_for(self, method: str, count: int = 1, timeout: float = 5) -> str:
        """Wait until the access log shows `count` calls of `method`; return the text.

        Gunicorn writes an access line just after it sends the answer, so a client can
        finish before the line of its last request is written.
        """
        deadline = time.monotonic() + timeout
        while requests_in(self.text(), method) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.text()
