"""Real `anki` devices doing media sync against a real server, and what the server holds."""

from __future__ import annotations

import itertools
import os
import re
import signal
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from anki.sync import SyncAuth

from domain.media import MediaEntry
from domain.model import UserId
from entrypoints.config import Settings
from entrypoints.services import Services, build_services
from tests.media.support import sha1
from tests.support.anki_client import Profile
from tests.support.server import RunningServer

NO_CHANGES, FULL_SYNC, FULL_DOWNLOAD, FULL_UPLOAD = 0, 2, 3, 4
# NOTE: anki 26.9.3 rescans the media folder only when the folder's mtime (in seconds)
# changed, and rehashes a file only when its own mtime changed. Tests change files faster
# than that, so every change gets a distinct, made-up mtime in the past.
_MTIMES = itertools.count(int(time.time()) - 10_000_000, 7)


def touch(folder: Path, *names: str) -> None:
    """Give the named files, then the folder, new distinct mtimes."""
    for path in [*(folder / n for n in names), folder]:
        stamp = next(_MTIMES)
        os.utime(path, (stamp, stamp))


def media_folder(device: Profile) -> Path:
    return Path(device.col.media.dir())


def folder_files(device: Profile) -> dict[str, str]:
    """Every file in the device's media folder: name -> sha1 of its bytes."""
    folder = media_folder(device)
    return {p.name: sha1(p.read_bytes()) for p in folder.iterdir() if p.is_file()}


def write_files(device: Profile, files: dict[str, bytes]) -> None:
    """Write files straight into the media folder (as an add-on or the user might)."""
    folder = media_folder(device)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    touch(folder, *files)


def remove_files(device: Profile, *names: str) -> None:
    folder = media_folder(device)
    for name in names:
        (folder / name).unlink()
    touch(folder)


def wait_for_media_sync(device: Profile, timeout: float = 120) -> None:
    """Wait until the background media sync ends; re-raise its error if it failed."""
    deadline = time.monotonic() + timeout
    while device.col.media_sync_status().active:
        assert time.monotonic() < deadline, "media sync did not finish"
        time.sleep(0.02)


def sync_media(device: Profile) -> None:
    assert device.auth is not None
    device.col.sync_media(device.auth)
    wait_for_media_sync(device)


def sync_all(device: Profile, *, upload: bool | None = None, again: bool = True) -> int:
    """Sync collection and media as desktop Anki does, then (`again`) one more media sync.

    `sync_collection(sync_media=True)` starts the media sync itself after a normal sync;
    after a full sync, `full_upload_or_download` starts it with the media usn from meta.
    Returns the `required` value of the collection sync.
    """
    assert device.auth is not None
    out = device.col.sync_collection(device.auth, sync_media=True)
    if out.required in (FULL_SYNC, FULL_UPLOAD, FULL_DOWNLOAD):
        if out.required == FULL_SYNC:
            assert upload is not None, "full sync needs a direction"
        else:
            upload = out.required == FULL_UPLOAD
        device.col.close_for_full_sync()
        device.col.full_upload_or_download(
            auth=device.auth, server_usn=out.server_media_usn, upload=bool(upload)
        )
        device.col.reopen(after_full_sync=True)
    wait_for_media_sync(device)
    if again:
        sync_media(device)
    return int(out.required)


def new_device(directory: Path, account: tuple[str, str, int], server: RunningServer) -> Profile:
    """A new profile logged in to `server` as `account` (name, password, user id)."""
    profile = Profile.create(directory)
    profile.login(account[0], account[1], server.endpoint)
    return profile


def point_at(device: Profile, server: RunningServer) -> None:
    assert device.auth is not None
    device.auth = SyncAuth(hkey=device.auth.hkey, endpoint=server.endpoint)


@dataclass
class ServerSide:
    """A view of the running server's database and blob folders, from this process."""

    server: RunningServer
    services: Services

    def new_account(self) -> tuple[str, str, int]:
        name, password = f"user-{uuid.uuid4().hex[:8]}", "pass-" + uuid.uuid4().hex[:6]
        user_id = self.services.accounts.add_user(name, password)
        return name, password, int(user_id)

    def entries(self, user_id: int) -> list[MediaEntry]:
        """The whole index (deleted entries too), in usn order."""
        found, usn = [], 0
        while page := self.services.media.changes(UserId(user_id), usn):
            found.extend(page)
            usn = page[-1].usn
        return found

    def present(self, user_id: int) -> dict[str, str]:
        return {e.fname: e.sha1 for e in self.entries(user_id) if not e.deleted}

    def usn(self, user_id: int) -> int:
        return self.services.media.usn(UserId(user_id))

    def blob_folder(self, user_id: int) -> Path:
        return self.server.data_dir / "media" / str(user_id)

    def close(self) -> None:
        self.services.close()


@contextmanager
def server_side(server: RunningServer) -> Iterator[ServerSide]:
    side = ServerSide(server, build_services(Settings.from_env(server.env)))
    try:
        yield side
    finally:
        side.close()


class LogMark:
    """Counts the access-log lines of media calls written after this mark."""

    def __init__(self, server: RunningServer) -> None:
        self._server = server
        self._start = len(server.log())

    def calls(self, method: str, at_least: int = 0, timeout: float = 5) -> int:
        """How many `POST /msync/<method>` lines there are (waiting up to `timeout` for
        `at_least`: gunicorn writes the line just after sending the answer)."""
        deadline = time.monotonic() + timeout
        while True:
            text = self._server.log()[self._start :]
            count = len(re.findall(rf'"POST /msync/{method} HTTP', text))
            if count >= at_least or time.monotonic() > deadline:
                return count
            time.sleep(0.02)


def worker_pids(server: RunningServer) -> list[int]:
    """The gunicorn workers: the live children of the master process."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()
        if int(fields[1]) == server.process.pid and fields[0] != "Z":
            children.append(int(stat.parent.name))
    return sorted(children)


def kill_workers(server: RunningServer) -> list[int]:
    pids = worker_pids(server)
    assert pids, "no gunicorn worker to kill"
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    return pids


def kill_server(server: RunningServer) -> None:
    """SIGKILL the workers and the master: nothing gets to clean up."""
    workers = worker_pids(server)
    server.process.kill()
    server.process.wait()
    for pid in workers:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def wait_until(condition: Any, timeout: float = 30, interval: float = 0.002) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {condition}"
        time.sleep(interval)
