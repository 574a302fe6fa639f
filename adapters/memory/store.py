"""In-memory adapters for fast tests: whole-state copy on enter, swap on commit."""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import TracebackType

from domain.errors import UserExists
from domain.model import (
    Card,
    CollectionMeta,
    ConfigEntry,
    Grave,
    JsonObject,
    Note,
    RevlogEntry,
    Tag,
    User,
    UserId,
)
from domain.new_collection import NewCollection
from ports.collection import CollectionContents


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


@dataclass
class MemoryState:
    users: dict[UserId, tuple[User, str]] = field(default_factory=dict)
    host_keys: dict[UserId, set[str]] = field(default_factory=dict)
    collections: dict[UserId, StoredCollection] = field(default_factory=dict)
    next_user_id: int = 1


class MemoryUserStore:
    def __init__(self, state: MemoryState) -> None:
        self._s = state

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
        self._s.host_keys.pop(user_id, None)

    def add_host_key(self, user_id: UserId, key_hash: str, created_ms: int) -> None:
        self._s.host_keys.setdefault(user_id, set()).add(key_hash)

    def has_host_key(self, user_id: UserId, key_hash: str) -> bool:
        return key_hash in self._s.host_keys.get(user_id, set())

    def revoke_host_keys(self, user_id: UserId) -> None:
        self._s.host_keys.pop(user_id, None)


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

    def is_empty(self, user: UserId) -> bool:
        return not self._s.collections[user].cards

    def config_json(self, user: UserId, key: str) -> str | None:
        entry = self._s.collections[user].config.get(key)
        return None if entry is None else entry.json

    def replace(self, user: UserId, contents: CollectionContents) -> None:
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

    def export(self, user: UserId) -> CollectionContents:
        return MemoryExport(self._s.collections[user])

    def remove(self, user: UserId) -> None:
        self._s.collections.pop(user, None)


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
        self._users = MemoryUserStore(self._state)
        self._collections = MemoryCollectionStore(self._state)
        return self

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

    def __call__(self, *, write: bool = True) -> InMemoryUnitOfWork:
        return InMemoryUnitOfWork(self, write)
