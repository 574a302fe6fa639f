"""SyncServer: one method per sync endpoint; the only core module that uses ports.

Every step runs in one unit of work that first locks the user's collection row,
so the steps of one user never interleave. What the client sends is staged;
only `finish` merges it into the live tables, in one transaction.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from domain.errors import AuthFailed, SessionConflict, SyncRejected, retrying
from domain.model import (
    CollectionMeta,
    ConfigEntry,
    Counts,
    Credentials,
    GraveKind,
    JsonObject,
    MetaSnapshot,
    Note,
    ObjectKind,
    UserId,
)
from domain.new_collection import new_collection
from domain.sync import merge, staging
from domain.sync.apply import (
    NotetypeShapes,
    apply_staged,
    counts_after_applying,
    merged_config,
)
from domain.sync.chunks import next_chunk
from domain.sync.meta import MetaRequest, SchedulingFlags, ServerMeta, check_version, server_meta
from domain.sync.session import ChunkStage, Phase, SyncLock, SyncSession
from domain.sync.staging import StageKind
from domain.sync.values import (
    Chunk,
    Graves,
    SanityCounts,
    SanityResult,
    StartRequest,
    UnchunkedChanges,
)
from ports.clock import Clock
from ports.collection import CollectionContents, StoredContents
from ports.stores import UnitOfWork, UnitOfWorkFactory

T = TypeVar("T")
LOCAL_OFFSET = "localOffset"  # the time zone (minutes west of UTC) Anki records


@dataclass
class SyncServer:
    """Each method is one sync request of the device in `credentials`; its host key is
    checked by the step's first query (a revoked key gets `AuthFailed`)."""

    uow: UnitOfWorkFactory
    clock: Clock

    # -- meta and full sync ------------------------------------------------------------

    def meta(self, credentials: Credentials, request: MetaRequest) -> ServerMeta:
        """Answer `meta` from committed state; like the official server, it ends a sync
        in progress, and it creates the collection of a new account."""
        check_version(request.version)
        user = credentials.user
        with self.uow(write=False, snapshot=False) as uow:  # one query
            key_use, snapshot = uow.collections.meta_snapshot(user, credentials.digest)
        _check(credentials, key_use is not None)
        now, client = self.clock.now_ms(), request.client_version or None
        # Every sync begins here: the device's last sync and client, for its owner to see
        # (a write at most once a minute, or when the client software changed).
        seen = credentials.digest if key_use is not None and key_use.stale(
            now, client) else None
        if snapshot is not None and not snapshot.in_sync:
            if seen is not None:
                self._note_use(user, seen, now, client)
            return self._meta(snapshot, request)
        with self.uow() as uow:
            meta, session = uow.sessions.lock_with_collection(user)
            if meta is None:
                uow.collections.create(user, new_collection(now))
            _yield_to_others(credentials, session, now)
            self._end_session(uow, user)
            if seen is not None:
                uow.users.note_key_use(user, seen, now, client)
            _, snapshot = uow.collections.meta_snapshot(user)
            assert snapshot is not None
            uow.commit()
        return self._meta(snapshot, request)

    def _note_use(self, user: UserId, digest: str, now: int, client: str | None) -> None:
        with self.uow(durable=False) as uow:  # a lost note of use is harmless
            uow.users.note_key_use(user, digest, now, client)
            uow.commit()

    def upload(self, credentials: Credentials, contents: CollectionContents) -> int:
        """Replace the user's whole collection with `contents`, all or nothing; return the
        collection's new version (see `CollectionStore.version`)."""
        with self.uow() as uow:
            uow.sessions.lock(credentials, with_session=False).check(credentials)
            self._end_session(uow, credentials.user)
            version = uow.collections.replace(credentials.user, contents)
            uow.commit()
        return version

    def download(
        self, credentials: Credentials, write: Callable[[StoredContents, int | None], T]
    ) -> T:
        """Hand one consistent snapshot of the user's collection to `write`, with its
        version (None for a collection not stored yet), which tells a copy made before
        from the same version, if the caller keeps one, is this collection still."""
        user = credentials.user
        with self.uow() as uow:
            lock = uow.sessions.lock(credentials).check(credentials)
            if lock.session is not None:
                _yield_to_others(credentials, lock.session, self.clock.now_ms())
                self._end_session(uow, user)
                uow.commit()
        with self.uow(write=False) as uow:
            version = uow.collections.version(user)
            if version is None:
                # Never committed: a read-only unit of work only lends the defaults to `write`.
                uow.collections.create(user, new_collection(self.clock.now_ms()))
            return write(uow.collections.export(user), version)

    # -- normal sync -------------------------------------------------------------------

    def start(self, credentials: Credentials, skey: str, request: StartRequest) -> Graves:
        """Open a session (ending any other) and return the server's deletions."""
        _require_skey(skey)
        return retrying(lambda: self._start(credentials, skey, request))

    def _start(self, credentials: Credentials, skey: str, request: StartRequest) -> Graves:
        now, user = self.clock.now_ms(), credentials.user
        with self.uow(durable=False) as uow:  # a lost start loses its session: noticed
            lock = uow.sessions.lock(credentials, with_session=credentials.yields
                                     ).check(credentials)
            col = _required(lock.col)
            _yield_to_others(credentials, lock.session, now, skey)
            # Reads first: the writes below then leave together with the commit. Most
            # devices have seen every deletion: the lock read the graves' highest usn.
            graves = [] if lock.graves_usn is not None and lock.graves_usn < request.client_usn \
                else uow.collections.graves_since(user, request.client_usn)
            uow.staging.discard(user)  # the saved session below replaces any other
            session = SyncSession(
                skey=skey, phase=Phase.STARTED, server_usn=col.usn,
                client_usn=request.client_usn, client_is_newer=request.local_is_newer,
                touched_ms=now,
            )
            if request.legacy_graves is not None:
                session = _stage(uow, user, session, staging.stage_graves(request.legacy_graves))
            uow.sessions.save(user, session)
            uow.commit()
        by_kind = {kind: tuple(g.oid for g in graves if g.kind == kind) for kind in GraveKind}
        return Graves(by_kind[GraveKind.CARD], by_kind[GraveKind.NOTE], by_kind[GraveKind.DECK])

    def apply_graves(self, credentials: Credentials, skey: str, graves: Graves) -> None:
        def step(
            uow: UnitOfWork, lock: SyncLock, session: SyncSession
        ) -> tuple[None, SyncSession]:
            return None, _stage(uow, credentials.user, session, staging.stage_graves(graves))

        self._step(credentials, skey, (Phase.STARTED,), step)

    def apply_changes(
        self, credentials: Credentials, skey: str, changes: UnchunkedChanges
    ) -> UnchunkedChanges:
        """Stage the client's note types, decks, presets, tags and config; return the
        server's, computed from live tables (which the staged data has not touched)."""
        user = credentials.user

        def step(
            uow: UnitOfWork, lock: SyncLock, session: SyncSession
        ) -> tuple[UnchunkedChanges, SyncSession]:
            _check_notetypes(uow, user, changes)
            col = _required(lock.col)
            ours, config = _server_changes(uow, user, col, session,
                                           with_config=changes.config is not None)
            taken = _own_offset_kept(changes, config) if credentials.yields else changes
            session = _stage(uow, user, session,
                             staging.stage_changes(_unchanged_dropped(taken, config, col)))
            return ours, dataclasses.replace(session, phase=Phase.CHANGES_APPLIED)

        return self._step(credentials, skey, (Phase.STARTED,), step)

    def chunk(self, credentials: Credentials, skey: str) -> Chunk:
        """The server's next chunk. The first, in most syncs, has nothing to send: told by
        one read without a lock, and nothing written (sent again, it is the same)."""
        if self._nothing_to_send(credentials, skey):
            return Chunk(done=True)

        def step(
            uow: UnitOfWork, lock: SyncLock, session: SyncSession
        ) -> tuple[Chunk, SyncSession]:
            return next_chunk(uow, credentials.user, session, self.clock.now_ms())

        return self._step(credentials, skey, (Phase.CHANGES_APPLIED,), step)

    def apply_chunk(self, credentials: Credentials, skey: str, chunk: Chunk) -> None:
        user = credentials.user

        def step(
            uow: UnitOfWork, lock: SyncLock, session: SyncSession
        ) -> tuple[None, SyncSession]:
            notes: list[Note] = []
            if chunk.notes:
                shapes = NotetypeShapes(uow, user,
                                        staged=session.may_have_staged(StageKind.NOTETYPE))
                notes = [shapes.prepare(note) for note in chunk.notes]
            session = _stage(uow, user, session,
                             staging.stage_rows(chunk.revlog, chunk.cards, notes))
            return None, dataclasses.replace(session, client_done=chunk.done)

        self._step(credentials, skey, (Phase.CHANGES_APPLIED,), step)

    def sanity_check(
        self, credentials: Credentials, skey: str, client: SanityCounts
    ) -> SanityResult:
        """Compare counts as they would be after `finish`, without committing anything:
        computed from the staged ids where that is exact, else by applying in a scratch
        savepoint."""
        user = credentials.user

        def step(
            uow: UnitOfWork, lock: SyncLock, session: SyncSession
        ) -> tuple[SanityResult, SyncSession]:
            assert lock.counts is not None and lock.col is not None
            assert lock.new_rows is not None
            session.expect_client_done()
            counts = counts_after_applying(session.staged, lock.counts, lock.new_rows)
            if counts is None:
                with uow.scratch():
                    apply_staged(uow, user, lock.col, session, self.clock.now_ms())
                    counts = uow.collections.counts(user)
            ours, theirs = _sanity_counts(counts), client.comparable()
            ok = ours == theirs
            phase = Phase.SANITY_OK if ok else Phase.SANITY_BAD
            return SanityResult(ok, theirs, ours), dataclasses.replace(session, phase=phase)

        return self._step(credentials, skey, (Phase.CHANGES_APPLIED,), step, new_rows=True)

    def finish(self, credentials: Credentials, skey: str) -> int:
        """Merge everything staged, bump the usn once, and return the new `mod`."""
        now, user = self.clock.now_ms(), credentials.user

        def step(
            uow: UnitOfWork, lock: SyncLock, session: SyncSession
        ) -> tuple[int, SyncSession]:
            col = _required(lock.col)
            if col.usn != session.server_usn:
                raise SessionConflict("collection changed during sync")
            col = apply_staged(uow, user, col, session, now)
            uow.collections.update_meta(
                user, dataclasses.replace(col, usn=col.usn + 1, mod=now, ls=now)
            )
            uow.staging.discard(user)
            uow.sessions.delete(user)
            return now, session

        return self._step(credentials, skey, (Phase.SANITY_OK,), step, keep=False)

    def in_progress(self, user: UserId) -> bool:
        """Whether one of the user's devices is in the middle of a sync."""
        with self.uow(write=False, snapshot=False) as uow:
            session = uow.sessions.peek(Credentials(user)).session
        return session is not None and not session.expired(self.clock.now_ms())

    def abort(self, credentials: Credentials, skey: str) -> None:
        """End the caller's session; a no-op for anyone else's (abort always succeeds)."""
        retrying(lambda: self._abort(credentials, skey))

    def _abort(self, credentials: Credentials, skey: str) -> None:
        with self.uow() as uow:
            session = uow.sessions.lock(credentials).check(credentials).session
            if session is not None and (
                session.skey == skey or session.expired(self.clock.now_ms())
            ):
                self._end_session(uow, credentials.user)
                uow.commit()

    # -- helpers -----------------------------------------------------------------------

    def _step(
        self,
        credentials: Credentials,
        skey: str,
        phases: tuple[Phase, ...],
        body: Callable[[UnitOfWork, SyncLock, SyncSession], tuple[T, SyncSession]],
        keep: bool = True,
        new_rows: bool = False,
    ) -> T:
        """Run one step on the caller's session; a failed step ends the session."""
        _require_skey(skey)

        def attempt() -> T:
            # Only `finish` (keep=False) must be on disk before it answers; the steps
            # before it may lose their commit in a database crash, which the sanity check
            # (last chunk missing) or the next step (phase) then notices.
            with self.uow(durable=not keep) as uow:
                lock, session = self._session(uow, credentials, skey, phases, new_rows)
                result, session = body(uow, lock, session)
                if keep:
                    session = dataclasses.replace(session, touched_ms=self.clock.now_ms())
                    uow.sessions.save(credentials.user, session)
                uow.commit()
                return result

        try:
            return retrying(attempt)
        except SyncRejected:
            self._drop_if_owned(credentials.user, skey)
            raise

    def _nothing_to_send(self, credentials: Credentials, skey: str) -> bool:
        """Whether the caller's session, at its first chunk, has no rows to be sent (False
        whenever unsure: the locked step then decides, and refuses what it must)."""
        _require_skey(skey)
        with self.uow(write=False, snapshot=False) as uow:
            peek = uow.sessions.peek(credentials).check(credentials)
        session = peek.session
        return (session is not None and session.skey == skey
                and session.phase == Phase.CHANGES_APPLIED
                and not session.expired(self.clock.now_ms())
                and session.chunk_stage == ChunkStage.REVLOG and session.chunk_after is None
                and not peek.pending_rows)

    def _session(
        self, uow: UnitOfWork, credentials: Credentials, skey: str, phases: tuple[Phase, ...],
        new_rows: bool = False,
    ) -> tuple[SyncLock, SyncSession]:
        lock = uow.sessions.lock(credentials, new_rows=new_rows).check(credentials)
        _required(lock.col)
        session = lock.session
        if session is None or session.expired(self.clock.now_ms()):
            raise SessionConflict("no sync in progress")
        return lock, session.expect(skey, *phases)

    def _drop_if_owned(self, user: UserId, skey: str) -> None:
        with self.uow() as uow:
            _, session = uow.sessions.lock_with_collection(user)
            if session is not None and session.skey == skey:
                self._end_session(uow, user)
                uow.commit()

    @staticmethod
    def _end_session(uow: UnitOfWork, user: UserId) -> None:
        uow.staging.discard(user)
        uow.sessions.delete(user)

    def _meta(self, snapshot: MetaSnapshot, request: MetaRequest) -> ServerMeta:
        flags = SchedulingFlags.from_config(
            snapshot.sched_ver_json, snapshot.creation_offset_json
        )
        return server_meta(
            request,
            snapshot.meta,
            flags,
            empty=not snapshot.has_cards,
            media_usn=snapshot.media_usn,
            now_ms=self.clock.now_ms(),
        )


def _yield_to_others(credentials: Credentials, session: SyncSession | None, now: int,
                     skey: str | None = None) -> None:
    """A yielding device (`Credentials.yields`) never ends another sync in progress."""
    if credentials.yields and session is not None and not session.expired(now) \
            and session.skey != skey:
        raise SessionConflict("another of your devices is syncing; try again shortly")


def _check(credentials: Credentials, authorized: bool) -> None:
    if credentials.digest is not None and not authorized:
        raise AuthFailed("unknown host key")


def _required(col: CollectionMeta | None) -> CollectionMeta:
    """A normal sync needs a collection on the server; without one the client must upload."""
    if col is None:
        raise SyncRejected("no collection: a full sync is required")
    return col


def _stage(
    uow: UnitOfWork, user: UserId, session: SyncSession, items: list[staging.StagedItem]
) -> SyncSession:
    """Stage `items` and return the session that records their kinds (the two go together:
    sanityCheck2 and finish read only the kinds the session records)."""
    uow.staging.add(user, items)
    return session.with_staged(items)


MAX_SKEY_LENGTH = 64  # clients use 8 characters or so


def _require_skey(skey: str) -> None:
    if not skey:
        raise SyncRejected("missing session key")
    if len(skey) > MAX_SKEY_LENGTH or not skey.isprintable():
        raise SyncRejected("invalid session key")


def _check_notetypes(uow: UnitOfWork, user: UserId, changes: UnchunkedChanges) -> None:
    """Fail now, not at finish, if a note type would change shape (like the official server)."""
    ids = [merge.as_int(nt.get("id")) for nt in changes.notetypes]
    existing = uow.collections.objects(user, ObjectKind.NOTETYPE, ids)
    for nt in changes.notetypes:
        old = existing.get(merge.as_int(nt["id"]))
        if old is not None and merge.take_incoming_object(old.mtime, merge.object_mod(nt)):
            merge.check_notetype_shape(old.json, nt)


def _server_changes(
    uow: UnitOfWork, user: UserId, col: CollectionMeta, session: SyncSession, with_config: bool
) -> tuple[UnchunkedChanges, list[ConfigEntry] | None]:
    """The server's side of applyChanges, and its config map when the client's newer one is
    to be compared with it (`with_config`)."""
    ours = not session.client_is_newer
    found = uow.collections.changes_since(user, session.client_usn,
                                          with_config=ours or with_config)
    decks = found.decks
    if decks and session.may_have_staged(StageKind.GRAVE_DECK):
        deleted = uow.staging.keys(user, StageKind.GRAVE_DECK)
        decks = [o for o in decks if str(o.id) not in deleted]

    def decoded(objects: list[JsonObject]) -> tuple[dict[str, Any], ...]:
        return tuple(staging.decode_object(o.json) for o in objects)

    changes = UnchunkedChanges(
        notetypes=decoded(found.notetypes),
        decks=decoded(decks),
        deck_configs=decoded(found.deck_configs),
        tags=tuple(found.tags),
        config=None if not ours or found.config is None
        else {e.key: json.loads(e.json) for e in found.config},
        crt=col.crt if ours else None,  # read under this step's lock
    )
    return changes, found.config


def _own_offset_kept(changes: UnchunkedChanges, config: list[ConfigEntry] | None
                     ) -> UnchunkedChanges:
    """The server's own device (browser study) runs Anki on the server, which records the
    time zone of the process it runs in (`localOffset`), not necessarily the user's: the
    value the user's devices recorded is kept, which the web pages count days by."""
    if changes.config is None or LOCAL_OFFSET not in changes.config:
        return changes
    incoming = dict(changes.config)
    ours = next((e for e in config or [] if e.key == LOCAL_OFFSET), None)
    if ours is None:
        del incoming[LOCAL_OFFSET]
    else:
        incoming[LOCAL_OFFSET] = json.loads(ours.json)
    return dataclasses.replace(changes, config=incoming)


def _unchanged_dropped(
    changes: UnchunkedChanges, config: list[ConfigEntry] | None, col: CollectionMeta
) -> UnchunkedChanges:
    """`changes` without a config map or crt equal to the server's: a newer client sends
    both on every sync, and staging what would change nothing costs every sync."""
    if changes.config is not None and config is not None and merged_config(
            changes.config, config, usn=0, now_ms=0) is None:
        changes = dataclasses.replace(changes, config=None)
    if changes.crt is not None and changes.crt == col.crt:
        changes = dataclasses.replace(changes, crt=None)
    return changes


def _sanity_counts(counts: Counts) -> SanityCounts:
    return SanityCounts((0, 0, 0), counts.cards, counts.notes, counts.revlog, 0,
                        counts.notetypes, counts.decks, counts.deck_configs)
