"""A user's collection in SQL: the `col` row plus one table per kind of object."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import cache
from itertools import chain, islice
from operator import itemgetter
from typing import Any, TypeVar

from sqlalchemy import (
    BigInteger,
    Integer,
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
from sqlalchemy.sql.dml import Update
from sqlalchemy.sql.selectable import ScalarSelect, Select

from adapters.sql import bulk, dialects, rows, tables
from adapters.sql.verbatim import ESCAPE, VerbatimText, unescape_nul
from domain.model import (
    Card,
    CollectionMeta,
    ConfigEntry,
    Counts,
    Grave,
    JsonObject,
    MetaSnapshot,
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


# Statements every sync runs are built once: building one costs more than running it.
_USER = bindparam("user", type_=BigInteger)
_col = tables.collections.c
GET_META = select(tables.collections).where(_col.user_id == _USER)
LOCK_META = GET_META.with_for_update()
UPDATE_COLLECTION = update(tables.collections).where(_col.user_id == _USER)
GET_COUNTS = select(_col.n_cards, _col.n_notes, _col.n_revlog, _col.n_notetypes, _col.n_decks,
                    _col.n_deck_configs).where(_col.user_id == _USER)
GRAVES_SINCE = (select(tables.graves)
                .where(tables.graves.c.user_id == _USER, tables.graves.c.usn >= bindparam("usn"))
                .order_by(tables.graves.c.oid))
# Unordered: lists of keys are sorted in Python, in code point order on every backend
# (PostgreSQL may sort by a locale, MySQL compares only a prefix of long values).
TAGS_SINCE = (select(tables.tags)
              .where(tables.tags.c.user_id == _USER, tables.tags.c.usn >= bindparam("usn")))


def _meta_snapshot_query() -> Select[Any]:
    col, user = tables.collections.c, _USER

    def config_value(key: str) -> ScalarSelect[Any]:
        c = tables.config.c
        return select(c.val).where(c.user_id == user, c.key == key).scalar_subquery()

    return select(
        col.crt, col.mtime, col.scm, col.ver, col.dty, col.usn, col.ls,
        config_value("schedVer").label("sched_ver"),
        config_value("creationOffset").label("creation_offset"),
        exists().where(tables.cards.c.user_id == user).label("has_cards"),
        select(tables.media_state.c.usn).where(tables.media_state.c.user_id == user)
        .scalar_subquery().label("media_usn"),
        exists().where(tables.sync_sessions.c.user_id == user).label("in_sync"),
    ).where(col.user_id == user)


META_SNAPSHOT = _meta_snapshot_query()


@cache
def _objects_since(table: Table) -> Select[Any]:
    return (select(table).where(table.c.user_id == _USER, table.c.usn >= bindparam("usn"))
            .order_by(table.c.id))


@cache
def _objects_by_id(table: Table) -> Select[Any]:
    return select(table).where(table.c.user_id == _USER,
                               table.c.id.in_(bindparam("ids", expanding=True)))


@cache
def _rows_page(table: Table, after: bool) -> Select[Any]:
    t = table.c
    query = select(table).where(t.user_id == _USER, t.usn >= bindparam("usn"))
    if after:
        after_usn = bindparam("after_usn", type_=BigInteger)
        after_id = bindparam("after_id", type_=BigInteger)
        query = query.where(or_(t.usn > after_usn, and_(t.usn == after_usn, t.id > after_id)))
    limit = bindparam("limit", type_=Integer, literal_execute=True)
    return query.order_by(t.usn, t.id).limit(limit)


@cache
def _row_versions(table: Table, mod_column: str) -> Select[Any]:
    t = table.c
    return select(t.id, t[mod_column], t.usn).where(
        t.user_id == _USER, t.id.in_(bindparam("ids", expanding=True)))


@cache
def _update_by_id(table: Table) -> Update:
    # Executemany: the remaining keys of each parameter dict become the SET clause.
    return update(table).where(table.c.user_id == bindparam("b_user_id"),
                               table.c.id == bindparam("b_id"))


@cache
def _add_to_counter(column: str) -> Update:
    counter = tables.collections.c[column]
    return (update(tables.collections).where(_col.user_id == _USER)
            .values({column: counter + bindparam("delta")}))


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

    def meta_snapshot(self, user: UserId) -> MetaSnapshot | None:
        row = self._conn.execute(META_SNAPSHOT, {"user": user}).first()
        if row is None:
            return None
        return MetaSnapshot(
            meta=rows.meta_from_row(row._mapping), sched_ver_json=row.sched_ver,
            creation_offset_json=row.creation_offset, has_cards=bool(row.has_cards),
            media_usn=int(row.media_usn or 0), in_sync=bool(row.in_sync),
        )

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
        counts["n_notes"] = self._insert_records(tables.notes, user, contents.notes())
        counts["n_cards"] = self._insert_records(tables.cards, user, contents.cards())
        counts["n_revlog"] = self._insert_records(tables.revlog, user, contents.revlog())
        self._insert_all(tables.graves, rows.grave_row, user, contents.graves())
        self._update_collection(user, counts)

    def export(self, user: UserId) -> CollectionContents:
        return SqlCollectionExport(self._conn, user)

    def remove(self, user: UserId) -> None:
        for table in tables.COLLECTION_TABLES:
            self._conn.execute(delete(table).where(table.c.user_id == user))
        self._conn.execute(delete(tables.collections).where(tables.collections.c.user_id == user))

    def _meta(self, user: UserId, *, lock: bool) -> CollectionMeta | None:
        row = self._conn.execute(LOCK_META if lock else GET_META, {"user": user}).mappings().first()
        return None if row is None else rows.meta_from_row(row)

    def _insert_all(
        self,
        table: Table,
        to_row: Callable[[UserId, T], dict[str, Any]],
        user: UserId,
        items: Iterable[T],
    ) -> int:
        """Insert every item, streamed; return how many."""
        names = [c.name for c in table.columns]
        return bulk.insert_rows(self._conn, table, (
            tuple([row[n] for n in names]) for row in (to_row(user, item) for item in items)))

    def _insert_records(
        self, table: Table, user: UserId, records: Iterable[Note | Card | RevlogEntry]
    ) -> int:
        """Insert notes, cards or revlog entries: their fields are the columns after user_id."""
        return bulk.insert_rows(self._conn, table, ((user, *record) for record in records))

    def _update_collection(self, user: UserId, values: dict[str, Any]) -> None:
        self._conn.execute(UPDATE_COLLECTION, {"user": user, **values})

    def _count(self, user: UserId, column: str, delta: int) -> None:
        if delta:
            self._conn.execute(_add_to_counter(column), {"user": user, "delta": delta})

    # -- normal sync -------------------------------------------------------------------

    def update_meta(self, user: UserId, meta: CollectionMeta) -> None:
        values = rows.meta_row(user, meta)
        del values["user_id"]
        self._update_collection(user, values)

    def counts(self, user: UserId) -> Counts:
        row = self._conn.execute(GET_COUNTS, {"user": user}).one()
        return Counts(*(int(v) for v in row))

    def graves_since(self, user: UserId, min_usn: int) -> list[Grave]:
        result = self._conn.execute(GRAVES_SINCE, {"user": user, "usn": min_usn})
        return [rows.grave_from_row(r) for r in result.mappings()]

    def objects_since(self, user: UserId, kind: ObjectKind, min_usn: int) -> list[JsonObject]:
        result = self._conn.execute(_objects_since(OBJECT_TABLES[kind]),
                                    {"user": user, "usn": min_usn})
        return [rows.object_from_row(r) for r in result.mappings()]

    def tags_since(self, user: UserId, min_usn: int) -> list[Tag]:
        result = self._conn.execute(TAGS_SINCE, {"user": user, "usn": min_usn})
        return sorted((rows.tag_from_row(r) for r in result.mappings()), key=lambda t: t.name)

    def config(self, user: UserId) -> list[ConfigEntry]:
        c = tables.config.c
        result = self._conn.execute(select(tables.config).where(c.user_id == user))
        return sorted((rows.config_from_row(r) for r in result.mappings()), key=lambda e: e.key)

    def rows_page(
        self, user: UserId, kind: RowKind, min_usn: int, after: tuple[int, int] | None,
        limit: int,
    ) -> list[Row]:
        t, _, convert = ROW_TABLES[kind]
        params: dict[str, Any] = {"user": user, "usn": min_usn, "limit": limit}
        if after is not None:
            params.update(after_usn=after[0], after_id=after[1])
        result = self._conn.execute(_rows_page(t, after is not None), params)
        return [convert(r) for r in result.mappings()]

    def objects(self, user: UserId, kind: ObjectKind, ids: Iterable[int]) -> dict[int, JsonObject]:
        t = OBJECT_TABLES[kind]
        found: dict[int, JsonObject] = {}
        for batch in _id_batches(ids):
            result = self._conn.execute(_objects_by_id(t), {"user": user, "ids": batch})
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
        query = _row_versions(t, "mtime" if kind != RowKind.REVLOG else "id")
        found: dict[int, tuple[int, int]] = {}
        for batch in _id_batches(ids):
            result = self._conn.execute(query, {"user": user, "ids": batch})
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
            self._conn.execute(
                _update_by_id(table),
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

    # The big tables: their columns after user_id are the record's fields, in order, so
    # rows become records positionally (a full download reads every row of them).
    def notes(self) -> Iterator[Note]:
        return self._stream_records(tables.notes, Note)

    def cards(self) -> Iterator[Card]:
        return self._stream_records(tables.cards, Card)

    def revlog(self) -> Iterator[RevlogEntry]:
        return self._stream_records(tables.revlog, RevlogEntry)

    def _stream_records(self, table: Table, record: Callable[..., T]) -> Iterator[T]:
        # Read through the driver's own server-side cursor: SQLAlchemy's row objects cost
        # more than the rest of reading a row (a full download reads every row).
        columns = [c for c in table.columns if c.name != "user_id"]
        query = select(*columns).where(table.c.user_id == self._user).order_by(table.c.id)
        dialect = self._conn.dialect
        sql = str(query.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
        escaped = [i for i, c in enumerate(columns) if isinstance(c.type, VerbatimText)
                   and dialect.name == "postgresql"]
        cursor = dialects.streaming_cursor(self._conn)
        try:
            cursor.execute(sql)
            while batch := cursor.fetchmany(READ_BATCH):
                if escaped and _has_escape(batch, escaped):
                    batch = [_unescaped(row, escaped) for row in batch]
                for row in batch:
                    yield record(*row)
        finally:
            cursor.close()

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


def _has_escape(batch: Sequence[Sequence[Any]], columns: Sequence[int]) -> bool:
    """Whether any of `columns` in `batch` holds PostgreSQL's NUL escape (rarely: one
    search of the batch's text, not a check per value)."""
    if len(columns) == 1:
        texts: Iterable[str] = map(itemgetter(columns[0]), batch)
    else:
        texts = chain.from_iterable(map(itemgetter(*columns), batch))
    return ESCAPE in "".join(texts)


def _unescaped(row: Sequence[Any], columns: Sequence[int]) -> Sequence[Any]:
    """`row` with PostgreSQL's NUL escape undone in `columns` (what VerbatimText's result
    processor does; raw driver rows skip it)."""
    values = list(row)
    for i in columns:
        values[i] = unescape_nul(values[i])
    return values
