"""Fakes for ports: deterministic clock, tokens and a cheap password hasher."""

from __future__ import annotations

import hashlib
import itertools


class FakeClock:
    def __init__(self, start_ms: int = 1_795_671_260_000) -> None:
        self.ms = start_ms

    def now_ms(self) -> int:
        return self.ms

    def tick(self, ms: int) -> None:
        self.ms += ms


class CountingTokens:
    def __init__(self) -> None:
        self._n = itertools.count(1)

    def token(self) -> str:
        return f"{next(self._n):040x}"


class PlainHasher:
    """Reversible-free but fast stand-in for argon2; counts verifications."""

    def __init__(self) -> None:
        self.verifications = 0

    def hash(self, password: str) -> str:
        return "plain$" + hashlib.sha256(password.encode()).hexdigest()

    def verify(self, stored_hash: str, password: str) -> bool:
        self.verifications += 1
        if stored_hash.startswith("foreign$"):  # stands for another server's format
            return stored_hash == "foreign$" + password
        return stored_hash == self.hash(password)

    def needs_rehash(self, stored_hash: str) -> bool:
        return stored_hash.startswith("foreign$")

    def verify_dummy(self, password: str) -> None:
        self.verify("plain$dummy", password)

    def hash_key(self, key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()
