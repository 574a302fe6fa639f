"""Users and host keys in SQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from adapters.sql.sync_stores import HAS_HOST_KEY, KEY_USE, key_use_of
from adapters.sql.tables import (
    collections,
    host_keys,
    imported_host_keys,
    login_failures,
    media_files,
    notes,
    users,
)
from adapters.sql.transaction import Transaction
from domain.errors import UserExists
from domain.login_throttle import LoginFailures
from domain.model import HostKeyInfo, KeyKind, KeyUse, User, UserId, UserUsage
from domain.quotas import Quotas

_USER_COLUMNS = (users.c.user_id, users.c.name, users.c.is_admin)


def _user(row: Any) -> User:
    return User(UserId(row.user_id), row.name, bool(row.is_admin))


class SqlUserStore:
    def __init__(self, conn: Connection, tx: Transaction) -> None:
        self._conn, self._tx = conn, tx

    def add(self, name: str, password_hash: str, created_ms: int) -> UserId:
        # A savepoint, so a lost race for the name leaves the transaction usable.
        try:
            with self._conn.begin_nested():
                result = self._conn.execute(
                    insert(users).values(name=name, password_hash=password_hash,
                                         created=created_ms)
                )
        except IntegrityError:
            raise UserExists(name) from None
        key = result.inserted_primary_key
        assert key is not None
        return UserId(int(key[0]))

    def find(self, name: str) -> tuple[User, str] | None:
        row = self._conn.execute(
            select(*_USER_COLUMNS, users.c.password_hash).where(users.c.name == name)
        ).first()
        if row is None or row.name != name:
            return None
        return _user(row), row.password_hash

    def get(self, user_id: UserId) -> User | None:
        row = self._conn.execute(
            select(*_USER_COLUMNS).where(users.c.user_id == user_id)).first()
        return None if row is None else _user(row)

    def all(self) -> list[User]:
        rows = self._conn.execute(select(*_USER_COLUMNS).order_by(users.c.name))
        return [_user(r) for r in rows]

    def set_admin(self, user_id: UserId, admin: bool) -> None:
        self._conn.execute(update(users).where(users.c.user_id == user_id)
                           .values(is_admin=True if admin else None))

    def set_password(self, user_id: UserId, password_hash: str) -> None:
        self._conn.execute(
            update(users).where(users.c.user_id == user_id).values(password_hash=password_hash)
        )

    def remove(self, user_id: UserId) -> None:
        self.revoke_host_keys(user_id)
        self._conn.execute(delete(users).where(users.c.user_id == user_id))

    def add_host_key(self, user_id: UserId, key_hash: str, created_ms: int,
                     kind: KeyKind = KeyKind.SYNC, label: str = "", client: str = "") -> None:
        self._conn.execute(insert(host_keys).values(
            user_id=user_id, key_hash=key_hash, created=created_ms, kind=kind.value,
            label=label[:255] or None, client=client[:255] or None))

    def has_host_key(self, user_id: UserId, key_hash: str) -> bool:
        return bool(self._tx.fetch(HAS_HOST_KEY, {"user": user_id, "digest": key_hash})[0][0])

    def key_use(self, user_id: UserId, key_hash: str) -> KeyUse | None:
        found = self._tx.fetch(KEY_USE, {"user": user_id, "digest": key_hash})
        return key_use_of(*found[0]) if found else None

    def note_key_use(self, user_id: UserId, key_hash: str, used_ms: int,
                     client: str | None = None) -> None:
        k = host_keys.c
        values: dict[str, Any] = {"last_used": used_ms}
        if client is not None:
            values["client"] = client[:255] or None
        self._conn.execute(update(host_keys).where(
            k.user_id == user_id, k.key_hash == key_hash).values(**values))

    def host_keys(self, user_id: UserId) -> list[HostKeyInfo]:
        k = host_keys.c
        rows = self._conn.execute(
            select(k.key_hash, k.kind, k.label, k.client, k.created, k.last_used)
            .where(k.user_id == user_id).order_by(k.created, k.key_hash))
        return [HostKeyInfo(str(digest), KeyKind(kind or KeyKind.SYNC), label or "",
                            client or "", int(created), int(last or 0))
                for digest, kind, label, client, created, last in rows]

    def revoke_host_key(self, user_id: UserId, key_hash: str) -> None:
        for table in (host_keys, imported_host_keys):
            self._conn.execute(delete(table).where(
                table.c.user_id == user_id, table.c.key_hash == key_hash))

    def revoke_host_keys(self, user_id: UserId) -> None:
        for table in (host_keys, imported_host_keys):
            self._conn.execute(delete(table).where(table.c.user_id == user_id))

    def add_imported_host_key(self, user_id: UserId, key_hash: str, created_ms: int) -> None:
        self.add_host_key(user_id, key_hash, created_ms)
        self._conn.execute(insert(imported_host_keys).values(user_id=user_id,
                                                             key_hash=key_hash))

    def imported_key_user(self, key_hash: str) -> UserId | None:
        found = self._conn.execute(select(imported_host_keys.c.user_id).where(
            imported_host_keys.c.key_hash == key_hash)).scalar()
        return None if found is None else UserId(int(found))

    def password_hash(self, user_id: UserId) -> str | None:
        found = self._conn.execute(
            select(users.c.password_hash).where(users.c.user_id == user_id)).scalar()
        return None if found is None else str(found)

    def login_failures(self, keys: Sequence[str]) -> dict[str, LoginFailures]:
        c = login_failures.c
        rows = self._conn.execute(
            select(c.key_hash, c.failures, c.last_ms).where(c.key_hash.in_(list(keys))))
        return {str(k): LoginFailures(int(n), int(last)) for k, n, last in rows}

    def set_login_failures(self, key: str, failures: LoginFailures | None) -> None:
        c = login_failures.c
        self._conn.execute(delete(login_failures).where(c.key_hash == key))
        if failures is None:
            return
        try:  # two failures at once: the one that lost the race is dropped, harmlessly
            with self._conn.begin_nested():
                self._conn.execute(insert(login_failures).values(
                    key_hash=key, failures=failures.count, last_ms=failures.last_ms))
        except IntegrityError:
            pass

    def quotas(self, user_id: UserId) -> Quotas:
        row = self._conn.execute(select(users.c.quota_collection_mb, users.c.quota_media_mb)
                                 .where(users.c.user_id == user_id)).first()
        if row is None:
            return Quotas()
        return Quotas(*(None if v is None else int(v) for v in row))

    def set_quotas(self, user_id: UserId, quotas: Quotas) -> None:
        self._conn.execute(update(users).where(users.c.user_id == user_id).values(
            quota_collection_mb=quotas.collection_mb, quota_media_mb=quotas.media_mb))

    def usage(self, user_id: UserId | None = None) -> list[UserUsage]:
        def per_user(query: Any) -> dict[int, int]:
            if user_id is not None:
                query = query.where(query.selected_columns[0] == user_id)
            return {int(u): int(v or 0) for u, v in self._conn.execute(query)}

        n, m, k = notes.c, media_files.c, host_keys.c
        text = per_user(select(n.user_id, func.sum(func.length(n.flds) + func.length(n.tags)))
                        .group_by(n.user_id))
        media = per_user(select(m.user_id, func.sum(m.size)).group_by(m.user_id))
        is_device = or_(k.kind.is_(None), k.kind == KeyKind.SYNC.value)
        devices = per_user(select(k.user_id, func.count()).where(is_device)
                           .group_by(k.user_id))
        # A sync that found nothing to exchange leaves `ls` alone but is a sync all the same.
        seen = per_user(select(k.user_id, func.max(k.last_used)).where(is_device)
                        .group_by(k.user_id))
        c = collections.c
        query = (select(users.c.user_id, users.c.name, c.n_notes, c.n_cards, c.n_revlog,
                        c.ls, users.c.is_admin)
                 .select_from(users.outerjoin(collections, c.user_id == users.c.user_id))
                 .order_by(users.c.name))
        if user_id is not None:
            query = query.where(users.c.user_id == user_id)
        rows = self._conn.execute(query)
        return [UserUsage(str(name), int(notes_ or 0), int(cards or 0), int(revlog or 0),
                          text.get(int(uid), 0), media.get(int(uid), 0),
                          devices.get(int(uid), 0), max(int(last or 0), seen.get(int(uid), 0)),
                          UserId(int(uid)),
                          bool(admin))
                for uid, name, notes_, cards, revlog, last, admin in rows]
