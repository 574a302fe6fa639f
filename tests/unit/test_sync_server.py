"""SyncServer's full-sync endpoints on the in-memory adapter."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from adapters.memory.store import InMemoryStore
from domain.errors import SessionConflict, UnsupportedVersion, UploadRejected
from domain.model import Card, CollectionMeta, Credentials, KeyKind, Note, UserId
from domain.new_collection import new_collection
from domain.sync.meta import MetaRequest
from domain.sync.server import SyncServer
from domain.sync.values import StartRequest
from ports.collection import CollectionContents
from tests.support.fakes import FakeClock

USER = UserId(1)
ME = Credentials(USER)  # the device calling the server
UPLOADED_META = CollectionMeta(crt=1, mod=5000, scm=4000, ver=18, dty=0, usn=3, ls=5000)


@dataclass
class Contents:
    """A small hand-built collection; `fail_after` makes note reading fail midway."""

    notes_: list[Note] = field(default_factory=list)
    cards_: list[Card] = field(default_factory=list)
    fail_after: int | None = None

    def meta(self) -> CollectionMeta:
        return UPLOADED_META

    def notes(self) -> Iterator[Note]:
        for i, note in enumerate(self.notes_):
            if self.fail_after is not None and i == self.fail_after:
                raise UploadRejected("corrupt")
            yield note

    def cards(self) -> Iterator[Card]:
        return iter(self.cards_)

    def notetypes(self) -> Iterator[object]:
        return iter([])

    decks = deck_configs = config = tags = revlog = graves = notetypes


def note(i: int) -> Note:
    return Note(id=i, guid=f"g{i}", mid=1, mod=i, usn=0, tags="", flds=f"f{i}\x1fb",
                sfld=f"f{i}", csum=0, flags=0, data="")


@pytest.fixture
def store() -> InMemoryStore:
    return InMemoryStore()


@pytest.fixture
def server(store: InMemoryStore) -> SyncServer:
    return SyncServer(uow=store, clock=FakeClock())


def test_meta_of_a_new_account_creates_an_empty_collection(server: SyncServer) -> None:
    answer = server.meta(ME, MetaRequest(11, ""))
    assert (answer.mod, answer.usn, answer.empty) == (0, 0, True)
    assert answer.scm == FakeClock().now_ms()
    assert server.meta(ME, MetaRequest(11, "")).scm == answer.scm


def test_meta_rejects_unsupported_versions_before_touching_storage(
    server: SyncServer, store: InMemoryStore
) -> None:
    with pytest.raises(UnsupportedVersion):
        server.meta(ME, MetaRequest(12, ""))
    assert store.state.collections == {}


def test_upload_replaces_everything_and_meta_reports_the_uploaded_values(
    server: SyncServer,
) -> None:
    contents: CollectionContents = Contents(notes_=[note(1), note(2)])  # type: ignore[assignment]
    server.upload(ME, contents)
    answer = server.meta(ME, MetaRequest(11, ""))
    assert (answer.mod, answer.scm, answer.usn) == (5000, 4000, 3)


def test_failed_upload_leaves_previous_collection_intact(
    server: SyncServer, store: InMemoryStore
) -> None:
    server.upload(ME, Contents(notes_=[note(1)]))  # type: ignore[arg-type]
    before = store.state.collections[USER]
    with pytest.raises(UploadRejected):
        server.upload(ME, Contents(notes_=[note(5), note(6)], fail_after=1))  # type: ignore[arg-type]
    assert store.state.collections[USER] == before


def test_download_hands_one_snapshot_to_the_writer(server: SyncServer) -> None:
    server.upload(ME, Contents(notes_=[note(2), note(1)]))  # type: ignore[arg-type]
    seen = server.download(ME, lambda c, _version: [n.id for n in c.notes()])
    assert seen == [1, 2]


def test_download_of_new_account_has_a_deck_and_a_notetype(server: SyncServer) -> None:
    def summary(c: CollectionContents, _version: int | None) -> tuple[int, int, int]:
        return len(list(c.decks())), len(list(c.notetypes())), len(list(c.deck_configs()))

    assert server.download(ME, summary) == (1, 1, 1)


def test_new_collection_is_never_synced_and_schema_11() -> None:
    col = new_collection(1_795_671_260_000)
    assert col.meta.mod == 0 and col.meta.usn == 0 and col.meta.ver == 11


def test_meta_records_the_devices_last_sync_and_client_at_most_once_a_minute(
    store: InMemoryStore,
) -> None:
    clock = FakeClock()
    server = SyncServer(uow=store, clock=clock)
    with store() as uow:
        uow.users.add_host_key(USER, "digest", clock.now_ms(), KeyKind.SYNC, client="2.1.54")
        uow.commit()
    device = Credentials(USER, "digest")

    def used() -> tuple[int, str]:
        with store(write=False) as uow:
            key = uow.users.key_use(USER, "digest")
        assert key is not None
        return key.last_used_ms, key.client

    server.meta(device, MetaRequest(11, "26.09.3,abc,linux"))  # creates the collection too
    first = clock.now_ms()
    assert used() == (first, "26.09.3,abc,linux")
    clock.tick(59_000)
    server.meta(device, MetaRequest(11, "26.09.3,abc,linux"))
    assert used() == (first, "26.09.3,abc,linux")
    server.meta(device, MetaRequest(11, ""))  # a client that says nothing changes nothing
    assert used() == (first, "26.09.3,abc,linux")
    clock.tick(1_000)
    server.meta(device, MetaRequest(11, "26.09.3,abc,linux"))
    assert used() == (clock.now_ms(), "26.09.3,abc,linux")


def test_a_yielding_device_never_ends_another_devices_sync(store: InMemoryStore) -> None:
    clock = FakeClock()
    server = SyncServer(uow=store, clock=clock)
    with store() as uow:
        for digest in ("phone", "study"):
            uow.users.add_host_key(USER, digest, clock.now_ms())
        uow.commit()
    phone, study = Credentials(USER, "phone"), Credentials(USER, "study", yields=True)
    server.meta(phone, MetaRequest(11, ""))
    server.start(phone, "phone-session", StartRequest(0, False))
    for attempt in (lambda: server.meta(study, MetaRequest(11, "")),
                    lambda: server.start(study, "study-session", StartRequest(0, False)),
                    lambda: server.download(study, lambda contents, version: None)):
        with pytest.raises(SessionConflict):
            attempt()
    assert server.in_progress(USER)
    server.abort(phone, "phone-session")
    server.meta(study, MetaRequest(11, ""))  # the way is free now
    server.start(study, "study-session", StartRequest(0, False))
    # A stale session (a device that vanished mid-sync) is no obstacle.
    clock.tick(16 * 60 * 1000)
    server.start(study, "study-again", StartRequest(0, False))
