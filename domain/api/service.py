"""CollectionApi: what the JSON API reads and writes, consistent with sync.

Every write happens in one unit of work that locks the collection, refuses with
`SyncInProgress` while a device is syncing, stamps the collection's current usn
on everything it touches (so devices pick it up on their next normal sync),
writes graves for deletions, and moves the collection's `mod` forward. A write
that changes nothing commits nothing and leaves `mod` alone, so devices have
nothing to sync.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from domain.api import templates
from domain.deck_tree import SCHEDULING_CONFIG_KEYS, DeckNode, deck_tree
from domain.errors import NotFound, SyncError, SyncRejected, retrying
from domain.model import (
    Card,
    ConfigEntry,
    Grave,
    GraveKind,
    JsonObject,
    Note,
    ObjectKind,
    RevlogEntry,
    RowKind,
    Tag,
    UserId,
)
from domain.new_collection import DEFAULT_DECK_CONFIG_ID, DEFAULT_DECK_ID
from domain.sync.note_text import FIELD_SEPARATOR, sort_field_and_checksum
from ports.clock import Clock, TokenSource
from ports.queries import CardFilter, NoteFilter
from ports.stores import UnitOfWork, UnitOfWorkFactory

T = TypeVar("T")
CARD_PAGE = 5000
ID_BATCH = 500  # values per IN list: long lists are slow to plan, and bounded by drivers
SUSPENDED = -1


class SyncInProgress(SyncError):
    """A device is syncing this collection; API writes wait until it is done."""


class EditConflict(SyncError):
    """The note changed (on a device, or in another window) since the editor read it."""


@dataclass(frozen=True, slots=True)
class NewNote:
    notetype_id: int
    fields: dict[str, str]
    tags: tuple[str, ...] = ()
    deck_id: int | None = None


@dataclass(frozen=True, slots=True)
class Stats:
    cards_by_deck: dict[int, dict[str, int]]
    reviews_by_day: list[tuple[int, int]]


def _json_or_none(text: str | None) -> Any:
    """A config value as Anki reads it: unset or unreadable counts as absent."""
    try:
        return None if text is None else json.loads(text)
    except ValueError:
        return None


def note_version(note: Note) -> str:
    """A fingerprint of a note as an editor shows it, to notice a change made since."""
    seen = "\x00".join((str(note.mod), str(note.usn), note.tags, note.flds))
    return hashlib.sha256(seen.encode("utf-8", "surrogatepass")).hexdigest()[:24]


def join_tags(tags: Iterable[str]) -> str:
    unique = list(dict.fromkeys(t for t in tags if t))
    return f" {' '.join(unique)} " if unique else ""


def split_tags(text: str) -> list[str]:
    return text.split()


@dataclass
class CollectionApi:
    uow: UnitOfWorkFactory
    clock: Clock
    tokens: TokenSource

    # -- reads -------------------------------------------------------------------------

    def objects(self, user: UserId, kind: ObjectKind) -> list[dict[str, Any]]:
        with self.uow(write=False) as uow:
            return [json.loads(o.json) for o in uow.queries.all_objects(user, kind)]

    def object(self, user: UserId, kind: ObjectKind, oid: int) -> dict[str, Any]:
        with self.uow(write=False) as uow:
            found = uow.collections.objects(user, kind, [oid]).get(oid)
        if found is None:
            raise NotFound(f"no {kind.name.lower()} {oid}")
        result: dict[str, Any] = json.loads(found.json)
        return result

    def tags(self, user: UserId) -> list[str]:
        with self.uow(write=False) as uow:
            return [t.name for t in uow.queries.all_tags(user)]

    def notes(self, user: UserId, where: NoteFilter, after: int | None, limit: int) -> list[Note]:
        with self.uow(write=False) as uow:
            if where.deck_ids is not None:
                where = dataclasses.replace(
                    where, deck_ids=tuple(_with_children(uow, user, where.deck_ids)))
            return uow.queries.notes(user, where, after, limit)

    def note(self, user: UserId, nid: int) -> tuple[Note, list[Card]]:
        with self.uow(write=False) as uow:
            found = uow.queries.notes(user, NoteFilter(ids=(nid,)), None, 1)
            if not found:
                raise NotFound(f"no note {nid}")
            return found[0], uow.queries.cards(user, CardFilter(note_ids=(nid,)), None, 1000)

    def cards(self, user: UserId, where: CardFilter, after: int | None, limit: int) -> list[Card]:
        with self.uow(write=False) as uow:
            return uow.queries.cards(user, where, after, limit)

    def card(self, user: UserId, cid: int) -> Card:
        found = self.cards(user, CardFilter(ids=(cid,)), None, 1)
        if not found:
            raise NotFound(f"no card {cid}")
        return found[0]

    def revlog(self, user: UserId, card_id: int | None, after: int | None,
               limit: int) -> list[RevlogEntry]:
        with self.uow(write=False) as uow:
            return uow.queries.revlog(user, card_id, after, limit)

    def config_value(self, user: UserId, key: str) -> Any:
        """A value of the collection's config (None if it has none, or no collection)."""
        with self.uow(write=False, snapshot=False) as uow:
            return _json_or_none(uow.collections.config_json(user, key))

    def deck_tree(self, user: UserId) -> DeckNode:
        """The deck tree with today's new, learning and review counts, as Anki's deck list
        shows them now (see `domain.deck_tree`), from one snapshot."""
        with self.uow(write=False) as uow:
            meta = uow.collections.meta(user)
            if meta is None:
                raise NotFound("no collection")
            decks, presets = (
                [json.loads(o.json) for o in uow.queries.all_objects(user, kind)]
                for kind in (ObjectKind.DECK, ObjectKind.DECK_CONFIG))
            config = {key: _json_or_none(uow.collections.config_json(user, key))
                      for key in SCHEDULING_CONFIG_KEYS}
            cards: list[Card] = []
            while page := uow.queries.cards(user, CardFilter(), cards[-1].id if cards else None,
                                            CARD_PAGE):
                cards.extend(page)
        return deck_tree(decks, presets, config, meta.crt, cards, self.clock.now_ms())

    def stats(self, user: UserId, days: int) -> Stats:
        since = self.clock.now_ms() - days * 86_400_000
        names = {0: "new", 1: "learning", 2: "review", 3: "learning", 4: "learning",
                 -1: "suspended", -2: "buried", -3: "buried"}
        with self.uow(write=False) as uow:
            by_deck: dict[int, dict[str, int]] = {}
            for did, queue, count in uow.queries.card_counts(user):
                bucket = by_deck.setdefault(did, {k: 0 for k in dict.fromkeys(names.values())})
                bucket[names.get(queue, "other")] = bucket.get(names.get(queue, "other"), 0) + count
            return Stats(by_deck, uow.queries.reviews_per_day(user, since))

    # -- writes ------------------------------------------------------------------------

    def _write(self, user: UserId, body: Callable[[UnitOfWork, int, int], T],
               changed: Callable[[T], bool] = lambda _: True) -> T:
        """Run `body(uow, usn, now_ms)` under the collection lock; bump `mod`; commit.

        When `changed(result)` is false, `body` wrote nothing: nothing is committed and
        `mod` stays, since a newer `mod` alone makes every device sync."""
        return retrying(lambda: self._write_once(user, body, changed))

    def _write_once(self, user: UserId, body: Callable[[UnitOfWork, int, int], T],
                    changed: Callable[[T], bool]) -> T:
        now = self.clock.now_ms()
        with self.uow() as uow:
            meta, session = uow.sessions.lock_with_collection(user)
            if meta is None:
                raise NotFound("no collection")
            if session is not None and not session.expired(now):
                raise SyncInProgress("a device is syncing this collection; try again shortly")
            result = body(uow, meta.usn, now)
            if not changed(result):
                return result  # leaving the block rolls back, which releases the lock
            meta = uow.collections.meta(user)
            assert meta is not None
            uow.collections.update_meta(user, dataclasses.replace(meta, mod=max(now,
                                                                             meta.mod + 1)))
            uow.commit()
            return result

    def add_notes(self, user: UserId, notes: Sequence[NewNote],
                  deck_name: str | None = None) -> list[int]:
        """Add notes and their cards, all or none. With `deck_name`, they all go to that
        deck, found ignoring case or created with its parents in the same unit of work,
        so a refused batch leaves no new deck behind."""
        def body(uow: UnitOfWork, usn: int, now: int) -> list[int]:
            batch = notes
            if deck_name is not None:
                did = _ensure_deck(uow, user, _deck_name(deck_name), usn, now)
                batch = [dataclasses.replace(n, deck_id=did) for n in notes]
            adding = _Adding(uow, user, usn, now, _TagList(uow, user, usn),
                             _next_position(uow, user, usn, now, count=len(batch)))
            ids = [self._add_note(adding, new) for new in batch]
            adding.tags.register(uow, user)
            return ids

        return self._write(user, body)

    def _add_note(self, adding: _Adding, new: NewNote) -> int:
        uow, user, usn, now = adding.uow, adding.user, adding.usn, adding.now
        notetype = adding.notetype(new.notetype_id)
        names = [f["name"] for f in notetype.get("flds", [])]
        unknown = set(new.fields) - set(names)
        if unknown:
            raise SyncRejected(f"unknown fields for this note type: {sorted(unknown)}")
        values = [new.fields.get(name, "") for name in names]
        tags = adding.tags.canonical(new.tags)
        ords = adding.cards.card_ords(notetype, dict(zip(names, values, strict=True)), tags)
        if not ords:
            raise SyncRejected("the note would have no cards: fill a field its cards show")
        deck_id = new.deck_id if new.deck_id is not None else _default_deck(uow, user, notetype)
        _deck(uow, user, deck_id)
        nid = adding.note_ids.take()
        sfld, csum = sort_field_and_checksum(values, int(notetype.get("sortf", 0)))
        note = Note(id=nid, guid=self.tokens.token()[:16], mid=new.notetype_id, mod=now // 1000,
                    usn=usn, tags=join_tags(tags), flds=FIELD_SEPARATOR.join(values),
                    sfld=sfld, csum=csum, flags=0, data="")
        uow.collections.save_rows(user, RowKind.NOTE, [note], [])
        _add_cards(uow, user, nid, ords, deck_id, adding.next_position(), usn, now,
                   adding.card_ids)
        return nid

    def update_note(self, user: UserId, nid: int, fields: dict[str, str] | None,
                    tags: Sequence[str] | None, version: str | None = None) -> None:
        """Change a note's fields and/or tags and add the cards its new content asks for
        (see `_add_missing_cards`); an edit that changes nothing writes nothing, as in Anki.
        With `version` (`note_version` of the note the editor showed), raise
        `EditConflict` if it has changed since."""
        def body(uow: UnitOfWork, usn: int, now: int) -> bool:
            found = uow.queries.notes(user, NoteFilter(ids=(nid,)), None, 1)
            if not found:
                raise NotFound(f"no note {nid}")
            note = found[0]
            if version is not None and version != note_version(note):
                raise EditConflict("the note was changed elsewhere since it was opened")
            notetype = _notetype(uow, user, note.mid)
            names = [f["name"] for f in notetype.get("flds", [])]
            values = note.flds.split(FIELD_SEPARATOR)
            if fields is not None:
                unknown = set(fields) - set(names)
                if unknown:
                    raise SyncRejected(f"unknown fields for this note type: {sorted(unknown)}")
                values = [fields.get(n, v) for n, v in zip(names, values, strict=False)]
            tag_list = _TagList(uow, user, usn)
            new_tags = note.tags if tags is None else join_tags(tag_list.canonical(tags))
            if (FIELD_SEPARATOR.join(values), new_tags) == (note.flds, note.tags):
                return False
            sfld, csum = sort_field_and_checksum(values, int(notetype.get("sortf", 0)))
            changed = note._replace(flds=FIELD_SEPARATOR.join(values), sfld=sfld,
                                          csum=csum, tags=new_tags, mod=now // 1000, usn=usn)
            uow.collections.save_rows(user, RowKind.NOTE, [], [changed])
            tag_list.register(uow, user)
            _add_missing_cards(uow, user, changed, notetype,
                               dict(zip(names, values, strict=False)), usn, now)
            return True

        self._write(user, body, changed=bool)

    def delete_notes(self, user: UserId, note_ids: Sequence[int]) -> int:
        """Delete notes and their cards, with graves; returns how many notes existed."""
        def body(uow: UnitOfWork, usn: int, now: int) -> int:
            return _delete_notes(uow, user, note_ids, usn)

        return self._write(user, body, changed=bool)

    def add_deck(self, user: UserId, name: str) -> int:
        def body(uow: UnitOfWork, usn: int, now: int) -> int:
            return _ensure_deck(uow, user, _deck_name(name), usn, now, must_be_new=True)

        return self._write(user, body)

    def rename_deck(self, user: UserId, did: int, name: str) -> None:
        def body(uow: UnitOfWork, usn: int, now: int) -> bool:
            deck = _deck(uow, user, did)
            old, new = deck["name"], _deck_name(name)
            if new == old:
                return False
            if new.casefold().startswith(old.casefold() + "::"):
                raise SyncRejected("a deck cannot be moved into itself")
            names = uow.collections.object_names(user, ObjectKind.DECK)
            if any(n.casefold() == new.casefold() for i, n in names.items() if i != did):
                raise SyncRejected(f"a deck named {new!r} exists")
            parent = new.rpartition("::")[0]
            if parent:
                _ensure_deck(uow, user, parent, usn, now)
            renamed = [(did, new)] + [
                (i, new + n[len(old):]) for i, n in names.items() if n.startswith(old + "::")]
            _save_decks(uow, user, renamed, usn, now)
            return True

        self._write(user, body, changed=bool)

    def delete_deck(self, user: UserId, did: int) -> None:
        """Delete a deck with its subdecks, as Anki does: the cards of a normal deck go,
        wherever they are borrowed to (notes left without cards too); the cards a
        filtered deck holds go back to their home decks."""
        def body(uow: UnitOfWork, usn: int, now: int) -> None:
            if did == DEFAULT_DECK_ID:
                raise SyncRejected("the default deck cannot be deleted")
            _deck(uow, user, did)
            doomed = _with_children(uow, user, (did,))
            doomed_cards, going_home = _cards_of_doomed_decks(uow, user, doomed)
            _delete_cards(uow, user, [c.id for c in doomed_cards], usn)
            orphans = uow.queries.notes_without_cards(user, {c.nid for c in doomed_cards})
            _delete_notes(uow, user, orphans, usn)
            uow.collections.save_rows(user, RowKind.CARD, [], [
                c._replace(mod=now // 1000, usn=usn) for c in going_home])
            uow.collections.delete(user, ObjectKind.DECK, doomed)
            uow.collections.add_graves(user, [Grave(d, GraveKind.DECK, usn) for d in doomed])

        self._write(user, body)

    def move_cards(self, user: UserId, card_ids: Sequence[int], deck_id: int) -> int:
        """Move cards to a normal deck; a card borrowed by a filtered deck goes home first
        (Anki's set_deck), so it ends up in `deck_id` with its due and queue restored."""
        def move(card: Card) -> Card:
            if card.did == deck_id:
                return card
            return _returned_home(card)._replace(did=deck_id)

        def body(uow: UnitOfWork, usn: int, now: int) -> int:
            deck = _deck(uow, user, deck_id)
            if deck.get("dyn"):
                raise SyncRejected("cards cannot be moved into a filtered deck")
            return _update_cards(uow, user, card_ids, usn, now, move)

        return self._write(user, body, changed=bool)

    def set_suspended(self, user: UserId, card_ids: Sequence[int], suspended: bool) -> int:
        def change(card: Card) -> Card:
            if suspended:
                return card._replace(queue=SUSPENDED)
            if card.queue != SUSPENDED:
                return card
            return card._replace(queue=_restored_queue(card))

        def body(uow: UnitOfWork, usn: int, now: int) -> int:
            return _update_cards(uow, user, card_ids, usn, now, change)

        return self._write(user, body, changed=bool)

    def rename_tag(self, user: UserId, old: str, new: str) -> int:
        """Rename a tag (and its `old::` children) on every note; returns notes changed.

        As in Anki (tags/rename.rs): when no note has the tag nothing changes; otherwise
        `old` and its children leave the tag list and the names the notes now carry are
        registered with the collection's usn, so devices get them on their next sync.
        NOTE: sync has no way to remove a tag, so devices keep listing the old names
        until Anki's "Check Database" clears unused tags, as after a rename in Anki.
        """
        if not new.strip() or any(ch.isspace() for ch in new):
            raise SyncRejected("tag names must be non-empty and without spaces")

        def body(uow: UnitOfWork, usn: int, now: int) -> int:
            notes = uow.queries.notes(user, NoteFilter(tag=old), None, 10**9)
            listed = uow.queries.all_tags(user)
            rename = _tag_renamer(old, _with_parents_case(
                new, {t.name.casefold(): t.name for t in listed}))
            changed = [n._replace(tags=tags, mod=now // 1000, usn=usn) for n in notes
                       if (tags := join_tags(map(rename, split_tags(n.tags)))) != n.tags]
            if not changed:
                return 0  # Anki leaves the tag list alone too
            uow.collections.save_rows(user, RowKind.NOTE, [], changed)
            gone = {t.name for t in listed if rename(t.name) != t.name}
            uow.queries.remove_tags(user, sorted(gone))
            kept = {t.name.casefold() for t in listed if t.name not in gone}
            renamed = {t for n in notes for t in split_tags(n.tags) if rename(t) != t}
            uow.collections.add_tags(user, [
                tag for tag in _unique_tags(map(rename, sorted(renamed)), usn)
                if tag.name.casefold() not in kept])
            return len(changed)

        return self._write(user, body, changed=bool)

    # -- for the AnkiConnect edge (adapters/ankiconnect) ---------------------------------

    def notes_by_checksum(self, user: UserId, checksums: Collection[int]
                          ) -> list[tuple[Note, frozenset[int]]]:
        """The notes whose first-field checksum (Anki's `csum`) is one of `checksums`, each
        with the decks its cards are in, by id, from one snapshot (a duplicate check reads
        it). Both reads go through indexes (notes by csum, cards by nid), so the cost
        follows the notes found, not the size of the collection."""
        wanted = sorted(set(checksums))
        notes: list[Note] = []
        decks: dict[int, set[int]] = {}
        with self.uow(write=False) as uow:
            for start in range(0, len(wanted), ID_BATCH):
                batch = tuple(wanted[start:start + ID_BATCH])
                notes += _every_page(uow.queries.notes, user, NoteFilter(checksums=batch))
            notes.sort(key=lambda n: n.id)
            for start in range(0, len(notes), ID_BATCH):
                ids = tuple(n.id for n in notes[start:start + ID_BATCH])
                for card in _every_page(uow.queries.cards, user, CardFilter(note_ids=ids)):
                    decks.setdefault(card.nid, set()).add(card.did)
        return [(n, frozenset(decks.get(n.id, ()))) for n in notes]

    def change_tags(self, user: UserId, note_ids: Sequence[int], add: Sequence[str] = (),
                    remove: Sequence[str] = ()) -> int:
        """Add `add` to and remove `remove` (ignoring case, with their `::` children) from
        the notes in one unit of work; missing notes are skipped. Returns notes changed."""
        gone = {t.casefold() for t in remove if t}

        def kept(tag: str) -> bool:
            fold = tag.casefold()
            return fold not in gone and not any(fold.startswith(g + "::") for g in gone)

        def body(uow: UnitOfWork, usn: int, now: int) -> int:
            notes = uow.queries.notes(user, NoteFilter(ids=tuple(note_ids)), None,
                                      len(note_ids) + 1)
            tag_list = _TagList(uow, user, usn)
            changed = [note._replace(tags=tags, mod=now // 1000, usn=usn) for note in notes
                       if (tags := join_tags(tag_list.canonical(
                           [*filter(kept, split_tags(note.tags)), *add]))) != note.tags]
            uow.collections.save_rows(user, RowKind.NOTE, [], changed)
            tag_list.register(uow, user)
            return len(changed)

        return self._write(user, body, changed=bool)


# -- helpers ----------------------------------------------------------------------------


class _Row(Protocol):
    @property
    def id(self) -> int: ...


R = TypeVar("R", bound=_Row)
F = TypeVar("F")


def _every_page(read: Callable[[UserId, F, int | None, int], list[R]], user: UserId,
                where: F) -> list[R]:
    """Every row `read` (a `CollectionQueries` list) finds for `where`, CARD_PAGE at a
    time; a short page is the last, so a small answer costs one statement."""
    found: list[R] = []
    while True:
        page = read(user, where, found[-1].id if found else None, CARD_PAGE)
        found += page
        if len(page) < CARD_PAGE:
            return found


def _notetype(uow: UnitOfWork, user: UserId, mid: int) -> dict[str, Any]:
    found = uow.collections.objects(user, ObjectKind.NOTETYPE, [mid]).get(mid)
    if found is None:
        raise NotFound(f"no note type {mid}")
    result: dict[str, Any] = json.loads(found.json)
    return result


def _deck(uow: UnitOfWork, user: UserId, did: int) -> dict[str, Any]:
    found = uow.collections.objects(user, ObjectKind.DECK, [did]).get(did)
    if found is None:
        raise NotFound(f"no deck {did}")
    result: dict[str, Any] = json.loads(found.json)
    return result


def _default_deck(uow: UnitOfWork, user: UserId, notetype: dict[str, Any]) -> int:
    did = notetype.get("did")
    if isinstance(did, int) and did in uow.collections.objects(user, ObjectKind.DECK, [did]):
        return did
    return DEFAULT_DECK_ID


def _tag_renamer(old: str, new: str) -> Callable[[str], str]:
    """Map `old` and its `old::` children to `new` (ignoring case); other tags to themselves."""
    def rename(tag: str) -> str:
        if tag.casefold() == old.casefold():
            return new
        if tag.casefold().startswith(old.casefold() + "::"):
            return new + tag[len(old):]
        return tag

    return rename


def _with_parents_case(name: str, by_fold: dict[str, str]) -> str:
    """Spell the parents of `name` as the nearest listed parent tag does (Anki's
    adjusted_case_for_parents), so a tag tree keeps one spelling per level. `by_fold`
    maps each listed tag's casefolded name to its spelling."""
    parts = name.split("::")
    for depth in range(len(parts) - 1, 0, -1):
        parent = by_fold.get("::".join(parts[:depth]).casefold())
        if parent is not None:
            return "::".join([parent, *parts[depth:]])
    return name


class _TagList:
    """The collection's tag list during one write. Gives a note's tags as Anki's
    canonify_tags does: each once, ignoring case; a listed tag in its listed spelling,
    a new one with its listed parents' spelling; sorted ignoring case. `register` lists
    the new ones, so a note written here spells each tag as the tag list does."""

    def __init__(self, uow: UnitOfWork, user: UserId, usn: int) -> None:
        self._by_fold = {t.name.casefold(): t.name for t in uow.queries.all_tags(user)}
        self._new: list[Tag] = []
        self._usn = usn

    def canonical(self, tags: Iterable[str]) -> list[str]:
        names: dict[str, str] = {}
        for tag in filter(None, tags):
            fold = tag.casefold()
            if fold not in self._by_fold:
                self._by_fold[fold] = _with_parents_case(tag, self._by_fold)
                self._new.append(Tag(self._by_fold[fold], self._usn))
            names.setdefault(fold, self._by_fold[fold])
        return sorted(names.values(), key=str.casefold)

    def register(self, uow: UnitOfWork, user: UserId) -> None:
        uow.collections.add_tags(user, self._new)
        self._new = []


def _unique_tags(tags: Iterable[str], usn: int) -> list[Tag]:
    """Tags to register, once each (Anki's tag names are case-insensitive)."""
    unique: dict[str, str] = {}
    for tag in tags:
        if tag:
            unique.setdefault(tag.casefold(), tag)
    return [Tag(t, usn) for t in unique.values()]


class _FreeIds:
    """Anki ids are creation times in ms: hands out unused ids from `start` upwards.

    Which ids are taken is read a window at a time, and ids handed out are never
    offered again, so a batch costs a query per window rather than a scan from
    `start` per id (quadratic in the batch). The collection lock keeps a window valid."""

    WINDOW = 500

    def __init__(self, uow: UnitOfWork, user: UserId, kind: RowKind, start: int) -> None:
        self._uow, self._user, self._kind = uow, user, kind
        self._next = self._window_end = start
        self._taken: Collection[int] = ()

    def take(self) -> int:
        while True:
            if self._next >= self._window_end:
                self._window_end = self._next + self.WINDOW
                self._taken = self._uow.collections.row_versions(
                    self._user, self._kind, range(self._next, self._window_end)).keys()
            candidate, self._next = self._next, self._next + 1
            if candidate not in self._taken:
                return candidate


@dataclass
class _Adding:
    """What the notes of one add_notes call share: the unit of work, the tag list, the
    free ids, the new-card positions reserved for them, the note types read so far and
    the card generator (which parses each template once and bounds the batch's work)."""

    uow: UnitOfWork
    user: UserId
    usn: int
    now: int
    tags: _TagList
    position: int
    notetypes: dict[int, dict[str, Any]] = dataclasses.field(default_factory=dict)
    cards: templates.CardGen = dataclasses.field(default_factory=templates.CardGen)
    note_ids: _FreeIds = dataclasses.field(init=False)
    card_ids: _FreeIds = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        self.note_ids = _FreeIds(self.uow, self.user, RowKind.NOTE, self.now)
        self.card_ids = _FreeIds(self.uow, self.user, RowKind.CARD, self.now)

    def notetype(self, mid: int) -> dict[str, Any]:
        if mid not in self.notetypes:
            self.notetypes[mid] = _notetype(self.uow, self.user, mid)
        return self.notetypes[mid]

    def next_position(self) -> int:
        self.position += 1
        return self.position - 1


def _next_position(uow: UnitOfWork, user: UserId, usn: int, now: int, count: int = 1) -> int:
    """Reserve `count` new-card positions; returns the first."""
    text = uow.collections.config_json(user, "nextPos")
    position = json.loads(text) if text is not None else 1
    if not isinstance(position, int) or isinstance(position, bool):
        position = 1
    uow.collections.put_config(user, ConfigEntry("nextPos", usn, now // 1000,
                                                 json.dumps(position + count)))
    return position


def _deck_name(name: str) -> str:
    parts = [p.strip() for p in name.split("::")]
    if not name.strip() or any(not p for p in parts):
        raise SyncRejected("deck names must be non-empty, with non-empty '::' parts")
    return "::".join(parts)


def _with_children(uow: UnitOfWork, user: UserId, dids: Iterable[int]) -> list[int]:
    names = uow.collections.object_names(user, ObjectKind.DECK)
    result = []
    for did in dids:
        if did in names:
            prefix = names[did] + "::"
            result.append(did)
            result.extend(i for i, n in names.items() if n.startswith(prefix))
    return list(dict.fromkeys(result))


def _ensure_deck(uow: UnitOfWork, user: UserId, name: str, usn: int, now: int,
                 must_be_new: bool = False) -> int:
    names = uow.collections.object_names(user, ObjectKind.DECK)
    by_name = {n.casefold(): i for i, n in names.items()}
    if name.casefold() in by_name:
        if must_be_new:
            raise SyncRejected(f"a deck named {name!r} exists")
        return by_name[name.casefold()]
    parent = name.rpartition("::")[0]
    if parent:
        _ensure_deck(uow, user, parent, usn, now)
        names = uow.collections.object_names(user, ObjectKind.DECK)
    did = max([now, *(i + 1 for i in names)])
    deck = {"id": did, "name": name, "mod": now // 1000, "usn": usn,
            "lrnToday": [0, 0], "revToday": [0, 0], "newToday": [0, 0], "timeToday": [0, 0],
            "collapsed": False, "browserCollapsed": False, "desc": "", "dyn": 0,
            "conf": DEFAULT_DECK_CONFIG_ID, "extendNew": 0, "extendRev": 0}
    uow.collections.save_objects(user, ObjectKind.DECK, [_object(deck)], [])
    return did


def _save_decks(uow: UnitOfWork, user: UserId, renamed: list[tuple[int, str]], usn: int,
                now: int) -> None:
    existing = uow.collections.objects(user, ObjectKind.DECK, [i for i, _ in renamed])
    updates = []
    for did, name in renamed:
        deck = {**json.loads(existing[did].json), "name": name, "mod": now // 1000, "usn": usn}
        updates.append(_object(deck))
    uow.collections.save_objects(user, ObjectKind.DECK, [], updates)


def _object(obj: dict[str, Any]) -> JsonObject:
    return JsonObject(id=int(obj["id"]), name=str(obj["name"]), mtime=int(obj["mod"]),
                      usn=int(obj["usn"]), json=json.dumps(obj, ensure_ascii=False,
                                                           separators=(",", ":")))


def _delete_cards(uow: UnitOfWork, user: UserId, card_ids: Sequence[int], usn: int) -> None:
    existing = uow.collections.row_versions(user, RowKind.CARD, card_ids)
    uow.collections.delete(user, RowKind.CARD, list(existing))
    uow.collections.add_graves(user, [Grave(c, GraveKind.CARD, usn) for c in existing])


def _delete_notes(uow: UnitOfWork, user: UserId, note_ids: Sequence[int], usn: int) -> int:
    existing = list(uow.collections.row_versions(user, RowKind.NOTE, note_ids))
    if not existing:
        return 0
    cards = uow.queries.cards(user, CardFilter(note_ids=tuple(existing)), None, 10**9)
    _delete_cards(uow, user, [c.id for c in cards], usn)
    uow.collections.delete(user, RowKind.NOTE, existing)
    uow.collections.add_graves(user, [Grave(n, GraveKind.NOTE, usn) for n in existing])
    return len(existing)


def _update_cards(uow: UnitOfWork, user: UserId, card_ids: Sequence[int], usn: int, now: int,
                  change: Callable[[Card], Card]) -> int:
    cards = uow.queries.cards(user, CardFilter(ids=tuple(card_ids)), None, len(card_ids) + 1)
    if len(cards) != len(set(card_ids)):
        raise NotFound("some cards do not exist")
    changed = [new._replace(mod=now // 1000, usn=usn)
               for card in cards if (new := change(card)) != card]
    uow.collections.save_rows(user, RowKind.CARD, [], changed)
    return len(changed)


def _restored_queue(card: Card) -> int:
    if card.type in (1, 3):
        return 1 if card.due > 1_000_000_000 else 3
    return card.type


def _returned_home(card: Card) -> Card:
    """Take a card out of its filtered deck (Anki's remove_from_filtered_deck_restoring_queue):
    back to its home deck and due, with the queue its type implies unless it is suspended
    or buried. Cards not in a filtered deck (odid 0) are returned unchanged."""
    if card.odid == 0:
        return card
    card = card._replace(did=card.odid, odid=0, odue=0, due=card.odue or card.due)
    return card._replace(queue=_restored_queue(card)) if card.queue >= 0 else card


def _cards_of_doomed_decks(uow: UnitOfWork, user: UserId, doomed: Sequence[int]
                           ) -> tuple[list[Card], list[Card]]:
    """The cards deleting `doomed` removes, and the ones it returns home (changed).

    A normal deck takes its cards with it, also those a filtered deck borrowed
    (odid = deck, Anki's cards_for_deck.sql); a filtered deck's other cards go home.
    Borrowed cards sit in filtered decks, so only those decks are searched for them.
    """
    decks = [json.loads(o.json) for o in uow.queries.all_objects(user, ObjectKind.DECK)]
    filtered = {int(d["id"]) for d in decks if d.get("dyn")}
    normal = {d for d in doomed if d not in filtered}
    held = uow.queries.cards(user, CardFilter(deck_ids=tuple({*doomed, *filtered})), None,
                             10**9)
    going = [c for c in held if c.did in normal or c.odid in normal]
    gone = {c.id for c in going}
    home = [_returned_home(c) for c in held if c.did in doomed and c.id not in gone]
    # A filtered card without a home (odid 0; Anki never makes one) must not stay in a
    # deleted deck: it goes to the default deck, which cannot be deleted.
    home = [c._replace(did=DEFAULT_DECK_ID) if c.did in doomed else c for c in home]
    return going, home


def _add_cards(uow: UnitOfWork, user: UserId, nid: int, ords: Iterable[int], deck_id: int,
               position: int, usn: int, now: int, card_ids: _FreeIds | None = None) -> None:
    """Add new cards for `ords` of a note, all at one new-card position."""
    card_ids = card_ids or _FreeIds(uow, user, RowKind.CARD, now)
    data = json.dumps({"pos": position}, separators=(",", ":"))
    uow.collections.save_rows(user, RowKind.CARD, [
        Card(id=card_ids.take(), nid=nid, did=deck_id, ord=ord_, mod=now // 1000, usn=usn,
             type=0, queue=0, due=position, ivl=0, factor=0, reps=0, lapses=0, left=0,
             odue=0, odid=0, flags=0, data=data) for ord_ in ords], [])


def _add_missing_cards(uow: UnitOfWork, user: UserId, note: Note, notetype: dict[str, Any],
                       fields: dict[str, str], usn: int, now: int) -> None:
    """Add the cards an edited note now needs, as Anki's cardgen does for an existing note.

    They go to the home deck all the note's cards share, else to the note type's deck
    (`_default_deck`), and to the default deck if that one is filtered; template deck
    overrides are not honoured (nor are they when adding notes). They take the position
    of one of the note's new cards, so they are studied together, else the next one.
    """
    existing = uow.queries.cards(user, CardFilter(note_ids=(note.id,)), None, 10**9)
    have = {c.ord for c in existing}
    # Anki gives a note that has no card card 0 (even with nothing to show), but does
    # not add it to a note that has other cards.
    wanted = templates.card_ords(notetype, fields, split_tags(note.tags), ensure_one=False)
    if not wanted and not existing:
        wanted = [0]
    missing = [o for o in wanted if o not in have]
    if not missing:
        return
    homes = {c.odid or c.did for c in existing}
    deck_id = homes.pop() if len(homes) == 1 else _default_deck(uow, user, notetype)
    deck = uow.collections.objects(user, ObjectKind.DECK, [deck_id]).get(deck_id)
    if deck is None or json.loads(deck.json).get("dyn"):
        deck_id = DEFAULT_DECK_ID
    position = next((max(c.odue or c.due, 0) for c in existing if c.type == 0), None)
    if position is None:
        position = _next_position(uow, user, usn, now)
    _add_cards(uow, user, note.id, missing, deck_id, position, usn, now)
