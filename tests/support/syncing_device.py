"""A real device (anki 26.9.3) in a thread of its own: it adds a note, now and then a
media file, and syncs, again and again, recording what it (and so the server) holds
after each sync, until told to stop."""

from __future__ import annotations

import threading
from pathlib import Path

from tests.media.devices import folder_files, sync_all, write_files
from tests.support.anki_client import Profile, add_basic_note

# (note fields, media file names) after a sync.
State = tuple[frozenset[str], frozenset[str]]


def state_of(device: Profile) -> State:
    fronts = frozenset(device.col.db.list("select flds from notes"))
    return fronts, frozenset(folder_files(device))


class SyncingDevice(threading.Thread):
    """Logs in as `account` at `endpoint` (its host key kept in `directory/hkey`); the
    test reads `syncs`, `states` and `error` (None unless a sync failed)."""

    def __init__(self, directory: Path, account: tuple[str, str], endpoint: str,
                 media_every: int = 2) -> None:
        super().__init__(daemon=True)
        self.directory, self.account, self.endpoint = directory, account, endpoint
        self.media_every = media_every
        self.states: list[State] = [(frozenset(), frozenset())]
        self.stop = threading.Event()
        self.syncs = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            device = Profile.create(self.directory)
            auth = device.login(*self.account, self.endpoint)
            (self.directory / "hkey").write_text(auth.hkey)
            name = self.account[0]
            while not self.stop.is_set():
                add_basic_note(device.col, f"{name} {self.syncs}")
                if self.syncs % self.media_every == 0:
                    write_files(device, {f"{name}-{self.syncs}.txt": f"{self.syncs}".encode()})
                sync_all(device, upload=True, again=False)
                self.states.append(state_of(device))
                self.syncs += 1
            device.close()
        except BaseException as e:  # reported by the test
            self.error = e
