"""A full upload replaces a collection all or nothing, and readers never see it half done."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import Engine

from adapters.ankifile.reader import UploadedCollection
from adapters.ankifile.writer import write_collection
from adapters.sql.collection_store import INSERT_BATCH
from adapters.sql.uow import SqlUnitOfWorkFactory
from adapters.system import SystemClock
from domain.errors import UploadRejected
from domain.model import Credentials, UserId
from domain.sync.server import SyncServer
from tests.contract.contents import (
    BIG_ID,
    MANY,
    FailingContents,
    ListContents,
    PausingContents,
    assert_identical,
    many_notes,
    rich_contents,
    small_contents,
    snapshot,
    unique_name,
)

T = TypeVar("T")
FAIL_AFTER = 2 * INSERT_BATCH + 100  # two batches of notes are written before the failure
WAIT = 20.0


@pytest.fixture
def factory(engine: Engine) -> SqlUnitOfWorkFactory:
    return SqlUnitOfWorkFactory(engine)


@pytest.fixture
def user(factory: SqlUnitOfWorkFactory) -> UserId:
    """A committed user whose collection is `small_contents("previous")`."""
    with factory() as uow:
        user_id = uow.users.add(unique_name(), "hash", 0)
        uow.collections.replace(user_id, small_contents("previous", 50))
        uow.commit()
    return user_id


def _export(factory: SqlUnitOfWorkFactory, user: UserId) -> dict[str, Any]:
    with factory(write=False) as uow:
        return snapshot(uow.collections.export(user))


def _in_thread(call: Callable[[], T]) -> tuple[threading.Thread, dict[str, Any]]:
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = call()
        except BaseException as e:
            outcome["error"] = e

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def test_failing_contents_are_long_enough() -> None:
    assert FAIL_AFTER > INSERT_BATCH
    assert MANY > FAIL_AFTER


def test_rejected_replace_without_commit_leaves_previous_collection(
    factory: SqlUnitOfWorkFactory, user: UserId
) -> None:
    before = _export(factory, user)
    contents = FailingContents(rich_contents(), fail_after=FAIL_AFTER)
    with factory() as uow:
        with pytest.raises(UploadRejected):
            uow.collections.replace(user, contents)
        # Inside the unit of work the half-written upload is there: batches were written
        # (on PostgreSQL a failed COPY aborts the whole transaction at once instead).
        if factory.engine.dialect.name != "postgresql":
            written = snapshot(uow.collections.export(user))
            assert len(written["notes"]) >= 2 * INSERT_BATCH
            assert written["meta"] == rich_contents().meta()
    assert contents.yielded == FAIL_AFTER
    assert_identical(_export(factory, user), before)


def test_rejected_upload_through_sync_server_leaves_previous_collection(
    factory: SqlUnitOfWorkFactory, user: UserId
) -> None:
    before = _export(factory, user)
    server = SyncServer(uow=factory, clock=SystemClock())
    contents = FailingContents(rich_contents(), fail_after=FAIL_AFTER)
    with pytest.raises(UploadRejected):
        server.upload(Credentials(user), contents)
    assert contents.yielded == FAIL_AFTER
    assert_identical(_export(factory, user), before)


def test_corrupt_file_found_while_streaming_leaves_previous_collection(
    factory: SqlUnitOfWorkFactory, user: UserId, tmp_path: Path
) -> None:
    """A real upload file whose bad note only shows after two batches were stored."""
    before = _export(factory, user)
    path = tmp_path / "upload.anki2"
    write_collection(many_notes("corrupt-file", FAIL_AFTER + 50, usn=105), path)
    with closing(sqlite3.connect(path)) as con, con:
        bad = con.execute(
            "UPDATE notes SET mid = 'not a number' WHERE id = ?", (BIG_ID + FAIL_AFTER,)
        )
        assert bad.rowcount == 1
    server = SyncServer(uow=factory, clock=SystemClock())
    # Opening the file finds nothing wrong: the bad row is met while streaming notes.
    with UploadedCollection(path) as upload, pytest.raises(UploadRejected):
        server.upload(Credentials(user), upload)
    assert_identical(_export(factory, user), before)


def test_successful_upload_replaces_the_collection(
    factory: SqlUnitOfWorkFactory, user: UserId
) -> None:
    server = SyncServer(uow=factory, clock=SystemClock())
    new = many_notes("uploaded", 2 * INSERT_BATCH + 1, usn=101)
    server.upload(Credentials(user), new)
    assert_identical(_export(factory, user), snapshot(new))


def test_reader_sees_old_collection_during_uncommitted_replace(
    factory: SqlUnitOfWorkFactory, user: UserId
) -> None:
    before = _export(factory, user)
    new = many_notes("concurrent", INSERT_BATCH + 1, usn=102)
    with factory() as writer:
        writer.collections.replace(user, new)
        thread, outcome = _in_thread(lambda: _export(factory, user))
        thread.join(WAIT)
        blocked = thread.is_alive()
        if not blocked:
            assert "error" not in outcome, outcome.get("error")
            assert_identical(outcome["value"], before)
        writer.commit()
    thread.join(WAIT)
    assert not blocked, "a reader waited for an uncommitted upload"
    assert_identical(_export(factory, user), snapshot(new))


def _upload_paused_mid_notes(
    factory: SqlUnitOfWorkFactory, user: UserId, new: ListContents
) -> tuple[PausingContents, threading.Thread, dict[str, Any]]:
    """Start `SyncServer.upload` in a thread; return once one batch of notes is written."""
    pausing = PausingContents(new, pause_after=INSERT_BATCH + 1)
    server = SyncServer(uow=factory, clock=SystemClock())
    thread, outcome = _in_thread(lambda: server.upload(Credentials(user), pausing))
    assert pausing.paused.wait(WAIT), outcome
    return pausing, thread, outcome


def test_download_during_an_upload_gets_one_whole_collection(
    factory: SqlUnitOfWorkFactory, user: UserId
) -> None:
    """A download that overlaps an upload returns the old or the new collection, whole."""
    before = _export(factory, user)
    new = many_notes("during-download", INSERT_BATCH + 10, usn=103)
    pausing, upload, upload_outcome = _upload_paused_mid_notes(factory, user, new)
    server = SyncServer(uow=factory, clock=SystemClock())
    download, outcome = _in_thread(
        lambda: server.download(Credentials(user), lambda c, _version: snapshot(c)))
    download.join(0.3)  # let the download reach the database while the upload is open
    pausing.resume.set()
    upload.join(WAIT)
    download.join(WAIT)
    assert not upload.is_alive() and not download.is_alive()
    assert "error" not in upload_outcome, upload_outcome.get("error")
    assert "error" not in outcome, repr(outcome.get("error"))
    got = outcome["value"]
    assert_identical(got, before if got["meta"] == before["meta"] else snapshot(new))


def test_upload_during_an_upload_ends_with_one_of_them(
    factory: SqlUnitOfWorkFactory, user: UserId
) -> None:
    first = many_notes("first-up", INSERT_BATCH + 10, usn=104)
    second = many_notes("second-up", 7, usn=7)
    pausing, upload, upload_outcome = _upload_paused_mid_notes(factory, user, first)
    server = SyncServer(uow=factory, clock=SystemClock())
    other, outcome = _in_thread(lambda: server.upload(Credentials(user), second))
    other.join(0.3)
    pausing.resume.set()
    upload.join(WAIT)
    other.join(WAIT)
    assert not upload.is_alive() and not other.is_alive()
    assert "error" not in upload_outcome, upload_outcome.get("error")
    assert "error" not in outcome, repr(outcome.get("error"))
    final = _export(factory, user)
    assert_identical(final, snapshot(second if final["meta"].usn == 7 else first))
