"""Password hashes made by other sync servers, checked so imported users keep their
passwords (and re-hashed with argon2 at their first login).

- PHC PBKDF2 (`$pbkdf2-sha256$i=…,l=…$salt$hash`): the official server with
  `PASSWORDS_HASHED`; salt and hash in unpadded standard base64.
- Django (`pbkdf2_sha256$iterations$salt$hash`): djankiserv; the salt is used as text.
- `$ankisyncd$<name in hex>$<salt>$<sha256 hex>`: ankisyncd keeps
  sha256(name + password + salt) and the salt; its hash depends on the name, which
  is kept with it because a user's name can later change here.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

ANKISYNCD_PREFIX = "$ankisyncd$"
_PHC_DIGESTS = {"pbkdf2-sha256": "sha256", "pbkdf2-sha512": "sha512", "pbkdf2": "sha1"}
_DJANGO_DIGESTS = {"pbkdf2_sha256": "sha256", "pbkdf2_sha1": "sha1"}
MAX_ITERATIONS = 10_000_000  # a bound on the work one stored hash can ask for


def is_foreign(stored: str) -> bool:
    """Whether `stored` is one of the formats above (not an argon2 hash of our own)."""
    return stored.startswith(ANKISYNCD_PREFIX) or _phc_parts(stored) is not None \
        or _django_parts(stored) is not None


def verify_foreign(stored: str, password: str) -> bool:
    """Whether `password` matches a foreign hash; False for anything malformed."""
    try:
        if stored.startswith(ANKISYNCD_PREFIX):
            return _verify_ankisyncd(stored, password)
        if (phc := _phc_parts(stored)) is not None:
            digest, rounds, salt, expected = phc
        elif (django := _django_parts(stored)) is not None:
            digest, rounds, salt, expected = django
        else:
            return False
    except (ValueError, binascii.Error):
        return False
    if not 0 < rounds <= MAX_ITERATIONS or not expected:
        return False
    got = hashlib.pbkdf2_hmac(digest, password.encode("utf-8"), salt, rounds, len(expected))
    return hmac.compare_digest(got, expected)


def ankisyncd_hash(name: str, salted_digest: str) -> str:
    """Our stored form of an ankisyncd user's hash (sha256 hex followed by its salt)."""
    digest, salt = salted_digest[:64], salted_digest[64:]
    if len(digest) != 64 or not salt or any(c not in "0123456789abcdef" for c in digest):
        raise ValueError("not an ankisyncd password hash")
    return f"{ANKISYNCD_PREFIX}{name.encode('utf-8').hex()}${salt}${digest}"


def _verify_ankisyncd(stored: str, password: str) -> bool:
    name_hex, salt, digest = stored.removeprefix(ANKISYNCD_PREFIX).split("$", 2)
    name = bytes.fromhex(name_hex).decode("utf-8")
    got = hashlib.sha256((name + password + salt).encode("utf-8")).hexdigest()
    return hmac.compare_digest(got, digest)


def _b64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def _phc_parts(stored: str) -> tuple[str, int, bytes, bytes] | None:
    parts = stored.split("$")
    if len(parts) != 5 or parts[0] or parts[1] not in _PHC_DIGESTS:
        return None
    params = dict(p.split("=", 1) for p in parts[2].split(",") if "=" in p)
    try:
        rounds = int(params.get("i", ""))
        salt, expected = _b64(parts[3]), _b64(parts[4])
    except (ValueError, binascii.Error):
        return None
    length = int(params["l"]) if params.get("l", "").isdigit() else len(expected)
    if length != len(expected):
        return None
    return _PHC_DIGESTS[parts[1]], rounds, salt, expected


def _django_parts(stored: str) -> tuple[str, int, bytes, bytes] | None:
    parts = stored.split("$")
    if len(parts) != 4 or parts[0] not in _DJANGO_DIGESTS or not parts[1].isdigit():
        return None
    try:
        expected = base64.b64decode(parts[3], validate=True)
    except (ValueError, binascii.Error):
        return None
    return _DJANGO_DIGESTS[parts[0]], int(parts[1]), parts[2].encode("utf-8"), expected
