"""In-memory adapters for fast tests: whole-state copy on enter, swap on commit."""

from __future__ import annotations

import copy
import dataclasses
import secrets
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from domain.errors import UserExists
from domain.login_throttle import LoginFailures
from domain.media import MediaEntry
from domain.model import (
    Card,
    CollectionMeta,
    ConfigEntry,
    Counts,
    Credentials,
    Grave,
    HostKeyInfo,
    JsonObject,
    KeyKind,
    KeyUse,
    MetaSnapshot,
    Note,
    ObjectChanges,
    ObjectKind,
    RevlogEntry,
    Row,
    RowKind,
    Tag,
    User,
    UserId,
    UserUsage,
)
from domain.new_collection import NewCollection
from domain.quotas import Quotas
from domain.sync.session import SessionPeek, SyncLock, SyncSession
from domain.sync.staging import ROW_STAGES, StagedItem, StageKind
from ports.collection import CollectionContents, StoredContents
from ports.queries import CardFilter, NoteFilter

_ROW_KINDS = {StageKind.REVLOG: RowKind.REVLOG, StageKind.CARD: RowKind.CARD,
              StageKind.NOTE: RowKind.NOTE}


@dataclass
class StoredCollection:
    meta: CollectionMeta
    notetypes: dict[int, JsonObject] = field(default_factory=dict)
    decks: dict[int, JsonObject] = field(default_factory=dict)
    deck_configs: dict[int, JsonObject] = field(default_factory=dict)
    config: dict[str, ConfigEntry] = field(default_factory=dict)
    tags: dict[str, Tag] = field(default_factory=dict)
    notes: dict[int, Note] = field(default_factory=dict)
    cards: dict[int, Card] = field(default_factory=dict)
    revlog: dict[int, RevlogEntry] = field(default_factory=dict)
    graves: dict[tuple[int, int], Grave] = field(default_factory=dict)
    version: int = field(default_factory=lambda: secrets.randbits(62))


@dataclass
class MemoryState:
    users: dict[UserId, tuple[User, str]] = field(default_factory=dict)
    host_keys: dict[UserId, dict[str, HostKeyInfo]] = field(default_factory=dict)
    imported_keys: dict[str, UserId] = field(default_factory=dict)
    collections: dict[UserId, StoredCollection] = field(default_factory=dict)
    sessions: dict[UserId, SyncSession] = field(default_factory=dict)
    media: dict[UserId, dict[str, MediaEntry]] = field(default_factory=dict)
    media_state: dict[UserId, tuple[int, int]] = field(default_factory=dict)
    staging: dict[UserId, dict[tuple[StageKind, str], StagedItem]] = field(default_factory=dict)
    next_user_id: int = 1
    login_failures: dict[str, LoginFailures] = field(default_factory=dict)
    quotas: dict[UserId, Quotas] = field(default_factory=dict)


class MemorySessionStore:
    def __init__(self, state: MemoryState) -> None:
        self._s = state

    def get(self, user: UserId) -> SyncSession | None:
        return self._s.sessions.get(user)

    def lock_with_collection(
        self, user: UserId
    ) -> tuple[CollectionMeta | None, SyncSession | None]:
        stored = self._s.collections.get(user)
        if stored is None:
            return None, None
        return stored.meta, self._s.sessions.get(user)

    def lock(
        self, credentials: Credentials, *, with_session: bool = True, new_rows: bool = False
    ) -> SyncLock:
        user = credentials.user
        authorized = credentials.digest in self._s.host_keys.get(user, {})
        stored = self._s.collections.get(user)
        if stored is None:
            return SyncLock(None, None, None, authorized)
        session = self._s.sessions.get(user) if with_session else None
        counted = MemoryStagingStore(self._s).new_rows(user) if new_rows else None
        graves_usn = max((g.usn for g in stored.graves.values()), default=-1)
        return SyncLock(stored.meta, MemoryCollectionStore(self._s).counts(user), session,
                        authorized, counted, graves_usn)

    def peek(self, credentials: Credentials) -> SessionPeek:
        user = credentials.user
        authorized = credentials.digest in self._s.host_keys.get(user, {})
        session = self._s.sessions.get(user)
        if session is None or user not in self._s.collections:
            return SessionPeek(None, frozenset(), authorized)
        pending = MemoryCollectionStore(self._s).row_kinds_since(user, session.client_usn)
        return SessionPeek(session, frozenset(pending), authorized)

    def save(self, user: UserId, session: SyncSession) -> None:
        self._s.sessions[user] = session

    def delete(self, user: UserId) -> None:
        self._s.sessions.pop(user, None)


class MemoryMediaIndex:
    def __init__(self, state: MemoryState) -> None:
        self._s = state

    def state(self, user: UserId, *, lock: bool = False) -> tuple[int, int]:
        return self._s.media_state.get(user, (0, 0))

    def set_state(self, user: UserId, usn: int, file_count: int) -> None:
        self._s.media_state[user] = (usn, file_count)

    def changes_since(self, user: UserId, usn: int, limit: int) -> list[MediaEntry]:
        entries = self._s.media.get(user, {}).values()
        return sorted((e for e in entries if e.usn > usn), key=lambda e: e.usn)[:limit]

    def entries(self, user: UserId, names: Iterable[str]) -> dict[str, MediaEntry]:
        known = self._s.media.get(user, {})
        return {n: known[n] for n in names if n in known}

    def save(self, user: UserId, entries: Sequence[MediaEntry]) -> None:
        known = self._s.media.setdefault(user, {})
        for e in entries:
            known[e.fname] = e

    def forget(self, user: UserId, name: str) -> None:
        self._s.media.get(user, {}).pop(name, None)

    def sha1_in_use(self, user: UserId, sha1: str) -> bool:
        return any(e.sha1 == sha1 for e in self._s.media.get(user, {}).values())

    def total_bytes(self, user: UserId) -> int:
        return sum(e.size for e in self._s.media.get(user, {}).values())

    def remove_all(self, user: UserId) -> None:
        self._s.media.pop(user, None)
        self._s.media_state.pop(user, None)


class MemoryQueries:
    """The JSON API's queries over the in-memory state (same filters as the SQL ones)."""

    def __init__(self, state: MemoryState) -> None:
        self._s = state

    def notes(self, user: UserId, where: NoteFilter, after: int | None, limit: int) -> list[Note]:
        c = self._s.collections[user]
        in_decks = None if where.deck_ids is None else {
            x.nid for x in c.cards.values() if x.did in where.deck_ids}
        found = [n for i, n in sorted(c.notes.items())
                 if (after is None or i > after)
                 and (where.ids is None or i in where.ids)
                 and (in_decks is None or i in in_decks)
                 and (where.notetype_id is None or n.mid == where.notetype_id)
                 and (where.checksums is None or n.csum in where.checksums)
                 and (where.tag is None or _has_tag(n.tags, where.tag))
                 and (not where.text or where.text.lower() in n.flds.lower())]
        return found[:limit]

    def cards(self, user: UserId, where: CardFilter, after: int | None, limit: int) -> list[Card]:
        found = [x for i, x in sorted(self._s.collections[user].cards.items())
                 if (after is None or i > after)
                 and (where.ids is None or i in where.ids)
                 and (where.note_ids is None or x.nid in where.note_ids)
                 and (where.deck_ids is None or x.did in where.deck_ids)]
        return found[:limit]

    def revlog(self, user: UserId, card_id: int | None, after: int | None,
               limit: int) -> list[RevlogEntry]:
        found = [e for i, e in sorted(self._s.collections[user].revlog.items())
                 if (after is None or i > after) and (card_id is None or e.cid == card_id)]
        return found[:limit]

    def all_objects(self, user: UserId, kind: ObjectKind) -> list[JsonObject]:
        return MemoryCollectionStore(self._s).objects_since(user, kind, -(2**63))

    def all_tags(self, user: UserId) -> list[Tag]:
        return sorted(self._s.collections[user].tags.values(), key=lambda t: t.name)

    def card_counts(self, user: UserId) -> list[tuple[int, int, int]]:
        counts: dict[tuple[int, int], int] = {}
        for x in self._s.collections[user].cards.values():
            counts[(x.did, x.queue)] = counts.get((x.did, x.queue), 0) + 1
        return [(d, q, n) for (d, q), n in sorted(counts.items())]

    def reviews_per_day(self, user: UserId, since_ms: int) -> list[tuple[int, int]]:
        days: dict[int, int] = {}
        for i in self._s.collections[user].revlog:
            if i >= since_ms:
                days[i // 86_400_000] = days.get(i // 86_400_000, 0) + 1
        return sorted(days.items())

    def remove_tags(self, user: UserId, names: Sequence[str]) -> None:
        tags = self._s.collections[user].tags
        for name in names:
            tags.pop(name, None)

    def notes_without_cards(self, user: UserId, note_ids: Iterable[int]) -> list[int]:
        with_cards = {x.nid for x in self._s.collections[user].cards.values()}
        return [n for n in note_ids if n not in with_cards]


def _has_tag(tags: str, tag: str) -> bool:
    wanted = tag.lower()
    return any(t.lower() == wanted or t.lower().startswith(wanted + "::") for t in tags.split())


class MemoryStagingStore:
    def __init__(self, state: MemoryState) -> None:
        self._s = state

    def add(self, user: UserId, items: Sequence[StagedItem]) -> None:
        staged = self._s.staging.setdefault(user, {})
        for item in items:
            staged[(item.kind, item.key)] = item

    def read(self, user: UserId, kind: StageKind) -> list[StagedItem]:
        staged = self._s.staging.get(user, {})
        return sorted((i for (k, _), i in staged.items() if k == kind), key=lambda i: i.key)

    def read_rows(
        self, user: UserId, after: tuple[StageKind, str] | None, limit: int
    ) -> list[StagedItem]:
        staged = self._s.staging.get(user, {})
        keys = sorted(k for k in staged if k[0] in ROW_STAGES and (after is None or k > after))
        store = MemoryCollectionStore(self._s)
        found = []
        for key in keys[:limit]:
            item = staged[key]
            versions = store.row_versions(user, _ROW_KINDS[item.kind], [int(item.key)])
            found.append(dataclasses.replace(item, existing=versions.get(int(item.key))))
        return found

    def new_rows(self, user: UserId) -> dict[StageKind, int]:
        store = MemoryCollectionStore(self._s)
        counts: dict[StageKind, int] = {}
        for stage in ROW_STAGES:
            ids = {int(key) for (k, key) in self._s.staging.get(user, {}) if k == stage}
            counts[stage] = len(ids) - len(store.row_versions(user, _ROW_KINDS[stage], ids))
        return counts

    def keys(self, user: UserId, kind: StageKind) -> set[str]:
        return {key for (k, key) in self._s.staging.get(user, {}) if k == kind}

    def discard(self, user: UserId) -> None:
        self._s.staging.pop(user, None)


class MemoryUserStore:
    def __init__(self, state: MemoryState) -> None:
        self._s = state

    def login_failures(self, keys: Sequence[str]) -> dict[str, LoginFailures]:
        return {k: self._s.login_failures[k] for k in keys if k in self._s.login_failures}

    def usage(self, user_id: UserId | None = None) -> list[UserUsage]:
        found = []
        for uid, (user, _hash) in self._s.users.items():
            if user_id is not None and uid != user_id:
                continue
            col = self._s.collections.get(uid)
            notes = list(col.notes.values()) if col else []
            found.append(UserUsage(
                user.name, len(notes), len(col.cards) if col else 0,
                len(col.revlog) if col else 0,
                sum(len(n.flds) + len(n.tags) for n in notes),
                sum(e.size for e in self._s.media.get(uid, {}).values()),
                sum(k.kind == KeyKind.SYNC for k in self._s.host_keys.get(uid, {}).values()),
                max([col.meta.ls if col else 0, *(
                    k.last_used_ms for k in self._s.host_keys.get(uid, {}).values()
                    if k.kind == KeyKind.SYNC)]), uid, user.admin))
        return sorted(found, key=lambda u: u.name)

    def quotas(self, user_id: UserId) -> Quotas:
        return self._s.quotas.get(user_id, Quotas())

    def set_quotas(self, user_id: UserId, quotas: Quotas) -> None:
        self._s.quotas[user_id] = quotas

    def set_login_failures(self, key: str, failures: LoginFailures | None) -> None:
        if failures is None:
            self._s.login_failures.pop(key, None)
        else:
            self._s.login_failures[key] = failures

    def add(self, name: str, password_hash: str, created_ms: int) -> UserId:
        if self.find(name) is not None:
            raise UserExists(name)
        user_id = UserId(self._s.next_user_id)
        self._s.next_user_id += 1
        self._s.users[user_id] = (User(user_id, name), password_hash)
        return user_id

    def find(self, name: str) -> tuple[User, str] | None:
        return next((u for u in self._s.users.values() if u[0].name == name), None)

    def get(self, user_id: UserId) -> User | None:
        found = self._s.users.get(user_id)
        return None if found is None else found[0]

    def all(self) -> list[User]:
        return sorted((u for u, _ in self._s.users.values()), key=lambda u: u.name)

    def set_password(self, user_id: UserId, password_hash: str) -> None:
        user, _ = self._s.users[user_id]
        self._s.users[user_id] = (user, password_hash)

    def remove(self, user_id: UserId) -> None:
        self._s.users.pop(user_id, None)
        self.revoke_host_keys(user_id)

    def add_host_key(self, user_id: UserId, key_hash: str, created_ms: int,
                     kind: KeyKind = KeyKind.SYNC, label: str = "", client: str = "") -> None:
        self._s.host_keys.setdefault(user_id, {})[key_hash] = HostKeyInfo(
            key_hash, kind, label[:255], client[:255], created_ms, 0)

    def has_host_key(self, user_id: UserId, key_hash: str) -> bool:
        return key_hash in self._s.host_keys.get(user_id, {})

    def key_use(self, user_id: UserId, key_hash: str) -> KeyUse | None:
        found = self._s.host_keys.get(user_id, {}).get(key_hash)
        return None if found is None else KeyUse(found.last_used_ms, found.client, found.kind)

    def note_key_use(self, user_id: UserId, key_hash: str, used_ms: int,
                     client: str | None = None) -> None:
        keys = self._s.host_keys.get(user_id, {})
        if key_hash in keys:
            found = keys[key_hash]
            keys[key_hash] = dataclasses.replace(
                found, last_used_ms=used_ms,
                client=found.client if client is None else client[:255])

    def host_keys(self, user_id: UserId) -> list[HostKeyInfo]:
        return sorted(self._s.host_keys.get(user_id, {}).values(),
                      key=lambda k: (k.created_ms, k.digest))

    def set_admin(self, user_id: UserId, admin: bool) -> None:
        user, password_hash = self._s.users[user_id]
        self._s.users[user_id] = (dataclasses.replace(user, admin=admin), password_hash)

    def revoke_host_key(self, user_id: UserId, key_hash: str) -> None:
        self._s.host_keys.get(user_id, {}).pop(key_hash, None)
        if self._s.imported_keys.get(key_hash) == user_id:
            del self._s.imported_keys[key_hash]

    def revoke_host_keys(self, user_id: UserId) -> None:
        self._s.host_keys.pop(user_id, None)
        for key in [k for k, u in self._s.imported_keys.items() if u == user_id]:
            del self._s.imported_keys[key]

    def add_imported_host_key(self, user_id: UserId, key_hash: str, created_ms: int) -> None:
        self.add_host_key(user_id, key_hash, created_ms)
        self._s.imported_keys[key_hash] = user_id

    def imported_key_user(self, key_hash: str) -> UserId | None:
        return self._s.imported_keys.get(key_hash)

    def password_hash(self, user_id: UserId) -> str | None:
        found = self._s.users.get(user_id)
        return None if found is None else found[1]


class MemoryCollectionStore:
    def __init__(self, state: MemoryState) -> None:
        self._s = state

    def create(self, user: UserId, collection: NewCollection) -> None:
        stored = StoredCollection(meta=collection.meta)
        stored.notetypes = {o.id: o for o in collection.notetypes}
        stored.decks = {o.id: o for o in collection.decks}
        stored.deck_configs = {o.id: o for o in collection.deck_configs}
        stored.config = {c.key: c for c in collection.config}
        self._s.collections[user] = stored

    def meta(self, user: UserId) -> CollectionMeta | None:
        stored = self._s.collections.get(user)
        return None if stored is None else stored.meta

    def lock(self, user: UserId) -> CollectionMeta | None:
        return self.meta(user)

    def meta_snapshot(
        self, user: UserId, digest: str | None = None
    ) -> tuple[KeyUse | None, MetaSnapshot | None]:
        found = self._s.host_keys.get(user, {}).get(digest or "")
        authorized = None if found is None else KeyUse(found.last_used_ms, found.client)
        stored = self._s.collections.get(user)
        if stored is None:
            return authorized, None
        return authorized, MetaSnapshot(
            meta=stored.meta,
            sched_ver_json=self.config_json(user, "schedVer"),
            creation_offset_json=self.config_json(user, "creationOffset"),
            has_cards=bool(stored.cards),
            media_usn=self._s.media_state.get(user, (0, 0))[0],
            in_sync=user in self._s.sessions,
        )

    def config_json(self, user: UserId, key: str) -> str | None:
        entry = self._s.collections[user].config.get(key)
        return None if entry is None else entry.json

    def replace(self, user: UserId, contents: CollectionContents) -> int:
        c = StoredCollection(meta=contents.meta())
        c.notetypes = {o.id: o for o in contents.notetypes()}
        c.decks = {o.id: o for o in contents.decks()}
        c.deck_configs = {o.id: o for o in contents.deck_configs()}
        c.config = {e.key: e for e in contents.config()}
        c.tags = {t.name: t for t in contents.tags()}
        c.notes = {n.id: n for n in contents.notes()}
        c.cards = {x.id: x for x in contents.cards()}
        c.revlog = {e.id: e for e in contents.revlog()}
        c.graves = {(int(g.kind), g.oid): g for g in contents.graves()}
        self._s.collections[user] = c
        return c.version

    def export(self, user: UserId) -> StoredContents:
        return MemoryExport(self._s.collections[user])

    def remove(self, user: UserId) -> None:
        self._s.collections.pop(user, None)

    def update_meta(self, user: UserId, meta: CollectionMeta) -> None:
        self._changed(user)
        self._s.collections[user].meta = meta

    def counts(self, user: UserId) -> Counts:
        return _counts(self._s.collections[user])

    def graves_since(self, user: UserId, min_usn: int) -> list[Grave]:
        graves = self._s.collections[user].graves.values()
        return sorted((g for g in graves if g.usn >= min_usn), key=lambda g: g.oid)

    def objects_since(self, user: UserId, kind: ObjectKind, min_usn: int) -> list[JsonObject]:
        objects = self._objects(user, kind).values()
        return sorted((o for o in objects if o.usn >= min_usn), key=lambda o: o.id)

    def tags_since(self, user: UserId, min_usn: int) -> list[Tag]:
        tags = self._s.collections[user].tags.values()
        return sorted((t for t in tags if t.usn >= min_usn), key=lambda t: t.name)

    def config(self, user: UserId) -> list[ConfigEntry]:
        return sorted(self._s.collections[user].config.values(), key=lambda e: e.key)

    def changes_since(self, user: UserId, min_usn: int, *, with_config: bool) -> ObjectChanges:
        return ObjectChanges(
            notetypes=self.objects_since(user, ObjectKind.NOTETYPE, min_usn),
            decks=self.objects_since(user, ObjectKind.DECK, min_usn),
            deck_configs=self.objects_since(user, ObjectKind.DECK_CONFIG, min_usn),
            tags=[t.name for t in self.tags_since(user, min_usn)],
            config=self.config(user) if with_config else None,
        )

    def row_kinds_since(self, user: UserId, min_usn: int) -> set[RowKind]:
        return {kind for kind in RowKind
                if any(r.usn >= min_usn for r in self._rows(user, kind).values())}

    def rows_page(
        self, user: UserId, kind: RowKind, min_usn: int, after: tuple[int, int] | None,
        limit: int,
    ) -> list[Row]:
        rows = self._rows(user, kind)
        keys = sorted((r.usn, i) for i, r in rows.items()
                      if r.usn >= min_usn and (after is None or (r.usn, i) > after))
        return [rows[i] for _, i in keys[:limit]]

    def objects(self, user: UserId, kind: ObjectKind, ids: Iterable[int]) -> dict[int, JsonObject]:
        objects = self._objects(user, kind)
        return {i: objects[i] for i in ids if i in objects}

    def object_names(self, user: UserId, kind: ObjectKind) -> dict[int, str]:
        return {i: o.name for i, o in self._objects(user, kind).items()}

    def save_objects(
        self, user: UserId, kind: ObjectKind, inserts: Sequence[JsonObject],
        updates: Sequence[JsonObject],
    ) -> None:
        self._changed(user)
        objects = self._objects(user, kind)
        for obj in [*inserts, *updates]:
            objects[obj.id] = obj

    def row_versions(
        self, user: UserId, kind: RowKind, ids: Iterable[int]
    ) -> dict[int, tuple[int, int]]:
        rows = self._rows(user, kind)
        return {i: (_row_mod(rows[i]), rows[i].usn) for i in ids if i in rows}

    def save_rows(
        self, user: UserId, kind: RowKind, inserts: Sequence[Row], updates: Sequence[Row]
    ) -> None:
        self._changed(user)
        rows = self._rows(user, kind)
        for row in [*inserts, *updates]:
            rows[row.id] = row

    def delete(self, user: UserId, kind: RowKind | ObjectKind, ids: Iterable[int]) -> None:
        self._changed(user)
        table = self._rows(user, kind) if isinstance(kind, RowKind) else self._objects(user, kind)
        for i in ids:
            table.pop(i, None)

    def add_graves(self, user: UserId, graves: Sequence[Grave]) -> None:
        self._changed(user)
        for g in graves:
            self._s.collections[user].graves[(int(g.kind), g.oid)] = g

    def add_tags(self, user: UserId, tags: Sequence[Tag]) -> None:
        self._changed(user)
        known = self._s.collections[user].tags
        for tag in tags:
            known.setdefault(tag.name, tag)

    def put_config(self, user: UserId, entry: ConfigEntry) -> None:
        self._changed(user)
        self._s.collections[user].config[entry.key] = entry

    def replace_config(self, user: UserId, entries: Sequence[ConfigEntry]) -> None:
        self._changed(user)
        self._s.collections[user].config = {e.key: e for e in entries}

    def version(self, user: UserId) -> int | None:
        stored = self._s.collections.get(user)
        return None if stored is None else stored.version

    def _changed(self, user: UserId) -> None:
        stored = self._s.collections.get(user)
        if stored is not None:
            stored.version += 1

    def _objects(self, user: UserId, kind: ObjectKind) -> dict[int, JsonObject]:
        c = self._s.collections[user]
        return {ObjectKind.NOTETYPE: c.notetypes, ObjectKind.DECK: c.decks,
                ObjectKind.DECK_CONFIG: c.deck_configs}[kind]

    def _rows(self, user: UserId, kind: RowKind) -> dict[int, Any]:
        c = self._s.collections[user]
        rows: dict[int, Any]
        if kind == RowKind.REVLOG:
            rows = c.revlog
        elif kind == RowKind.CARD:
            rows = c.cards
        else:
            rows = c.notes
        return rows


def _row_mod(row: Row) -> int:
    return row.id if isinstance(row, RevlogEntry) else row.mod


def _counts(c: StoredCollection) -> Counts:
    return Counts(len(c.cards), len(c.notes), len(c.revlog), len(c.notetypes),
                  len(c.decks), len(c.deck_configs))


@dataclass
class MemoryExport:
    c: StoredCollection

    def meta(self) -> CollectionMeta:
        return self.c.meta

    def notetypes(self) -> Iterator[JsonObject]:
        return iter(sorted(self.c.notetypes.values(), key=lambda o: o.id))

    def decks(self) -> Iterator[JsonObject]:
        return iter(sorted(self.c.decks.values(), key=lambda o: o.id))

    def deck_configs(self) -> Iterator[JsonObject]:
        return iter(sorted(self.c.deck_configs.values(), key=lambda o: o.id))

    def config(self) -> Iterator[ConfigEntry]:
        return iter(sorted(self.c.config.values(), key=lambda e: e.key))

    def tags(self) -> Iterator[Tag]:
        return iter(sorted(self.c.tags.values(), key=lambda t: t.name))

    def notes(self) -> Iterator[Note]:
        return iter(sorted(self.c.notes.values(), key=lambda n: n.id))

    def cards(self) -> Iterator[Card]:
        return iter(sorted(self.c.cards.values(), key=lambda x: x.id))

    def revlog(self) -> Iterator[RevlogEntry]:
        return iter(sorted(self.c.revlog.values(), key=lambda e: e.id))

    def graves(self) -> Iterator[Grave]:
        return iter(sorted(self.c.graves.values(), key=lambda g: (g.oid, g.kind)))

    def row_counts(self) -> Counts:
        return _counts(self.c)

    def notes_since(self, min_usn: int) -> Iterator[Note]:
        return (n for n in self.notes() if n.usn >= min_usn)

    def cards_since(self, min_usn: int) -> Iterator[Card]:
        return (c for c in self.cards() if c.usn >= min_usn)

    def revlog_since(self, min_usn: int) -> Iterator[RevlogEntry]:
        return (e for e in self.revlog() if e.usn >= min_usn)

    def graves_since(self, min_usn: int) -> Iterator[Grave]:
        return (g for g in self.graves() if g.usn >= min_usn)


class InMemoryUnitOfWork:
    """Works on a deep copy of the shared state; `commit` swaps the copy in.

    Writers are serialised by one lock, like a database's per-user row lock.
    """

    def __init__(self, store: InMemoryStore, write: bool) -> None:
        self._store = store
        self._write = write
        self._state: MemoryState | None = None

    def __enter__(self) -> InMemoryUnitOfWork:
        if self._write:
            self._store.lock.acquire()
        self._state = copy.deepcopy(self._store.state)
        self._bind(self._state)
        return self

    def _bind(self, state: MemoryState) -> None:
        self._state = state
        self._users = MemoryUserStore(state)
        self._collections = MemoryCollectionStore(state)
        self._sessions = MemorySessionStore(state)
        self._staging = MemoryStagingStore(state)
        self._media = MemoryMediaIndex(state)
        self._queries = MemoryQueries(state)

    @property
    def queries(self) -> MemoryQueries:
        return self._queries

    @property
    def media(self) -> MemoryMediaIndex:
        return self._media

    @property
    def sessions(self) -> MemorySessionStore:
        return self._sessions

    @property
    def staging(self) -> MemoryStagingStore:
        return self._staging

    @contextmanager
    def scratch(self) -> Iterator[None]:
        assert self._state is not None, "scratch outside the unit of work"
        saved = copy.deepcopy(self._state)
        try:
            yield
        finally:
            self._bind(saved)

    @property
    def users(self) -> MemoryUserStore:
        return self._users

    @property
    def collections(self) -> MemoryCollectionStore:
        return self._collections

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._state = None
        if self._write:
            self._store.lock.release()

    def commit(self) -> None:
        assert self._state is not None, "commit outside the unit of work"
        self._store.state = copy.deepcopy(self._state)


class InMemoryStore:
    """The shared state behind `InMemoryUnitOfWork`s; call it to open one."""

    def __init__(self) -> None:
        self.state = MemoryState()
        self.lock = threading.RLock()

    def __call__(
        self, *, write: bool = True, snapshot: bool = True, durable: bool = True
    ) -> InMemoryUnitOfWork:
        return InMemoryUnitOfWork(self, write)
