"""A gunicorn worker killed at any step of a normal sync loses nothing and adds nothing.

The real client syncs through `KillingProxy`, which SIGKILLs the (only) worker when a
chosen step arrives: before the server sees it, or after the server answered but
before the client gets the answer. The client's sync fails; the master starts a new
worker; the server's data must then be exactly what it was before the sync (or, when
`finish` was answered, exactly what the sync produced), and the client's next sync
must bring both devices together without losing anything.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from anki.errors import NetworkError, SyncError
from anki.sync import SyncAuth
from sqlalchemy import func, select, text

from adapters.sql.dialects import build_engine
from adapters.sql.tables import config, sync_sessions, sync_staging
from tests.e2e.devices import (
    downloaded_content,
    exchange,
    front_texts,
    linked_pair,
    new_account,
)
from tests.e2e.killing_proxy import AFTER, BEFORE, DURING, KillingProxy
from tests.support.anki_client import Profile, add_basic_note, content
from tests.support.server import RunningServer, start_server

pytestmark = pytest.mark.e2e

STEPS = ("start", "applyGraves", "applyChanges", "chunk", "applyChunk", "sanityCheck2",
         "finish")


@pytest.fixture(scope="module")
def crash_server(db_url: str, backend: str, tmp_path_factory: pytest.TempPathFactory
                 ) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp(f"crash-{backend}"), db_url, workers=1)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def proxy(crash_server: RunningServer) -> Iterator[KillingProxy]:
    running = KillingProxy(crash_server)
    yield running
    running.close()


@dataclass
class Devices:
    """Two synced devices of one account, shared by the tests of a module (set-up is slow)."""

    account: tuple[str, str]
    a: Profile
    b: Profile
    rounds: int = 0

    def close(self) -> None:
        self.a.close()
        self.b.close()


@pytest.fixture(scope="module")
def shared(crash_server: RunningServer) -> Iterator[dict[str, Devices]]:
    """Per server (so per backend): the devices the module's tests pass on."""
    holder: dict[str, Devices] = {}
    yield holder
    if "devices" in holder:
        holder["devices"].close()


@pytest.fixture
def devices(crash_server: RunningServer, shared: dict[str, Devices],
            tmp_path_factory: pytest.TempPathFactory) -> Devices:
    """The module's devices, in sync; a fresh pair if an earlier test left them broken."""
    current = shared.get("devices")
    if current is not None:
        try:
            pointed_at(current.a, crash_server.endpoint)
            exchange(current.a, current.b)
            current.rounds += 1
            return current
        except (AssertionError, SyncError, NetworkError):
            current.close()
    account = new_account(crash_server)
    tmp = tmp_path_factory.mktemp("devices")
    a, b = linked_pair(crash_server.endpoint, account, [tmp / "a", tmp / "b"])
    shared["devices"] = Devices(account, a, b)
    return shared["devices"]


def make_changes(device: Profile, round_: int) -> list[str]:
    """Local changes that need every step: graves, unchunked changes and chunks.

    Returns the fronts of the notes added.
    """
    col = device.col
    older = sorted(int(n) for n in col.find_notes(""))
    added = [f"crash {round_} add 1", f"crash {round_} add 2"]
    add_basic_note(col, added[0], "ü 漢字", tags=["crash"])
    add_basic_note(col, added[1], deck="Crash Deck")
    note = col.get_note(older[-1])
    note["Back"], note.tags = f"edited in round {round_}", ["edited"]
    col.update_note(note)
    col.remove_notes([older[0]])
    for ease, cid in zip((3, 1), col.find_cards(f'"front:crash {round_} *"'), strict=True):
        card = col.get_card(cid)
        card.start_timer()
        col.sched.answerCard(card, ease)
    conf = col.decks.get_config(1)
    conf["new"]["perDay"] = 20 + round_
    col.decks.update_config(conf)
    col.set_config("crashTest", {"round": round_})
    return added


def pointed_at(device: Profile, endpoint: str) -> None:
    assert device.auth is not None
    device.auth = SyncAuth(hkey=device.auth.hkey, endpoint=endpoint)


def leftover_sync_rows(db_url: str, device: Profile) -> tuple[int, int]:
    """(sessions, staged items) the server still keeps for the device's user."""
    assert device.auth is not None
    user_id = int(device.auth.hkey.split(".", 1)[0])
    engine = build_engine(db_url)
    try:
        with engine.connect() as conn:
            return tuple(  # type: ignore[return-value]
                conn.execute(select(func.count()).select_from(table)
                             .where(table.c.user_id == user_id)).scalar_one()
                for table in (sync_sessions, sync_staging)
            )
    finally:
        engine.dispose()


@pytest.mark.parametrize("moment", [BEFORE, AFTER])
@pytest.mark.parametrize("step", STEPS)
def test_killed_worker_leaves_the_server_as_before_and_the_next_sync_works(
    crash_server: RunningServer, proxy: KillingProxy, devices: Devices, tmp_path: Path,
    db_url: str, step: str, moment: str,
) -> None:
    a, b = devices.a, devices.b
    added = make_changes(a, devices.rounds)
    server_before, a_before = content(b.col), content(a.col)
    assert server_before != a_before

    pointed_at(a, proxy.endpoint)
    killed_before = len(proxy.killed)
    trap = proxy.arm(step, moment)
    with pytest.raises((SyncError, NetworkError)):
        a.sync()
    assert trap.fired, f"the client never sent {step}"
    assert len(proxy.killed) == killed_before + 1
    assert content(a.col) == a_before, "the client did not roll back its failed sync"
    proxy.wait_for_new_worker()

    committed = (step, moment) == ("finish", AFTER)
    stored = downloaded_content(crash_server.endpoint, devices.account, tmp_path)
    assert stored == (a_before if committed else server_before)

    pointed_at(a, crash_server.endpoint)
    exchange(a, b)
    assert content(a.col) == a_before
    assert set(added) <= front_texts(b.col)
    assert b.col.get_config("crashTest") == {"round": devices.rounds}
    assert leftover_sync_rows(db_url, a) == (0, 0)


class ConfigRowLock:
    """A row lock on one of the user's config rows, taken from outside the server.

    `finish` replaces the whole config after it has merged graves, note types, decks and
    tags, so a `finish` that arrives while this lock is held stops half-way through its
    transaction and stays there until the lock goes. (`sanityCheck2` would stop there
    too, so take the lock only when `finish` is on its way.)
    """

    def __init__(self, db_url: str, user_id: int) -> None:
        self._engine = build_engine(db_url)
        self._user_id = user_id
        self._holder = self._engine.connect()
        self._watcher = self._engine.connect()

    def acquire(self) -> None:
        self._holder.begin()
        key = self._holder.execute(
            select(config.c.key).where(config.c.user_id == self._user_id).limit(1)
            .with_for_update()
        ).scalar_one()
        assert key

    def wait_until_blocked(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            kind = "citus" if "search_path" in str(self._engine.url) \
                else self._engine.dialect.name
            blocked = self._watcher.execute(text(_BLOCKED_SQL[kind]))
            if blocked.scalar():
                self._watcher.rollback()
                return
            self._watcher.rollback()
            time.sleep(0.02)
        raise AssertionError("finish never waited for the config row lock")

    def release(self) -> None:
        if self._holder.in_transaction():
            self._holder.rollback()

    def close(self) -> None:
        self.release()
        self._holder.close()
        self._watcher.close()
        self._engine.dispose()


_BLOCKED_SQL = {
    "postgresql": "select count(*) from pg_stat_activity"
                  " where datname = current_database() and wait_event_type = 'Lock'",
    # On Citus the statement waits on the worker that holds the user's shard.
    "citus": "select count(*) from citus_stat_activity where wait_event_type = 'Lock'",
    # NOTE: MariaDB 10.11 did not list the waiting transaction in innodb_trx; the
    # statement it waits in is visible in the process list.
    "mysql": "select count(*) from information_schema.processlist"
             " where db = database() and info like 'DELETE FROM config%%'",
}


def test_worker_killed_in_the_middle_of_finish_commits_nothing(
    crash_server: RunningServer, proxy: KillingProxy, devices: Devices, tmp_path: Path,
    backend: str, db_url: str,
) -> None:
    if backend == "sqlite":
        pytest.skip("SQLite writers lock the database at BEGIN; nothing can stop finish"
                    " half-way")
    a, b = devices.a, devices.b
    make_changes(a, devices.rounds)
    server_before, a_before = content(b.col), content(a.col)
    assert a.auth is not None
    user_id = int(a.auth.hkey.split(".", 1)[0])

    pointed_at(a, proxy.endpoint)
    lock = ConfigRowLock(db_url, user_id)
    killed_before = len(proxy.killed)
    try:
        # Release the lock once the worker is dead: its database session, stuck behind
        # the lock, keeps the collection row locked until it runs into the dead socket.
        trap = proxy.arm("finish", DURING, prepare=lock.acquire,
                         wait=lock.wait_until_blocked, after_kill=lock.release)
        with pytest.raises((SyncError, NetworkError)):
            a.sync()
        assert trap.fired
        assert len(proxy.killed) == killed_before + 1, "the worker was not killed"
    finally:
        lock.close()
    proxy.wait_for_new_worker()
    assert content(a.col) == a_before

    stored = downloaded_content(crash_server.endpoint, devices.account, tmp_path)
    assert stored == server_before
    pointed_at(a, crash_server.endpoint)
    exchange(a, b)
    assert content(a.col) == a_before
