"""The media index in SQL."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import islice

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Connection

from adapters.sql.tables import media_files, media_state
from domain.media import MediaEntry
from domain.model import UserId

BATCH = 500


class SqlMediaIndex:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def state(self, user: UserId, *, lock: bool = False) -> tuple[int, int]:
        query = select(media_state.c.usn, media_state.c.file_count).where(
            media_state.c.user_id == user
        )
        if lock:
            query = query.with_for_update()
        row = self._conn.execute(query).first()
        if row is None:
            return 0, 0
        return int(row[0]), int(row[1])

    def set_state(self, user: UserId, usn: int, file_count: int) -> None:
        result = self._conn.execute(
            update(media_state).where(media_state.c.user_id == user)
            .values(usn=usn, file_count=file_count)
        )
        if result.rowcount == 0:
            self._conn.execute(
                insert(media_state).values(user_id=user, usn=usn, file_count=file_count)
            )

    def changes_since(self, user: UserId, usn: int, limit: int) -> list[MediaEntry]:
        m = media_files.c
        result = self._conn.execute(
            select(m.fname, m.sha1, m.size, m.usn).where(m.user_id == user, m.usn > usn)
            .order_by(m.usn).limit(limit)
        )
        return [MediaEntry(r.fname, r.sha1, int(r.size), int(r.usn)) for r in result]

    def entries(self, user: UserId, names: Iterable[str]) -> dict[str, MediaEntry]:
        m = media_files.c
        found: dict[str, MediaEntry] = {}
        iterator = iter(names)
        while batch := list(islice(iterator, BATCH)):
            result = self._conn.execute(
                select(m.fname, m.sha1, m.size, m.usn)
                .where(m.user_id == user, m.fname.in_(batch))
            )
            found.update(
                (r.fname, MediaEntry(r.fname, r.sha1, int(r.size), int(r.usn))) for r in result
            )
        return found

    def save(self, user: UserId, entries: Sequence[MediaEntry]) -> None:
        if not entries:
            return
        m = media_files.c
        names = [e.fname for e in entries]
        self._conn.execute(
            delete(media_files).where(m.user_id == user, m.fname.in_(names))
        )
        self._conn.execute(insert(media_files), [
            {"user_id": user, "fname": e.fname, "sha1": e.sha1, "size": e.size, "usn": e.usn}
            for e in entries
        ])

    def forget(self, user: UserId, name: str) -> None:
        m = media_files.c
        self._conn.execute(delete(media_files).where(m.user_id == user, m.fname == name))

    def sha1_in_use(self, user: UserId, sha1: str) -> bool:
        m = media_files.c
        row = self._conn.execute(
            select(m.fname).where(m.user_id == user, m.sha1 == sha1).limit(1)
        ).first()
        return row is not None

    def total_bytes(self, user: UserId) -> int:
        m = media_files.c
        total = self._conn.execute(select(func.coalesce(func.sum(m.size), 0))
                                   .where(m.user_id == user)).scalar()
        return int(total or 0)

    def remove_all(self, user: UserId) -> None:
        self._conn.execute(delete(media_files).where(media_files.c.user_id == user))
        self._conn.execute(delete(media_state).where(media_state.c.user_id == user))
