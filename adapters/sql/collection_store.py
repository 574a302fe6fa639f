"""A user's collection in SQL: the `col` row plus one table per kind of object."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import islice
from typing import Any, TypeVar

from sqlalchemy import (
    Table,
    and_,
    bindparam,
    delete,
    exists,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Connection

from adapters.sql import rows, tables
from domain.model import (
    Card,
    CollectionMeta,
    ConfigEntry,
    Counts,
    Grave,
    JsonObject,
    Note,
    ObjectKind,
    RevlogEntry,
    Row,
    RowKind,
    Tag,
    UserId,
)
from domain.new_collection import NewCollection
from ports.collection import CollectionContents

T = TypeVar("T")
INSERT_BATCH = 2000
READ_BATCH = 2000
ID_BATCH = 500

OBJECT_TABLES = {
    ObjectKind.NOTETYPE: tables.notetypes,
    ObjectKind.DECK: tables.decks,
    ObjectKind.DECK_CONFIG: tables.deck_configs,
}
OBJECT_COUNTERS = {
    ObjectKind.NOTETYPE: "n_notetypes",
    ObjectKind.DECK: "n_decks",
    ObjectKind.DECK_CONFIG: "n_deck_configs",
}
ROW_TABLES: dict[RowKind, tuple[Table, Callable[[UserId, Any], dict[str, Any]],
                                Callable[[Any], Row]]] = {
    RowKind.REVLOG: (tables.revlog, rows.revlog_row, rows.revlog_from_row),
    RowKind.CARD: (tables.cards, rows.card_row, rows.card_from_row),
    RowKind.NOTE: (tables.notes, rows.note_row, rows.note_from_row),
}
ROW_COUNTERS = {RowKind.REVLOG: "n_revlog", RowKind.CARD: "n_cards", RowKind.NOTE: "n_notes"}


def _id_batches(ids: Iterable[int]) -> Iterator[list[int]]:
    iterator = iter(ids)
    while batch := list(islice(iterator, ID_BATCH)):
        yield batch


class SqlCollectionStore:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def create(self, user: UserId, collection: NewCollection) -> None:
        counts = {
            "n_notetypes": self._insert_all(
                tables.notetypes, rows.object_row, user, collection.notetypes),
            "n_decks": self._insert_all(tables.decks, rows.object_row, user, collection.decks),
            "n_deck_configs": self._insert_all(
                tables.deck_configs, rows.object_row, user, collection.deck_configs),
        }
        self._conn.execute(
            insert(tables.collections).values({**rows.meta_row(user, collection.meta), **counts})
        )
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
        counts = {
            "n_notetypes": self._insert_all(
                tables.notetypes, rows.object_row, user, contents.notetypes()),
            "n_decks": self._insert_all(tables.decks, rows.object_row, user, contents.decks()),
            "n_deck_configs": self._insert_all(
                tables.deck_configs, rows.object_row, user, contents.deck_configs()),
        }
        self._insert_all(tables.config, rows.config_row, user, contents.config())
        self._insert_all(tables.tags, rows.tag_row, user, contents.tags())
        counts["n_notes"] = self._insert_all(tables.notes, rows.note_row, user, contents.notes())
        counts["n_cards"] = self._insert_all(tables.cards, rows.card_row, user, contents.cards())
        counts["n_revlog"] = self._insert_all(
            tables.revlog, rows.revlog_row, user, contents.revlog())
        self._insert_all(tables.graves, rows.grave_row, user, contents.graves())
        self._update_collection(user, counts)

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
    ) -> int:
        """Insert every item in batches; return how many."""
        iterator = iter(items)
        count = 0
        while batch := [to_row(user, item) for item in islice(iterator, INSERT_BATCH)]:
            self._conn.execute(insert(table), batch)
            count += len(batch)
        return count

    def _update_collection(self, user: UserId, values: dict[str, Any]) -> None:
        self._conn.execute(
            update(tables.collections).where(tables.collections.c.user_id == user).values(values)
        )

    def _count(self, user: UserId, column: str, delta: int) -> None:
        if delta:
            col = tables.collections.c[column]
            self._update_collection(user, {column: col + delta})

    # -- normal sync -------------------------------------------------------------------

    def update_meta(self, user: UserId, meta: CollectionMeta) -> None:
        values = rows.meta_row(user, meta)
        del values["user_id"]
        self._update_collection(user, values)

    def counts(self, user: UserId) -> Counts:
        c = tables.collections.c
        row = self._conn.execute(
            select(c.n_cards, c.n_notes, c.n_revlog, c.n_notetypes, c.n_decks,
                   c.n_deck_configs).where(c.user_id == user)
        ).one()
        return Counts(*(int(v) for v in row))

    def graves_since(self, user: UserId, min_usn: int) -> list[Grave]:
        g = tables.graves.c
        result = self._conn.execute(
            select(tables.graves).where(g.user_id == user, g.usn >= min_usn).order_by(g.oid)
        )
        return [rows.grave_from_row(r) for r in result.mappings()]

    def objects_since(self, user: UserId, kind: ObjectKind, min_usn: int) -> list[JsonObject]:
        t = OBJECT_TABLES[kind]
        result = self._conn.execute(
            select(t).where(t.c.user_id == user, t.c.usn >= min_usn).order_by(t.c.id)
        )
        return [rows.object_from_row(r) for r in result.mappings()]

    def tags_since(self, user: UserId, min_usn: int) -> list[Tag]:
        t = tables.tags.c
        result = self._conn.execute(
            select(tables.tags).where(t.user_id == user, t.usn >= min_usn).order_by(t.tag)
        )
        return [rows.tag_from_row(r) for r in result.mappings()]

    def config(self, user: UserId) -> list[ConfigEntry]:
        c = tables.config.c
        result = self._conn.execute(
            select(tables.config).where(c.user_id == user).order_by(c.key)
        )
        return [rows.config_from_row(r) for r in result.mappings()]

    def rows_page(
        self, user: UserId, kind: RowKind, min_usn: int, after: tuple[int, int] | None,
        limit: int,
    ) -> list[Row]:
        t, _, convert = ROW_TABLES[kind]
        query = select(t).where(t.c.user_id == user, t.c.usn >= min_usn)
        if after is not None:
            query = query.where(
                or_(t.c.usn > after[0], and_(t.c.usn == after[0], t.c.id > after[1]))
            )
        result = self._conn.execute(query.order_by(t.c.usn, t.c.id).limit(limit))
        return [convert(r) for r in result.mappings()]

    def objects(self, user: UserId, kind: ObjectKind, ids: Iterable[int]) -> dict[int, JsonObject]:
        t = OBJECT_TABLES[kind]
        found: dict[int, JsonObject] = {}
        for batch in _id_batches(ids):
            result = self._conn.execute(
                select(t).where(t.c.user_id == user, t.c.id.in_(batch))
            )
            found.update((r["id"], rows.object_from_row(r)) for r in result.mappings())
        return found

    def object_names(self, user: UserId, kind: ObjectKind) -> dict[int, str]:
        t = OBJECT_TABLES[kind]
        result = self._conn.execute(select(t.c.id, t.c.name).where(t.c.user_id == user))
        return {int(r.id): str(r.name) for r in result}

    def save_objects(
        self, user: UserId, kind: ObjectKind, inserts: Sequence[JsonObject],
        updates: Sequence[JsonObject],
    ) -> None:
        t = OBJECT_TABLES[kind]
        self._save(t, [rows.object_row(user, o) for o in inserts],
                   [rows.object_row(user, o) for o in updates])
        self._count(user, OBJECT_COUNTERS[kind], len(inserts))

    def row_versions(
        self, user: UserId, kind: RowKind, ids: Iterable[int]
    ) -> dict[int, tuple[int, int]]:
        t = ROW_TABLES[kind][0]
        mod = t.c.mtime if kind != RowKind.REVLOG else t.c.id
        found: dict[int, tuple[int, int]] = {}
        for batch in _id_batches(ids):
            result = self._conn.execute(
                select(t.c.id, mod, t.c.usn).where(t.c.user_id == user, t.c.id.in_(batch))
            )
            found.update((int(r[0]), (int(r[1]), int(r[2]))) for r in result)
        return found

    def save_rows(
        self, user: UserId, kind: RowKind, inserts: Sequence[Row], updates: Sequence[Row]
    ) -> None:
        t, to_row, _ = ROW_TABLES[kind]
        self._save(t, [to_row(user, r) for r in inserts], [to_row(user, r) for r in updates])
        self._count(user, ROW_COUNTERS[kind], len(inserts))

    def delete(self, user: UserId, kind: RowKind | ObjectKind, ids: Iterable[int]) -> None:
        if isinstance(kind, RowKind):
            t, counter = ROW_TABLES[kind][0], ROW_COUNTERS[kind]
        else:
            t, counter = OBJECT_TABLES[kind], OBJECT_COUNTERS[kind]
        deleted = 0
        for batch in _id_batches(ids):
            result = self._conn.execute(
                delete(t).where(t.c.user_id == user, t.c.id.in_(batch))
            )
            deleted += result.rowcount
        self._count(user, counter, -deleted)

    def add_graves(self, user: UserId, graves: Sequence[Grave]) -> None:
        g = tables.graves.c
        for kind in {gr.kind for gr in graves}:
            oids = [gr.oid for gr in graves if gr.kind == kind]
            for batch in _id_batches(oids):
                self._conn.execute(
                    delete(tables.graves).where(g.user_id == user, g.kind == int(kind),
                                                g.oid.in_(batch))
                )
        self._insert_all(tables.graves, rows.grave_row, user, graves)

    def add_tags(self, user: UserId, tags: Sequence[Tag]) -> None:
        t = tables.tags.c
        tags = list({tag.name: tag for tag in tags}.values())
        names = [tag.name for tag in tags]
        known: set[str] = set()
        for start in range(0, len(names), ID_BATCH):
            result = self._conn.execute(
                select(t.tag).where(t.user_id == user, t.tag.in_(names[start:start + ID_BATCH]))
            )
            known.update(str(r[0]) for r in result)
        self._insert_all(tables.tags, rows.tag_row, user,
                         [tag for tag in tags if tag.name not in known])

    def put_config(self, user: UserId, entry: ConfigEntry) -> None:
        c = tables.config.c
        self._conn.execute(delete(tables.config).where(c.user_id == user, c.key == entry.key))
        self._conn.execute(insert(tables.config).values(rows.config_row(user, entry)))

    def replace_config(self, user: UserId, entries: Sequence[ConfigEntry]) -> None:
        self._conn.execute(delete(tables.config).where(tables.config.c.user_id == user))
        self._insert_all(tables.config, rows.config_row, user, entries)

    def _save(self, table: Table, inserts: list[dict[str, Any]],
              updates: list[dict[str, Any]]) -> None:
        if inserts:
            self._conn.execute(insert(table), inserts)
        if updates:
            keys = {"user_id", "id"}
            # Executemany: the remaining keys of each dict become the SET clause.
            statement = update(table).where(
                table.c.user_id == bindparam("b_user_id"), table.c.id == bindparam("b_id")
            )
            self._conn.execute(
                statement,
                [{**{k: v for k, v in u.items() if k not in keys},
                  "b_user_id": u["user_id"], "b_id": u["id"]} for u in updates],
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
