"""Merge what a client staged into the live collection, in the protocol's order.

Runs inside `finish` (committed) and, unless the counts can be told without it,
inside `sanityCheck2` (undone afterwards), so both see exactly the same result.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from itertools import islice
from typing import Any

from domain.errors import SyncRejected
from domain.model import (
    CollectionMeta,
    ConfigEntry,
    Counts,
    Grave,
    GraveKind,
    JsonObject,
    Note,
    ObjectKind,
    RevlogEntry,
    Row,
    RowKind,
    Tag,
    UserId,
)
from domain.sync import merge, staging
from domain.sync.note_text import FIELD_SEPARATOR, sort_field_and_checksum
from domain.sync.session import SyncSession
from domain.sync.staging import ROW_STAGES, StagedItem, StageKind
from ports.stores import UnitOfWork

BATCH = 500

_GRAVES = (
    (StageKind.GRAVE_CARD, GraveKind.CARD, RowKind.CARD),
    (StageKind.GRAVE_NOTE, GraveKind.NOTE, RowKind.NOTE),
    (StageKind.GRAVE_DECK, GraveKind.DECK, ObjectKind.DECK),
)
_OBJECTS = (
    (StageKind.NOTETYPE, ObjectKind.NOTETYPE),
    (StageKind.DECK, ObjectKind.DECK),
    (StageKind.DECK_CONFIG, ObjectKind.DECK_CONFIG),
)


def _batches(items: Iterator[StagedItem]) -> Iterator[list[StagedItem]]:
    while batch := list(islice(items, BATCH)):
        yield batch


class _Staged:
    """Reads staged items, skipping the kinds nothing was staged for (most of them in a
    small sync) without a query each."""

    def __init__(self, uow: UnitOfWork, user: UserId, kinds: frozenset[StageKind]) -> None:
        self._uow, self._user, self.kinds = uow, user, kinds

    def read(self, kind: StageKind) -> Iterator[StagedItem]:
        if kind not in self.kinds:
            return iter(())
        return iter(self._uow.staging.read(self._user, kind))

    def rows(self) -> Iterator[list[StagedItem]]:
        """Pages of staged revlog entries, cards and notes, in that order, each with the
        version of the live row it would replace."""
        if not self.kinds & set(ROW_STAGES):
            return
        after: tuple[StageKind, str] | None = None
        while page := self._uow.staging.read_rows(self._user, after, BATCH):
            yield page
            if len(page) < BATCH:
                return
            after = (page[-1].kind, page[-1].key)


# Kinds whose effect on the sanity-check counts is known without applying them: rows
# only ever add the ids the collection lacks (a new id always wins the merge), and tags,
# config and crt are not counted. Graves delete, and objects are counted by name rules.
_COUNTED_WITHOUT_APPLYING = {
    StageKind.REVLOG: RowKind.REVLOG, StageKind.CARD: RowKind.CARD,
    StageKind.NOTE: RowKind.NOTE, StageKind.TAG: None, StageKind.CONFIG: None,
    StageKind.CRT: None,
}


def counts_after_applying(
    kinds: frozenset[StageKind], counts: Counts, added: dict[StageKind, int]
) -> Counts | None:
    """The counts `apply_staged` would leave, starting from the collection's `counts`
    and the staged rows each kind `added` (ids no live row has), when they can be told
    without applying (the common sync: rows, tags and config only); None when only
    applying can tell."""
    if not kinds <= _COUNTED_WITHOUT_APPLYING.keys():
        return None
    return dataclasses.replace(
        counts, revlog=counts.revlog + added.get(StageKind.REVLOG, 0),
        cards=counts.cards + added.get(StageKind.CARD, 0),
        notes=counts.notes + added.get(StageKind.NOTE, 0),
    )


def apply_staged(
    uow: UnitOfWork, user: UserId, col: CollectionMeta, session: SyncSession, now_ms: int
) -> CollectionMeta:
    """Apply every staged item, stamping `session.server_usn` on all it writes; return
    the `col` row as it is now (`col` is the row as it was, read under the lock)."""
    usn = session.server_usn
    staged = _Staged(uow, user, session.staged)
    for stage, grave_kind, target in _GRAVES:
        for batch in _batches(staged.read(stage)):
            ids = [int(item.key) for item in batch]
            uow.collections.delete(user, target, ids)
            uow.collections.add_graves(user, [Grave(i, grave_kind, usn) for i in ids])
    for stage, kind in _OBJECTS:
        if stage in staged.kinds:
            _apply_objects(uow, user, kind, list(staged.read(stage)), usn)
    if StageKind.TAG in staged.kinds:
        uow.collections.add_tags(user, [Tag(item.key, usn) for item in staged.read(StageKind.TAG)])
    col = _apply_config(uow, user, col, staged, usn, now_ms)
    _apply_rows(uow, user, staged, session)
    return col


def _apply_objects(
    uow: UnitOfWork, user: UserId, kind: ObjectKind, items: list[StagedItem], usn: int
) -> None:
    incoming = [staging.decode_object(item.payload) for item in items]
    existing = uow.collections.objects(user, kind, (merge.as_int(o["id"]) for o in incoming))
    names = uow.collections.object_names(user, kind) if kind != ObjectKind.DECK_CONFIG else {}
    inserts: list[JsonObject] = []
    updates: list[JsonObject] = []
    for obj in incoming:
        oid = merge.as_int(obj["id"])
        old = existing.get(oid)
        if not merge.take_incoming_object(None if old is None else old.mtime,
                                          merge.object_mod(obj)):
            continue
        if kind == ObjectKind.NOTETYPE and old is not None:
            merge.check_notetype_shape(old.json, obj)
        stored = _stamped(obj, usn, names, oid)
        names[oid] = stored.name
        (inserts if old is None else updates).append(stored)
    uow.collections.save_objects(user, kind, inserts, updates)


def _stamped(obj: dict[str, Any], usn: int, names: dict[int, str], oid: int) -> JsonObject:
    obj = {**obj, "usn": usn}
    if names:
        taken = {name.casefold() for other, name in names.items() if other != oid}
        obj["name"] = merge.unique_name(str(obj.get("name", "")), taken)
    return JsonObject(id=oid, name=str(obj.get("name", "")), mtime=merge.object_mod(obj),
                      usn=usn, json=json.dumps(obj, ensure_ascii=False, separators=(",", ":")))


def _apply_config(
    uow: UnitOfWork, user: UserId, col: CollectionMeta, staged: _Staged, usn: int, now_ms: int
) -> CollectionMeta:
    """Write a staged config map; return `col` with a staged crt (the caller writes it)."""
    for item in staged.read(StageKind.CONFIG):
        existing = uow.collections.config(user)
        entries = merged_config(staging.decode_object(item.payload), existing, usn, now_ms)
        if entries is not None:
            uow.collections.replace_config(user, entries)
    for item in staged.read(StageKind.CRT):
        col = dataclasses.replace(col, crt=int(item.payload))
    return col


def merged_config(
    incoming: dict[str, Any], existing: list[ConfigEntry], usn: int, now_ms: int
) -> list[ConfigEntry] | None:
    """The config map after taking `incoming` (clients send the whole map on every sync):
    values they did not change keep their usn and mtime. None when nothing changes."""
    known = {e.key: e for e in existing}
    entries = []
    for key, value in incoming.items():
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        old = known.get(key)
        entries.append(old if old is not None and old.json == text
                       else ConfigEntry(key=key, usn=usn, mtime=now_ms // 1000, json=text))
    return None if {e.key: e for e in entries} == known else entries


_DECODE: dict[StageKind, tuple[RowKind, Callable[[str], Row]]] = {
    StageKind.REVLOG: (RowKind.REVLOG, staging.decode_revlog),
    StageKind.CARD: (RowKind.CARD, staging.decode_card),
    StageKind.NOTE: (RowKind.NOTE, staging.decode_note),
}


def _apply_rows(uow: UnitOfWork, user: UserId, staged: _Staged, session: SyncSession) -> None:
    """Merge staged revlog entries, cards and notes (read with the versions of the live
    rows they would replace). Notes were checked against their note types, and their
    sort field and checksum computed, when `applyChunk` staged them."""
    usn, pending = session.server_usn, session.client_usn
    for page in staged.rows():
        for stage in ROW_STAGES:
            kind, decode = _DECODE[stage]
            inserts: list[Row] = []
            updates: list[Row] = []
            for item in page:
                if item.kind != stage:
                    continue
                row = decode(item.payload)._replace(usn=usn)
                if item.existing is None:
                    inserts.append(row)
                elif not isinstance(row, RevlogEntry) and merge.take_incoming_row(
                        item.existing, row.mod, pending):
                    updates.append(row)  # a review entry never changes once logged
            if inserts or updates:
                uow.collections.save_rows(user, kind, inserts, updates)


class NotetypeShapes:
    """Field counts and sort fields of note types, loaded once per note type."""

    def __init__(self, uow: UnitOfWork, user: UserId, staged: bool = False) -> None:
        self._uow, self._user = uow, user
        self._cache: dict[int, tuple[int, int]] = {}
        if staged:
            for item in uow.staging.read(user, StageKind.NOTETYPE):
                obj = staging.decode_object(item.payload)
                self._cache[merge.as_int(obj["id"])] = _shape(obj)

    def shape(self, mid: int) -> tuple[int, int]:
        if mid not in self._cache:
            found = self._uow.collections.objects(self._user, ObjectKind.NOTETYPE, [mid])
            if mid not in found:
                raise SyncRejected(f"note type {mid} does not exist")
            self._cache[mid] = _shape(json.loads(found[mid].json))
        return self._cache[mid]

    def prepare(self, note: Note) -> Note:
        """Check the field count and recompute the sort field and checksum."""
        field_count, sort_index = self.shape(note.mid)
        fields = note.flds.split(FIELD_SEPARATOR)
        if len(fields) != field_count:
            raise SyncRejected(
                f"note {note.id} has {len(fields)} fields, its note type {field_count}"
            )
        sfld, csum = sort_field_and_checksum(fields, sort_index)
        return note._replace(sfld=sfld, csum=csum)


def _shape(notetype: dict[str, Any]) -> tuple[int, int]:
    fields = notetype.get("flds", [])
    if not isinstance(fields, list):
        raise SyncRejected("note type fields must be a list")
    sort_index = notetype.get("sortf", 0)
    return len(fields), sort_index if isinstance(sort_index, int) else 0


