"""Users, passwords and host keys: who may sync, and how a device proves it."""

from __future__ import annotations

import math
import string
from collections.abc import Collection
from dataclasses import dataclass

from domain.errors import AuthFailed, LoginThrottled, NoSuchUser, QuotaExceeded, UserExists
from domain.login_throttle import ThrottleKind, after_failure, wait_ms
from domain.model import Credentials, HostKeyInfo, KeyKind, User, UserId, UserUsage
from domain.new_collection import new_collection
from domain.quotas import NO_LIMITS, QuotaDefaults, Quotas, limit_bytes, too_big
from ports.auth import PasswordHasher
from ports.clock import Clock, TokenSource
from ports.media import BlobStore, UserFiles
from ports.stores import UnitOfWork, UnitOfWorkFactory

MAX_NAME_LENGTH = 255
BAD_LOGIN = "invalid user name or password"  # never tells which of the two was wrong


# Host keys other sync servers gave devices (hex digests, random tokens): recognised
# after an import through the digests it recorded.
_FOREIGN_KEY_CHARS = frozenset(string.ascii_letters + string.digits + "-_")
MAX_FOREIGN_KEY = 128


def is_foreign_key(host_key: str) -> bool:
    return 0 < len(host_key) <= MAX_FOREIGN_KEY and "." not in host_key \
        and all(ch in _FOREIGN_KEY_CHARS for ch in host_key)


def host_key_user(host_key: str) -> UserId:
    """Return the user id a host key names (`<user id>.<secret>`), or raise `AuthFailed`."""
    user_part, sep, secret = host_key.partition(".")
    if not sep or not secret or not (user_part.isascii() and user_part.isdigit()) \
            or len(user_part) > 18:
        raise AuthFailed("malformed host key")
    return UserId(int(user_part))


MAX_LABEL_LENGTH = 100
YIELDING_MARK = "y"  # begins the secret of a yielding device's key (tokens are hex)


def normalise_label(label: str) -> str:
    """An API token's name: trimmed, 1 to 100 characters, no control characters."""
    label = " ".join(label.split())
    if not label or len(label) > MAX_LABEL_LENGTH or not label.isprintable():
        raise ValueError("a token's name must be 1 to 100 printable characters")
    return label


def normalise_name(name: str) -> str:
    """Trim whitespace as the desktop login dialog does; reject empty and overlong names."""
    name = name.strip()
    if not name or len(name) > MAX_NAME_LENGTH or "\x00" in name:
        raise ValueError("user names must be 1 to 255 characters, without NUL")
    return name


@dataclass
class Accounts:
    """Login, host-key checks and user administration."""

    uow: UnitOfWorkFactory
    hasher: PasswordHasher
    clock: Clock
    tokens: TokenSource
    blobs: BlobStore | None = None
    files: UserFiles | None = None  # e.g. collection files kept for full downloads
    throttle: bool = True  # delay logins after failed ones (see `login_throttle`)
    quota_defaults: QuotaDefaults = NO_LIMITS

    def login(self, name: str, password: str, client: str = "", kind: KeyKind = KeyKind.SYNC,
              label: str = "", software: str = "") -> str:
        """Return a new host key for the user, or raise `AuthFailed` (or `LoginThrottled`
        after too many failures for this name or `client` address). `kind`, `label` and
        `software` (the client program) are what the owner's key list shows."""
        user_id, clear = self._checked(name, password, client)
        with self.uow() as uow:
            key = self._new_key(uow, user_id, kind, label, software)
            if clear is not None:
                uow.users.set_login_failures(clear, None)
            uow.commit()
        return key

    def new_token(self, user_id: UserId, label: str) -> str:
        """Issue an API token named `label` to a user who is already logged in."""
        return self.issue_key(user_id, KeyKind.API, normalise_label(label))

    def issue_key(self, user_id: UserId, kind: KeyKind, label: str,
                  yields: bool = False) -> str:
        """A new key for a user, without a password: for a logged-in user's token, or a
        device of the server's own (studying in the browser), which `yields` to the
        user's other devices (see `Credentials.yields`)."""
        with self.uow() as uow:
            key = self._new_key(uow, user_id, kind, label, "", yields)
            uow.commit()
        return key

    def _new_key(self, uow: UnitOfWork, user_id: UserId, kind: KeyKind, label: str,
                 software: str, yields: bool = False) -> str:
        key = f"{user_id}.{YIELDING_MARK if yields else ''}{self.tokens.token()}"
        now = self.clock.now_ms()
        uow.users.add_host_key(user_id, self.hasher.hash_key(key), now, kind, label, software)
        if kind == KeyKind.WEB:  # in use from now on (a device's use is its first sync)
            uow.users.note_key_use(user_id, self.hasher.hash_key(key), now)
        return key

    def revoke(self, key: str) -> None:
        """Revoke one host key or API token (they are the same kind of credential)."""
        user_id = self._key_user(key)
        with self.uow() as uow:
            uow.users.revoke_host_key(user_id, self.hasher.hash_key(key))
            uow.commit()

    def holds(self, user_id: UserId, key: str) -> bool:
        """Whether `key` is a live key of this user (its use is not recorded)."""
        with self.uow(write=False, snapshot=False) as uow:
            return uow.users.has_host_key(user_id, self.hasher.hash_key(key))

    def key_digest(self, key: str) -> str:
        """The digest that names a key in `keys`."""
        return self.hasher.hash_key(key)

    def keys(self, user_id: UserId) -> list[HostKeyInfo]:
        """The user's live host keys (devices, browser sessions, API tokens), oldest first."""
        with self.uow(write=False, snapshot=False) as uow:
            return uow.users.host_keys(user_id)

    def revoke_digest(self, user_id: UserId, digest: str) -> bool:
        """Revoke the user's key with this digest (as `keys` lists it); return whether
        there was one. Its device's next sync is refused and asks it to log in."""
        with self.uow() as uow:
            if not uow.users.has_host_key(user_id, digest):
                return False
            uow.users.revoke_host_key(user_id, digest)
            uow.commit()
        return True

    def change_password(self, user_id: UserId, current: str, new: str, client: str = "",
                        software: str = "") -> str:
        """Change a user's own password, knowing the current one (throttled as logins
        are), and log out every device, browser and API token; return a new browser
        session key for the caller. Raises `AuthFailed`, `LoginThrottled`, `NoSuchUser`."""
        name = self.user_name(user_id)
        if name is None:
            raise NoSuchUser(str(user_id))
        checked, clear = self._checked(name, current, client)
        if checked != user_id:
            raise AuthFailed(BAD_LOGIN)
        password_hash = self.hasher.hash(new)
        with self.uow() as uow:
            uow.users.set_password(user_id, password_hash)
            uow.users.revoke_host_keys(user_id)
            key = self._new_key(uow, user_id, KeyKind.WEB, "", software)
            if clear is not None:
                uow.users.set_login_failures(clear, None)
            uow.commit()
        return key

    def user(self, user_id: UserId) -> User | None:
        with self.uow(write=False, snapshot=False) as uow:
            return uow.users.get(user_id)

    def set_admin(self, name: str, admin: bool) -> None:
        """Make a user an administrator of the server, or not. Raises `NoSuchUser`."""
        with self.uow() as uow:
            user = self._existing(uow, name)
            uow.users.set_admin(user.id, admin)
            uow.commit()

    def check_password(self, name: str, password: str) -> bool:
        """Return whether `password` is the user's current one."""
        with self.uow(write=False, snapshot=False) as uow:
            found = uow.users.find(name.strip())
        return found is not None and self.hasher.verify(found[1], password)

    def verify(self, name: str, password: str, client: str = "") -> UserId:
        """Return the user with these credentials, or raise `AuthFailed` (no key issued);
        throttled as `login` is."""
        user_id, clear = self._checked(name, password, client)
        if clear is not None:
            with self.uow() as uow:
                uow.users.set_login_failures(clear, None)
                uow.commit()
        return user_id

    def _checked(self, name: str, password: str, client: str) -> tuple[UserId, str | None]:
        """The user these credentials name, and the throttle key to clear (their name's,
        if it has failures); a failure is counted for the name and the client address.
        Unknown names and wrong passwords get the same answer, after the same work."""
        keys: list[tuple[str, ThrottleKind]] = []
        if self.throttle:
            keys.append((self.hasher.hash_key(f"name:{name.strip()}"), ThrottleKind.NAME))
            if client:
                keys.append((self.hasher.hash_key(f"address:{client}"), ThrottleKind.ADDRESS))
        now = self.clock.now_ms()
        with self.uow(write=False, snapshot=False) as uow:
            failures = uow.users.login_failures([key for key, _ in keys]) if keys else {}
            # NUL never appears in a stored name, and some databases cannot compare it.
            found = None if "\x00" in name else uow.users.find(name.strip())
        wait = max((wait_ms(failures.get(key), kind, now) for key, kind in keys), default=0)
        if wait:
            raise LoginThrottled(math.ceil(wait / 1000))
        if found is None:
            self.hasher.verify_dummy(password)
        if found is None or not self.hasher.verify(found[1], password):
            if keys:
                with self.uow() as uow:
                    for key, _ in keys:
                        uow.users.set_login_failures(key, after_failure(failures.get(key), now))
                    uow.commit()
            raise AuthFailed(BAD_LOGIN)
        if self.hasher.needs_rehash(found[1]):
            self._rehash(found[0].id, found[1], password)
        return found[0].id, keys[0][0] if keys and keys[0][0] in failures else None

    def _rehash(self, user_id: UserId, old_hash: str, password: str) -> None:
        """Store a hash of our own for a password that matched an imported hash (unless
        the password changed meanwhile); host keys stay valid."""
        new_hash = self.hasher.hash(password)
        with self.uow() as uow:
            if uow.users.password_hash(user_id) == old_hash:
                uow.users.set_password(user_id, new_hash)
                uow.commit()

    def credentials(self, host_key: str) -> Credentials:
        """The credentials a host key presents (checked later, by the sync step's own
        query); raises `AuthFailed` for a key that is not even well-formed."""
        return Credentials(self._key_user(host_key), self.hasher.hash_key(host_key),
                           yields=host_key.partition(".")[2].startswith(YIELDING_MARK))

    def _key_user(self, host_key: str) -> UserId:
        """The user a host key names: in the key itself, or, for a key another server
        gave a device, the user it was imported for (one lookup); raises `AuthFailed`."""
        if not is_foreign_key(host_key):
            return host_key_user(host_key)
        with self.uow(write=False, snapshot=False) as uow:
            user_id = uow.users.imported_key_user(self.hasher.hash_key(host_key))
        if user_id is None:
            raise AuthFailed("unknown host key")
        return user_id

    def authenticate(self, host_key: str, software: str | None = None,
                     kinds: Collection[KeyKind] | None = None) -> UserId:
        """Return the user a host key belongs to, or raise `AuthFailed`; its use (by
        `software`, if known) is recorded at most once a minute. With `kinds`, only a key
        issued as one of them is taken (a device's key is no browser session)."""
        user_id = self._key_user(host_key)
        digest = self.hasher.hash_key(host_key)
        with self.uow(write=False, snapshot=False) as uow:  # one lookup
            use = uow.users.key_use(user_id, digest)
        if use is None:
            raise AuthFailed("unknown host key")
        if kinds is not None and use.kind not in kinds:
            raise AuthFailed(f"a {use.kind} key is not taken here")
        now = self.clock.now_ms()
        if use.stale(now, software):
            with self.uow(durable=False) as uow:  # a lost note of use is harmless
                uow.users.note_key_use(user_id, digest, now, software)
                uow.commit()
        return user_id

    def add_user(self, name: str, password: str, admin: bool = False) -> UserId:
        """Create a user with an empty collection. Raises `UserExists`."""
        name = normalise_name(name)
        password_hash = self.hasher.hash(password)
        now = self.clock.now_ms()
        with self.uow() as uow:
            if uow.users.find(name) is not None:
                raise UserExists(name)
            user_id = uow.users.add(name, password_hash, now)
            if admin:
                uow.users.set_admin(user_id, True)
            uow.collections.create(user_id, new_collection(now))
            uow.commit()
            return user_id

    def set_password(self, name: str, password: str) -> None:
        """Change a password and log out every device. Raises `NoSuchUser`."""
        password_hash = self.hasher.hash(password)
        with self.uow() as uow:
            user = self._existing(uow, name)
            uow.users.set_password(user.id, password_hash)
            uow.users.revoke_host_keys(user.id)
            uow.commit()

    def remove_user(self, name: str) -> UserId:
        """Delete a user, their host keys and their whole collection. Raises `NoSuchUser`."""
        with self.uow() as uow:
            user = self._existing(uow, name)
            uow.collections.remove(user.id)
            uow.media.remove_all(user.id)
            uow.users.remove(user.id)
            uow.commit()
        if self.blobs is not None:
            self.blobs.remove_user(user.id)
        if self.files is not None:
            self.files.remove_user(user.id)
        return user.id

    def set_quotas(self, name: str, quotas: Quotas) -> Quotas:
        """Set a user's own quotas; return them. Raises `NoSuchUser`."""
        with self.uow() as uow:
            user = self._existing(uow, name)
            uow.users.set_quotas(user.id, quotas)
            uow.commit()
        return quotas

    def quotas(self, name: str) -> Quotas:
        """A user's own quotas (None: the server's default). Raises `NoSuchUser`."""
        with self.uow(write=False, snapshot=False) as uow:
            return uow.users.quotas(self._existing(uow, name).id)

    def check_collection_size(self, user_id: UserId, size: int) -> None:
        """Raise `QuotaExceeded` if a collection of `size` bytes is over the user's quota."""
        with self.uow(write=False, snapshot=False) as uow:
            own = uow.users.quotas(user_id).collection_mb
        limit = limit_bytes(own, self.quota_defaults.collection_mb)
        if limit is not None and size > limit:
            raise QuotaExceeded(too_big("collection", size, limit))

    def user_name(self, user_id: int) -> str | None:
        """The name of a user (for log lines), or None if there is none."""
        with self.uow(write=False, snapshot=False) as uow:
            user = uow.users.get(UserId(user_id))
        return None if user is None else user.name

    def usage(self) -> list[UserUsage]:
        """Every user's usage, by name (reads every user's rows)."""
        with self.uow(write=False) as uow:
            return uow.users.usage()

    def usage_of(self, user_id: UserId) -> UserUsage | None:
        """One user's usage (reads only that user's rows); None if there is no such user."""
        with self.uow(write=False) as uow:
            return next(iter(uow.users.usage(user_id)), None)

    def users(self) -> list[User]:
        """Return every user, ordered by name."""
        with self.uow(write=False) as uow:
            return uow.users.all()

    @staticmethod
    def _existing(uow: UnitOfWork, name: str) -> User:
        found = uow.users.find(name.strip())
        if found is None:
            raise NoSuchUser(name)
        return found[0]
