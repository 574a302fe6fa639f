"""Reading AnkiConnect's note objects (`addNote`, `addNotes`, `canAddNotes`) and its
duplicate check, before the notes go to `CollectionApi.add_notes`.

AnkiConnect's note: `deckName` and `modelName` (which must exist), `fields` (names
matched ignoring case; unknown ones are ignored), `tags`, and `options`:
`allowDuplicate`, `duplicateScope` ("deck": only that deck; else the whole collection)
and `duplicateScopeOptions` (`deckName`, `checkChildren`, `checkAllModels`).

Its duplicate check is Anki's own by default: a note is empty when its first field,
without HTML, is blank, and a duplicate when a note of the same type has the same first
field without HTML. With a deck scope or across all note types it compares the first
field's checksum only, and a deck scope counts notes with a card in those decks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from adapters.ankiconnect.decks import deck_ids, field_names, notetypes
from adapters.ankiconnect.params import ActionError, Call, flag, obj, strings, tag_list, text
from domain.api import templates
from domain.api.service import NewNote
from domain.model import Note
from domain.sync.note_text import FIELD_SEPARATOR, field_checksum, text_of_field

EMPTY = "cannot create note because it is empty"
DUPLICATE = "cannot create note because it is a duplicate"
NO_CARDS = "The field values you have provided would make an empty question on all cards."


@dataclass(frozen=True)
class Scope:
    """Where a duplicate is looked for: None decks means the whole collection."""

    decks: frozenset[int] | None = None
    all_models: bool = False

    @property
    def anki_default(self) -> bool:
        return self.decks is None and not self.all_models


@dataclass
class Candidate:
    """A note AnkiConnect was asked to add, checked against the collection's names."""

    notetype: dict[str, Any]
    deck_id: int
    values: list[str]
    tags: list[str]
    allow_duplicate: bool = False
    scope: Scope = field(default_factory=Scope)
    media: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return field_names(self.notetype)

    @property
    def first(self) -> str:
        return self.values[0] if self.values else ""

    def new_note(self) -> NewNote:
        return NewNote(int(self.notetype["id"]), dict(zip(self.names, self.values, strict=True)),
                       tuple(self.tags), self.deck_id)

    def has_cards(self) -> bool:
        fields = dict(zip(self.names, self.values, strict=True))
        return bool(templates.card_ords(self.notetype, fields, self.tags, ensure_one=False))


class Names:
    """The collection's decks and note types, read once per request."""

    def __init__(self, call: Call) -> None:
        ids = deck_ids(call)
        self.decks = {n.casefold(): i for n, i in ids.items()}
        self.notetypes = notetypes(call)
        self.deck_names = {i: n for n, i in ids.items()}

    def deck(self, name: str) -> int | None:
        return self.decks.get("::".join(p.strip() for p in name.split("::")).casefold())

    def with_children(self, did: int) -> frozenset[int]:
        prefix = self.deck_names[did].casefold() + "::"
        return frozenset({did, *(i for n, i in self.decks.items() if n.startswith(prefix))})


def candidate(names: Names, raw: Any) -> Candidate:
    """Read one AnkiConnect note, refusing it as AnkiConnect would."""
    note = obj(raw, "note")
    model_name = text(note.get("modelName"), "modelName")
    notetype = names.notetypes.get(model_name)
    if notetype is None:
        raise ActionError(f"model was not found: {model_name}")
    deck_name = text(note.get("deckName"), "deckName")
    deck_id = names.deck(deck_name)
    if deck_id is None:
        raise ActionError(f"deck was not found: {deck_name}")
    given = strings(note.get("fields", {}), "fields")
    values = [""] * len(field_names(notetype))
    by_fold = {n.casefold(): i for i, n in reversed(list(enumerate(field_names(notetype))))}
    for name, value in given.items():
        if (index := by_fold.get(name.casefold())) is not None:
            values[index] = value
    tags = tag_list(note.get("tags", []), "tags")
    found = Candidate(notetype, deck_id, values, tags)
    _read_options(names, found, obj(note.get("options", {}), "options"))
    return found


def _read_options(names: Names, found: Candidate, options: dict[str, Any]) -> None:
    if "allowDuplicate" in options:
        found.allow_duplicate = flag(options["allowDuplicate"], "allowDuplicate")
    scope = obj(options.get("duplicateScopeOptions", {}), "duplicateScopeOptions")
    children = flag(scope.get("checkChildren", False), "duplicateScopeOptions.checkChildren")
    all_models = flag(scope.get("checkAllModels", False),
                      "duplicateScopeOptions.checkAllModels")
    decks: frozenset[int] | None = None
    if options.get("duplicateScope") == "deck":
        did: int | None = found.deck_id
        if scope.get("deckName") is not None:
            did = names.deck(text(scope["deckName"], "duplicateScopeOptions.deckName"))
        if did is None:
            decks = frozenset()  # no such deck: nothing in it can be a duplicate
        else:
            decks = names.with_children(did) if children else frozenset({did})
    found.scope = Scope(decks, all_models)


def _first_field(note: Note) -> str:
    return note.flds.split(FIELD_SEPARATOR, 1)[0]


def _checksum(value: str) -> int:
    return field_checksum(text_of_field(value))


def problem(found: Candidate, twins: Sequence[tuple[Note, frozenset[int]]]) -> str | None:
    """Why `found` cannot be added (empty, duplicate), given the notes sharing its first
    field's checksum with the decks of their cards; None if it can."""
    mid = int(found.notetype["id"])
    if found.scope.anki_default:
        stripped = text_of_field(found.first)
        if not stripped.strip():
            return EMPTY
        same = (n for n, _ in twins if n.mid == mid and text_of_field(_first_field(n)) == stripped)
    else:
        if not found.first.strip():
            return EMPTY
        csum, decks = _checksum(found.first), found.scope.decks
        same = (n for n, in_decks in twins if n.csum == csum
                and (found.scope.all_models or n.mid == mid)
                and (decks is None or in_decks & decks))
    if next(same, None) is not None and not found.allow_duplicate:
        return DUPLICATE
    return None


def problems(call: Call, found: Sequence[Candidate | str], sequential: bool
             ) -> list[str | None]:
    """`problem` for each candidate (a string stands for one that could not be read).
    With `sequential`, each note also meets the ones before it, as when they are added
    one after the other."""
    checksums = {_checksum(c.first) for c in found if isinstance(c, Candidate)}
    twins = call.api.notes_by_checksum(call.user, checksums) if checksums else []
    result: list[str | None] = []
    for item in found:
        if isinstance(item, str):
            result.append(item)
            continue
        result.append(problem(item, twins))
        if sequential and result[-1] is None:
            twins = [*twins, (_pending(item), frozenset({item.deck_id}))]
    return result


def _pending(found: Candidate) -> Note:
    """A note about to be added, as the duplicate check sees it."""
    return Note(id=0, guid="", mid=int(found.notetype["id"]), mod=0, usn=0, tags="",
                flds=FIELD_SEPARATOR.join(found.values), sfld="",
                csum=_checksum(found.first), flags=0, data="")
