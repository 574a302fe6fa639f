"""Which copy wins when both sides changed an object. The only copy of these rules.

`pending_usn` says what "changed locally since the last sync" means: on the
server, usn >= the client's last usn; on a client replica, usn == -1.
"""

from __future__ import annotations

import json
from typing import Any

from domain.errors import SyncRejected

CLIENT_PENDING = -1


def is_pending(usn: int, pending_usn: int) -> bool:
    if pending_usn == CLIENT_PENDING:
        return usn == CLIENT_PENDING
    return usn >= pending_usn


def take_incoming_row(
    existing: tuple[int, int] | None, incoming_mod: int, pending_usn: int
) -> bool:
    """Cards and notes: a tie keeps the local copy; an unchanged local copy always yields."""
    if existing is None:
        return True
    local_mod, local_usn = existing
    return not is_pending(local_usn, pending_usn) or local_mod < incoming_mod


def take_incoming_object(existing_mtime: int | None, incoming_mod: int) -> bool:
    """Note types, decks and presets: a tie takes the incoming copy."""
    return existing_mtime is None or existing_mtime <= incoming_mod


def check_notetype_shape(existing_json: str, incoming: dict[str, Any]) -> None:
    """A note type may only change fields or templates through a full sync."""
    existing = json.loads(existing_json)
    for key in ("flds", "tmpls"):
        if len(existing.get(key, [])) != len(incoming.get(key, [])):
            raise SyncRejected("note type schema changed; a full sync is required")


def unique_name(name: str, taken: set[str]) -> str:
    """Append "+" until the name clashes with no other object (compared case-insensitively)."""
    while name.casefold() in taken:
        name += "+"
    return name


def object_mod(obj: dict[str, Any]) -> int:
    return as_int(obj.get("mod", 0))


def as_int(value: Any) -> int:
    """Old clients send some numbers as strings; Anki accepts both."""
    if isinstance(value, bool):
        raise SyncRejected("expected a number, got a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            pass
    raise SyncRejected(f"expected a number, got {value!r}")
