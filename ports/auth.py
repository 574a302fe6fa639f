"""Password hashing, kept behind a port so the domain never sees an algorithm."""

from __future__ import annotations

from typing import Protocol


class PasswordHasher(Protocol):
    def hash(self, password: str) -> str:
        """Return a self-describing hash (PHC string) of `password`."""
        ...

    def verify(self, stored_hash: str, password: str) -> bool:
        """Return whether `password` matches; never raises for a mismatch."""
        ...

    def needs_rehash(self, stored_hash: str) -> bool:
        """Whether a matching password should be hashed again (a hash imported from
        another server)."""
        ...

    def verify_dummy(self, password: str) -> None:
        """Spend the time of one verification, so unknown users take as long as known ones."""
        ...

    def hash_key(self, key: str) -> str:
        """Return a fast, deterministic digest of a high-entropy host key, for lookup."""
        ...
