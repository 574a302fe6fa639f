"""`UserImporter` on every store: a user is imported whole or not at all, with the usns
and host keys the old server gave, and a restore renumbers only what changed."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

from adapters.media.filesystem import FilesystemBlobStore
from domain.accounts import Accounts
from domain.errors import NoSuchUser, UploadRejected, UserExists
from domain.media import BadMediaName, MediaEntry
from domain.model import UserId
from domain.user_import import IMPORTING, ImportedUser, ImportFailed, MediaFile, UserImporter
from ports.stores import UnitOfWorkFactory
from tests.contract.contents import FailingContents, small_contents, snapshot, unique_name
from tests.support.fakes import CountingTokens, FakeClock, PlainHasher


def _file(name: str, data: bytes, usn: int) -> MediaFile:
    entry = MediaEntry(name, hashlib.sha1(data).hexdigest(), len(data), usn)
    return MediaFile(entry, lambda: io.BytesIO(data))


def _gone(name: str, usn: int) -> MediaFile:
    return MediaFile(MediaEntry(name, "", 0, usn))


@pytest.fixture
def blobs(tmp_path: Path) -> FilesystemBlobStore:
    return FilesystemBlobStore(tmp_path / "media")


@pytest.fixture
def importer(uow_factory: UnitOfWorkFactory, blobs: FilesystemBlobStore) -> UserImporter:
    return UserImporter(uow=uow_factory, hasher=PlainHasher(), clock=FakeClock(), blobs=blobs)


@pytest.fixture
def accounts(uow_factory: UnitOfWorkFactory) -> Accounts:
    return Accounts(uow=uow_factory, hasher=PlainHasher(), clock=FakeClock(),
                    tokens=CountingTokens(), throttle=False)


def _media(uow_factory: UnitOfWorkFactory, user: UserId) -> tuple[tuple[int, int],
                                                                  set[MediaEntry]]:
    with uow_factory(write=False) as uow:
        return uow.media.state(user), set(uow.media.changes_since(user, -1, 10_000))


def test_an_imported_user_keeps_usns_media_and_device_keys(
    importer: UserImporter, accounts: Accounts, uow_factory: UnitOfWorkFactory,
    blobs: FilesystemBlobStore,
) -> None:
    name, contents = unique_name(), small_contents("imported")
    media = [_file("a.png", b"aaa", 3), _gone("b.png", 7), _file("c.txt", b"c", 5)]
    old_key = hashlib.sha1(name.encode()).hexdigest()
    result = importer.import_user(
        ImportedUser(name, "foreign$secret", 9, media, (old_key,)), contents)

    with uow_factory(write=False) as uow:
        assert snapshot(uow.collections.export(result.user)) == snapshot(contents)
    state, entries = _media(uow_factory, result.user)
    assert state == (9, 2) and entries == {m.entry for m in media}
    blob = blobs.open(result.user, media[0].entry.sha1)
    assert blob is not None and blob.read() == b"aaa"
    blob.close()
    assert result.host_keys == 1 and accounts.authenticate(old_key) == result.user
    assert accounts.authenticate(accounts.login(name, "secret")) == result.user


def test_an_existing_user_stops_the_import_and_keeps_everything(
    importer: UserImporter, accounts: Accounts, uow_factory: UnitOfWorkFactory
) -> None:
    name = unique_name()
    user = accounts.add_user(name, "mine")
    with pytest.raises(UserExists):
        importer.import_user(ImportedUser(name, "foreign$x", 1, [_file("a", b"a", 1)]),
                             small_contents("other"))
    assert accounts.check_password(name, "mine")
    assert _media(uow_factory, user) == ((0, 0), set())


def test_replace_overwrites_and_drops_what_is_no_longer_used(
    importer: UserImporter, accounts: Accounts, uow_factory: UnitOfWorkFactory,
    blobs: FilesystemBlobStore,
) -> None:
    name = unique_name()
    first = importer.import_user(
        ImportedUser(name, "foreign$one", 2, [_file("old.png", b"old", 2)], ("k1",)),
        small_contents("first"))
    second = importer.import_user(
        ImportedUser(name, "foreign$two", 4, [_file("new.png", b"new", 4)], ("k2",)),
        small_contents("second"), replace=True)
    assert second.user == first.user
    assert blobs.open(first.user, hashlib.sha1(b"old").hexdigest()) is None
    assert _media(uow_factory, first.user)[1] == {
        MediaEntry("new.png", hashlib.sha1(b"new").hexdigest(), 3, 4)}
    assert accounts.check_password(name, "two")
    with pytest.raises(Exception, match="host key"):
        accounts.authenticate("k1")
    assert accounts.authenticate("k2") == first.user


@pytest.mark.parametrize("failure", ["media bytes", "collection", "media name"])
def test_a_failed_import_leaves_nothing(
    importer: UserImporter, accounts: Accounts, uow_factory: UnitOfWorkFactory,
    blobs: FilesystemBlobStore, failure: str,
) -> None:
    name = unique_name()
    media = [_file("a.png", b"aaa", 1)]
    contents = small_contents("failing")
    expected: type[Exception] = UploadRejected
    if failure == "media bytes":
        media = [MediaFile(media[0].entry, lambda: io.BytesIO(b"bbb"))]
        expected = ImportFailed
    elif failure == "collection":
        contents = FailingContents(contents, 3)  # type: ignore[assignment]
    else:
        media = [_file("../a.png", b"aaa", 1)]
        expected = BadMediaName
    with pytest.raises(expected):
        importer.import_user(ImportedUser(name, "foreign$x", 1, media, ("key",)), contents)
    assert all(u.name != name for u in accounts.users())
    assert blobs.is_empty()
    with pytest.raises(Exception, match="host key"):
        accounts.authenticate("key")
    # The same import, fixed, then goes through.
    importer.import_user(ImportedUser(name, "foreign$x", 1, [_file("a.png", b"aaa", 1)]),
                         small_contents("fixed"))
    assert any(u.name == name for u in accounts.users())


def test_an_interrupted_import_is_taken_over(
    importer: UserImporter, uow_factory: UnitOfWorkFactory, accounts: Accounts
) -> None:
    name = unique_name()
    with uow_factory() as uow:
        left = uow.users.add(name, IMPORTING, 0)
        uow.commit()
    assert not accounts.check_password(name, IMPORTING)
    result = importer.import_user(ImportedUser(name, "foreign$x", 0), None)
    assert result.user == left and accounts.check_password(name, "x")


def test_a_key_another_user_holds_is_left_out(
    importer: UserImporter, accounts: Accounts
) -> None:
    first = importer.import_user(ImportedUser(unique_name(), "foreign$a", 0, (), ("same",)),
                                 None)
    second = importer.import_user(ImportedUser(unique_name(), "foreign$b", 0, (), ("same",)),
                                  None)
    assert second.host_keys == 0 and accounts.authenticate("same") == first.user


def test_restore_renumbers_only_changed_media_and_records_removals(
    importer: UserImporter, accounts: Accounts, uow_factory: UnitOfWorkFactory,
    blobs: FilesystemBlobStore,
) -> None:
    name = unique_name()
    user = importer.import_user(ImportedUser(name, "foreign$x", 10, [
        _file("same.png", b"same", 4), _file("changed.png", b"v1", 9),
        _file("removed.png", b"bye", 10)]), small_contents("before")).user
    restored = small_contents("restored")
    importer.restore(name, restored, [_file("same.png", b"same", 0),
                                      _file("changed.png", b"v2", 0),
                                      _file("added.png", b"new", 0)])
    state, entries = _media(uow_factory, user)
    by_name = {e.fname: e for e in entries}
    assert by_name["same.png"].usn == 4
    assert {by_name[n].usn for n in ("changed.png", "added.png", "removed.png")} \
        == {11, 12, 13}
    assert by_name["removed.png"].deleted and state == (13, 3)
    assert blobs.open(user, hashlib.sha1(b"bye").hexdigest()) is None
    assert blobs.open(user, hashlib.sha1(b"v1").hexdigest()) is None
    with uow_factory(write=False) as uow:
        assert snapshot(uow.collections.export(user)) == snapshot(restored)
    importer.restore(name, small_contents("again"), None)  # media left alone
    assert _media(uow_factory, user)[0] == (13, 3)
    with pytest.raises(NoSuchUser):
        importer.restore(unique_name(), small_contents("x"), None)
