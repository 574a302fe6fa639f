"""Argon2id password hashes and SHA-256 digests of host keys; hashes imported from other
sync servers are checked too, and flagged for re-hashing."""

from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher as _Argon2
from argon2.exceptions import InvalidHashError, VerificationError

from adapters.auth.foreign_hashes import is_foreign, verify_foreign


class Argon2PasswordHasher:
    def __init__(self, time_cost: int = 2, memory_cost: int = 19 * 1024) -> None:
        # OWASP's argon2id minimum (19 MiB, 2 passes): ~20 ms, so logins stay cheap.
        self._argon2 = _Argon2(time_cost=time_cost, memory_cost=memory_cost, parallelism=1)
        self._dummy = self._argon2.hash(secrets.token_hex(16))

    def hash(self, password: str) -> str:
        return str(self._argon2.hash(password))

    def verify(self, stored_hash: str, password: str) -> bool:
        if is_foreign(stored_hash):
            return verify_foreign(stored_hash, password)
        try:
            return bool(self._argon2.verify(stored_hash, password))
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored_hash: str) -> bool:
        return is_foreign(stored_hash)

    def verify_dummy(self, password: str) -> None:
        self.verify(self._dummy, password)

    def hash_key(self, key: str) -> str:
        return hashlib.sha256(key.encode("utf-8")).hexdigest()
