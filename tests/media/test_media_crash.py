"""A server killed in the middle of an upload batch loses nothing and keeps no half file.

Three moments: while the request body is still arriving (a slow client sent half of
it), while a blob is being written, and after the blobs are stored but before the index
commits (the test holds the user's lock). Afterwards every blob holds the bytes its
sha1 name promises (`.incoming-*` temporary files may remain: nothing refers to them),
the index and media usn are as before, and once the server is restarted a real client's
next media sync completes and a second device gets the same files. Every backend.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from anki.errors import NetworkError, SyncError

from adapters.sql.uow import SqlUnitOfWork
from domain.model import UserId
from tests.http.wire import frame
from tests.media.devices import (
    FULL_DOWNLOAD,
    FULL_UPLOAD,
    NO_CHANGES,
    ServerSide,
    folder_files,
    kill_server,
    kill_workers,
    new_device,
    point_at,
    server_side,
    sync_all,
    wait_for_media_sync,
    wait_until,
    worker_pids,
    write_files,
)
from tests.media.support import CLIENT_VERSION, assert_blobs_whole, files_under, sha1, upload_zip
from tests.support.anki_client import Profile, add_basic_note
from tests.support.server import RunningServer, start_server

pytestmark = pytest.mark.e2e

HUGE = 6 * 1024 * 1024  # big enough that storing its blob takes a moment
BASE_FILES = {"base-1.txt": b"synced before the crash", "bäse-2.txt": b"also synced"}


@pytest.fixture
def crash_server(db_url: str, tmp_path: Path) -> Iterator[RunningServer]:
    """One worker, so the request being killed is the one we sent."""
    running = start_server(tmp_path / "server", db_url, workers=1)
    yield running
    kill_server(running)


def restarted(old: RunningServer, db_url: str) -> RunningServer:
    """A new server process on the same data folder and database (the old one is killed:
    nothing may depend on a clean shutdown)."""
    kill_server(old)
    return start_server(old.data_dir, db_url, workers=1)


def server_state(side: ServerSide, user: int) -> tuple[Any, ...]:
    return side.entries(user), side.usn(user)


def synced_device(directory: Path, account: tuple[str, str, int], server: RunningServer) -> Profile:
    device = new_device(directory, account, server)
    add_basic_note(device.col, "crash test")
    write_files(device, BASE_FILES)
    assert sync_all(device, upload=True) == FULL_UPLOAD
    return device


def send_partial_upload(server: RunningServer, key: str, body: bytes) -> socket.socket:
    """Start an uploadChanges request and send only the first half of its body."""
    url = urllib.parse.urlsplit(server.url)
    assert url.hostname is not None and url.port is not None
    header = json.dumps({"v": 11, "k": key, "c": CLIENT_VERSION, "s": "crash"})
    head = (
        f"POST /msync/uploadChanges HTTP/1.1\r\nHost: {url.netloc}\r\n"
        f"anki-sync: {header}\r\nContent-Type: application/octet-stream\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    sock = socket.create_connection((url.hostname, url.port), timeout=30)
    sock.sendall(head + body[: len(body) // 2])
    return sock


def assert_converges(
    device: Profile,
    server: RunningServer,
    side: ServerSide,
    account: tuple[str, str, int],
    directory: Path,
) -> None:
    """After the restart: the device syncs, and a new device gets the same media."""
    point_at(device, server)
    write_files(device, {"after-restart.txt": b"added after the restart"})
    assert sync_all(device) == NO_CHANGES
    other = new_device(directory, account, server)
    try:
        assert sync_all(other, upload=False) == FULL_DOWNLOAD
        assert folder_files(device) == folder_files(other) == side.present(account[2])
    finally:
        other.close()
    assert assert_blobs_whole(side.blob_folder(account[2])) >= set(folder_files(device).values())


def test_server_killed_mid_upload_keeps_no_partial_blob_and_client_converges(
    crash_server: RunningServer, db_url: str, tmp_path: Path
) -> None:
    with server_side(crash_server) as side:
        account = side.new_account()
        user = account[2]
        device = synced_device(tmp_path / "a", account, crash_server)
        folder = side.blob_folder(user)
        try:
            before, blobs = server_state(side, user), files_under(folder)
            kill_while_receiving(crash_server, device)
            assert server_state(side, user) == before
            assert files_under(folder) == blobs  # nothing stored, not even a temporary file

            kill_while_writing_blob(crash_server, device, folder)
            assert server_state(side, user) == before
            assert_blobs_whole(folder)  # a partial file only under .incoming-*

            new = kill_before_commit(crash_server, device, folder, side, user)
            assert server_state(side, user) == before
            # Staged under temporary names only: blobs are published with the index.
            assert not assert_blobs_whole(folder) & new
            assert staged_contents(folder) & new

            server = restarted(crash_server, db_url)
            try:
                assert_converges(device, server, side, account, tmp_path / "b")
                assert {"huge.bin", "new-1.bin", "nëw-2.txt"} <= set(side.present(user))
                assert "crash.bin" not in side.present(user)
            finally:
                kill_server(server)
        finally:
            device.close()


def kill_while_receiving(server: RunningServer, device: Profile) -> None:
    """Send half an upload's body, and kill the worker while it waits for the rest."""
    tmp_dir = server.data_dir / "tmp"
    old_tmp = set(tmp_dir.iterdir()) if tmp_dir.exists() else set()
    body = frame(upload_zip({"crash.bin": os.urandom(8 * 1024 * 1024)}))
    assert device.auth is not None
    sock = send_partial_upload(server, device.auth.hkey, body)
    try:
        # The worker reads a request whole before the application sees it: once half the
        # body waits in its temporary file under tmp/requests, the request is mid-way.
        wait_until(lambda: _holds_request_file(server)
                   or any(p.stat().st_size > 0 for p in set(tmp_dir.iterdir()) - old_tmp))
        killed = kill_workers(server)
    finally:
        sock.close()
    wait_until(lambda: set(worker_pids(server)) - set(killed))


def _holds_request_file(server: RunningServer) -> bool:
    spool = str(server.data_dir / "tmp" / "requests")
    for pid in worker_pids(server):
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    if os.readlink(f"/proc/{pid}/fd/{fd}").startswith(spool):
                        return True
    return False


def kill_while_writing_blob(server: RunningServer, device: Profile, folder: Path) -> None:
    """Let the client upload a big file; kill the worker while its blob is being written."""
    write_files(device, {"huge.bin": os.urandom(HUGE)})
    old_files = set(folder.rglob("*"))
    assert device.auth is not None
    device.col.sync_media(device.auth)
    # Whatever its name, the first new file in the folder is the blob being written.
    wait_until(lambda: new_file_with_data(folder, old_files), interval=0.0005)
    killed = kill_workers(server)
    with pytest.raises((NetworkError, SyncError)):
        wait_for_media_sync(device)
    wait_until(lambda: set(worker_pids(server)) - set(killed))


def staged_contents(folder: Path) -> set[str]:
    """The sha1s of the bytes in the `.incoming-*` files of a user's folder."""
    return {digest for name, digest in files_under(folder).items()
            if name.startswith(".incoming-")}


def new_file_with_data(folder: Path, old_files: set[Path]) -> bool:
    for path in set(folder.rglob("*")) - old_files:
        with contextlib.suppress(FileNotFoundError):
            if path.is_file() and path.stat().st_size > 0:
                return True
    return False


def kill_before_commit(
    server: RunningServer, device: Profile, folder: Path, side: ServerSide, user: int
) -> set[str]:
    """Hold the user's lock so the upload stages its blobs and then waits to publish and
    register them; kill the whole server then. Returns the sha1s of the files uploaded."""
    new = {"new-1.bin": os.urandom(300_000), "nëw-2.txt": b"second new file"}
    write_files(device, new)
    stored = {p.name for p in folder.rglob("*")}
    pending = ({sha1(d) for d in new.values()} | {folder_files(device)["huge.bin"]}) - stored
    assert pending
    assert device.auth is not None
    with SqlUnitOfWork(side.services.engine) as uow:
        uow.collections.lock(UserId(user))  # the upload's transaction must wait
        device.col.sync_media(device.auth)
        wait_until(lambda: pending & staged_contents(folder))
        kill_server(server)
    with pytest.raises((NetworkError, SyncError)):
        wait_for_media_sync(device)
    return pending
