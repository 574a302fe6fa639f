"""The JSON API's read queries in SQL; every statement is scoped to one user."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import islice

from sqlalchemy import ColumnElement, Select, Text, delete, func, select
from sqlalchemy.engine import Connection
from sqlalchemy.sql.functions import Function

from adapters.sql import rows, tables
from adapters.sql.collection_store import OBJECT_TABLES
from adapters.sql.dialects import SQLITE_LOWER, is_sqlite
from domain.model import Card, JsonObject, Note, ObjectKind, RevlogEntry, Tag, UserId
from ports.queries import CardFilter, NoteFilter

BATCH = 500


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class SqlCollectionQueries:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def _lower(self, column: ColumnElement[str]) -> ColumnElement[str]:
        """lower() that folds non-ASCII case too: on SQLite, the function dialects.py
        registers; PostgreSQL's and MariaDB's own lower() already do."""
        if is_sqlite(self._conn):
            return Function(SQLITE_LOWER, column, type_=Text())
        return func.lower(column)

    def notes(self, user: UserId, where: NoteFilter, after: int | None, limit: int) -> list[Note]:
        n = tables.notes.c
        query: Select[tuple[object, ...]] = select(tables.notes).where(n.user_id == user)
        if where.ids is not None:
            query = query.where(n.id.in_(where.ids))
        if where.notetype_id is not None:
            query = query.where(n.mid == where.notetype_id)
        if where.checksums is not None:
            query = query.where(n.csum.in_(where.checksums))
        if where.tag is not None:
            # Tags are stored " a b ": match the whole word, case-insensitively, or a child.
            tag = _like_escape(where.tag.lower())
            query = query.where(self._lower(n.tags).like(f"% {tag} %", escape="\\")
                                | self._lower(n.tags).like(f"% {tag}::%", escape="\\"))
        if where.text:
            text = _like_escape(where.text.lower())
            query = query.where(self._lower(n.flds).like(f"%{text}%", escape="\\"))
        if where.deck_ids is not None:
            c = tables.cards.c
            query = query.where(n.id.in_(
                select(c.nid).distinct().where(c.user_id == user, c.did.in_(where.deck_ids))
            ))
        if after is not None:
            query = query.where(n.id > after)
        result = self._conn.execute(query.order_by(n.id).limit(limit))
        return [rows.note_from_row(r) for r in result.mappings()]

    def cards(self, user: UserId, where: CardFilter, after: int | None, limit: int) -> list[Card]:
        c = tables.cards.c
        query: Select[tuple[object, ...]] = select(tables.cards).where(c.user_id == user)
        for column, values in ((c.id, where.ids), (c.nid, where.note_ids),
                               (c.did, where.deck_ids)):
            if values is not None:
                query = query.where(column.in_(values))
        if after is not None:
            query = query.where(c.id > after)
        result = self._conn.execute(query.order_by(c.id).limit(limit))
        return [rows.card_from_row(r) for r in result.mappings()]

    def revlog(
        self, user: UserId, card_id: int | None, after: int | None, limit: int
    ) -> list[RevlogEntry]:
        r = tables.revlog.c
        query = select(tables.revlog).where(r.user_id == user)
        if card_id is not None:
            query = query.where(r.cid == card_id)
        if after is not None:
            query = query.where(r.id > after)
        result = self._conn.execute(query.order_by(r.id).limit(limit))
        return [rows.revlog_from_row(x) for x in result.mappings()]

    def all_objects(self, user: UserId, kind: ObjectKind) -> list[JsonObject]:
        t = OBJECT_TABLES[kind]
        result = self._conn.execute(select(t).where(t.c.user_id == user).order_by(t.c.id))
        return [rows.object_from_row(r) for r in result.mappings()]

    def all_tags(self, user: UserId) -> list[Tag]:
        t = tables.tags.c
        result = self._conn.execute(
            select(tables.tags).where(t.user_id == user).order_by(t.tag)
        )
        return [rows.tag_from_row(r) for r in result.mappings()]

    def card_counts(self, user: UserId) -> list[tuple[int, int, int]]:
        c = tables.cards.c
        result = self._conn.execute(
            select(c.did, c.queue, func.count()).where(c.user_id == user)
            .group_by(c.did, c.queue)
        )
        return [(int(a), int(b), int(n)) for a, b, n in result]

    def reviews_per_day(self, user: UserId, since_ms: int) -> list[tuple[int, int]]:
        r = tables.revlog.c
        ids = self._conn.execute(
            select(r.id).where(r.user_id == user, r.id >= since_ms)
        ).scalars()
        days: dict[int, int] = {}
        for rid in ids:
            day = int(rid) // 86_400_000
            days[day] = days.get(day, 0) + 1
        return sorted(days.items())

    def remove_tags(self, user: UserId, names: Sequence[str]) -> None:
        t = tables.tags.c
        iterator = iter(names)
        while batch := list(islice(iterator, BATCH)):
            self._conn.execute(delete(tables.tags).where(t.user_id == user, t.tag.in_(batch)))

    def notes_without_cards(self, user: UserId, note_ids: Iterable[int]) -> list[int]:
        c = tables.cards.c
        orphans: list[int] = []
        iterator = iter(note_ids)
        while batch := list(islice(iterator, BATCH)):
            with_cards = set(self._conn.execute(
                select(c.nid).distinct().where(c.user_id == user, c.nid.in_(batch))
            ).scalars())
            orphans.extend(n for n in batch if n not in with_cards)
        return orphans
