"""Whole-server backups taken while a real device keeps syncing: each one, restored into
an empty database and media folder, holds exactly a state some sync committed, and the
devices sync on against the restored server. Every backend."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from anki.errors import SyncError
from anki.sync import SyncAuth

from tests.conftest import _create_database, _drop_database, server_url
from tests.media.devices import sync_all, sync_media
from tests.support.anki_client import Profile, add_basic_note
from tests.support.server import ANKISERV, RunningServer, server_env, start_server
from tests.support.syncing_device import State, SyncingDevice, state_of

pytestmark = pytest.mark.e2e
FULL_SYNC, FULL_DOWNLOAD, NO_CHANGES = 2, 3, 0


def _committed(state: State, states: list[State]) -> bool:
    """Whether `state` is what the server held after some commit: a sync's collection
    and its media are committed one after the other, so the notes of sync k may come
    with the media of sync k - 1."""
    notes = [i for i, s in enumerate(states) if s[0] == state[0]]
    media = [i for i, s in enumerate(states) if s[1] == state[1]]
    return any(0 <= n - m <= 1 for n in notes for m in media)


@pytest.fixture
def fresh_database(backend: str, tmp_path: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'restored.db'}"
        return
    url = _create_database(server_url(backend))
    yield url
    _drop_database(server_url(backend), url)


def _restore(folder: Path, data_dir: Path, url: str, *more: str
             ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ANKISERV, "restore", str(folder), *more],
                          env=server_env(data_dir, url), capture_output=True, text=True,
                          timeout=300, check=False)


def test_backups_during_syncs_restore_a_committed_state(
    server: RunningServer, account: tuple[str, str], tmp_path: Path, fresh_database: str
) -> None:
    syncing = SyncingDevice(tmp_path / "device", account, server.endpoint)
    syncing.start()
    backups = []
    try:
        for i in range(2):
            while syncing.syncs < 2 * (i + 1) and syncing.is_alive():
                time.sleep(0.05)
            folder = tmp_path / f"backup-{i}"
            result = server.cli("backup", str(folder))
            assert result.returncode == 0, result.stderr
            assert result.stdout.startswith(f"backup written to {folder}:")
            backups.append(folder)
    finally:
        syncing.stop.set()
        syncing.join(timeout=120)
    assert syncing.error is None, syncing.error
    assert syncing.syncs >= 4

    # Each backup, restored into an empty server, holds one committed state.
    restored_dir = tmp_path / "restored"
    result = _restore(backups[-1], restored_dir, fresh_database)
    assert result.returncode == 0, result.stderr
    assert "each device will be asked for a full sync" in result.stdout
    restored = start_server(restored_dir, fresh_database)
    try:
        reader = Profile.create(tmp_path / "reader")
        reader.login(*account, restored.endpoint)  # the password came back too
        sync_all(reader, upload=False)
        assert _committed(state_of(reader), syncing.states)
        assert state_of(reader) != syncing.states[0]

        # The device that kept syncing is ahead of the backup: asked for a full sync, it
        # uploads, and the others follow with normal syncs.
        device = Profile.create(tmp_path / "device")  # the same profile, reopened
        device.auth = SyncAuth(hkey=_hkey(tmp_path / "device"), endpoint=restored.endpoint)
        assert device.col.sync_collection(device.auth, sync_media=False).required == FULL_SYNC
        try:
            sync_all(device, upload=True, again=False)
        except SyncError as e:
            # Its media sync finds files the server lacks, resets itself and asks for
            # another sync (as against any server that lost files), which sends them.
            assert "sync again" in str(e)
        sync_media(device)
        assert sync_all(reader, upload=False) in (FULL_DOWNLOAD, FULL_SYNC)
        assert state_of(reader) == state_of(device) == syncing.states[-1]
        add_basic_note(reader.col, "after the restore")
        assert sync_all(reader) == NO_CHANGES
        assert sync_all(device) == NO_CHANGES
        assert state_of(device) == state_of(reader)
        device.close()
        reader.close()
        restored.add_user("added-after-restore-" + account[0], "pw")  # ids go on
    finally:
        restored.stop()

    for folder in backups[:-1]:  # the earlier one too, into a SQLite server of its own
        other = tmp_path / f"other-{folder.name}"
        result = _restore(folder, other, f"sqlite:///{other / 'ankiserv.db'}")
        assert result.returncode == 0, result.stderr
        check = start_server(other, f"sqlite:///{other / 'ankiserv.db'}")
        try:
            probe = Profile.create(tmp_path / f"probe-{folder.name}")
            probe.login(*account, check.endpoint)
            sync_all(probe, upload=False)
            assert _committed(state_of(probe), syncing.states)
            probe.close()
        finally:
            check.stop()


def _hkey(profile: Path) -> str:
    """The host key the device got at login (kept by the test in its profile folder)."""
    return (profile / "hkey").read_text()


def test_restore_refuses_a_database_or_media_folder_in_use(
    server: RunningServer, account: tuple[str, str], tmp_path: Path
) -> None:
    folder = tmp_path / "backup"
    assert server.cli("backup", str(folder)).returncode == 0
    again = server.cli("backup", str(folder))
    assert again.returncode == 1 and "exists and is not an empty folder" in again.stderr
    into_live = _restore(folder, server.data_dir, server.database_url)
    assert into_live.returncode == 1
    assert "is not empty" in into_live.stderr or "holds users already" in into_live.stderr
    not_backup = _restore(tmp_path, tmp_path / "x", f"sqlite:///{tmp_path / 'x.db'}")
    assert not_backup.returncode == 1 and "is not an ankiserv backup" in not_backup.stderr
    for result in (again, into_live, not_backup):
        assert result.stderr.count("\n") == 1, result.stderr
