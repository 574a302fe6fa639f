"""A user's collection in SQL: the `col` row plus one table per kind of object."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import cache
from itertools import chain, islice
from operator import itemgetter
from typing import Any, TypeVar

from sqlalchemy import (
    BigInteger,
    Integer,
    String,
    Table,
    and_,
    any_,
    bindparam,
    case,
    delete,
    exists,
    func,
    insert,
    literal_column,
    null,
    or_,
    select,
    type_coerce,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection
from sqlalchemy.sql.selectable import ScalarSelect, Select

from adapters.sql import bulk, dialects, rows, tables
from adapters.sql.statements import Statement
from adapters.sql.sync_stores import KEY_USE, key_use_of
from adapters.sql.transaction import Transaction, observed
from adapters.sql.upserts import upsert
from adapters.sql.verbatim import ESCAPE, VerbatimKey, VerbatimText, unescape_nul
from domain.errors import UploadRejected
from domain.model import (
    Card,
    CollectionMeta,
    ConfigEntry,
    Counts,
    Grave,
    GraveKind,
    JsonObject,
    KeyUse,
    MetaSnapshot,
    Note,
    ObjectChanges,
    ObjectKind,
    RevlogEntry,
    Row,
    RowKind,
    Tag,
    UserId,
)
from domain.new_collection import NewCollection
from ports.collection import CollectionContents, StoredContents

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


log = logging.getLogger("ankiserv.sql")
MB = 1024 * 1024
PACKET_MARGIN = 64 * 1024  # the statement around a note's text, and its other values

# Statements every sync runs (see statements.py); the rest are built once per shape.
_USER = bindparam("user", type_=BigInteger)
_USN = bindparam("usn", type_=BigInteger)
_col = tables.collections.c
_COUNTERS = ("n_cards", "n_notes", "n_revlog", "n_notetypes", "n_decks", "n_deck_configs")
META_COLUMNS = (_col.crt, _col.mtime, _col.scm, _col.ver, _col.dty, _col.usn, _col.ls)
GET_META = Statement(lambda _d: select(*META_COLUMNS).where(_col.user_id == _USER),
                     tables=["collections"])
LOCK_META = Statement(lambda _d: select(*META_COLUMNS).where(_col.user_id == _USER)
                      .with_for_update(), tables=["collections"])
GET_GENERATION = Statement(lambda _d: select(_col.generation).where(_col.user_id == _USER),
                           tables=["collections"])
GET_COUNTS = Statement(lambda _d: select(*(_col[c] for c in _COUNTERS))
                       .where(_col.user_id == _USER), tables=["collections"])
def _owed_values() -> dict[str, Any]:
    """What this unit of work's writes owe the col row: counter changes, and the highest
    usn of the graves it wrote (-1: none)."""
    graves_usn = bindparam("graves_usn", type_=BigInteger)
    return {**{c: _col[c] + bindparam(f"d_{c}", type_=BigInteger) for c in _COUNTERS},
            "graves_usn": case((_col.graves_usn < graves_usn, graves_usn),
                               else_=_col.graves_usn),
            "generation": _col.generation + 1}


# The col row and what the unit of work's writes owe it, in one UPDATE.
UPDATE_META = Statement(
    lambda _d: update(tables.collections).where(_col.user_id == _USER).values(
        {**{c.name: bindparam(c.name, type_=BigInteger) for c in META_COLUMNS},
         **_owed_values()}),
    tables=["collections"])
ADD_OWED = Statement(
    lambda _d: update(tables.collections).where(_col.user_id == _USER).values(_owed_values()),
    tables=["collections"])
GRAVES_SINCE = Statement(
    lambda _d: select(tables.graves.c.oid, tables.graves.c.kind, tables.graves.c.usn)
    .where(tables.graves.c.user_id == _USER, tables.graves.c.usn >= _USN)
    .order_by(tables.graves.c.oid), tables=["graves"])
CONFIG = Statement(
    lambda _d: select(tables.config.c.key, tables.config.c.usn, tables.config.c.mtime,
                      tables.config.c.val).where(tables.config.c.user_id == _USER),
    tables=["config"])
# Unordered: lists of keys are sorted in Python, in code point order on every backend
# (PostgreSQL may sort by a locale, MySQL compares only a prefix of long values).
TAGS_SINCE = (select(tables.tags)
              .where(tables.tags.c.user_id == _USER, tables.tags.c.usn >= bindparam("usn")))

_OBJECT_PARTS = ((ObjectKind.NOTETYPE, tables.notetypes), (ObjectKind.DECK, tables.decks),
                 (ObjectKind.DECK_CONFIG, tables.deck_configs))
_TAG_PART, _CONFIG_PART = 3, 4


def _changes_since(with_config: bool) -> Statement:
    """Note types, decks, presets, tags (and config) changed since a usn, as one union:
    (part, id, name, mtime, usn, json, key)."""

    def build(_dialect: str) -> Any:
        key = type_coerce(null(), VerbatimKey(700)).label("key")
        parts: list[Any] = [
            select(literal_column(str(int(kind))).label("part"), t.c.id, t.c.name, t.c.mtime,
                   t.c.usn, t.c.json, key if i == 0 else null())
            .where(t.c.user_id == _USER, t.c.usn >= _USN)
            for i, (kind, t) in enumerate(_OBJECT_PARTS)]
        tg = tables.tags.c
        parts.append(select(literal_column(str(_TAG_PART)), literal_column("0"), null(),
                            literal_column("0"), tg.usn, null(), tg.tag)
                     .where(tg.user_id == _USER, tg.usn >= _USN))
        if with_config:
            cf = tables.config.c
            parts.append(select(literal_column(str(_CONFIG_PART)), literal_column("0"), null(),
                                cf.mtime, cf.usn, cf.val, cf.key).where(cf.user_id == _USER))
        return union_all(*parts)

    names = ["notetypes", "decks", "deck_configs", "tags"] + (["config"] if with_config else [])
    return Statement(build, tables=names)


CHANGES_SINCE, CHANGES_SINCE_WITH_CONFIG = _changes_since(False), _changes_since(True)

ROW_KINDS_SINCE = Statement(
    lambda _d: select(*(exists().where(t.c.user_id == _USER, t.c.usn >= _USN)
                        for t in (tables.revlog, tables.cards, tables.notes))),
    tables=["revlog", "cards", "notes"])


def _meta_snapshot_query(_dialect: str) -> Select[Any]:
    col, user = tables.collections.c, _USER

    def config_value(key: str) -> ScalarSelect[Any]:
        c = tables.config.c
        return select(c.val).where(c.user_id == user, c.key == key).scalar_subquery()

    hk, digest = tables.host_keys.c, bindparam("digest", type_=String(64))
    return select(
        *META_COLUMNS,
        config_value("schedVer").label("sched_ver"),
        config_value("creationOffset").label("creation_offset"),
        exists().where(tables.cards.c.user_id == user).label("has_cards"),
        select(tables.media_state.c.usn).where(tables.media_state.c.user_id == user)
        .scalar_subquery().label("media_usn"),
        exists().where(tables.sync_sessions.c.user_id == user).label("in_sync"),
        # NULL for a key that is not live; a live one's last use is never NULL here.
        select(func.coalesce(hk.last_used, 0)).where(hk.user_id == user, hk.key_hash == digest)
        .scalar_subquery().label("key_used"),
        select(hk.client).where(hk.user_id == user, hk.key_hash == digest)
        .scalar_subquery().label("key_client"),
    ).where(col.user_id == user)


META_SNAPSHOT = Statement(_meta_snapshot_query, tables=[
    "collections", "config", "cards", "media_state", "sync_sessions", "host_keys"])


def _rows_page(table: Table, after: bool) -> Statement:
    t = table.c

    def build(_dialect: str) -> Any:
        query = select(*(c for c in table.columns if c.name != "user_id")).where(
            t.user_id == _USER, t.usn >= _USN)
        if after:
            after_usn = bindparam("after_usn", type_=BigInteger)
            after_id = bindparam("after_id", type_=BigInteger)
            query = query.where(or_(t.usn > after_usn, and_(t.usn == after_usn,
                                                              t.id > after_id)))
        return query.order_by(t.usn, t.id).limit(bindparam("limit", type_=Integer))

    return Statement(build, tables=[table.name])


ROWS_PAGE = {(kind, after): _rows_page(table, after)
             for kind, (table, _, _) in ROW_TABLES.items() for after in (False, True)}
ROW_RECORDS: dict[RowKind, Callable[..., Row]] = {
    RowKind.REVLOG: RevlogEntry, RowKind.CARD: Card, RowKind.NOTE: Note}


def _objects_by_id_pg(table: Table) -> Statement:
    return Statement(lambda _d: select(table.c.id, table.c.name, table.c.mtime, table.c.usn,
                                       table.c.json)
                     .where(table.c.user_id == _USER,
                            table.c.id == any_(bindparam("ids", type_=ARRAY(BigInteger)))),
                     tables=[table.name])


OBJECTS_BY_ID_PG = {kind: _objects_by_id_pg(t) for kind, t in OBJECT_TABLES.items()}


def _row_upsert(table: Table) -> Statement:
    return upsert(table, ["user_id", "id"],
                  [c.name for c in table.columns if c.name not in ("user_id", "id")])


ROW_UPSERTS = {kind: _row_upsert(table) for kind, (table, _, _) in ROW_TABLES.items()}
OBJECT_UPSERTS = {kind: _row_upsert(table) for kind, table in OBJECT_TABLES.items()}
GRAVE_UPSERT = upsert(tables.graves, ["user_id", "kind", "oid"], ["usn"])
TAG_INSERT = upsert(tables.tags, ["user_id", "tag"], None)


@cache
def _objects_by_id(table: Table) -> Select[Any]:
    return select(table).where(table.c.user_id == _USER,
                               table.c.id.in_(bindparam("ids", expanding=True)))


@cache
def _row_versions(table: Table, mod_column: str) -> Select[Any]:
    t = table.c
    return select(t.id, t[mod_column], t.usn).where(
        t.user_id == _USER, t.id.in_(bindparam("ids", expanding=True)))


@cache
def _objects_since(table: Table) -> Select[Any]:
    return (select(table).where(table.c.user_id == _USER, table.c.usn >= bindparam("usn"))
            .order_by(table.c.id))


def _id_batches(ids: Iterable[int]) -> Iterator[list[int]]:
    iterator = iter(ids)
    while batch := list(islice(iterator, ID_BATCH)):
        yield batch


class SqlCollectionStore:
    def __init__(self, conn: Connection, tx: Transaction) -> None:
        self._conn, self._tx = conn, tx
        self._pg = conn.dialect.name == "postgresql"
        # What this unit of work's writes owe the col row (row counts, the graves' highest
        # usn), not yet written: it goes out with the next col-row update or at commit
        # (one UPDATE, not one per write).
        self._owed: dict[UserId, dict[str, int]] = {}
        self._attached = False  # an uploaded file is attached (SQLite)

    def after_transaction(self) -> None:
        """Let go of what the transaction needed until its end (an attached upload)."""
        if self._attached:
            self._attached = False
            bulk.detach_file(self._conn)

    # -- what writes owe the col row -----------------------------------------------------

    def _owing(self, user: UserId) -> dict[str, int]:
        return self._owed.setdefault(user, _nothing_owed())

    def _count(self, user: UserId, column: str, delta: int) -> None:
        # Any write owes the col row at least a new generation.
        self._owing(user)[column] += delta

    def _take_owed(self, user: UserId) -> dict[str, int]:
        owed = self._owed.pop(user, None) or _nothing_owed()
        return {("graves_usn" if c == "graves_usn" else f"d_{c}"): n for c, n in owed.items()}

    def before_commit(self) -> None:
        """Write what is still owed to the col row (the unit of work commits next)."""
        for user in list(self._owed):
            self._tx.write(ADD_OWED, {"user": user, **self._take_owed(user)})

    def owed(self) -> dict[UserId, dict[str, int]]:
        return {user: dict(owed) for user, owed in self._owed.items()}

    def restore_owed(self, owed: dict[UserId, dict[str, int]]) -> None:
        """Forget counters owed by writes a savepoint rollback undid."""
        self._owed = owed

    # -- the col row -----------------------------------------------------------------------

    def create(self, user: UserId, collection: NewCollection) -> None:
        counts: dict[str, int] = {
            "n_notetypes": self._insert_all(
                tables.notetypes, rows.object_row, user, collection.notetypes),
            "n_decks": self._insert_all(tables.decks, rows.object_row, user, collection.decks),
            "n_deck_configs": self._insert_all(
                tables.deck_configs, rows.object_row, user, collection.deck_configs),
        }
        self._conn.execute(insert(tables.collections).values(
            {**rows.meta_row(user, collection.meta), **counts, "generation": _fresh()}))
        self._insert_all(tables.config, rows.config_row, user, collection.config)

    def meta(self, user: UserId) -> CollectionMeta | None:
        found = self._tx.fetch(GET_META, {"user": user})
        return _meta(found[0]) if found else None

    def lock(self, user: UserId) -> CollectionMeta | None:
        found = self._tx.fetch(LOCK_META, {"user": user})
        return _meta(found[0]) if found else None

    def meta_snapshot(
        self, user: UserId, digest: str | None = None
    ) -> tuple[KeyUse | None, MetaSnapshot | None]:
        found = self._tx.fetch(META_SNAPSHOT, {"user": user, "digest": digest})
        if not found:
            key = self._tx.fetch(KEY_USE, {"user": user, "digest": digest})
            return (key_use_of(*key[0]) if key else None), None
        r = found[0]
        return (None if r[12] is None else key_use_of(r[12], r[13])), MetaSnapshot(
            meta=_meta(r), sched_ver_json=r[7], creation_offset_json=r[8],
            has_cards=bool(r[9]), media_usn=int(r[10] or 0), in_sync=bool(r[11]),
        )

    def config_json(self, user: UserId, key: str) -> str | None:
        c = tables.config.c
        value = self._conn.execute(
            select(c.val).where(c.user_id == user, c.key == key)
        ).scalar()
        return None if value is None else str(value)

    def version(self, user: UserId) -> int | None:
        found = self._tx.fetch(GET_GENERATION, {"user": user})
        return int(found[0][0]) if found else None

    def replace(self, user: UserId, contents: CollectionContents) -> int:
        if self._conn.dialect.name == "mysql" and isinstance(contents, bulk.SizedNotes):
            self._check_packet_size(contents.largest_note_bytes())
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
        counts["n_notes"] = self._insert_records(tables.notes, user, contents, contents.notes)
        counts["n_cards"] = self._insert_records(tables.cards, user, contents, contents.cards)
        counts["n_revlog"] = self._insert_records(
            tables.revlog, user, contents, contents.revlog)
        graves_usn = [-1]

        def graves() -> Iterator[Grave]:
            for grave in contents.graves():
                graves_usn[0] = max(graves_usn[0], grave.usn)
                yield grave

        self._insert_all(tables.graves, rows.grave_row, user, graves())
        generation = _fresh()
        self._conn.execute(update(tables.collections).where(_col.user_id == user).values(
            {**counts, "graves_usn": graves_usn[0], "generation": generation}))
        return generation

    def _check_packet_size(self, largest: int) -> None:
        """MySQL/MariaDB take at most `max_allowed_packet` bytes in one statement: a note
        bigger than that would fail half-way through the import (as a lost connection)."""
        packet = int(self._conn.exec_driver_sql("SELECT @@max_allowed_packet").scalar() or 0)
        if largest + PACKET_MARGIN > packet:
            log.warning("full upload refused: a note of %d bytes, max_allowed_packet is %d",
                        largest, packet)
            raise UploadRejected(
                f"This collection has a note of {largest / MB:.1f} MB, more than this"
                f" server's database accepts in one piece ({packet / MB:.0f} MB). Ask the"
                " server's administrator to raise MariaDB's max_allowed_packet.")

    def export(self, user: UserId) -> StoredContents:
        return SqlCollectionExport(self._conn, user)

    def remove(self, user: UserId) -> None:
        self._owed.pop(user, None)
        for table in tables.COLLECTION_TABLES:
            self._conn.execute(delete(table).where(table.c.user_id == user))
        self._conn.execute(delete(tables.collections).where(tables.collections.c.user_id == user))

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
        self, table: Table, user: UserId, contents: CollectionContents,
        records: Callable[[], Iterable[Note | Card | RevlogEntry]],
    ) -> int:
        """Insert notes, cards or revlog entries: their fields are the columns after user_id.
        An uploaded file's rows go to PostgreSQL's COPY as the text SQLite made of them,
        and into a SQLite database straight from the file."""
        if self._conn.dialect.name == "postgresql" and isinstance(contents, bulk.CopyText):
            lines = contents.copy_lines(table.name, user)
            if lines is not None:
                try:
                    with self._conn.begin_nested():
                        return bulk.copy_text(self._conn, table, lines)
                except bulk.NotPlainRows:
                    pass  # undone to the savepoint: the rows are read as records below
        if self._conn.dialect.name == "sqlite" and isinstance(contents, bulk.SqliteRows):
            select = contents.sqlite_select(table.name)
            if select is not None:
                self._attached = True
                return bulk.insert_from_file(self._conn, table, user, contents.path, select)
        return bulk.insert_rows(self._conn, table, ((user, *record) for record in records()))

    # -- normal sync -------------------------------------------------------------------

    def update_meta(self, user: UserId, meta: CollectionMeta) -> None:
        values = rows.meta_row(user, meta)
        del values["user_id"]
        self._tx.write(UPDATE_META, {"user": user, **values, **self._take_owed(user)})

    def counts(self, user: UserId) -> Counts:
        row = self._tx.fetch(GET_COUNTS, {"user": user})[0]
        owed = self._owed.get(user, {})
        return Counts(*(int(v) + owed.get(c, 0) for c, v in zip(_COUNTERS, row, strict=True)))

    def graves_since(self, user: UserId, min_usn: int) -> list[Grave]:
        found = self._tx.fetch(GRAVES_SINCE, {"user": user, "usn": min_usn})
        return [Grave(oid=int(oid), kind=GraveKind(kind), usn=int(usn))
                for oid, kind, usn in found]

    def objects_since(self, user: UserId, kind: ObjectKind, min_usn: int) -> list[JsonObject]:
        result = self._conn.execute(_objects_since(OBJECT_TABLES[kind]),
                                    {"user": user, "usn": min_usn})
        return [rows.object_from_row(r) for r in result.mappings()]

    def tags_since(self, user: UserId, min_usn: int) -> list[Tag]:
        result = self._conn.execute(TAGS_SINCE, {"user": user, "usn": min_usn})
        return sorted((rows.tag_from_row(r) for r in result.mappings()), key=lambda t: t.name)

    def config(self, user: UserId) -> list[ConfigEntry]:
        found = self._tx.fetch(CONFIG, {"user": user})
        return sorted((ConfigEntry(key=str(k), usn=int(u), mtime=int(m), json=str(v))
                       for k, u, m, v in found), key=lambda e: e.key)

    def changes_since(self, user: UserId, min_usn: int, *, with_config: bool) -> ObjectChanges:
        stmt = CHANGES_SINCE_WITH_CONFIG if with_config else CHANGES_SINCE
        objects: dict[int, list[JsonObject]] = {int(kind): [] for kind, _ in _OBJECT_PARTS}
        tags: list[str] = []
        config: list[ConfigEntry] = []
        for part, oid, name, mtime, usn, json_text, key in self._tx.fetch(
                stmt, {"user": user, "usn": min_usn}):
            if part == _TAG_PART:
                tags.append(str(key))
            elif part == _CONFIG_PART:
                config.append(ConfigEntry(key=str(key), usn=int(usn), mtime=int(mtime),
                                          json=str(json_text)))
            else:
                objects[int(part)].append(JsonObject(int(oid), str(name), int(mtime),
                                                     int(usn), str(json_text)))
        for found in objects.values():
            found.sort(key=lambda o: o.id)
        return ObjectChanges(
            notetypes=objects[int(ObjectKind.NOTETYPE)], decks=objects[int(ObjectKind.DECK)],
            deck_configs=objects[int(ObjectKind.DECK_CONFIG)], tags=sorted(tags),
            config=sorted(config, key=lambda e: e.key) if with_config else None)

    def row_kinds_since(self, user: UserId, min_usn: int) -> set[RowKind]:
        found = self._tx.fetch(ROW_KINDS_SINCE, {"user": user, "usn": min_usn})[0]
        return {kind for kind, present in zip(
            (RowKind.REVLOG, RowKind.CARD, RowKind.NOTE), found, strict=True) if present}

    def rows_page(
        self, user: UserId, kind: RowKind, min_usn: int, after: tuple[int, int] | None,
        limit: int,
    ) -> list[Row]:
        params: dict[str, Any] = {"user": user, "usn": min_usn, "limit": limit}
        if after is not None:
            params.update(after_usn=after[0], after_id=after[1])
        record = ROW_RECORDS[kind]
        return [record(*r) for r in self._tx.fetch(ROWS_PAGE[kind, after is not None], params)]

    def objects(self, user: UserId, kind: ObjectKind, ids: Iterable[int]) -> dict[int, JsonObject]:
        found: dict[int, JsonObject] = {}
        for batch in _id_batches(ids):
            if self._pg:
                for oid, name, mtime, usn, json_text in self._tx.fetch(
                        OBJECTS_BY_ID_PG[kind], {"user": user, "ids": batch}):
                    found[int(oid)] = JsonObject(int(oid), name, int(mtime), int(usn), json_text)
                continue
            result = self._conn.execute(_objects_by_id(OBJECT_TABLES[kind]),
                                        {"user": user, "ids": batch})
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
        unique = {o.id: o for o in (*inserts, *updates)}  # a statement writes a row once
        self._tx.write_rows(OBJECT_UPSERTS[kind], {"user_id": user}, [
            {"id": o.id, "name": o.name, "mtime": o.mtime, "usn": o.usn, "json": o.json}
            for o in unique.values()])
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
        columns = ROW_COLUMNS[kind]
        unique = {r.id: r for r in (*inserts, *updates)}  # a statement writes a row once
        for batch in _batches(list(unique.values()), INSERT_BATCH):
            self._tx.write_rows(ROW_UPSERTS[kind], {"user_id": user},
                                [dict(zip(columns, r, strict=True)) for r in batch])
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
        owed = self._owing(user)
        if graves:
            owed["graves_usn"] = max(owed["graves_usn"], *(g.usn for g in graves))
        unique = {(int(g.kind), g.oid): g for g in graves}
        for batch in _batches(list(unique.values()), ID_BATCH):
            self._tx.write_rows(GRAVE_UPSERT, {"user_id": user}, [
                {"kind": int(g.kind), "oid": g.oid, "usn": g.usn} for g in batch])

    def add_tags(self, user: UserId, tags: Sequence[Tag]) -> None:
        self._owing(user)
        unique = list({tag.name: tag for tag in tags}.values())
        for batch in _batches(unique, ID_BATCH):
            self._tx.write_rows(TAG_INSERT, {"user_id": user}, [
                {"tag": t.name, "usn": t.usn, "collapsed": t.collapsed} for t in batch])

    def put_config(self, user: UserId, entry: ConfigEntry) -> None:
        self._owing(user)
        c = tables.config.c
        self._conn.execute(delete(tables.config).where(c.user_id == user, c.key == entry.key))
        self._conn.execute(insert(tables.config).values(rows.config_row(user, entry)))

    def replace_config(self, user: UserId, entries: Sequence[ConfigEntry]) -> None:
        self._owing(user)
        self._conn.execute(delete(tables.config).where(tables.config.c.user_id == user))
        self._insert_all(tables.config, rows.config_row, user, entries)


def _nothing_owed() -> dict[str, int]:
    return {**dict.fromkeys(_COUNTERS, 0), "graves_usn": -1}


def _fresh() -> int:
    """A generation to start from: random, so no copy made before a create or a replace
    can match what comes after it."""
    return secrets.randbits(62)


def _batches(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _meta(r: Sequence[Any]) -> CollectionMeta:
    return CollectionMeta(crt=r[0], mod=r[1], scm=r[2], ver=r[3], dty=r[4], usn=r[5], ls=r[6])


ROW_COLUMNS = {kind: [c.name for c in table.columns if c.name != "user_id"]
               for kind, (table, _, _) in ROW_TABLES.items()}


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

    def row_counts(self) -> Counts:
        row = self._conn.execute(select(*(_col[c] for c in _COUNTERS))
                                 .where(_col.user_id == self._user)).one()
        return Counts(*(int(v) for v in row))

    def notes_since(self, min_usn: int) -> Iterator[Note]:
        return self._stream_records(tables.notes, Note, min_usn)

    def cards_since(self, min_usn: int) -> Iterator[Card]:
        return self._stream_records(tables.cards, Card, min_usn)

    def revlog_since(self, min_usn: int) -> Iterator[RevlogEntry]:
        return self._stream_records(tables.revlog, RevlogEntry, min_usn)

    def graves_since(self, min_usn: int) -> Iterator[Grave]:
        return self._stream(tables.graves, "oid", rows.grave_from_row, min_usn)

    def _stream_records(
        self, table: Table, record: Callable[..., T], min_usn: int | None = None
    ) -> Iterator[T]:
        # Read through the driver's own server-side cursor: SQLAlchemy's row objects cost
        # more than the rest of reading a row (a full download reads every row).
        columns = [c for c in table.columns if c.name != "user_id"]
        query = select(*columns).where(table.c.user_id == self._user).order_by(table.c.id)
        if min_usn is not None:
            query = query.where(table.c.usn >= min_usn)
        dialect = self._conn.dialect
        sql = str(query.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
        escaped = [i for i, c in enumerate(columns) if isinstance(c.type, VerbatimText)
                   and dialect.name == "postgresql"]
        cursor = dialects.streaming_cursor(self._conn)
        try:
            with observed(sql):
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
        self, table: Table, order: str, convert: Callable[[Any], T], min_usn: int | None = None
    ) -> Iterator[T]:
        # The driver's own streaming cursor, as for the big tables: SQLAlchemy's would
        # need a transaction psycopg2 knows about (ours is driven by SQL text).
        dialect = self._conn.dialect
        query = select(table).where(table.c.user_id == self._user).order_by(table.c[order])
        if min_usn is not None:
            query = query.where(table.c.usn >= min_usn)
        sql = str(query.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
        names = [c.name for c in table.columns]
        processors = [(i, p) for i, c in enumerate(table.columns)
                      if (p := c.type.dialect_impl(dialect).result_processor(dialect, None))]
        cursor = dialects.streaming_cursor(self._conn)
        try:
            with observed(sql):
                cursor.execute(sql)
            while batch := cursor.fetchmany(READ_BATCH):
                for row in batch:
                    values = list(row)
                    for i, process in processors:
                        values[i] = process(values[i])
                    yield convert(dict(zip(names, values, strict=True)))
        finally:
            cursor.close()


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
