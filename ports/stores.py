"""Storage ports. Stores never begin, commit or roll back: the unit of work does."""

from __future__ import annotations

from types import TracebackType
from typing import Protocol

from domain.model import CollectionMeta, User, UserId
from domain.new_collection import NewCollection
from ports.collection import CollectionContents


class UserStore(Protocol):
    def add(self, name: str, password_hash: str, created_ms: int) -> UserId:
        """Create a user. Raises `UserExists` if the name is taken."""
        ...

    def find(self, name: str) -> tuple[User, str] | None:
        """Return the user and their password hash, or None."""
        ...

    def get(self, user_id: UserId) -> User | None:
        """Return the user with this id, or None."""
        ...

    def all(self) -> list[User]:
        """Return every user, ordered by name."""
        ...

    def set_password(self, user_id: UserId, password_hash: str) -> None:
        """Replace the password hash (host keys are revoked separately)."""
        ...

    def remove(self, user_id: UserId) -> None:
        """Delete the user row and their host keys (collection data separately)."""
        ...

    def add_host_key(self, user_id: UserId, key_hash: str, created_ms: int) -> None:
        """Remember a host key by its digest."""
        ...

    def has_host_key(self, user_id: UserId, key_hash: str) -> bool:
        """Return whether this digest is a live host key of the user."""
        ...

    def revoke_host_keys(self, user_id: UserId) -> None:
        """Forget every host key of the user."""
        ...


class CollectionStore(Protocol):
    def create(self, user: UserId, collection: NewCollection) -> None:
        """Store a brand-new collection for a user who has none."""
        ...

    def meta(self, user: UserId) -> CollectionMeta | None:
        """Return the `col` row, or None if the user has no collection yet."""
        ...

    def lock(self, user: UserId) -> CollectionMeta | None:
        """Like `meta`, but lock the row until the unit of work ends."""
        ...

    def is_empty(self, user: UserId) -> bool:
        """Return whether the collection has no cards."""
        ...

    def config_json(self, user: UserId, key: str) -> str | None:
        """Return the JSON text of one config value, or None if unset."""
        ...

    def replace(self, user: UserId, contents: CollectionContents) -> None:
        """Delete every row of the user's collection and store `contents` instead."""
        ...

    def export(self, user: UserId) -> CollectionContents:
        """Return the stored collection, read lazily inside this unit of work."""
        ...

    def remove(self, user: UserId) -> None:
        """Delete every row of the user's collection, `col` row included."""
        ...


class UnitOfWork(Protocol):
    @property
    def users(self) -> UserStore: ...

    @property
    def collections(self) -> CollectionStore: ...

    def __enter__(self) -> UnitOfWork: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Roll back whatever was not committed, and release the connection."""
        ...

    def commit(self) -> None:
        """Make every write of this unit of work durable at once."""
        ...


class UnitOfWorkFactory(Protocol):
    def __call__(self, *, write: bool = True) -> UnitOfWork:
        """Open a unit of work; `write=False` promises it only reads."""
        ...
