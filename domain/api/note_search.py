"""Searching a user's notes with Anki's search syntax (`domain.search`), over one
snapshot of the collection, a page of notes at a time so memory stays bounded."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from domain.deck_tree import SCHEDULING_CONFIG_KEYS, scheduling_day
from domain.errors import NotFound
from domain.model import Card, Note, ObjectKind, RevlogEntry, UserId
from domain.search import (
    DayTiming,
    NoteCards,
    NotetypeInfo,
    SearchContext,
    compile_search,
    parse,
)
from domain.search.nodes import And, Node, Not, Or, Rated, Recency, Within
from ports.clock import Clock
from ports.queries import CardFilter, NoteFilter
from ports.stores import UnitOfWork, UnitOfWorkFactory

PAGE = 2000  # notes read (with their cards) per query while matching
LEARN_AHEAD_SECS = 1200


@dataclass(frozen=True, slots=True)
class FoundNote:
    """One search result as a list shows it."""

    note: Note
    notetype: str
    decks: tuple[str, ...]
    cards: int


@dataclass(frozen=True, slots=True)
class SearchResults:
    total: int
    notes: list[FoundNote]  # the page asked for, newest first


def _needs_revlog(node: Node) -> bool:
    if isinstance(node, Rated):
        return True
    if isinstance(node, Within):
        return node.what == Recency.INTRODUCED
    if isinstance(node, And | Or):
        return any(_needs_revlog(child) for child in node.children)
    if isinstance(node, Not):
        return _needs_revlog(node.child)
    return False


def _notetype(raw: dict[str, Any]) -> NotetypeInfo:
    fields = sorted(raw.get("flds", []), key=lambda f: int(f.get("ord", 0)))
    templates = sorted(raw.get("tmpls", []), key=lambda t: int(t.get("ord", 0)))
    return NotetypeInfo(
        id=int(raw["id"]), name=str(raw.get("name", "")),
        field_names=tuple(str(f.get("name", "")) for f in fields),
        template_names=tuple(str(t.get("name", "")) for t in templates),
        is_cloze=raw.get("type") == 1, sort_field=int(raw.get("sortf", 0) or 0),
        excluded_fields=frozenset(i for i, f in enumerate(fields)
                                  if f.get("excludeFromSearch")))


def _config(uow: UnitOfWork, user: UserId) -> dict[str, object]:
    values: dict[str, object] = {}
    for key in SCHEDULING_CONFIG_KEYS:
        text = uow.collections.config_json(user, key)
        try:
            values[key] = None if text is None else json.loads(text)
        except ValueError:
            values[key] = None
    return values


@dataclass
class NoteSearch:
    uow: UnitOfWorkFactory
    clock: Clock

    def search(self, user: UserId, query: str, offset: int, limit: int) -> SearchResults:
        """The notes matching `query` (Anki's syntax; raises `SearchError`), newest first:
        how many in all, and `limit` of them from `offset`."""
        node = parse(query)
        with self.uow(write=False) as uow:  # one snapshot for the whole search
            context = search_context(uow, user, node, self.clock.now_ms())
            compiled = compile_search(node, context)
            matched = [item.note.id for item in notes_with_cards(uow, user)
                       if compiled.note_matches(item)]
            matched.reverse()
            page = matched[offset:offset + limit]
            shown = {item.note.id: item for item in notes_with_cards(uow, user, tuple(page))}
        names, decks = context.notetypes, context.deck_names
        return SearchResults(len(matched), [
            FoundNote(shown[nid].note, names[shown[nid].note.mid].name
                      if shown[nid].note.mid in names else "?",
                      tuple(dict.fromkeys(decks.get(c.odid or c.did, "?")
                                          for c in shown[nid].cards)), len(shown[nid].cards))
            for nid in page if nid in shown])

    def ids(self, user: UserId, query: str, *, cards: bool = False) -> list[int]:
        """Ids of the notes (with `cards`, of the cards) matching `query`, ascending, from
        one snapshot. Raises `SearchError` for a bad search."""
        node = parse(query)
        with self.uow(write=False) as uow:
            compiled = compile_search(node, search_context(uow, user, node,
                                                           self.clock.now_ms()))
            found: list[int] = []
            for item in notes_with_cards(uow, user):
                if cards:
                    found.extend(card.id for card in compiled.matching_cards(item))
                elif compiled.note_matches(item):
                    found.append(item.note.id)
        return sorted(found)


def search_context(uow: UnitOfWork, user: UserId, node: Node, now: int) -> SearchContext:
    """What a search needs besides the notes: note types, deck names, Anki's day, and the
    review log when the search reads it."""
    meta = uow.collections.meta(user)
    if meta is None:
        raise NotFound("no collection")
    notetypes = [json.loads(x.json) for x in uow.queries.all_objects(user, ObjectKind.NOTETYPE)]
    decks = {int(d["id"]): str(d.get("name", "")) for d in (
        json.loads(x.json) for x in uow.queries.all_objects(user, ObjectKind.DECK))}
    config = _config(uow, user)
    day = scheduling_day(meta.crt, config, now)
    collapse = config.get("collapseTime")
    timing = DayTiming(day.today, day.ends_at, now // 1000,
                       collapse if isinstance(collapse, int) else LEARN_AHEAD_SECS)
    revlog = list(_revlog(uow, user)) if _needs_revlog(node) else []
    return SearchContext({int(n["id"]): _notetype(n) for n in notetypes}, decks, timing,
                         revlog)


def notes_with_cards(uow: UnitOfWork, user: UserId, ids: tuple[int, ...] | None = None
                     ) -> Iterator[NoteCards]:
    """Every note (or those with `ids`) with its cards, by id, a page at a time."""
    after: int | None = None
    while True:
        notes = uow.queries.notes(user, NoteFilter(ids=ids), after, PAGE)
        if not notes:
            return
        cards: dict[int, list[Card]] = defaultdict(list)
        note_ids = tuple(n.id for n in notes)
        card_after: int | None = None
        while page := uow.queries.cards(user, CardFilter(note_ids=note_ids), card_after,
                                        PAGE * 4):
            for card in page:
                cards[card.nid].append(card)
            card_after = page[-1].id
        for note in notes:
            yield NoteCards(note, tuple(cards.get(note.id, ())))
        after = notes[-1].id


def _revlog(uow: UnitOfWork, user: UserId) -> Iterator[RevlogEntry]:
    after: int | None = None
    while page := uow.queries.revlog(user, None, after, PAGE * 5):
        yield from page
        after = page[-1].id
