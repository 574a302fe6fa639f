"""Contract of `CollectionStore` on the memory adapter and on SQLite, PostgreSQL and MariaDB.

Every test works on users of its own; the databases are shared by the whole session.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import Engine

from domain.model import (
    CollectionMeta,
    ConfigEntry,
    Counts,
    Credentials,
    Grave,
    GraveKind,
    Note,
    RowKind,
    Tag,
    UserId,
)
from domain.new_collection import NewCollection, new_collection
from ports.stores import UnitOfWork, UnitOfWorkFactory
from tests.contract.conftest import make_factory
from tests.contract.contents import (
    BIG_FIELD,
    BIG_ID,
    MANY,
    NEGATIVE_BIG_ID,
    ListContents,
    assert_identical,
    rich_contents,
    small_contents,
    snapshot,
    unique_name,
)

NOW_MS = 1700000000000


def _new_user(uow: UnitOfWork) -> UserId:
    return uow.users.add(unique_name(), "hash", NOW_MS)


def _as_contents(fresh: NewCollection) -> ListContents:
    return ListContents(
        meta_row=fresh.meta, notetype_list=fresh.notetypes, deck_list=fresh.decks,
        deck_config_list=fresh.deck_configs, config_list=fresh.config,
    )


def _counts(contents: ListContents) -> Counts:
    return Counts(
        cards=len(contents.card_list), notes=len(contents.note_list),
        revlog=len(contents.revlog_list), notetypes=len(contents.notetype_list),
        decks=len(contents.deck_list), deck_configs=len(contents.deck_config_list),
    )


StoredRich = tuple[UnitOfWorkFactory, UserId, dict[str, Any]]


@pytest.fixture(scope="module")
def stored_rich(
    adapter: str,
    sql_engines: dict[str, Engine],
    database_urls: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> StoredRich:
    """A committed user holding `rich_contents()`, and the snapshot its export gave."""
    factory = make_factory(adapter, sql_engines, database_urls, tmp_path_factory)
    with factory() as uow:
        user = _new_user(uow)
        uow.collections.replace(user, rich_contents())
        uow.commit()
    with factory(write=False) as uow:
        return factory, user, snapshot(uow.collections.export(user))


# create / meta / lock / meta_snapshot / config_json


def test_new_user_has_no_collection(uow: UnitOfWork) -> None:
    user = _new_user(uow)
    assert uow.collections.meta(user) is None
    assert uow.collections.lock(user) is None


def test_created_collection_exports_what_new_collection_holds(uow: UnitOfWork) -> None:
    user = _new_user(uow)
    fresh = new_collection(NOW_MS)
    uow.collections.create(user, fresh)
    assert_identical(snapshot(uow.collections.export(user)), snapshot(_as_contents(fresh)))
    assert uow.collections.counts(user) == _counts(_as_contents(fresh))


def test_created_collection_meta_lock_and_config(uow: UnitOfWork) -> None:
    user = _new_user(uow)
    fresh = new_collection(NOW_MS)
    uow.collections.create(user, fresh)
    assert uow.collections.meta(user) == fresh.meta
    assert uow.collections.lock(user) == fresh.meta
    assert _is_empty(uow, user)
    assert uow.collections.config_json(user, "schedVer") == "2"
    assert json.loads(uow.collections.config_json(user, "curModel") or "") == NOW_MS
    assert uow.collections.config_json(user, "noSuchKey") is None
    assert uow.collections.config_json(user, "schedver") is None  # keys are exact


def test_config_json_is_verbatim_and_per_user(uow: UnitOfWork) -> None:
    a, b = _new_user(uow), _new_user(uow)
    uow.collections.replace(a, small_contents("cfg-a"))
    uow.collections.create(b, new_collection(NOW_MS))
    assert uow.collections.config_json(a, "activeDecks") == f"[1, {NEGATIVE_BIG_ID}]"
    assert uow.collections.config_json(a, "curModel") == str(BIG_ID)
    assert uow.collections.config_json(a, "emoji🙂key cfg-a") == '"\\u001f 🙂 x"'
    assert uow.collections.config_json(a, "big") == '"' + "y" * BIG_FIELD + '"'
    assert uow.collections.config_json(b, "curModel") == str(NOW_MS)
    assert uow.collections.config_json(b, "big") is None


def test_is_empty_means_no_cards(uow: UnitOfWork) -> None:
    user = _new_user(uow)
    with_cards = small_contents("empty-check")
    uow.collections.replace(user, with_cards)
    assert not _is_empty(uow, user)
    uow.collections.replace(user, replace(with_cards, card_list=()))
    assert _is_empty(uow, user)


def test_is_empty_is_per_user(uow: UnitOfWork) -> None:
    full, empty = _new_user(uow), _new_user(uow)
    uow.collections.replace(full, small_contents("empty-per-user"))
    uow.collections.create(empty, new_collection(NOW_MS))
    assert not _is_empty(uow, full)
    assert _is_empty(uow, empty)


# replace / export


def test_export_returns_exactly_what_was_replaced(
    stored_rich: StoredRich,
) -> None:
    _factory, _user, exported = stored_rich
    assert_identical(exported, snapshot(rich_contents()))


def test_export_holds_more_than_one_insert_batch(
    stored_rich: StoredRich,
) -> None:
    _factory, _user, exported = stored_rich
    assert len(exported["notes"]) == len(exported["cards"]) == len(exported["revlog"]) == MANY


def test_awkward_values_survive_byte_for_byte(
    stored_rich: StoredRich,
) -> None:
    _factory, _user, exported = stored_rich
    notes: list[Note] = exported["notes"]
    big = [n for n in notes if len(n.flds) > BIG_FIELD]
    assert big, "the rich collection has 200 KB fields"
    original = {n.id: n for n in rich_contents().notes()}
    for note in big + notes[:5]:
        assert note.flds.encode("utf-8") == original[note.id].flds.encode("utf-8")
        assert "\x1f" in note.flds and "🙂" in note.flds
    notetypes = exported["notetypes"]
    assert any(f"[{BIG_ID}, {NEGATIVE_BIG_ID}]" in o.json for o in notetypes)


def test_export_reads_within_the_unit_of_work(
    stored_rich: StoredRich,
) -> None:
    factory, user, exported = stored_rich
    with factory(write=False) as uow:
        export = uow.collections.export(user)
        assert export.meta() == exported["meta"]
        assert sorted(export.cards(), key=lambda c: c.id) == exported["cards"]


def test_replace_drops_everything_not_in_the_new_contents(uow: UnitOfWork) -> None:
    user = _new_user(uow)
    uow.collections.replace(user, rich_contents("first", 30))
    second = small_contents("second", 5)
    uow.collections.replace(user, second)
    assert_identical(snapshot(uow.collections.export(user)), snapshot(second))


def test_replace_of_a_created_collection(uow: UnitOfWork) -> None:
    user = _new_user(uow)
    uow.collections.create(user, new_collection(NOW_MS))
    contents = small_contents("over-new")
    uow.collections.replace(user, contents)
    assert_identical(snapshot(uow.collections.export(user)), snapshot(contents))
    assert uow.collections.meta(user) == contents.meta()


def test_replace_with_an_empty_collection(uow: UnitOfWork) -> None:
    user = _new_user(uow)
    uow.collections.replace(user, small_contents("to-empty"))
    meta = CollectionMeta(crt=0, mod=-1, scm=-(2**63), ver=18, dty=1, usn=-1, ls=2**63 - 1)
    uow.collections.replace(user, ListContents(meta_row=meta))
    assert_identical(snapshot(uow.collections.export(user)), snapshot(ListContents(meta)))
    assert _is_empty(uow, user)


def test_replace_does_not_touch_other_users(uow: UnitOfWork) -> None:
    a, b = _new_user(uow), _new_user(uow)
    # The same ids in both collections: every key is scoped by user.
    contents_a, contents_b = small_contents("iso-a"), small_contents("iso-b")
    uow.collections.replace(a, contents_a)
    uow.collections.replace(b, contents_b)
    before_b = snapshot(uow.collections.export(b))
    uow.collections.replace(a, small_contents("iso-a2", 3))
    assert_identical(snapshot(uow.collections.export(b)), before_b)
    assert_identical(before_b, snapshot(contents_b))


def test_committed_replace_is_seen_by_the_next_unit_of_work(
    uow_factory: UnitOfWorkFactory,
) -> None:
    contents = small_contents("committed")
    with uow_factory() as uow:
        user = _new_user(uow)
        uow.collections.replace(user, contents)
        uow.commit()
    with uow_factory(write=False) as uow:
        assert_identical(snapshot(uow.collections.export(user)), snapshot(contents))


# remove


def test_remove_deletes_every_row_of_the_collection(uow: UnitOfWork) -> None:
    user = _new_user(uow)
    uow.collections.replace(user, small_contents("remove-me"))
    uow.collections.remove(user)
    assert uow.collections.meta(user) is None
    assert uow.collections.lock(user) is None
    # A collection created afterwards holds nothing of the removed one.
    fresh = new_collection(NOW_MS)
    uow.collections.create(user, fresh)
    assert_identical(snapshot(uow.collections.export(user)), snapshot(_as_contents(fresh)))
    assert uow.collections.counts(user) == _counts(_as_contents(fresh))


def test_remove_does_not_touch_other_users(uow: UnitOfWork) -> None:
    a, b = _new_user(uow), _new_user(uow)
    uow.collections.replace(a, small_contents("rm-a"))
    kept = small_contents("rm-b")
    uow.collections.replace(b, kept)
    uow.collections.remove(a)
    assert_identical(snapshot(uow.collections.export(b)), snapshot(kept))


def test_remove_without_a_collection_is_harmless(uow: UnitOfWork) -> None:
    user = _new_user(uow)
    uow.collections.remove(user)
    assert uow.collections.meta(user) is None


def test_a_removed_collection_can_be_created_again(uow: UnitOfWork) -> None:
    user = _new_user(uow)
    uow.collections.replace(user, small_contents("recreate"))
    uow.collections.remove(user)
    fresh = new_collection(NOW_MS + 1)
    uow.collections.create(user, fresh)
    assert uow.collections.meta(user) == fresh.meta
    assert _is_empty(uow, user)


def test_config_entry_keys_are_exact(uow: UnitOfWork) -> None:
    user = _new_user(uow)
    meta = small_contents("keys").meta()
    entries = (
        ConfigEntry(key="Key", usn=0, mtime=0, json="1"),
        ConfigEntry(key="key", usn=0, mtime=0, json="2"),
        ConfigEntry(key="kéy", usn=0, mtime=0, json="3"),
    )
    uow.collections.replace(user, ListContents(meta_row=meta, config_list=entries))
    assert [uow.collections.config_json(user, e.key) for e in entries] == ["1", "2", "3"]
    assert uow.collections.config_json(user, "KEY") is None


# counts (what the sanity check compares)


def test_counts_follow_replace(uow: UnitOfWork) -> None:
    user = _new_user(uow)
    first = small_contents("counts", 25)
    uow.collections.replace(user, first)
    assert uow.collections.counts(user) == _counts(first)
    second = replace(small_contents("counts-2", 3), card_list=())
    uow.collections.replace(user, second)
    assert uow.collections.counts(user) == _counts(second)


def test_counts_of_many_rows(stored_rich: StoredRich) -> None:
    factory, user, _exported = stored_rich
    with factory(write=False) as uow:
        assert uow.collections.counts(user) == _counts(rich_contents())


# the graves' highest usn (a sync's start reads it with its lock)


def _graves_usn(uow: UnitOfWork, user: UserId) -> int | None:
    return uow.sessions.lock(Credentials(user), with_session=False).graves_usn


def test_graves_usn_follows_every_write_of_graves(uow: UnitOfWork) -> None:
    user = _new_user(uow)
    uow.collections.create(user, new_collection(NOW_MS))
    assert _graves_usn(uow, user) == -1
    uow.collections.add_graves(user, [Grave(5, GraveKind.NOTE, 7), Grave(6, GraveKind.CARD, 3)])
    meta = uow.collections.meta(user)
    assert meta is not None
    uow.collections.update_meta(user, meta)
    assert _graves_usn(uow, user) == 7
    uow.collections.add_graves(user, [Grave(8, GraveKind.DECK, 2)])  # lower: kept at 7
    assert _graves_usn(uow, user) == 7
    uow.collections.replace(user, rich_contents("graves"))
    assert _graves_usn(uow, user) == max(g.usn for g in rich_contents("graves").grave_list)
    uow.collections.replace(user, replace(small_contents("no-graves", 2), grave_list=()))
    assert _graves_usn(uow, user) == -1


def test_graves_written_at_commit_are_seen_by_the_next_unit_of_work(
    uow_factory: UnitOfWorkFactory,
) -> None:
    with uow_factory() as uow:
        user = _new_user(uow)
        uow.collections.create(user, new_collection(NOW_MS))
        uow.collections.add_graves(user, [Grave(9, GraveKind.NOTE, 11)])
        uow.commit()
    with uow_factory() as uow:
        assert _graves_usn(uow, user) == 11


# version (what a kept download file is good for)


def test_version_changes_with_every_write_and_only_then(uow: UnitOfWork) -> None:
    user = _new_user(uow)
    assert uow.collections.version(user) is None
    uow.collections.create(user, new_collection(NOW_MS))
    seen = [uow.collections.version(user)]
    assert uow.collections.version(user) == seen[-1]  # reading changes nothing
    meta = uow.collections.meta(user)
    assert meta is not None
    writes = [
        lambda: uow.collections.save_rows(user, RowKind.NOTE, [_note(1)], []),
        lambda: uow.collections.save_rows(user, RowKind.NOTE, [], [_note(1, "edited")]),
        lambda: uow.collections.add_tags(user, [Tag("t", 1)]),
        lambda: uow.collections.add_graves(user, [Grave(3, GraveKind.CARD, 1)]),
        lambda: uow.collections.put_config(user, ConfigEntry("k", 1, 1, "1")),
        lambda: uow.collections.replace_config(user, []),
        lambda: uow.collections.delete(user, RowKind.NOTE, [1]),
        lambda: uow.collections.update_meta(user, meta),
    ]
    for write in writes:
        write()
        uow.collections.update_meta(user, meta)  # as every writer does before committing
        seen.append(uow.collections.version(user))
    assert len(set(seen)) == len(seen), seen


def test_version_after_replace_matches_no_version_before(uow: UnitOfWork) -> None:
    user = _new_user(uow)
    uow.collections.create(user, new_collection(NOW_MS))
    before = uow.collections.version(user)
    replaced = uow.collections.replace(user, small_contents("version", 3))
    assert replaced == uow.collections.version(user)
    assert before is not None and replaced not in range(before, before + 100)


def test_writes_committed_without_a_col_row_update_still_change_the_version(
    uow_factory: UnitOfWorkFactory,
) -> None:
    with uow_factory() as uow:
        user = _new_user(uow)
        uow.collections.create(user, new_collection(NOW_MS))
        uow.commit()
    with uow_factory() as uow:
        before = uow.collections.version(user)
        uow.collections.add_tags(user, [Tag("new", 2)])
        uow.commit()
    with uow_factory() as uow:
        assert uow.collections.version(user) != before


def _note(nid: int, front: str = "front") -> Note:
    return Note(nid, f"g{nid}", 1, 100, 0, "", f"{front}\x1fback", front, 1, 0, "")


def _is_empty(uow: UnitOfWork, user: UserId) -> bool:
    """What `meta` reports as `empty`: the collection has no cards."""
    _, snapshot = uow.collections.meta_snapshot(user)
    assert snapshot is not None
    return not snapshot.has_cards
