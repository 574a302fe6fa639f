"""Storage ports. Stores never begin, commit or roll back: the unit of work does."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Protocol

from domain.login_throttle import LoginFailures
from domain.model import (
    CollectionMeta,
    ConfigEntry,
    Counts,
    Grave,
    HostKeyInfo,
    JsonObject,
    KeyKind,
    KeyUse,
    MetaSnapshot,
    ObjectChanges,
    ObjectKind,
    Row,
    RowKind,
    Tag,
    User,
    UserId,
    UserUsage,
)
from domain.new_collection import NewCollection
from domain.quotas import Quotas
from ports.collection import CollectionContents, StoredContents
from ports.media import MediaIndex
from ports.queries import CollectionQueries
from ports.sync_stores import SessionStore, StagingStore


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

    def add_host_key(self, user_id: UserId, key_hash: str, created_ms: int,
                     kind: KeyKind = KeyKind.SYNC, label: str = "", client: str = "") -> None:
        """Remember a host key by its digest, with what it was issued to."""
        ...

    def has_host_key(self, user_id: UserId, key_hash: str) -> bool:
        """Return whether this digest is a live host key of the user."""
        ...

    def key_use(self, user_id: UserId, key_hash: str) -> KeyUse | None:
        """The use recorded for a live host key of the user, or None if it is not one."""
        ...

    def note_key_use(self, user_id: UserId, key_hash: str, used_ms: int,
                     client: str | None = None) -> None:
        """Record that a host key was used (and by which client, if known)."""
        ...

    def host_keys(self, user_id: UserId) -> list[HostKeyInfo]:
        """The user's live host keys, oldest first."""
        ...

    def set_admin(self, user_id: UserId, admin: bool) -> None: ...

    def revoke_host_keys(self, user_id: UserId) -> None:
        """Forget every host key of the user (imported ones included)."""
        ...

    def add_imported_host_key(self, user_id: UserId, key_hash: str, created_ms: int) -> None:
        """Remember the digest of a host key another server gave one of the user's
        devices: a live host key that names no user, found by `imported_key_user`."""
        ...

    def imported_key_user(self, key_hash: str) -> UserId | None:
        """The user an imported host key's digest belongs to, or None."""
        ...

    def password_hash(self, user_id: UserId) -> str | None:
        """The user's stored password hash, or None if there is no such user."""
        ...

    def revoke_host_key(self, user_id: UserId, key_hash: str) -> None:
        """Forget one host key (imported or not)."""
        ...

    def login_failures(self, keys: Sequence[str]) -> dict[str, LoginFailures]:
        """The failed logins kept for these throttle keys (digests of a user name or
        a client address); keys without any are left out."""
        ...

    def set_login_failures(self, key: str, failures: LoginFailures | None) -> None:
        """Keep `failures` for the key, or forget the key (None)."""
        ...

    def usage(self, user_id: UserId | None = None) -> list[UserUsage]:
        """Every user's usage, ordered by name (reads every user's rows: for admins), or
        only `user_id`'s (an empty list if there is no such user)."""
        ...

    def quotas(self, user_id: UserId) -> Quotas:
        """The user's own quotas (None where the server's default applies)."""
        ...

    def set_quotas(self, user_id: UserId, quotas: Quotas) -> None: ...


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

    def meta_snapshot(
        self, user: UserId, digest: str | None = None
    ) -> tuple[KeyUse | None, MetaSnapshot | None]:
        """Return the use of `digest` if it is a live host key of the user (else None),
        and what `meta` needs (None if the user has no collection), in one read."""
        ...

    def config_json(self, user: UserId, key: str) -> str | None:
        """Return the JSON text of one config value, or None if unset."""
        ...

    def replace(self, user: UserId, contents: CollectionContents) -> int:
        """Delete every row of the user's collection and store `contents` instead; return
        the collection's new `version`."""
        ...

    def version(self, user: UserId) -> int | None:
        """A number that changes whenever the collection does (None: no collection): a
        copy made from one version is good while the version is the same. It starts at a
        random 62-bit number at `create` and `replace` and grows by a small step (one per
        unit of work or per write) with every write, so a copy of an earlier version of
        the same collection is known by a version a little below (`StoredContents` says
        how to bring it up to date)."""
        ...

    def export(self, user: UserId) -> StoredContents:
        """Return the stored collection, read lazily inside this unit of work."""
        ...

    def remove(self, user: UserId) -> None:
        """Delete every row of the user's collection, `col` row included."""
        ...

    def update_meta(self, user: UserId, meta: CollectionMeta) -> None:
        """Overwrite the `col` row."""
        ...

    def counts(self, user: UserId) -> Counts:
        """Return the row counts the sanity check compares (kept up to date by writes)."""
        ...

    # Reads for the server's side of a normal sync: everything with usn >= min_usn.

    def graves_since(self, user: UserId, min_usn: int) -> list[Grave]:
        ...

    def objects_since(self, user: UserId, kind: ObjectKind, min_usn: int) -> list[JsonObject]:
        ...

    def tags_since(self, user: UserId, min_usn: int) -> list[Tag]:
        ...

    def config(self, user: UserId) -> list[ConfigEntry]:
        ...

    def changes_since(self, user: UserId, min_usn: int, *, with_config: bool) -> ObjectChanges:
        """Note types, decks, presets and tags with usn >= min_usn (and the whole config
        map if `with_config`), in one read."""
        ...

    def row_kinds_since(self, user: UserId, min_usn: int) -> set[RowKind]:
        """Which of revlog, cards and notes hold rows with usn >= min_usn (one read)."""
        ...

    def rows_page(
        self, user: UserId, kind: RowKind, min_usn: int, after: tuple[int, int] | None,
        limit: int,
    ) -> list[Row]:
        """Rows with usn >= min_usn, in (usn, id) order after the (usn, id) cursor `after`,
        at most `limit`. Ordering by usn keeps the query on the (user_id, usn) index."""
        ...

    # Reads and writes for merging what a client sent.

    def objects(self, user: UserId, kind: ObjectKind, ids: Iterable[int]) -> dict[int, JsonObject]:
        ...

    def object_names(self, user: UserId, kind: ObjectKind) -> dict[int, str]:
        """Return every object's name by id (note types and decks are few)."""
        ...

    def save_objects(
        self, user: UserId, kind: ObjectKind, inserts: Sequence[JsonObject],
        updates: Sequence[JsonObject],
    ) -> None:
        """Insert objects known to be absent and overwrite ones known to exist."""
        ...

    def row_versions(
        self, user: UserId, kind: RowKind, ids: Iterable[int]
    ) -> dict[int, tuple[int, int]]:
        """Return (mod, usn) of the rows that exist among `ids`."""
        ...

    def save_rows(
        self, user: UserId, kind: RowKind, inserts: Sequence[Row], updates: Sequence[Row]
    ) -> None:
        """Insert rows known to be absent and overwrite rows known to exist."""
        ...

    def delete(self, user: UserId, kind: RowKind | ObjectKind, ids: Iterable[int]) -> None:
        """Delete rows or objects by id; absent ids are ignored."""
        ...

    def add_graves(self, user: UserId, graves: Sequence[Grave]) -> None:
        """Record deletions; a grave that exists gets the new usn."""
        ...

    def add_tags(self, user: UserId, tags: Sequence[Tag]) -> None:
        """Register tags that are not known yet; known tags are left as they are."""
        ...

    def replace_config(self, user: UserId, entries: Sequence[ConfigEntry]) -> None:
        """Replace the whole config map."""
        ...

    def put_config(self, user: UserId, entry: ConfigEntry) -> None:
        """Set one config key."""
        ...


class UnitOfWork(Protocol):
    @property
    def users(self) -> UserStore: ...

    @property
    def collections(self) -> CollectionStore: ...

    @property
    def sessions(self) -> SessionStore: ...

    @property
    def staging(self) -> StagingStore: ...

    @property
    def media(self) -> MediaIndex: ...

    @property
    def queries(self) -> CollectionQueries: ...

    def scratch(self) -> AbstractContextManager[None]:
        """Undo, when the block ends, every write made inside it (a savepoint)."""
        ...

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
    def __call__(
        self, *, write: bool = True, snapshot: bool = True, durable: bool = True
    ) -> UnitOfWork:
        """Open a unit of work; `write=False` promises it only reads, and `snapshot=False`
        that its reads need not see one consistent state (a single lookup).

        `durable=False` lets its commit return before it is on disk: a database crash
        right after may undo it, and undo every later commit with it, never an earlier one.
        Only for writes whose loss a later step notices (the steps of a sync before
        `finish`, which refuses to go on from a state that lost one)."""
        ...
