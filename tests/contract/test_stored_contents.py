"""Contract of `StoredContents` (what changed since a usn) on every storage adapter, and
what it is for: a kept full download brought up to date is exactly a fresh one.

The collection holds the awkward values of `small_contents` (NUL and U+E000 in text,
64-bit ids, negative numbers), so what PostgreSQL escapes comes back as it went in.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest

from adapters.ankifile.download_update import OutOfStep, update_copy
from adapters.ankifile.writer import SCHEMA_LEGACY, write_collection
from domain.model import Grave, GraveKind, Note, RevlogEntry, RowKind, UserId
from ports.collection import StoredContents
from ports.stores import UnitOfWork, UnitOfWorkFactory
from tests.contract.contents import small_contents, unique_name
from tests.support.collection_file import file_content

USN = 42  # the col row's usn in small_contents
NOW_MS = 1700000000000


def _stored(uow_factory: UnitOfWorkFactory) -> UserId:
    with uow_factory() as uow:
        user = uow.users.add(unique_name(), "hash", NOW_MS)
        uow.collections.replace(user, small_contents("kept"))
        uow.commit()
    return user


def _write(uow_factory: UnitOfWorkFactory, user: UserId, body: Callable[[UnitOfWork], None],
           *, next_usn: bool = True) -> None:
    """One unit of work of writes; like a finished sync, it may move the usn on."""
    with uow_factory() as uow:
        body(uow)
        meta = uow.collections.meta(user)
        assert meta is not None
        uow.collections.update_meta(user, dataclasses.replace(
            meta, usn=meta.usn + int(next_usn), mod=meta.mod + 1))
        uow.commit()


def _note(nid: int, usn: int, text: str = "new") -> Note:
    return Note(nid, f"g{nid}", 1, 1700000001, usn, " t ", f"{text}\x00\ue000\x1fback",
                text, 7, 0, "")


def test_changes_since_are_the_rows_and_graves_of_that_usn_or_more(
    uow_factory: UnitOfWorkFactory,
) -> None:
    user = _stored(uow_factory)
    contents = small_contents("kept")
    with uow_factory(write=False) as uow:
        stored = uow.collections.export(user)
        for since in (-1, 0, 5, 19, USN):
            assert list(stored.notes_since(since)) == [
                n for n in contents.note_list if n.usn >= since]
            assert list(stored.cards_since(since)) == [
                c for c in contents.card_list if c.usn >= since]
            assert list(stored.revlog_since(since)) == [
                e for e in contents.revlog_list if e.usn >= since]
            assert sorted(stored.graves_since(since), key=_grave_key) == sorted(
                (g for g in contents.grave_list if g.usn >= since), key=_grave_key)
        assert stored.row_counts() == uow.collections.counts(user)


def _grave_key(g: Grave) -> tuple[int, int, int]:
    return (g.oid, int(g.kind), g.usn)


def _keep(uow_factory: UnitOfWorkFactory, user: UserId, path: Path) -> None:
    with uow_factory(write=False) as uow:
        write_collection(uow.collections.export(user), path)


def _brought_up_to_date(
    uow_factory: UnitOfWorkFactory, user: UserId, kept: Path, tmp_path: Path
) -> tuple[Path, Path]:
    updated, fresh = tmp_path / "updated.anki2", tmp_path / "fresh.anki2"
    with uow_factory(write=False) as uow:
        contents: StoredContents = uow.collections.export(user)
        with kept.open("rb") as base:
            update_copy(base, SCHEMA_LEGACY, contents, updated, tmp_path / "scratch")
        write_collection(contents, fresh)
    return updated, fresh


def test_kept_download_brought_up_to_date_is_a_fresh_download(
    uow_factory: UnitOfWorkFactory, tmp_path: Path
) -> None:
    user = _stored(uow_factory)
    kept = tmp_path / "kept.anki2"
    _keep(uow_factory, user, kept)
    notes = small_contents("kept").note_list
    cards = small_contents("kept").card_list

    def same_usn_writes(uow: UnitOfWork) -> None:
        # Stamped with the kept file's own usn, as the JSON API stamps between syncs.
        uow.collections.save_rows(user, RowKind.NOTE, [_note(1, USN)],
                                  [_note(notes[0].id, USN, "edited")])
        uow.collections.save_rows(user, RowKind.REVLOG, [RevlogEntry(
            5, cards[0].id, USN, 3, 1, 0, 2500, 6000, 1)], [])
        uow.collections.delete(user, RowKind.NOTE, [notes[2].id])
        uow.collections.add_graves(user, [Grave(notes[2].id, GraveKind.NOTE, USN)])

    def deletions(uow: UnitOfWork) -> None:
        uow.collections.delete(user, RowKind.NOTE, [notes[1].id, 1])
        uow.collections.delete(user, RowKind.CARD, [cards[1].id])
        uow.collections.add_graves(user, [
            Grave(notes[1].id, GraveKind.NOTE, USN + 1), Grave(1, GraveKind.NOTE, USN + 1),
            Grave(cards[1].id, GraveKind.CARD, USN + 1), Grave(77, GraveKind.DECK, USN + 1),
            # an old grave again: the file must hold it once, with its new usn
            *(dataclasses.replace(g, usn=USN + 1) for g in small_contents("kept").grave_list[:1]),
        ])

    def re_added(uow: UnitOfWork) -> None:
        # A deleted id comes back (an undo on a device); its grave stays.
        uow.collections.save_rows(user, RowKind.CARD, [cards[1]._replace(usn=USN + 2)], [])

    _write(uow_factory, user, same_usn_writes, next_usn=False)
    _write(uow_factory, user, deletions)
    _write(uow_factory, user, re_added)
    updated, fresh = _brought_up_to_date(uow_factory, user, kept, tmp_path)
    assert file_content(updated) == file_content(fresh)
    assert (1,) not in [row[:1] for row in file_content(updated)["notes"]]


def test_nothing_changed_gives_the_same_file(
    uow_factory: UnitOfWorkFactory, tmp_path: Path
) -> None:
    user = _stored(uow_factory)
    kept = tmp_path / "kept.anki2"
    _keep(uow_factory, user, kept)
    updated, fresh = _brought_up_to_date(uow_factory, user, kept, tmp_path)
    assert file_content(updated) == file_content(fresh) == file_content(kept)


def test_a_file_that_does_not_add_up_is_refused(
    uow_factory: UnitOfWorkFactory, tmp_path: Path
) -> None:
    """A row gone without a grave (no writer does that) is caught by the counts."""
    user = _stored(uow_factory)
    kept = tmp_path / "kept.anki2"
    _keep(uow_factory, user, kept)
    first = small_contents("kept").note_list[0].id
    _write(uow_factory, user, lambda uow: uow.collections.delete(user, RowKind.NOTE, [first]))
    with pytest.raises(OutOfStep):
        _brought_up_to_date(uow_factory, user, kept, tmp_path)


def test_a_kept_file_newer_than_the_collection_is_refused(
    uow_factory: UnitOfWorkFactory, tmp_path: Path
) -> None:
    user = _stored(uow_factory)
    _write(uow_factory, user, lambda uow: None)
    _write(uow_factory, user, lambda uow: None)
    kept = tmp_path / "kept.anki2"
    _keep(uow_factory, user, kept)
    with uow_factory() as uow:
        uow.collections.replace(user, small_contents("kept"))  # back to usn 42
        uow.commit()
    with pytest.raises(OutOfStep):
        _brought_up_to_date(uow_factory, user, kept, tmp_path)
