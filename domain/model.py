"""Value types for one user's Anki collection, as the server stores and syncs it.

Rows mirror Anki's schema-11 columns (the order is also the sync wire order).
Objects the server does not interpret (note types, decks, deck configs, config
values) are kept as the JSON text they arrived in, so they survive verbatim.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import NamedTuple, NewType

UserId = NewType("UserId", int)
Usn = NewType("Usn", int)

# Anki's sync protocol versions (see anki-sync-protocol.md §1.1).
SYNC_VERSION_MIN = 8
SYNC_VERSION_V2_SCHEDULER = 9
SYNC_VERSION_V2_TIMEZONE = 10
SYNC_VERSION_MAX = 11


@dataclass(frozen=True, slots=True)
class User:
    id: UserId
    name: str
    admin: bool = False  # may manage other users in the web app


class KeyKind(StrEnum):
    """What a host key was issued to: a syncing device, a browser session or an API
    token (they are one kind of credential, listed apart on the account page)."""

    SYNC = "sync"
    WEB = "web"
    API = "api"


# A key's last use is written at most once a minute: often enough to tell a person
# when a device last synced, rarely enough to cost nothing on a busy server.
KEY_USE_GRANULARITY_MS = 60_000


@dataclass(frozen=True, slots=True)
class KeyUse:
    """What the store remembers of a live host key's use: when it was last used (ms;
    0: not since it was issued) and the client software that used it (\"\": unknown)."""

    last_used_ms: int
    client: str
    kind: KeyKind = KeyKind.SYNC  # what it was issued to (an older key: a device)

    def stale(self, now_ms: int, client: str | None = None) -> bool:
        """Whether a use at `now_ms` by `client` (None: not known) is worth writing."""
        return now_ms - self.last_used_ms >= KEY_USE_GRANULARITY_MS \
            or (client is not None and client != self.client)


@dataclass(frozen=True, slots=True)
class HostKeyInfo:
    """One live host key as its owner sees it; `digest` names it (the key itself is
    never stored)."""

    digest: str
    kind: KeyKind
    label: str  # an API token's name
    client: str  # the client software (device) or browser that last used it
    created_ms: int
    last_used_ms: int  # 0: never


@dataclass(frozen=True, slots=True)
class UserUsage:
    """What a user stores, for administrators: rows, note text and media bytes, devices
    logged in, and when one of them last synced (ms; 0: never; a sync with nothing to
    exchange counts, to the minute)."""

    name: str
    notes: int
    cards: int
    reviews: int
    note_text_bytes: int
    media_bytes: int
    devices: int
    last_sync_ms: int
    user_id: UserId = UserId(0)
    admin: bool = False


@dataclass(frozen=True, slots=True)
class Credentials:
    """Who calls a sync endpoint: the user a host key names and the key's SHA-256 digest,
    which the step's own first query checks. A `digest` of None is a caller the server
    already trusts (its own tools and tests), never a device."""

    user: UserId
    digest: str | None = None
    # A device of the server's own (studying in the browser) that waits for the user's
    # other devices: its sync never ends one of theirs in progress (409 instead).
    yields: bool = False


@dataclass(frozen=True, slots=True)
class CollectionMeta:
    """The `col` row: times in ms except `crt` (seconds)."""

    crt: int
    mod: int
    scm: int
    ver: int
    dty: int
    usn: int
    ls: int


@dataclass(frozen=True, slots=True)
class MetaSnapshot:
    """Everything `meta` answers from, read at once: the `col` row, the JSON text of the
    `schedVer` and `creationOffset` config values (None if unset), whether any card
    exists, the media usn, and whether a normal sync is in progress."""

    meta: CollectionMeta
    sched_ver_json: str | None
    creation_offset_json: str | None
    has_cards: bool
    media_usn: int
    in_sync: bool


# Notes, cards and review entries are named tuples: immutable records that are built and
# written by the hundred thousand in a full sync, where a tuple costs a fraction of a
# frozen dataclass and goes to a database driver as it is.
class Note(NamedTuple):
    id: int
    guid: str
    mid: int
    mod: int
    usn: int
    tags: str
    flds: str
    sfld: str
    csum: int
    flags: int
    data: str


class Card(NamedTuple):
    id: int
    nid: int
    did: int
    ord: int
    mod: int
    usn: int
    type: int
    queue: int
    due: int
    ivl: int
    factor: int
    reps: int
    lapses: int
    left: int
    odue: int
    odid: int
    flags: int
    data: str


class RevlogEntry(NamedTuple):
    id: int
    cid: int
    usn: int
    ease: int
    ivl: int
    last_ivl: int
    factor: int
    time: int
    type: int


class GraveKind(IntEnum):
    CARD = 0
    NOTE = 1
    DECK = 2


@dataclass(frozen=True, slots=True)
class Grave:
    oid: int
    kind: GraveKind
    usn: int


@dataclass(frozen=True, slots=True)
class JsonObject:
    """A note type, deck or deck config: indexed keys plus its schema-11 JSON verbatim."""

    id: int
    name: str
    mtime: int
    usn: int
    json: str


@dataclass(frozen=True, slots=True)
class Tag:
    name: str
    usn: int
    collapsed: bool = False


@dataclass(frozen=True, slots=True)
class ConfigEntry:
    """One collection config key; `json` is the value's JSON text verbatim."""

    key: str
    usn: int
    mtime: int
    json: str


class ObjectKind(IntEnum):
    """Objects synced whole as schema-11 JSON in `applyChanges`."""

    NOTETYPE = 0
    DECK = 1
    DECK_CONFIG = 2


class RowKind(IntEnum):
    """Rows synced in chunks."""

    REVLOG = 0
    CARD = 1
    NOTE = 2


Row = Note | Card | RevlogEntry


@dataclass(frozen=True, slots=True)
class Counts:
    """Row counts the sanity check compares."""

    cards: int
    notes: int
    revlog: int
    notetypes: int
    decks: int
    deck_configs: int


@dataclass(frozen=True, slots=True)
class ObjectChanges:
    """The server's side of `applyChanges`, read at once: note types, decks, presets and
    tag names changed since a usn (objects by id, tags by name), and, when asked for,
    the whole config map (ordered by key)."""

    notetypes: list[JsonObject]
    decks: list[JsonObject]
    deck_configs: list[JsonObject]
    tags: list[str]
    config: list[ConfigEntry] | None
