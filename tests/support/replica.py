"""ClientReplica: an in-memory Anki client that syncs with `SyncServer` like the Rust client.

A replica keeps what a user sees (notes, cards, revlog, note types, decks, deck
configs, tags, config, crt) and what a client syncs with: a usn on every object
(-1 = changed locally since the last sync), its own pending graves, and
`col.usn`, `mod` (ms), `scm` and `ls`. Local edits mark objects pending and set
`mod` to the clock's time (note, card and object mtimes are in seconds).

`sync` runs a normal sync in the client's real order (rslib `NormalSyncer`):
meta → start (apply the server's graves) → applyGraves (own graves, ≤250 ids a
call) → applyChanges → chunk until done → applyChunk until done → sanityCheck2 →
finish. Merges use `domain.sync.merge` with pending usn -1. On any failure, or
when told to stop early, it restores every local change made during the sync
and calls `abort`, as the client does.

`server_content`/`server_snapshot` read what the server holds through any
`UnitOfWorkFactory` (memory or SQL), in the same shape as `ClientReplica.content`.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import json
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from domain.model import (
    SYNC_VERSION_MAX,
    Card,
    CollectionMeta,
    ConfigEntry,
    Counts,
    Credentials,
    Grave,
    GraveKind,
    JsonObject,
    Note,
    RevlogEntry,
    Tag,
    UserId,
)
from domain.new_collection import new_collection
from domain.sync import merge
from domain.sync.meta import MetaRequest
from domain.sync.note_text import FIELD_SEPARATOR
from domain.sync.server import SyncServer
from domain.sync.session import SyncSession
from domain.sync.staging import StageKind
from domain.sync.values import (
    CHUNK_SIZE,
    Chunk,
    Graves,
    SanityCounts,
    SanityResult,
    StartRequest,
    UnchunkedChanges,
)
from ports.collection import CollectionContents
from ports.stores import UnitOfWorkFactory
from tests.support.fakes import FakeClock

PENDING = merge.CLIENT_PENDING
CLIENT_VERSION = "anki,26.09.3 (replica),linux"
DEFAULT_DECK_ID = 1
SECTIONS = ("notes", "cards", "revlog", "notetypes", "decks", "deck_configs")
MAX_CHUNK_CALLS = 10_000


class Step(Enum):
    """Where a sync can be stopped: after the first call of each step (finish is not one)."""

    META = "meta"
    START = "start"
    APPLY_GRAVES = "applyGraves"
    APPLY_CHANGES = "applyChanges"
    CHUNK = "chunk"
    APPLY_CHUNK = "applyChunk"
    SANITY_CHECK = "sanityCheck2"


class SyncOutcome(Enum):
    NO_CHANGES = "no changes"
    FINISHED = "finished"
    INTERRUPTED = "interrupted"


class FullSyncRequired(Exception):
    """`meta` showed another schema; the client would ask for a one-way sync."""

    def __init__(self, upload_ok: bool, download_ok: bool) -> None:
        super().__init__(f"full sync required (upload_ok={upload_ok}, download_ok={download_ok})")
        self.upload_ok, self.download_ok = upload_ok, download_ok


class SanityCheckFailed(Exception):
    def __init__(self, result: SanityResult) -> None:
        super().__init__(f"sanity check failed: client {result.client}, server {result.server}")
        self.result = result


class ServerTime:
    """The server's view of the shared clock: every reading lets 1 ms pass.

    NOTE: real requests take time, so two `finish` calls, or a `finish` and a
    local edit on another device, never share a millisecond. With a frozen fake
    clock they would, and `meta` would then report "no changes" (equal `mod`)
    for a device that has changes, exactly as real Anki would. Notes, cards and
    objects keep second mtimes, so `tick(0)` still makes their mtimes tie.
    """

    def __init__(self, clock: FakeClock) -> None:
        self._clock = clock

    def now_ms(self) -> int:
        now = self._clock.ms
        self._clock.tick(1)
        return now


# -- what users see -------------------------------------------------------------------------


def note_view(n: Note) -> tuple[Any, ...]:
    """A note without usn, sfld, csum (derived), flags and data (the Rust client drops them)."""
    return (n.guid, n.mid, n.mod, n.tags, n.flds)


def card_view(c: Card) -> tuple[Any, ...]:
    return (
        c.nid,
        c.did,
        c.ord,
        c.mod,
        c.type,
        c.queue,
        c.due,
        c.ivl,
        c.factor,
        c.reps,
        c.lapses,
        c.left,
        c.odue,
        c.odid,
        c.flags,
        c.data,
    )


def revlog_view(e: RevlogEntry) -> tuple[Any, ...]:
    return (e.cid, e.ease, e.ivl, e.last_ivl, e.factor, e.time, e.type)


def canonical(value: Any) -> str:
    """JSON text that tells 1 from 1.0 and -0.0 from 0.0, independent of key order."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def object_view(obj: dict[str, Any]) -> str:
    return canonical({k: v for k, v in obj.items() if k != "usn"})


@dataclass(frozen=True)
class Content:
    """A collection as its user sees it, keyed by id; equal on two sides = same collection."""

    notes: dict[int, tuple[Any, ...]]
    cards: dict[int, tuple[Any, ...]]
    revlog: dict[int, tuple[Any, ...]]
    notetypes: dict[int, str]
    decks: dict[int, str]
    deck_configs: dict[int, str]
    tags: frozenset[str]
    config: dict[str, str]
    crt: int

    def section(self, name: str) -> dict[int, Any]:
        value: dict[int, Any] = getattr(self, name)
        return value

    def differences(self, other: Content, limit: int = 10) -> list[str]:
        """Human-readable differences, for assertion messages."""
        out: list[str] = []
        for name in SECTIONS:
            mine, theirs = self.section(name), other.section(name)
            for oid in sorted(mine.keys() | theirs.keys()):
                if mine.get(oid) != theirs.get(oid):
                    out.append(f"{name}[{oid}]: {mine.get(oid)!r} != {theirs.get(oid)!r}")
        if self.tags != other.tags:
            out.append(f"tags: {sorted(self.tags ^ other.tags)} differ")
        for key in sorted(self.config.keys() | other.config.keys()):
            if self.config.get(key) != other.config.get(key):
                out.append(f"config[{key!r}]: {self.config.get(key)} != {other.config.get(key)}")
        if self.crt != other.crt:
            out.append(f"crt: {self.crt} != {other.crt}")
        return out[:limit]


def content_of(contents: CollectionContents) -> Content:
    """What the user of a stored or uploaded collection sees."""
    return Content(
        notes={n.id: note_view(n) for n in contents.notes()},
        cards={c.id: card_view(c) for c in contents.cards()},
        revlog={e.id: revlog_view(e) for e in contents.revlog()},
        notetypes={o.id: object_view(json.loads(o.json)) for o in contents.notetypes()},
        decks={o.id: object_view(json.loads(o.json)) for o in contents.decks()},
        deck_configs={o.id: object_view(json.loads(o.json)) for o in contents.deck_configs()},
        tags=frozenset(t.name for t in contents.tags()),
        config={e.key: canonical(json.loads(e.json)) for e in contents.config()},
        crt=contents.meta().crt,
    )


def server_content(uow: UnitOfWorkFactory, user: UserId) -> Content:
    """The server's committed collection, read in one unit of work (memory or SQL)."""
    with uow(write=False) as work:
        return content_of(work.collections.export(user))


@dataclass(frozen=True)
class ServerSnapshot:
    """Everything the server holds for one user, bookkeeping included, for "unchanged" checks."""

    meta: CollectionMeta
    notes: dict[int, Note]
    cards: dict[int, Card]
    revlog: dict[int, RevlogEntry]
    graves: frozenset[Grave]
    notetypes: dict[int, JsonObject]
    decks: dict[int, JsonObject]
    deck_configs: dict[int, JsonObject]
    tags: dict[str, Tag]
    config: dict[str, ConfigEntry]
    counts: Counts
    session: SyncSession | None
    staged: dict[StageKind, frozenset[str]]

    def collection(self) -> tuple[Any, ...]:
        """The stored collection alone, without the session and staging rows."""
        return tuple(
            getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name not in ("session", "staged")
        )

    def actual_counts(self) -> Counts:
        return Counts(
            len(self.cards),
            len(self.notes),
            len(self.revlog),
            len(self.notetypes),
            len(self.decks),
            len(self.deck_configs),
        )

    def content(self) -> Content:
        """What the user of the stored collection sees (as `server_content` reads it)."""
        return Content(
            notes={i: note_view(n) for i, n in self.notes.items()},
            cards={i: card_view(c) for i, c in self.cards.items()},
            revlog={i: revlog_view(e) for i, e in self.revlog.items()},
            notetypes={i: object_view(json.loads(o.json)) for i, o in self.notetypes.items()},
            decks={i: object_view(json.loads(o.json)) for i, o in self.decks.items()},
            deck_configs={i: object_view(json.loads(o.json)) for i, o in self.deck_configs.items()},
            tags=frozenset(self.tags),
            config={k: canonical(json.loads(e.json)) for k, e in self.config.items()},
            crt=self.meta.crt,
        )

    def mtime(self, section: str, oid: int) -> int | None:
        """The mtime of one stored object (a revlog entry's is its id), or None if absent."""
        obj = getattr(self, section).get(oid)
        if obj is None:
            return None
        if isinstance(obj, JsonObject):
            return obj.mtime
        return obj.id if isinstance(obj, RevlogEntry) else int(obj.mod)

    def usns(self) -> Iterator[tuple[str, int]]:
        """(what, usn) of every stored object that carries a sync usn."""
        for name in ("notes", "cards", "revlog", "notetypes", "decks", "deck_configs", "tags"):
            for key, obj in getattr(self, name).items():
                yield f"{name}[{key}]", obj.usn
        for grave in self.graves:
            yield f"grave {grave.kind.name} {grave.oid}", grave.usn


def server_snapshot(uow: UnitOfWorkFactory, user: UserId) -> ServerSnapshot:
    with uow(write=False) as work:
        col = work.collections
        meta = col.meta(user)
        assert meta is not None, "the user has no collection"
        data = col.export(user)
        snapshot = ServerSnapshot(
            meta=meta,
            notes={n.id: n for n in data.notes()},
            cards={c.id: c for c in data.cards()},
            revlog={e.id: e for e in data.revlog()},
            graves=frozenset(data.graves()),
            notetypes={o.id: o for o in data.notetypes()},
            decks={o.id: o for o in data.decks()},
            deck_configs={o.id: o for o in data.deck_configs()},
            tags={t.name: t for t in data.tags()},
            config={e.key: e for e in data.config()},
            counts=col.counts(user),
            session=work.sessions.get(user),
            staged={kind: frozenset(work.staging.keys(user, kind)) for kind in StageKind},
        )
        return snapshot


# -- the replica's own state ----------------------------------------------------------------


@dataclass
class ReplicaState:
    crt: int
    mod: int
    scm: int
    usn: int
    ls: int
    notes: dict[int, Note] = field(default_factory=dict)
    cards: dict[int, Card] = field(default_factory=dict)
    revlog: dict[int, RevlogEntry] = field(default_factory=dict)
    graves: dict[tuple[GraveKind, int], int] = field(default_factory=dict)
    notetypes: dict[int, dict[str, Any]] = field(default_factory=dict)
    decks: dict[int, dict[str, Any]] = field(default_factory=dict)
    deck_configs: dict[int, dict[str, Any]] = field(default_factory=dict)
    tags: dict[str, int] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)

    def objects(self, name: str) -> dict[int, dict[str, Any]]:
        value: dict[int, dict[str, Any]] = getattr(self, name)
        return value


def join_tags(tags: Iterable[str]) -> str:
    """Anki's note tag column: space-separated with a leading and trailing space."""
    names = list(dict.fromkeys(tags))
    return f" {' '.join(names)} " if names else ""


def _fresh_state(now_ms: int) -> ReplicaState:
    """A brand-new local collection (the server's default content, never synced)."""
    fresh = new_collection(now_ms)
    return ReplicaState(
        crt=fresh.meta.crt,
        mod=now_ms,
        scm=now_ms,
        usn=0,
        ls=0,
        notetypes={o.id: json.loads(o.json) for o in fresh.notetypes},
        decks={o.id: json.loads(o.json) for o in fresh.decks},
        deck_configs={o.id: json.loads(o.json) for o in fresh.deck_configs},
        config={e.key: json.loads(e.json) for e in fresh.config},
    )


def _state_from(contents: CollectionContents) -> ReplicaState:
    """What a client holds after a full download of `contents` (it sets ls = mod)."""
    meta = contents.meta()
    return ReplicaState(
        crt=meta.crt,
        mod=meta.mod,
        scm=meta.scm,
        usn=meta.usn,
        ls=meta.mod,
        notes={n.id: n for n in contents.notes()},
        cards={c.id: c for c in contents.cards()},
        revlog={e.id: e for e in contents.revlog()},
        graves={(g.kind, g.oid): g.usn for g in contents.graves()},
        notetypes={o.id: json.loads(o.json) for o in contents.notetypes()},
        decks={o.id: json.loads(o.json) for o in contents.decks()},
        deck_configs={o.id: json.loads(o.json) for o in contents.deck_configs()},
        tags={t.name: t.usn for t in contents.tags()},
        config={e.key: json.loads(e.json) for e in contents.config()},
    )


@dataclass(frozen=True)
class ReplicaContents:
    """A replica's collection as a full-upload file would carry it."""

    state: ReplicaState

    def meta(self) -> CollectionMeta:
        s = self.state
        return CollectionMeta(crt=s.crt, mod=s.mod, scm=s.scm, ver=18, dty=0, usn=s.usn, ls=s.ls)

    def _objects(self, objects: dict[int, dict[str, Any]]) -> Iterator[JsonObject]:
        for oid, obj in sorted(objects.items()):
            yield JsonObject(
                id=oid,
                name=str(obj["name"]),
                mtime=merge.object_mod(obj),
                usn=int(obj["usn"]),
                json=json.dumps(obj, ensure_ascii=False),
            )

    def notetypes(self) -> Iterator[JsonObject]:
        return self._objects(self.state.notetypes)

    def decks(self) -> Iterator[JsonObject]:
        return self._objects(self.state.decks)

    def deck_configs(self) -> Iterator[JsonObject]:
        return self._objects(self.state.deck_configs)

    def config(self) -> Iterator[ConfigEntry]:
        for key, value in sorted(self.state.config.items()):
            yield ConfigEntry(key=key, usn=0, mtime=0, json=json.dumps(value, ensure_ascii=False))

    def tags(self) -> Iterator[Tag]:
        return (Tag(name, usn) for name, usn in sorted(self.state.tags.items()))

    def notes(self) -> Iterator[Note]:
        return iter(sorted(self.state.notes.values(), key=lambda n: n.id))

    def cards(self) -> Iterator[Card]:
        return iter(sorted(self.state.cards.values(), key=lambda c: c.id))

    def revlog(self) -> Iterator[RevlogEntry]:
        return iter(sorted(self.state.revlog.values(), key=lambda e: e.id))

    def graves(self) -> Iterator[Grave]:
        return (Grave(oid, kind, usn) for (kind, oid), usn in sorted(self.state.graves.items()))


# -- the client ----------------------------------------------------------------------------


class ClientReplica:
    """One Anki client. `new_id` must be shared by all replicas of a test (ids never clash).

    With `graves_in_start`, it sends its deletions inside `start` like legacy AnkiDroid.
    """

    def __init__(
        self, name: str, clock: FakeClock, new_id: Callable[[], int], graves_in_start: bool = False
    ) -> None:
        self.name = name
        self.graves_in_start = graves_in_start
        self.clock = clock
        self.new_id = new_id
        self.state = _fresh_state(clock.now_ms())
        self.last_skey: str | None = None
        self._skeys = itertools.count(1)

    # -- local edits (each marks what it touches pending and moves `mod`) -----------------

    def _touch(self) -> int:
        """Record a local change now; return the time in seconds for the object's mtime."""
        now = self.clock.now_ms()
        self.state.mod = now
        return now // 1000

    def _register_tags(self, tags: Iterable[str]) -> None:
        for tag in tags:
            self.state.tags.setdefault(tag, PENDING)

    @property
    def notetype_id(self) -> int:
        return min(self.state.notetypes)

    def add_note(
        self,
        fields: Sequence[str],
        tags: Sequence[str] = (),
        deck_id: int = DEFAULT_DECK_ID,
        card_data: str = "{}",
    ) -> tuple[int, int]:
        """Add a note of the first note type with one card; return (note id, card id)."""
        now = self._touch()
        nid, cid = self.new_id(), self.new_id()
        self.state.notes[nid] = Note(
            id=nid,
            guid=f"{self.name}{nid:x}",
            mid=self.notetype_id,
            mod=now,
            usn=PENDING,
            tags=join_tags(tags),
            flds=FIELD_SEPARATOR.join(fields),
            sfld="",
            csum=0,
            flags=0,
            data="",
        )
        self.state.cards[cid] = Card(
            id=cid,
            nid=nid,
            did=deck_id,
            ord=0,
            mod=now,
            usn=PENDING,
            type=0,
            queue=0,
            due=len(self.state.cards) + 1,
            ivl=0,
            factor=0,
            reps=0,
            lapses=0,
            left=0,
            odue=0,
            odid=0,
            flags=0,
            data=card_data,
        )
        self._register_tags(tags)
        return nid, cid

    def card_of(self, nid: int) -> int | None:
        return next((c.id for c in self.state.cards.values() if c.nid == nid), None)

    def edit_note(self, nid: int, fields: Sequence[str]) -> bool:
        note = self.state.notes.get(nid)
        if note is None:
            return False
        self.state.notes[nid] = _with(
            note, flds=FIELD_SEPARATOR.join(fields), mod=self._touch(), usn=PENDING
        )
        return True

    def set_note_tags(self, nid: int, tags: Sequence[str]) -> bool:
        note = self.state.notes.get(nid)
        if note is None:
            return False
        self.state.notes[nid] = _with(
            note, tags=join_tags(tags), mod=self._touch(), usn=PENDING
        )
        self._register_tags(tags)
        return True

    def _remove_cards(self, cids: Iterable[int]) -> list[tuple[str, int]]:
        removed = []
        for cid in cids:
            del self.state.cards[cid]
            self.state.graves[(GraveKind.CARD, cid)] = PENDING
            removed.append(("cards", cid))
        return removed

    def delete_note(self, nid: int) -> list[tuple[str, int]]:
        """Delete a note and its cards; return the (section, id) pairs removed."""
        if nid not in self.state.notes:
            return []
        self._touch()
        removed = self._remove_cards([c.id for c in self.state.cards.values() if c.nid == nid])
        del self.state.notes[nid]
        self.state.graves[(GraveKind.NOTE, nid)] = PENDING
        return [*removed, ("notes", nid)]

    def review_card(self, cid: int, ease: int) -> int | None:
        """Answer a card: update it and log the review; return the revlog id."""
        card = self.state.cards.get(cid)
        if card is None:
            return None
        now = self._touch()
        ivl = 1 if ease == 1 else max(1, card.ivl) * (ease + 1)
        self.state.cards[cid] = _with(
            card,
            mod=now,
            usn=PENDING,
            type=2,
            queue=2,
            due=now // 86400 + ivl,
            ivl=ivl,
            factor=2500,
            reps=card.reps + 1,
            lapses=card.lapses + (ease == 1),
            data=json.dumps({"lrt": now}, separators=(",", ":")),
        )
        rid = self.new_id()
        self.state.revlog[rid] = RevlogEntry(
            id=rid,
            cid=cid,
            usn=PENDING,
            ease=ease,
            ivl=ivl,
            last_ivl=card.ivl,
            factor=2500,
            time=1000 * ease,
            type=1,
        )
        return rid

    def set_card_flag(self, cid: int, flag: int) -> bool:
        card = self.state.cards.get(cid)
        if card is None:
            return False
        self.state.cards[cid] = _with(
            card, flags=flag, mod=self._touch(), usn=PENDING
        )
        return True

    def add_deck(self, extra: dict[str, Any] | None = None) -> int:
        did = self.new_id()
        deck = {**copy.deepcopy(self.state.decks[DEFAULT_DECK_ID]), **(extra or {})}
        deck.update(id=did, name=f"{self.name} deck {did}", mod=self._touch(), usn=PENDING)
        self.state.decks[did] = deck
        return did

    def edit_object(self, section: str, oid: int, changes: dict[str, Any]) -> bool:
        """Change keys of a note type, deck or deck config (never its fields or templates)."""
        assert not {"id", "flds", "tmpls", "usn", "mod"} & changes.keys(), changes
        obj = self.state.objects(section).get(oid)
        if obj is None:
            return False
        obj.update(copy.deepcopy(changes))
        obj.update(mod=self._touch(), usn=PENDING)
        return True

    def delete_deck(self, did: int) -> list[tuple[str, int]]:
        """Delete a deck with its cards and the notes left without cards (not Default)."""
        if did == DEFAULT_DECK_ID or did not in self.state.decks:
            return []
        self._touch()
        removed = self._remove_cards([c.id for c in self.state.cards.values() if c.did == did])
        with_cards = {c.nid for c in self.state.cards.values()}
        for nid in [n for n in self.state.notes if n not in with_cards]:
            del self.state.notes[nid]
            self.state.graves[(GraveKind.NOTE, nid)] = PENDING
            removed.append(("notes", nid))
        del self.state.decks[did]
        self.state.graves[(GraveKind.DECK, did)] = PENDING
        return [*removed, ("decks", did)]

    def set_config(self, key: str, value: Any) -> None:
        self._touch()
        self.state.config[key] = copy.deepcopy(value)

    # -- what the user sees -------------------------------------------------------------

    def content(self) -> Content:
        return content_of(ReplicaContents(self.state))

    def view(self, section: str, oid: int) -> tuple[int, Any] | None:
        """(mtime, content value) of one object, or None if absent."""
        s = self.state
        if section == "notes":
            n = s.notes.get(oid)
            return None if n is None else (n.mod, note_view(n))
        if section == "cards":
            c = s.cards.get(oid)
            return None if c is None else (c.mod, card_view(c))
        if section == "revlog":
            e = s.revlog.get(oid)
            return None if e is None else (e.id, revlog_view(e))
        obj = s.objects(section).get(oid)
        return None if obj is None else (merge.object_mod(obj), object_view(obj))

    def pending(self) -> list[str]:
        """What is still marked as changed locally (usn -1)."""
        s = self.state
        out = [
            f"{name}[{oid}]"
            for name in ("notes", "cards", "revlog")
            for oid, row in getattr(s, name).items()
            if row.usn == PENDING
        ]
        out += [
            f"{name}[{oid}]"
            for name in ("notetypes", "decks", "deck_configs")
            for oid, obj in s.objects(name).items()
            if obj["usn"] == PENDING
        ]
        out += [f"tag {t}" for t, usn in s.tags.items() if usn == PENDING]
        out += [f"grave {k.name} {oid}" for (k, oid), usn in s.graves.items() if usn == PENDING]
        return out

    # -- full sync ----------------------------------------------------------------------

    def full_upload(self, server: SyncServer, user: UserId) -> None:
        """`Collection::before_upload`, then replace the server's collection with ours."""
        s = self.state
        s.graves.clear()
        for name in ("notes", "cards", "revlog"):
            rows = getattr(s, name)
            for oid, row in rows.items():
                if row.usn == PENDING:
                    rows[oid] = _with(row, usn=0)
        for name in ("notetypes", "decks", "deck_configs"):
            for obj in s.objects(name).values():
                obj["usn"] = 0
        s.tags = dict.fromkeys(s.tags, 0)
        s.usn += 1
        s.scm = s.ls = self.clock.now_ms()
        server.upload(Credentials(user), ReplicaContents(copy.deepcopy(s)))

    def full_download(self, server: SyncServer, user: UserId) -> None:
        self.state = server.download(Credentials(user), lambda c, _version: _state_from(c))

    # -- normal sync --------------------------------------------------------------------

    def begin_sync(self, server: SyncServer, user: UserId, miscount: int = 0) -> SyncRun:
        """Start a sync to drive step by step; `miscount` falsifies the sanity card count."""
        self.last_skey = f"{self.name}-{next(self._skeys)}"
        return SyncRun(self, server, user, self.last_skey, miscount)

    def sync(self, server: SyncServer, user: UserId, stop_after: Step | None = None) -> SyncOutcome:
        """Sync once; with `stop_after`, fail on purpose after that step (then roll back)."""
        run = self.begin_sync(server, user)
        outcome = run.advance(until=stop_after)
        if outcome is None:
            run.fail()
            return SyncOutcome.INTERRUPTED
        return outcome

    def conversation(
        self, server: SyncServer, user: UserId, skey: str, miscount: int = 0
    ) -> Generator[Step, None, SyncOutcome]:
        """The client's requests in order, pausing after each one."""
        meta = server.meta(Credentials(user), MetaRequest(SYNC_VERSION_MAX, CLIENT_VERSION))
        yield Step.META
        s = self.state
        if meta.mod == s.mod:
            return SyncOutcome.NO_CHANGES
        if meta.scm != s.scm:
            local_empty = not s.cards
            raise FullSyncRequired(
                upload_ok=not local_empty or meta.empty, download_ok=not meta.empty or local_empty
            )
        server_usn, local_is_newer = meta.usn, s.mod > meta.mod
        own_graves = self._take_pending_graves(server_usn)
        # NOTE: legacy AnkiDroid sends its deletions inside `start`, not in applyGraves.
        in_start = own_graves if self.graves_in_start else None
        request = StartRequest(s.usn, local_is_newer, in_start)
        remote_graves = server.start(Credentials(user), skey, request)
        yield Step.START
        yield from self._send_graves(server, user, skey, Graves() if in_start else own_graves)
        self._apply_graves(remote_graves, server_usn)
        local = self._local_changes(server_usn, local_is_newer)
        self._apply_changes(server.apply_changes(Credentials(user), skey, local), server_usn)
        yield Step.APPLY_CHANGES
        yield from self._receive_chunks(server, user, skey)
        yield from self._send_chunks(server, user, skey, server_usn)
        counts = self.sanity_counts()
        counts = dataclasses.replace(counts, cards=counts.cards + miscount)
        result = server.sanity_check(Credentials(user), skey, counts)
        if not result.ok:
            raise SanityCheckFailed(result)
        yield Step.SANITY_CHECK
        s.mod = s.ls = server.finish(Credentials(user), skey)
        s.usn = server_usn + 1
        return SyncOutcome.FINISHED

    def _take_pending_graves(self, server_usn: int) -> Graves:
        """Own deletions not sent yet, marked as sent with `server_usn`."""
        s = self.state
        pending = sorted(key for key, usn in s.graves.items() if usn == PENDING)
        for key in pending:
            s.graves[key] = server_usn
        return Graves(
            cards=tuple(i for k, i in pending if k == GraveKind.CARD),
            notes=tuple(i for k, i in pending if k == GraveKind.NOTE),
            decks=tuple(i for k, i in pending if k == GraveKind.DECK),
        )

    def _send_graves(
        self, server: SyncServer, user: UserId, skey: str, graves: Graves
    ) -> Iterator[Step]:
        # Graves::take_chunk: cards first, then notes, then decks, 250 ids a request.
        flat = [
            *((GraveKind.CARD, i) for i in graves.cards),
            *((GraveKind.NOTE, i) for i in graves.notes),
            *((GraveKind.DECK, i) for i in graves.decks),
        ]
        if not flat:
            yield Step.APPLY_GRAVES
        for start in range(0, len(flat), CHUNK_SIZE):
            part = flat[start : start + CHUNK_SIZE]
            server.apply_graves(
                Credentials(user),
                skey,
                Graves(
                    cards=tuple(i for k, i in part if k == GraveKind.CARD),
                    notes=tuple(i for k, i in part if k == GraveKind.NOTE),
                    decks=tuple(i for k, i in part if k == GraveKind.DECK),
                ),
            )
            yield Step.APPLY_GRAVES

    def _apply_graves(self, graves: Graves, server_usn: int) -> None:
        s = self.state
        for nid in graves.notes:
            s.notes.pop(nid, None)
            s.graves[(GraveKind.NOTE, nid)] = server_usn
        for cid in graves.cards:
            s.cards.pop(cid, None)
            s.graves[(GraveKind.CARD, cid)] = server_usn
        for did in graves.decks:
            s.decks.pop(did, None)
            s.graves[(GraveKind.DECK, did)] = server_usn

    def _pending_objects(self, section: str, server_usn: int) -> tuple[dict[str, Any], ...]:
        out = []
        for _, obj in sorted(self.state.objects(section).items()):
            if obj["usn"] == PENDING:
                obj["usn"] = server_usn
                out.append(copy.deepcopy(obj))
        return tuple(out)

    def _local_changes(self, server_usn: int, local_is_newer: bool) -> UnchunkedChanges:
        s = self.state
        tags = tuple(sorted(t for t, usn in s.tags.items() if usn == PENDING))
        for tag in tags:
            s.tags[tag] = server_usn
        return UnchunkedChanges(
            notetypes=self._pending_objects("notetypes", server_usn),
            decks=self._pending_objects("decks", server_usn),
            deck_configs=self._pending_objects("deck_configs", server_usn),
            tags=tags,
            config=copy.deepcopy(s.config) if local_is_newer else None,
            crt=s.crt if local_is_newer else None,
        )

    def _merge_objects(self, section: str, incoming: Iterable[dict[str, Any]]) -> None:
        objects = self.state.objects(section)
        for obj in incoming:
            oid = merge.as_int(obj["id"])
            old = objects.get(oid)
            if old is None or merge.take_incoming_object(
                merge.object_mod(old), merge.object_mod(obj)
            ):
                if section == "notetypes" and old is not None:
                    merge.check_notetype_shape(json.dumps(old), obj)
                objects[oid] = copy.deepcopy(obj)

    def _apply_changes(self, remote: UnchunkedChanges, server_usn: int) -> None:
        s = self.state
        self._merge_objects("notetypes", remote.notetypes)
        self._merge_objects("decks", remote.decks)
        self._merge_objects("deck_configs", remote.deck_configs)
        for tag in remote.tags:
            s.tags.setdefault(tag, server_usn)
        if remote.crt is not None:
            s.crt = remote.crt
        if remote.config is not None:
            s.config = copy.deepcopy(remote.config)

    def _receive_chunks(self, server: SyncServer, user: UserId, skey: str) -> Iterator[Step]:
        for _ in range(MAX_CHUNK_CALLS):
            chunk = server.chunk(Credentials(user), skey)
            assert len(chunk) <= CHUNK_SIZE, f"server chunk of {len(chunk)} rows"
            self._apply_chunk(chunk)
            yield Step.CHUNK
            if chunk.done:
                return
        raise AssertionError("the server never finished sending chunks")

    def _take_row(self, existing: Card | Note | None, incoming_mod: int) -> bool:
        version = None if existing is None else (existing.mod, existing.usn)
        return merge.take_incoming_row(version, incoming_mod, PENDING)

    def _apply_chunk(self, chunk: Chunk) -> None:
        s = self.state
        for entry in chunk.revlog:
            s.revlog.setdefault(entry.id, entry)
        for card in chunk.cards:
            if self._take_row(s.cards.get(card.id), card.mod):
                s.cards[card.id] = card
        for note in chunk.notes:
            if self._take_row(s.notes.get(note.id), note.mod):
                notetype = s.notetypes.get(note.mid)
                assert notetype is not None, f"note {note.id} of a missing note type"
                assert len(note.flds.split(FIELD_SEPARATOR)) == len(notetype["flds"])
                s.notes[note.id] = note

    def _send_chunks(
        self, server: SyncServer, user: UserId, skey: str, server_usn: int
    ) -> Iterator[Step]:
        s = self.state
        queues = [
            sorted(i for i, row in getattr(s, name).items() if row.usn == PENDING)
            for name in ("revlog", "notes", "cards")
        ]
        while True:
            taken, done = _take_round_robin(queues)
            revlog = self._mark_sent("revlog", taken[0], server_usn)
            notes = self._mark_sent("notes", taken[1], server_usn)
            cards = self._mark_sent("cards", taken[2], server_usn)
            # NOTE: the Rust client sends sfld and csum empty, flags 0 and data "".
            wire_notes = tuple(
                _with(n, sfld="", csum=0, flags=0, data="") for n in notes
            )
            server.apply_chunk(
                Credentials(user),
                skey,
                Chunk(done=done, revlog=tuple(revlog), cards=tuple(cards), notes=wire_notes),
            )
            yield Step.APPLY_CHUNK
            if done:
                return

    def _mark_sent(self, name: str, ids: list[int], server_usn: int) -> list[Any]:
        rows = getattr(self.state, name)
        for oid in ids:
            rows[oid] = _with(rows[oid], usn=server_usn)
        return [rows[oid] for oid in ids]

    def sanity_counts(self) -> SanityCounts:
        s = self.state
        return SanityCounts(
            (0, 0, 0),
            len(s.cards),
            len(s.notes),
            len(s.revlog),
            len(s.graves),
            len(s.notetypes),
            len(s.decks),
            len(s.deck_configs),
        )


def _take_round_robin(queues: list[list[int]]) -> tuple[list[list[int]], bool]:
    """`get_chunk`: one revlog, one note, one card at a time, up to 250; done if room is left."""
    taken: list[list[int]] = [[] for _ in queues]
    room = CHUNK_SIZE
    while room and any(queues):
        for queue, out in zip(queues, taken, strict=True):
            if queue and room:
                out.append(queue.pop())
                room -= 1
    return taken, room > 0


class SyncRun:
    """One normal sync of a replica, which the caller may pause between steps.

    `advance` runs until the end (returning the outcome) or pauses after `until`
    (returning None, with the server session left open). Any exception restores
    the replica's state from before the sync and calls `abort`, like the client.
    """

    def __init__(
        self, replica: ClientReplica, server: SyncServer, user: UserId, skey: str, miscount: int
    ) -> None:
        self.replica, self.server, self.user, self.skey = replica, server, user, skey
        self.saved = copy.deepcopy(replica.state)
        self._steps = replica.conversation(server, user, skey, miscount)
        self.outcome: SyncOutcome | None = None

    def advance(self, until: Step | None = None) -> SyncOutcome | None:
        assert self.outcome is None, "this sync is over"
        try:
            while True:
                try:
                    step = next(self._steps)
                except StopIteration as end:
                    self.outcome = end.value
                    return self.outcome
                if step == until:
                    return None
        except BaseException:
            self.fail()
            raise

    def fail(self) -> None:
        """Roll back local changes and tell the server, as the client does on any error."""
        self._steps.close()
        self.replica.state = copy.deepcopy(self.saved)
        self.outcome = SyncOutcome.INTERRUPTED
        self.server.abort(Credentials(self.user), self.skey)


def _with(record: Any, **changes: Any) -> Any:
    """A copy of a record with some fields changed: notes, cards and revlog entries are
    named tuples, the other records dataclasses."""
    if hasattr(record, "_replace"):
        return record._replace(**changes)
    return dataclasses.replace(record, **changes)
