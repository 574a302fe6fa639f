"""Password hashes of other sync servers, checked as those servers check them."""

from __future__ import annotations

import base64
import hashlib

import pytest

from adapters.auth.foreign_hashes import ankisyncd_hash, is_foreign, verify_foreign
from adapters.auth.passwords import Argon2PasswordHasher


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode().rstrip("=")


def phc(password: str, salt: bytes = b"salt-bytes-16!!!", rounds: int = 600,
        digest: str = "sha256") -> str:
    raw = hashlib.pbkdf2_hmac(digest, password.encode(), salt, rounds, 32)
    return f"$pbkdf2-{digest}$i={rounds},l=32${_b64(salt)}${_b64(raw)}"


def django(password: str, salt: str = "Zt6kWbc1", rounds: int = 216000) -> str:
    raw = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), rounds)
    return f"pbkdf2_sha256${rounds}${salt}${base64.b64encode(raw).decode()}"


def ankisyncd(name: str, password: str, salt: str = "a1b2c3d4e5f60718") -> str:
    return hashlib.sha256((name + password + salt).encode()).hexdigest() + salt


@pytest.mark.parametrize("stored", [
    phc("pässword"), phc("pässword", digest="sha512"), django("pässword"),
    ankisyncd_hash("ann", ankisyncd("ann", "pässword")),
])
def test_the_right_password_matches_and_a_wrong_one_does_not(stored: str) -> None:
    assert is_foreign(stored)
    assert verify_foreign(stored, "pässword")
    assert not verify_foreign(stored, "password")
    assert not verify_foreign(stored, "")


def test_an_ankisyncd_hash_depends_on_the_name_it_was_made_for() -> None:
    salted = ankisyncd("ann", "pw")
    assert verify_foreign(ankisyncd_hash("ann", salted), "pw")
    assert not verify_foreign(ankisyncd_hash("ben", salted), "pw")


@pytest.mark.parametrize("stored", [
    "$pbkdf2-sha256$i=0,l=32$c2FsdA$aGFzaA", "$pbkdf2-sha256$i=99999999999$c2FsdA$aGFzaA",
    "$pbkdf2-md5$i=10$c2FsdA$aGFzaA", "$pbkdf2-sha256$i=10$***$aGFzaA",
    "pbkdf2_sha256$x$salt$aGFzaA==", "pbkdf2_sha256$10$salt$", "$ankisyncd$zz$s$d",
    "plain text", "",
])
def test_malformed_hashes_match_nothing(stored: str) -> None:
    assert not verify_foreign(stored, "anything")


def test_the_server_hasher_checks_foreign_hashes_and_asks_for_a_new_one() -> None:
    hasher = Argon2PasswordHasher(time_cost=1, memory_cost=1024)
    for stored in (phc("pw"), django("pw", rounds=1000)):
        assert hasher.verify(stored, "pw") and hasher.needs_rehash(stored)
        assert not hasher.verify(stored, "other")
    own = hasher.hash("pw")
    assert hasher.verify(own, "pw") and not hasher.needs_rehash(own)
    assert not hasher.verify("!importing", "!importing")
