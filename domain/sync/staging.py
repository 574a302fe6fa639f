"""What a client sends before `finish`, encoded for the staging store.

Staged items are keyed by (kind, key), so a resent object replaces the earlier
copy; kinds are applied at `finish` in the order of this enum, which is the
order the protocol delivers them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from domain.model import Card, GraveKind, Note, RevlogEntry
from domain.sync.values import Graves, UnchunkedChanges


class StageKind(IntEnum):
    GRAVE_CARD = 0
    GRAVE_NOTE = 1
    GRAVE_DECK = 2
    NOTETYPE = 3
    DECK = 4
    DECK_CONFIG = 5
    TAG = 6
    CONFIG = 7
    CRT = 8
    REVLOG = 9
    CARD = 10
    NOTE = 11


GRAVE_STAGES = {
    GraveKind.CARD: StageKind.GRAVE_CARD,
    GraveKind.NOTE: StageKind.GRAVE_NOTE,
    GraveKind.DECK: StageKind.GRAVE_DECK,
}


ROW_STAGES = (StageKind.REVLOG, StageKind.CARD, StageKind.NOTE)


@dataclass(frozen=True, slots=True)
class StagedItem:
    kind: StageKind
    key: str
    payload: str = ""
    # Read back (`StagingStore.read_rows`): (mod, usn) of the live row with the same id.
    existing: tuple[int, int] | None = None


def stage_graves(graves: Graves) -> list[StagedItem]:
    return [
        *(StagedItem(StageKind.GRAVE_CARD, str(i)) for i in graves.cards),
        *(StagedItem(StageKind.GRAVE_NOTE, str(i)) for i in graves.notes),
        *(StagedItem(StageKind.GRAVE_DECK, str(i)) for i in graves.decks),
    ]


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def stage_changes(changes: UnchunkedChanges) -> list[StagedItem]:
    items = [
        *(StagedItem(StageKind.NOTETYPE, str(o["id"]), _dump(o)) for o in changes.notetypes),
        *(StagedItem(StageKind.DECK, str(o["id"]), _dump(o)) for o in changes.decks),
        *(StagedItem(StageKind.DECK_CONFIG, str(o["id"]), _dump(o))
          for o in changes.deck_configs),
        *(StagedItem(StageKind.TAG, tag) for tag in dict.fromkeys(changes.tags)),
    ]
    if changes.config is not None:
        items.append(StagedItem(StageKind.CONFIG, "", _dump(changes.config)))
    if changes.crt is not None:
        items.append(StagedItem(StageKind.CRT, "", str(changes.crt)))
    return items


def stage_rows(
    revlog: Iterable[RevlogEntry], cards: Iterable[Card], notes: Iterable[Note]
) -> list[StagedItem]:
    return [
        *(StagedItem(StageKind.REVLOG, str(e.id), _dump(revlog_values(e))) for e in revlog),
        *(StagedItem(StageKind.CARD, str(c.id), _dump(card_values(c))) for c in cards),
        *(StagedItem(StageKind.NOTE, str(n.id), _dump(note_values(n))) for n in notes),
    ]


def note_values(n: Note) -> list[Any]:
    return [n.id, n.guid, n.mid, n.mod, n.usn, n.tags, n.flds, n.sfld, n.csum, n.flags, n.data]


def card_values(c: Card) -> list[Any]:
    return [c.id, c.nid, c.did, c.ord, c.mod, c.usn, c.type, c.queue, c.due, c.ivl, c.factor,
            c.reps, c.lapses, c.left, c.odue, c.odid, c.flags, c.data]


def revlog_values(e: RevlogEntry) -> list[Any]:
    return [e.id, e.cid, e.usn, e.ease, e.ivl, e.last_ivl, e.factor, e.time, e.type]


def decode_note(payload: str) -> Note:
    return Note(*json.loads(payload))


def decode_card(payload: str) -> Card:
    return Card(*json.loads(payload))


def decode_revlog(payload: str) -> RevlogEntry:
    return RevlogEntry(*json.loads(payload))


def decode_object(payload: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(payload)
    return value


def ids(items: Iterable[StagedItem]) -> Iterator[int]:
    return (int(item.key) for item in items)
