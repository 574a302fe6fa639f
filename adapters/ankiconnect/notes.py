"""AnkiConnect's note, tag and card actions, over `CollectionApi`."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from adapters.ankiconnect import adding, media
from adapters.ankiconnect.decks import createDeck, deck_names, field_names
from adapters.ankiconnect.params import (
    MAX_NOTES,
    ActionError,
    Call,
    flag,
    ids,
    integer,
    obj,
    objects,
    strings,
    tag_list,
    text,
)
from adapters.ankiconnect.protocol import Action
from domain.api.service import SUSPENDED
from domain.errors import NotFound
from domain.model import Card, Note, ObjectKind
from domain.sync.note_text import FIELD_SEPARATOR
from ports.queries import CardFilter, NoteFilter

CHUNK = 500  # ids per query


def _chunks(values: Sequence[int]) -> Iterator[tuple[int, ...]]:
    for start in range(0, len(values), CHUNK):
        yield tuple(values[start:start + CHUNK])


def _notes(call: Call, nids: Sequence[int]) -> dict[int, Note]:
    found: dict[int, Note] = {}
    for chunk in _chunks(list(dict.fromkeys(nids))):
        found.update((n.id, n) for n in call.api.notes(call.user, NoteFilter(ids=chunk), None,
                                                       len(chunk) + 1))
    return found


def _cards(call: Call, where: CardFilter) -> list[Card]:
    cards: list[Card] = []
    while page := call.api.cards(call.user, where, cards[-1].id if cards else None, CHUNK):
        cards.extend(page)
    return cards


def _cards_by_id(call: Call, cids: Sequence[int]) -> dict[int, Card]:
    return {c.id: c for chunk in _chunks(list(dict.fromkeys(cids)))
            for c in _cards(call, CardFilter(ids=chunk))}


def _note(call: Call, nid: int) -> Note:
    try:
        return call.api.note(call.user, nid)[0]
    except NotFound:
        raise ActionError(f"Note was not found: {nid}") from None


# -- searching and reading -------------------------------------------------------------


def findNotes(call: Call, query: Any = None) -> list[int]:
    if query is None:
        return []
    return call.services.search.ids(call.user, text(query, "query"))


def findCards(call: Call, query: Any = None) -> list[int]:
    if query is None:
        return []
    return call.services.search.ids(call.user, text(query, "query"), cards=True)


def fields_of(note: Note, notetype: dict[str, Any]) -> dict[str, dict[str, Any]]:
    values = note.flds.split(FIELD_SEPARATOR)
    return {name: {"value": values[i] if i < len(values) else "", "order": i}
            for i, name in enumerate(field_names(notetype))}


def notesInfo(call: Call, notes: Any = None, query: Any = None) -> list[dict[str, Any]]:
    if notes is None and query is None:
        raise ActionError('Must provide either "notes" or a "query"')
    nids = findNotes(call, query) if query is not None else ids(notes, "notes")
    found = _notes(call, nids)
    types = {int(n["id"]): n for n in call.api.objects(call.user, ObjectKind.NOTETYPE)}
    cards: dict[int, list[Card]] = {}
    for chunk in _chunks(list(found)):
        for card in _cards(call, CardFilter(note_ids=chunk)):
            cards.setdefault(card.nid, []).append(card)
    profile = call.services.profile(call.user) or ""
    return [_note_info(found[nid], types.get(found[nid].mid, {}), cards.get(nid, []), profile)
            if nid in found else {} for nid in nids]


def _note_info(note: Note, notetype: dict[str, Any], cards: list[Card], profile: str
               ) -> dict[str, Any]:
    # NOTE: `profile` is the name of AnkiConnect's Anki profile; here, the user's name.
    return {"noteId": note.id, "profile": profile, "tags": note.tags.split(),
            "fields": fields_of(note, notetype),
            "modelName": str(notetype.get("name", "")), "mod": note.mod,
            "cards": [c.id for c in sorted(cards, key=lambda c: (c.ord, c.id))]}


def getNoteTags(call: Call, note: Any) -> list[str]:
    return _note(call, integer(note, "note")).tags.split()


def notesModTime(call: Call, notes: Any) -> list[dict[str, Any]]:
    nids = ids(notes, "notes")
    found = _notes(call, nids)
    return [{"noteId": nid, "mod": found[nid].mod} if nid in found else {} for nid in nids]


def getTags(call: Call) -> list[str]:
    return sorted(call.api.tags(call.user), key=str.casefold)


# -- adding ------------------------------------------------------------------------------


def _read(call: Call, raw: Sequence[Any]) -> list[adding.Candidate | str]:
    names = adding.Names(call)
    found: list[adding.Candidate | str] = []
    for item in raw:
        try:
            found.append(media.with_media(adding.candidate(names, item), item))
        except ActionError as e:
            found.append(str(e))
    return found


def _checked(call: Call, raw: Sequence[Any]) -> tuple[list[adding.Candidate], list[str]]:
    """The notes that can be added, and what is wrong with the others (in order)."""
    found = _read(call, raw)
    ready: list[adding.Candidate] = []
    errors: list[str] = []
    for item, problem in zip(found, adding.problems(call, found, sequential=True),
                             strict=True):
        if problem is None and isinstance(item, adding.Candidate) and not item.has_cards():
            problem = adding.NO_CARDS
        if problem is not None:
            errors.append(problem)
        elif isinstance(item, adding.Candidate):
            ready.append(item)
    return ready, errors


def addNote(call: Call, note: Any) -> int:
    ready, errors = _checked(call, [obj(note, "note")])
    if errors:
        raise ActionError(errors[0])
    media.store_for(call, ready)
    return call.api.add_notes(call.user, [c.new_note() for c in ready])[0]


def addNotes(call: Call, notes: Any) -> list[int]:
    """All or none: when one cannot be added, the error lists every problem (as a
    Python list, like AnkiConnect, which adds the others and then deletes them)."""
    ready, errors = _checked(call, objects(notes, "notes", MAX_NOTES))
    if errors:
        raise ActionError(str(errors))
    if not ready:
        return []
    media.store_for(call, ready)
    return call.api.add_notes(call.user, [c.new_note() for c in ready])


def canAddNotes(call: Call, notes: Any) -> list[bool]:
    return [p is None for p in _can_add(call, notes)]


def canAddNotesWithErrorDetail(call: Call, notes: Any) -> list[dict[str, Any]]:
    return [{"canAdd": True} if p is None else {"canAdd": False, "error": p}
            for p in _can_add(call, notes)]


def _can_add(call: Call, notes: Any) -> list[str | None]:
    raw = objects(notes, "notes", MAX_NOTES)
    names = adding.Names(call)
    found: list[adding.Candidate | str] = []
    for item in raw:
        try:
            found.append(adding.candidate(names, item))
        except ActionError as e:
            found.append(str(e))
    return adding.problems(call, found, sequential=False)


# -- changing ----------------------------------------------------------------------------


def _field_changes(call: Call, note: Note, given: dict[str, str]) -> dict[str, str]:
    """The fields to set: AnkiConnect sets the ones named exactly, ignoring the rest."""
    notetype = call.api.object(call.user, ObjectKind.NOTETYPE, note.mid)
    known = set(field_names(notetype))
    return {name: value for name, value in given.items() if name in known}


def _update(call: Call, raw: Any, with_tags: bool) -> None:
    note_obj = obj(raw, "note")
    nid = integer(note_obj.get("id"), "id")
    has_fields = "fields" in note_obj
    if with_tags and not has_fields and "tags" not in note_obj:
        raise ActionError('Must provide a "fields" or "tags" property.')
    note = _note(call, nid)
    fields = None
    if has_fields or not with_tags:
        given = strings(note_obj.get("fields"), "fields")
        fields = media.with_note_media(call, note, _field_changes(call, note, given), note_obj)
    tags = None
    if with_tags and "tags" in note_obj:
        tags = tag_list(note_obj["tags"], "tags")
    call.api.update_note(call.user, nid, fields, tags)


def updateNoteFields(call: Call, note: Any) -> None:
    _update(call, note, with_tags=False)


def updateNote(call: Call, note: Any) -> None:
    """Fields and tags change together, in one unit of work."""
    _update(call, note, with_tags=True)


def deleteNotes(call: Call, notes: Any) -> None:
    call.api.delete_notes(call.user, ids(notes, "notes"))


def addTags(call: Call, notes: Any, tags: Any, add: Any = True) -> None:
    nids, names = ids(notes, "notes"), text(tags, "tags").split()
    if flag(add, "add"):
        call.api.change_tags(call.user, nids, add=names)
    else:
        call.api.change_tags(call.user, nids, remove=names)


def removeTags(call: Call, notes: Any, tags: Any) -> None:
    addTags(call, notes, tags, add=False)


# -- cards -------------------------------------------------------------------------------


def _existing_cards(call: Call, cids: list[int]) -> dict[int, Card]:
    found = _cards_by_id(call, cids)
    for cid in cids:
        if cid not in found:
            raise ActionError(f"Card was not found: {cid}")
    return found


def suspend(call: Call, cards: Any, suspend: Any = True) -> bool:
    """True if a card changed, False if all already were in that state."""
    wanted = flag(suspend, "suspend")
    found = _existing_cards(call, ids(cards, "cards"))
    changing = [cid for cid, c in found.items() if (c.queue == SUSPENDED) != wanted]
    if not changing:
        return False
    call.api.set_suspended(call.user, changing, wanted)
    return True


def unsuspend(call: Call, cards: Any) -> bool:
    # NOTE: AnkiConnect's code answers null here; its README documents true/false.
    return suspend(call, cards, False)


def cardsInfo(call: Call, cards: Any) -> list[dict[str, Any]]:
    """Each card with its note's fields and its sides as Anki renders them; `{}` for an
    id that is no card (AnkiConnect keeps the answer in step with the request)."""
    cids = ids(cards, "cards")
    found = _cards_by_id(call, cids)
    notes_of = _notes(call, [c.nid for c in found.values()])
    types = {int(n["id"]): n for n in call.api.objects(call.user, ObjectKind.NOTETYPE)}
    decks = deck_names(call)
    sides = call.services.card_sides(call.user, list(found)) if found else {}
    result: list[dict[str, Any]] = []
    for cid in cids:
        card = found.get(cid)
        note = notes_of.get(card.nid) if card is not None else None
        if card is None or note is None:
            result.append({})
            continue
        if card.did not in decks:
            raise ActionError(f"deck was not found: {card.did}")
        notetype = types.get(note.mid, {})
        seen = sides.get(cid)
        result.append({
            "cardId": card.id, "fields": fields_of(note, notetype), "fieldOrder": card.ord,
            "question": seen.question if seen else "", "answer": seen.answer if seen else "",
            "modelName": str(notetype.get("name", "")), "ord": card.ord,
            "deckName": decks[card.did], "css": str(notetype.get("css", "")),
            "factor": card.factor, "interval": card.ivl, "note": card.nid,
            "type": card.type, "queue": card.queue, "due": card.due, "reps": card.reps,
            "lapses": card.lapses, "left": card.left, "mod": card.mod,
            "nextReviews": list(seen.next_reviews) if seen else [], "flags": card.flags})
    return result


def cardsModTime(call: Call, cards: Any) -> list[dict[str, Any]]:
    cids = ids(cards, "cards")
    found = _cards_by_id(call, cids)
    return [{"cardId": cid, "mod": found[cid].mod} if cid in found else {} for cid in cids]


def cardsToNotes(call: Call, cards: Any) -> list[int]:
    """The notes of the cards, each once (ids that are no card are left out)."""
    found = _cards_by_id(call, ids(cards, "cards"))
    return list(dict.fromkeys(c.nid for c in found.values()))


def getDecks(call: Call, cards: Any) -> dict[str, list[int]]:
    """The cards by the name of the deck each is in (ids that are no card are left out)."""
    cids = ids(cards, "cards")
    found = _cards_by_id(call, cids)
    names = deck_names(call)
    decks: dict[str, list[int]] = {}
    for cid in cids:
        if cid in found:
            decks.setdefault(names.get(found[cid].did, ""), []).append(cid)
    return decks


def changeDeck(call: Call, cards: Any, deck: Any) -> None:
    """Move the cards to the deck, created if it does not exist (a card a filtered deck
    borrowed goes home first, as in Anki)."""
    cids = ids(cards, "cards")
    did = createDeck(call, deck)
    call.api.move_cards(call.user, cids, did)


def areSuspended(call: Call, cards: Any) -> list[bool | None]:
    cids = ids(cards, "cards")
    found = _cards_by_id(call, cids)
    return [found[c].queue == SUSPENDED if c in found else None for c in cids]


ACTIONS: dict[str, Action] = {
    "findNotes": findNotes, "findCards": findCards, "notesInfo": notesInfo,
    "getTags": getTags, "addNote": addNote, "addNotes": addNotes, "canAddNotes": canAddNotes,
    "canAddNotesWithErrorDetail": canAddNotesWithErrorDetail,
    "updateNoteFields": updateNoteFields, "updateNote": updateNote,
    "deleteNotes": deleteNotes, "addTags": addTags, "removeTags": removeTags,
    "suspend": suspend, "unsuspend": unsuspend, "areSuspended": areSuspended,
    "cardsInfo": cardsInfo, "cardsModTime": cardsModTime, "notesModTime": notesModTime,
    "cardsToNotes": cardsToNotes, "getDecks": getDecks, "changeDeck": changeDeck,
    "getNoteTags": getNoteTags,
}
