"""An uploaded file's rows reach the database exactly as the checked reader reads them,
whether SQLite formats them as COPY text (PostgreSQL, every value plain), a SQLite
database reads them from the attached file itself (every value of its kind) or not."""

from __future__ import annotations

import dataclasses
import sqlite3
from contextlib import closing, suppress
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from adapters.ankifile.reader import UploadedCollection
from adapters.ankifile.writer import write_collection
from adapters.sql import bulk
from adapters.sql.uow import SqlUnitOfWorkFactory
from adapters.system import SystemClock
from domain.errors import UploadRejected
from domain.model import Credentials, UserId
from domain.sync.server import SyncServer
from tests.contract.contents import (
    BIG_ID,
    ListContents,
    assert_identical,
    rich_contents,
    snapshot,
    unique_name,
)

# Everything COPY's text format escapes, SQL and printf syntax, and numeric sort fields
# (Anki's sfld column has integer affinity: SQLite stores "12345" as an integer).
AWKWARD = ["a\tb", "line\nbreak", "cr\rlf\r\n", "back\\slash \\N \\t", "%d %s %%", "'quote'",
           "日本語 🙂", "", " ", "12345", "-7", "0", "9223372036854775807"]


def _awkward_notes(marker: str) -> ListContents:
    base = rich_contents(marker, 30)
    notes = tuple(
        note._replace(guid=f"{AWKWARD[i % len(AWKWARD)]}{i}",
                      tags=AWKWARD[(i + 3) % len(AWKWARD)],
                      flds=f"{AWKWARD[i % len(AWKWARD)]}\x1f{marker}",
                      sfld=AWKWARD[i % len(AWKWARD)], data=AWKWARD[(i + 5) % len(AWKWARD)])
        for i, note in enumerate(base.note_list))
    cards = tuple(card._replace(data=AWKWARD[i % len(AWKWARD)])
                  for i, card in enumerate(base.card_list))
    return dataclasses.replace(base, note_list=notes, card_list=cards)


@pytest.fixture
def factory(engine: Engine) -> SqlUnitOfWorkFactory:
    return SqlUnitOfWorkFactory(engine)


def _user(factory: SqlUnitOfWorkFactory) -> UserId:
    with factory() as uow:
        user = uow.users.add(unique_name(), "hash", 0)
        uow.commit()
    return user


def _stored(factory: SqlUnitOfWorkFactory, user: UserId) -> dict[str, Any]:
    with factory(write=False) as uow:
        return snapshot(uow.collections.export(user))


def _upload(factory: SqlUnitOfWorkFactory, user: UserId, path: Path) -> dict[str, Any]:
    """Upload the file; return what the checked reader reads from it."""
    with UploadedCollection(path) as upload:
        SyncServer(uow=factory, clock=SystemClock()).upload(Credentials(user), upload)
    with UploadedCollection(path) as upload:
        return snapshot(upload)


def test_plain_rows_are_formatted_by_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "plain.anki2"
    write_collection(_awkward_notes("plain"), path)
    with UploadedCollection(path) as upload:
        for table in ("notes", "cards", "revlog"):
            lines = upload.copy_lines(table, 42)
            assert lines is not None, table
            text = "".join(lines)
            assert text.count("\n") == len(snapshot(upload)[table])
            assert all(line.startswith("42\t") for line in text.splitlines())
        assert upload.copy_lines("graves", 42) is None


@pytest.mark.parametrize("change", [
    "UPDATE notes SET flds = 'a' || char(0) || 'b' WHERE id = (SELECT min(id) FROM notes)",
    "UPDATE notes SET tags = char(57344) WHERE id = (SELECT min(id) FROM notes)",
    "UPDATE notes SET sfld = 1.5 WHERE id = (SELECT min(id) FROM notes)",
    "UPDATE notes SET data = x'00ff' WHERE id = (SELECT min(id) FROM notes)",
])
def test_values_that_are_not_plain_take_the_checked_way(tmp_path: Path, change: str) -> None:
    path = tmp_path / "odd.anki2"
    write_collection(_awkward_notes("odd"), path)
    with closing(sqlite3.connect(path)) as con, con:
        con.execute(change)
    with UploadedCollection(path) as upload:
        notes = upload.copy_lines("notes", 1)
        assert notes is not None and list(notes)[-1] is None
        cards = upload.copy_lines("cards", 1)
        assert cards is not None and None not in list(cards)


@pytest.mark.parametrize("change", [
    "UPDATE notes SET flds = 'a' || char(0) || 'b' WHERE id = (SELECT max(id) FROM notes)",
    "UPDATE notes SET sfld = 1.5 WHERE id = (SELECT max(id) FROM notes)",
    "UPDATE cards SET data = x'6869' WHERE id = (SELECT max(id) FROM cards)",
])
def test_a_row_that_is_not_plain_after_many_that_are_is_stored_the_checked_way(
    factory: SqlUnitOfWorkFactory, tmp_path: Path, change: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On PostgreSQL the plain rows before it were already copied when the odd one turns
    up: the copy is undone to its savepoint and the table read as records."""
    read_as_records: list[str] = []
    insert_rows = bulk.insert_rows

    def spy(conn: Any, table: Any, rows: Any) -> int:
        read_as_records.append(table.name)
        return insert_rows(conn, table, rows)

    monkeypatch.setattr(bulk, "insert_rows", spy)
    path = tmp_path / "late.anki2"
    write_collection(rich_contents("late", 450), path)  # more lines than one batch
    with closing(sqlite3.connect(path)) as con, con:
        # rich_contents puts NUL and U+E000 in these: make every row plain first
        con.execute("UPDATE notes SET tags = '', data = '', flds = 'front ' || id || char(31)"
                    " || 'back', sfld = 'front ' || id")
        con.execute("UPDATE cards SET data = ''")
        con.execute(change)
    user = _user(factory)
    expected = _upload(factory, user, path)
    assert len(expected["notes"]) == 450
    assert_identical(_stored(factory, user), expected)
    if factory.engine.dialect.name == "postgresql":  # only the odd table, the checked way
        records = {"notes", "cards", "revlog"} & set(read_as_records)
        assert records == {change.split()[1]}


@pytest.mark.parametrize("change", [
    "",
    "UPDATE notes SET sfld = 1.5 WHERE id = (SELECT min(id) FROM notes)",
    "UPDATE notes SET data = x'00ff' WHERE id = (SELECT min(id) FROM notes)",
    "UPDATE notes SET flds = CAST(x'61ff62' AS TEXT) WHERE id = (SELECT min(id) FROM notes)",
])
def test_sqlite_reads_rows_itself_only_when_every_value_is_of_its_kind(
    tmp_path: Path, change: str
) -> None:
    path = tmp_path / "kinds.anki2"
    write_collection(rich_contents("kinds", 30), path)  # NUL and U+E000 are text too
    if change:
        with closing(sqlite3.connect(path)) as con, con:
            con.execute(change)
    with UploadedCollection(path) as upload:
        assert (upload.sqlite_select("notes") is None) == bool(change)
        assert upload.sqlite_select("cards") is not None
        assert upload.sqlite_select("revlog") is not None
        assert upload.sqlite_select("graves") is None


def _open_files() -> set[str]:
    found = set()
    for fd in Path("/proc/self/fd").iterdir():
        with suppress(OSError):
            found.add(str(fd.readlink()))
    return found


def test_the_uploaded_file_is_let_go_after_each_upload(
    factory: SqlUnitOfWorkFactory, tmp_path: Path
) -> None:
    """SQLite attaches the upload to read it and detaches it after the commit: the next
    upload (another file) reads its own rows, and no handle keeps a file open."""
    user = _user(factory)
    for marker in ("first", "second"):
        path = tmp_path / f"{marker}.anki2"
        write_collection(_awkward_notes(marker), path)
        expected = _upload(factory, user, path)
        assert_identical(_stored(factory, user), expected)
        assert str(path) not in _open_files()
    bad = tmp_path / "bad.anki2"
    write_collection(_awkward_notes("bad"), bad)
    with closing(sqlite3.connect(bad)) as con, con:  # read after the notes: rolled back
        con.execute("INSERT INTO graves VALUES ('not a number', 1, 0)")
    with UploadedCollection(bad) as upload, pytest.raises(UploadRejected):
        SyncServer(uow=factory, clock=SystemClock()).upload(Credentials(user), upload)
    assert str(bad) not in _open_files()
    assert_identical(_stored(factory, user), expected)


def test_awkward_text_is_stored_as_the_reader_reads_it(
    factory: SqlUnitOfWorkFactory, tmp_path: Path
) -> None:
    path = tmp_path / "awkward.anki2"
    write_collection(_awkward_notes("awkward"), path)
    user = _user(factory)
    expected = _upload(factory, user, path)
    assert any(n.sfld == "12345" for n in expected["notes"])
    assert_identical(_stored(factory, user), expected)


def test_nul_and_private_use_text_still_round_trip(
    factory: SqlUnitOfWorkFactory, tmp_path: Path
) -> None:
    """rich_contents has NUL and U+E000 in tags and card data: the checked way."""
    path = tmp_path / "rich.anki2"
    write_collection(rich_contents("rich", 40), path)
    user = _user(factory)
    expected = _upload(factory, user, path)
    assert_identical(_stored(factory, user), expected)


def test_text_that_is_not_utf8_is_refused_and_changes_nothing(
    factory: SqlUnitOfWorkFactory, tmp_path: Path
) -> None:
    user = _user(factory)
    good = tmp_path / "good.anki2"
    write_collection(_awkward_notes("before"), good)
    _upload(factory, user, good)
    before = _stored(factory, user)
    bad = tmp_path / "bad.anki2"
    write_collection(_awkward_notes("bad"), bad)
    with closing(sqlite3.connect(bad)) as con, con:
        con.execute("UPDATE notes SET flds = CAST(x'61ff62' AS TEXT) WHERE id = ?",
                    (BIG_ID + 3,))
    with UploadedCollection(bad) as upload, pytest.raises(UploadRejected):
        SyncServer(uow=factory, clock=SystemClock()).upload(Credentials(user), upload)
    assert_identical(_stored(factory, user), before)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(st.text(st.characters(exclude_characters="\x00\ue000",
                                            exclude_categories=("Cs",))),
                      min_size=1, max_size=6))
def test_any_plain_text_round_trips(
    factory: SqlUnitOfWorkFactory, tmp_path_factory: pytest.TempPathFactory,
    texts: list[str],
) -> None:
    base = rich_contents("prop", 6)
    notes = tuple(note._replace(flds=texts[i % len(texts)], sfld=texts[(i + 1) % len(texts)],
                                tags="", data=texts[(i + 2) % len(texts)])
                  for i, note in enumerate(base.note_list))
    cards = tuple(card._replace(data=texts[i % len(texts)])
                  for i, card in enumerate(base.card_list))
    path = tmp_path_factory.mktemp("prop") / "prop.anki2"
    write_collection(dataclasses.replace(base, note_list=notes, card_list=cards), path)
    user = _user(factory)
    expected = _upload(factory, user, path)
    assert_identical(_stored(factory, user), expected)


def test_typed_notes_are_read_as_the_checked_way_reads_them(tmp_path: Path) -> None:
    """A file whose every note value is of its type skips the value-by-value checks; it
    must read the same (numeric sort fields included) as checking each value would."""
    from adapters.ankifile.reader import _NOTE_COLUMNS, _note

    path = tmp_path / "typed.anki2"
    write_collection(_awkward_notes("typed"), path)
    with closing(sqlite3.connect(path)) as con:
        assert con.execute("SELECT count(*) FROM notes WHERE typeof(sfld) = 'integer'"
                           ).fetchone()[0] > 0
        checked = [_note(r) for r in con.execute(
            f"SELECT {', '.join(_NOTE_COLUMNS)} FROM notes")]
    with UploadedCollection(path) as upload:
        fast = list(upload.notes())
    assert fast == checked
    assert [type(n.sfld) for n in fast] == [str] * len(fast)
