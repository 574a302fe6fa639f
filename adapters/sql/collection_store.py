"""A user's collection in SQL: the `col` row plus one table per kind of object."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import Any, TypeVar

from sqlalchemy import Table, delete, exists, insert, select, update
from sqlalchemy.engine import Connection

from adapters.sql import rows, tables
from domain.model import (
    Card,
    CollectionMeta,
    ConfigEntry,
    Grave,
    JsonObject,
    Note,
    RevlogEntry,
    Tag,
    UserId,
)
from domain.new_collection import NewCollection
from ports.collection import CollectionContents

T = TypeVar("T")
INSERT_BATCH = 2000
READ_BATCH = 2000


class SqlCollectionStore:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def create(self, user: UserId, collection: NewCollection) -> None:
        self._conn.execute(insert(tables.collections).values(rows.meta_row(user, collection.meta)))
        self._insert_all(tables.notetypes, rows.object_row, user, collection.notetypes)
        self._insert_all(tables.decks, rows.object_row, user, collection.decks)
        self._insert_all(tables.deck_configs, rows.object_row, user, collection.deck_configs)
        self._insert_all(tables.config, rows.config_row, user, collection.config)

    def meta(self, user: UserId) -> CollectionMeta | None:
        return self._meta(user, lock=False)

    def lock(self, user: UserId) -> CollectionMeta | None:
        return self._meta(user, lock=True)

    def is_empty(self, user: UserId) -> bool:
        has_card = self._conn.execute(
            select(exists().where(tables.cards.c.user_id == user))
        ).scalar()
        return not has_card

    def config_json(self, user: UserId, key: str) -> str | None:
        c = tables.config.c
        value = self._conn.execute(
            select(c.val).where(c.user_id == user, c.key == key)
        ).scalar()
        return None if value is None else str(value)

    def replace(self, user: UserId, contents: CollectionContents) -> None:
        meta = contents.meta()
        self.remove(user)
        self._conn.execute(insert(tables.collections).values(rows.meta_row(user, meta)))
        self._insert_all(tables.notetypes, rows.object_row, user, contents.notetypes())
        self._insert_all(tables.decks, rows.object_row, user, contents.decks())
        self._insert_all(tables.deck_configs, rows.object_row, user, contents.deck_configs())
        self._insert_all(tables.config, rows.config_row, user, contents.config())
        self._insert_all(tables.tags, rows.tag_row, user, contents.tags())
        self._insert_all(tables.notes, rows.note_row, user, contents.notes())
        self._insert_all(tables.cards, rows.card_row, user, contents.cards())
        self._insert_all(tables.revlog, rows.revlog_row, user, contents.revlog())
        self._insert_all(tables.graves, rows.grave_row, user, contents.graves())

    def export(self, user: UserId) -> CollectionContents:
        return SqlCollectionExport(self._conn, user)

    def remove(self, user: UserId) -> None:
        for table in tables.COLLECTION_TABLES:
            self._conn.execute(delete(table).where(table.c.user_id == user))
        self._conn.execute(delete(tables.collections).where(tables.collections.c.user_id == user))

    def _meta(self, user: UserId, *, lock: bool) -> CollectionMeta | None:
        query = select(tables.collections).where(tables.collections.c.user_id == user)
        if lock:
            query = query.with_for_update()
        row = self._conn.execute(query).mappings().first()
        return None if row is None else rows.meta_from_row(row)

    def _insert_all(
        self,
        table: Table,
        to_row: Callable[[UserId, T], dict[str, Any]],
        user: UserId,
        items: Iterable[T],
    ) -> None:
        iterator = iter(items)
        while batch := [to_row(user, item) for item in islice(iterator, INSERT_BATCH)]:
            self._conn.execute(insert(table), batch)

    def set_meta(self, user: UserId, meta: CollectionMeta) -> None:
        values = rows.meta_row(user, meta)
        del values["user_id"]
        self._conn.execute(
            update(tables.collections).where(tables.collections.c.user_id == user).values(values)
        )


class SqlCollectionExport:
    """The stored collection, streamed table by table in id order."""

    def __init__(self, conn: Connection, user: UserId) -> None:
        self._conn = conn
        self._user = user

    def meta(self) -> CollectionMeta:
        c = tables.collections.c
        row = self._conn.execute(
            select(tables.collections).where(c.user_id == self._user)
        ).mappings().one()
        return rows.meta_from_row(row)

    def notetypes(self) -> Iterator[JsonObject]:
        return self._stream(tables.notetypes, "id", rows.object_from_row)

    def decks(self) -> Iterator[JsonObject]:
        return self._stream(tables.decks, "id", rows.object_from_row)

    def deck_configs(self) -> Iterator[JsonObject]:
        return self._stream(tables.deck_configs, "id", rows.object_from_row)

    def config(self) -> Iterator[ConfigEntry]:
        return self._stream(tables.config, "key", rows.config_from_row)

    def tags(self) -> Iterator[Tag]:
        return self._stream(tables.tags, "tag", rows.tag_from_row)

    def notes(self) -> Iterator[Note]:
        return self._stream(tables.notes, "id", rows.note_from_row)

    def cards(self) -> Iterator[Card]:
        return self._stream(tables.cards, "id", rows.card_from_row)

    def revlog(self) -> Iterator[RevlogEntry]:
        return self._stream(tables.revlog, "id", rows.revlog_from_row)

    def graves(self) -> Iterator[Grave]:
        return self._stream(tables.graves, "oid", rows.grave_from_row)

    def _stream(
        self, table: Table, order: str, convert: Callable[[Any], T]
    ) -> Iterator[T]:
        query = select(table).where(table.c.user_id == self._user).order_by(table.c[order])
        result = self._conn.execute(
            query.execution_options(stream_results=True, yield_per=READ_BATCH)
        )
        try:
            for row in result.mappings():
                yield convert(row)
        finally:
            result.close()
