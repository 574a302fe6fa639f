"""Convergence: three Anki clients and one server, random edits and syncs (stateful).

The replicas start from one full upload (a) and two full downloads (b, c); from then
on every sync is a normal sync. After everyone has synced, all replicas and the
server must show the same content, and no edit may be lost:

- an object deleted anywhere is gone everywhere (graves always win);
- otherwise each copy holds the value of the edit with the newest mtime. Edits of
  the same object on two devices in the same second are a real tie: notes and cards
  then keep each side's local copy, note types, decks and presets take the incoming
  copy, so the devices can end up different. For such objects each copy must hold
  one of the values written in that second, and nothing older.

Replica c sends its deletions inside `start`, like legacy AnkiDroid. Interrupted
syncs, a second device taking over, stale keys, steps out of order, failed sanity
checks and expired sessions must leave the server exactly as it was. The same
machine runs against each SQL backend with fewer examples.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import tempfile
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import Engine

from adapters.ankifile.download_update import update_copy
from adapters.ankifile.writer import SCHEMA_LEGACY, write_collection
from adapters.memory.store import InMemoryStore
from adapters.sql.uow import SqlUnitOfWorkFactory
from domain.errors import SessionConflict, SyncRejected
from domain.model import Credentials, UserId
from domain.sync.note_text import FIELD_SEPARATOR, sort_field_and_checksum
from domain.sync.server import SyncServer
from domain.sync.session import SESSION_IDLE_MS
from domain.sync.values import Chunk, Graves, SanityCounts, UnchunkedChanges
from ports.stores import UnitOfWorkFactory
from tests.support.collection_file import file_content
from tests.support.fakes import FakeClock
from tests.support.replica import (
    DEFAULT_DECK_ID,
    SECTIONS,
    ClientReplica,
    Content,
    FullSyncRequired,
    ReplicaState,
    SanityCheckFailed,
    ServerSnapshot,
    ServerTime,
    Step,
    SyncOutcome,
    canonical,
    server_content,
    server_snapshot,
)

REPLICAS = ("a", "b", "c")
WHO = st.sampled_from(REPLICAS)
# Every round reaches everyone: a, b, c bring their changes in; a and b then fetch c's.
ROUND = (*REPLICAS, *REPLICAS[:-1])
FIELD_TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\x1f"), max_size=8)
TAGS = st.lists(
    st.sampled_from(["verb", "noun", "leech", "日本語", "ελληνικά"]), max_size=3, unique=True
)
CONFIG_KEYS = st.sampled_from(["curDeck", "nextPos", "sortBackwards", "addon:🙂", "x"])
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=5,
)
UNKNOWN_KEYS = st.sampled_from(["x-addon", "📎", "otherKey"])
MID_SYNC = [step for step in Step if step is not Step.META]
CHANGES = st.sampled_from(["edit", "delete"])
# Two devices edit or delete one object, then sync back to back (one rule per kind of
# object, so that such races are frequent).
RACE = {
    "writers": st.permutations(REPLICAS),
    "actions": st.tuples(CHANGES, CHANGES),
    "gap": st.sampled_from([0, 400, 1000, 2500]),
    "second_syncs_first": st.booleans(),
    "fresh": st.booleans(),
}

# Session steps a device may call, with harmless arguments.
CALLS: dict[str, Callable[[SyncServer, Credentials, str], object]] = {
    "applyGraves": lambda s, u, k: s.apply_graves(u, k, Graves()),
    "applyChanges": lambda s, u, k: s.apply_changes(u, k, UnchunkedChanges()),
    "chunk": lambda s, u, k: s.chunk(u, k),
    "applyChunk": lambda s, u, k: s.apply_chunk(u, k, Chunk(done=True)),
    "sanityCheck2": lambda s, u, k: s.sanity_check(u, k, SanityCounts((0, 0, 0), *[0] * 7)),
    "finish": lambda s, u, k: s.finish(u, k),
}
_STARTED = {"applyGraves", "applyChanges"}
_CHANGES_APPLIED = {"chunk", "applyChunk", "sanityCheck2"}
ALLOWED_AFTER = {
    Step.START: _STARTED,
    Step.APPLY_GRAVES: _STARTED,
    Step.APPLY_CHANGES: _CHANGES_APPLIED,
    Step.CHUNK: _CHANGES_APPLIED,
    Step.APPLY_CHUNK: _CHANGES_APPLIED,
    Step.SANITY_CHECK: {"finish"},
}


@dataclass(frozen=True)
class Edit:
    who: str
    mtime: int
    value: Any


@dataclass
class History:
    """Every value any replica wrote, and every deletion, for the "nothing lost" check."""

    edits: dict[tuple[str, int], list[Edit]] = field(default_factory=lambda: defaultdict(list))
    deleted: set[tuple[str, int]] = field(default_factory=set)
    tags: set[str] = field(default_factory=set)
    config: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))

    def wrote(self, who: str, replica: ClientReplica, section: str, oid: int) -> None:
        view = replica.view(section, oid)
        assert view is not None, f"{section}[{oid}] missing right after an edit"
        self.edits[(section, oid)].append(Edit(who, *view))

    def allowed(self, section: str, oid: int) -> set[Any]:
        """The values every copy may hold after everyone synced ({None} = deleted)."""
        if (section, oid) in self.deleted:
            return {None}
        edits = self.edits.get((section, oid))
        if not edits:
            return set()
        newest = max(e.mtime for e in edits)
        last = [e for e in edits if e.mtime == newest]
        if len({e.who for e in last}) == 1:
            return {last[-1].value}
        return {e.value for e in last}

    def problems(self, contents: dict[str, Content]) -> list[str]:
        out = []
        for section in SECTIONS:
            ids = {oid for c in contents.values() for oid in c.section(section)}
            ids |= {oid for s, oid in self.edits if s == section}
            for oid in sorted(ids):
                allowed = self.allowed(section, oid)
                out += [
                    f"{who}: {section}[{oid}] = {c.section(section).get(oid)!r}, "
                    f"expected one of {allowed!r}"
                    for who, c in contents.items()
                    if c.section(section).get(oid) not in allowed
                ]
        for who, c in contents.items():
            if c.tags != self.tags:
                out.append(f"{who}: tags {sorted(c.tags)} != {sorted(self.tags)}")
            out += [
                f"{who}: config[{key!r}] = {value} was never written"
                for key, value in c.config.items()
                if value not in self.config[key]
            ]
        return out


class ConvergenceMachine(RuleBasedStateMachine):
    notes = Bundle("notes")
    decks = Bundle("decks")

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.uow = self.make_uow()
        self.user = self.new_user()
        self.server = SyncServer(uow=self.uow, clock=ServerTime(self.clock))
        ids = itertools.count(self.clock.now_ms() * 1000)
        # c sends its deletions inside `start`, like legacy AnkiDroid.
        self.replicas = {
            who: ClientReplica(who, self.clock, ids.__next__, graves_in_start=who == "c")
            for who in REPLICAS
        }
        self.history = History()
        self.last_usn = -1
        self.races = 0
        self.files = tempfile.TemporaryDirectory(prefix="ankiserv-convergence-")
        self.kept_numbers = itertools.count()
        self.first_full_syncs()

    def teardown(self) -> None:
        self.files.cleanup()

    def make_uow(self) -> UnitOfWorkFactory:
        return InMemoryStore()

    def new_user(self) -> UserId:
        return UserId(1)

    def first_full_syncs(self) -> None:
        """a uploads its new collection; b and c replace theirs with it."""
        first = self.replicas["a"]
        self.clock.tick(1000)
        with pytest.raises(FullSyncRequired) as required:
            first.sync(self.server, self.user)
        assert required.value.upload_ok
        first.full_upload(self.server, self.user)
        for who in REPLICAS[1:]:
            self.replicas[who].full_download(self.server, self.user)
        for section in ("notetypes", "decks", "deck_configs"):
            for oid in first.state.objects(section):
                self.history.wrote("a", first, section, oid)
        for key, value in first.state.config.items():
            self.history.config[key].add(canonical(value))
        self.keep_a_full_download()

    # -- helpers ------------------------------------------------------------------------

    def snapshot(self) -> ServerSnapshot:
        return server_snapshot(self.uow, self.user)

    def after_sync(self, who: str, outcome: SyncOutcome | None) -> None:
        """Check what a replica holds after a sync that must have succeeded."""
        replica = self.replicas[who]
        assert outcome in (SyncOutcome.FINISHED, SyncOutcome.NO_CHANGES), outcome
        assert not replica.pending(), f"{who} still has unsent changes after {outcome}"
        if outcome is SyncOutcome.FINISHED:
            snap = self.snapshot()
            assert (replica.state.usn, replica.state.mod) == (snap.meta.usn, snap.meta.mod)
            self.check_same_as_server(who, snap)

    def check_same_as_server(self, who: str, snap: ServerSnapshot) -> None:
        """Right after a finished sync, the device holds what the server holds.

        Either side took the other's copy of everything changed (the whole config
        from the newer side), so the two differ only where both copies have the same
        mtime: a tie, which each side resolves its own way.
        """
        replica = self.replicas[who]
        mine, theirs = replica.content(), snap.content()
        differ = [
            f"{section}[{oid}]: {mine.section(section).get(oid)!r} on {who}, "
            f"{theirs.section(section).get(oid)!r} on the server"
            for section in SECTIONS
            for oid in mine.section(section).keys() | theirs.section(section).keys()
            if mine.section(section).get(oid) != theirs.section(section).get(oid)
            and not self.tie(replica.view(section, oid), snap.mtime(section, oid))
        ]
        assert not differ, "\n".join(differ[:10])
        assert (mine.tags, mine.config, mine.crt) == (theirs.tags, theirs.config, theirs.crt)

    @staticmethod
    def tie(view: tuple[int, Any] | None, server_mtime: int | None) -> bool:
        return view is not None and server_mtime is not None and view[0] == server_mtime

    def sync_ok(self, who: str) -> None:
        self.after_sync(who, self.replicas[who].sync(self.server, self.user))

    def check_converged(self) -> None:
        contents = {"server": server_content(self.uow, self.user)}
        contents |= {who: r.content() for who, r in self.replicas.items()}
        problems = self.history.problems(contents)
        crts = {c.crt for c in contents.values()}
        configs = {canonical(c.config) for c in contents.values()}
        assert not problems, "\n".join(problems[:15])
        assert len(crts) == 1 and len(configs) == 1, f"crt {crts} / config {configs}"

    # -- local edits --------------------------------------------------------------------

    @initialize(target=decks)
    def default_deck(self) -> int:
        return DEFAULT_DECK_ID

    @rule(
        target=notes, who=WHO, front=FIELD_TEXT, back=FIELD_TEXT, tags=TAGS, deck=st.integers(0, 7)
    )
    def add_note(self, who: str, front: str, back: str, tags: list[str], deck: int) -> int:
        replica = self.replicas[who]
        decks = sorted(replica.state.decks)
        nid, cid = replica.add_note([front, back], tags, deck_id=decks[deck % len(decks)])
        self.history.wrote(who, replica, "notes", nid)
        self.history.wrote(who, replica, "cards", cid)
        self.history.tags.update(tags)
        return nid

    @rule(who=WHO, note=notes, front=FIELD_TEXT)
    def edit_note(self, who: str, note: int, front: str) -> None:
        replica = self.replicas[who]
        if replica.edit_note(note, [front, f"by {who}"]):
            self.history.wrote(who, replica, "notes", note)

    @rule(who=WHO, note=notes, tags=TAGS)
    def set_note_tags(self, who: str, note: int, tags: list[str]) -> None:
        replica = self.replicas[who]
        if replica.set_note_tags(note, tags):
            self.history.wrote(who, replica, "notes", note)
            self.history.tags.update(tags)

    @rule(who=WHO, note=notes)
    def delete_note(self, who: str, note: int) -> None:
        self.history.deleted.update(self.replicas[who].delete_note(note))

    @rule(who=WHO, note=notes, ease=st.integers(1, 4))
    def review_card(self, who: str, note: int, ease: int) -> None:
        replica = self.replicas[who]
        card = replica.card_of(note)
        if card is not None:
            entry = replica.review_card(card, ease)
            assert entry is not None
            self.history.wrote(who, replica, "cards", card)
            self.history.wrote(who, replica, "revlog", entry)

    @rule(target=decks, who=WHO, extra=st.dictionaries(UNKNOWN_KEYS, JSON_VALUES, max_size=2))
    def add_deck(self, who: str, extra: dict[str, Any]) -> int:
        replica = self.replicas[who]
        did = replica.add_deck(extra)
        self.history.wrote(who, replica, "decks", did)
        return did

    @rule(who=WHO, deck=decks, desc=FIELD_TEXT)
    def edit_deck(self, who: str, deck: int, desc: str) -> None:
        replica = self.replicas[who]
        if replica.edit_object("decks", deck, {"desc": desc}):
            self.history.wrote(who, replica, "decks", deck)

    @rule(who=WHO, deck=decks)
    def delete_deck(self, who: str, deck: int) -> None:
        self.history.deleted.update(self.replicas[who].delete_deck(deck))

    @rule(who=WHO, per_day=st.integers(0, 9999))
    def edit_deck_config(self, who: str, per_day: int) -> None:
        replica = self.replicas[who]
        (conf_id, conf), *_ = replica.state.deck_configs.items()
        assert replica.edit_object(
            "deck_configs", conf_id, {"new": {**conf["new"], "perDay": per_day}}
        )
        self.history.wrote(who, replica, "deck_configs", conf_id)

    @rule(who=WHO, css=FIELD_TEXT, key=UNKNOWN_KEYS, value=JSON_VALUES)
    def edit_notetype(self, who: str, css: str, key: str, value: Any) -> None:
        replica = self.replicas[who]
        assert replica.edit_object("notetypes", replica.notetype_id, {"css": css, key: value})
        self.history.wrote(who, replica, "notetypes", replica.notetype_id)

    @rule(who=WHO, key=CONFIG_KEYS, value=JSON_VALUES)
    def set_config(self, who: str, key: str, value: Any) -> None:
        self.replicas[who].set_config(key, value)
        self.history.config[key].add(canonical(value))

    @rule(ms=st.integers(0, 1500))
    def tick(self, ms: int) -> None:
        self.clock.tick(ms)

    # -- syncs --------------------------------------------------------------------------

    @rule(who=WHO)
    def one_syncs(self, who: str) -> None:
        self.sync_ok(who)

    @rule()
    def everyone_syncs(self) -> None:
        """A full round; then all hold the same content and no edit is lost."""
        for who in ROUND:
            self.sync_ok(who)
        self.check_converged()
        self.kept_download_brought_up_to_date_is_a_fresh_one()
        last = self.replicas[ROUND[-1]]
        assert last.sync(self.server, self.user) is SyncOutcome.NO_CHANGES, (
            "finish must leave the server's mod equal to the value it returned"
        )

    @rule(who=WHO, stop=st.sampled_from(list(Step)))
    def interrupted_sync(self, who: str, stop: Step) -> None:
        """The client fails after `stop`: it rolls back and aborts; nothing changed anywhere."""
        replica = self.replicas[who]
        before, mine = self.snapshot(), copy.deepcopy(replica.state)
        outcome = replica.sync(self.server, self.user, stop_after=stop)
        assert outcome in (SyncOutcome.INTERRUPTED, SyncOutcome.NO_CHANGES)
        assert self.snapshot() == before
        assert replica.state == mine

    @rule(
        first=WHO,
        second=WHO,
        first_stop=st.sampled_from(MID_SYNC),
        second_stop=st.sampled_from(list(Step)),
    )
    def second_device_starts_mid_sync(
        self, first: str, second: str, first_stop: Step, second_stop: Step
    ) -> None:
        """The second device's sync ends the first's; the first gets 409 and changes nothing."""
        assume(first != second)
        one, two = self.replicas[first], self.replicas[second]
        before, mine = self.snapshot(), copy.deepcopy(one.state)
        run = one.begin_sync(self.server, self.user)
        if run.advance(until=first_stop) is not None:
            return  # nothing to sync, so no session to take over
        other = two.begin_sync(self.server, self.user)
        paused = other.advance(until=second_stop) is None
        with pytest.raises(SessionConflict):
            run.advance()
        assert one.state == mine
        after = self.snapshot()
        assert after.collection() == before.collection()
        holds = paused and second_stop is not Step.META
        assert (after.session.skey if after.session else None) == (other.skey if holds else None)
        self.after_sync(second, other.advance() if paused else other.outcome)

    @rule(
        who=WHO,
        call=st.sampled_from(sorted(CALLS)),
        stale=st.booleans(),
        holder=st.none() | WHO,
        pause=st.sampled_from(MID_SYNC),
    )
    def foreign_session_key_is_refused(
        self, who: str, call: str, stale: bool, holder: str | None, pause: Step
    ) -> None:
        """A stale or unknown key gets 409 and cannot end another device's sync."""
        skey = self.replicas[who].last_skey if stale else None
        skey = skey or f"{who}-foreign"
        run = None if holder is None else self.replicas[holder].begin_sync(self.server, self.user)
        if run is not None and run.advance(until=pause) is not None:
            run = None
        before = self.snapshot()
        with pytest.raises(SessionConflict):
            CALLS[call](self.server, Credentials(self.user), skey)
        self.server.abort(Credentials(self.user), skey)
        assert self.snapshot() == before, "a refused request or foreign abort changed the server"
        if run is not None and holder is not None:
            self.after_sync(holder, run.advance())

    @rule(who=WHO)
    def failed_sanity_check_changes_nothing(self, who: str) -> None:
        """A device whose counts disagree gets "bad"; it rolls back and aborts.

        (A real client would then also force a full sync; this one carries on.)
        """
        replica = self.replicas[who]
        before, mine = self.snapshot(), copy.deepcopy(replica.state)
        run = replica.begin_sync(self.server, self.user, miscount=1)
        with contextlib.suppress(SanityCheckFailed):
            assert run.advance() is SyncOutcome.NO_CHANGES, "a wrong count passed the check"
        assert self.snapshot() == before
        assert replica.state == mine

    @rule(who=WHO, pause=st.sampled_from(MID_SYNC))
    def stalled_sync_expires(self, who: str, pause: Step) -> None:
        """A conversation idle for longer than the session lifetime is over."""
        replica = self.replicas[who]
        before, mine = self.snapshot(), copy.deepcopy(replica.state)
        run = replica.begin_sync(self.server, self.user)
        if run.advance(until=pause) is not None:
            return
        self.clock.tick(SESSION_IDLE_MS + 1)
        with pytest.raises(SessionConflict):
            run.advance()
        after = self.snapshot()
        assert after.collection() == before.collection() and after.session is None
        assert replica.state == mine

    @rule(who=WHO, pause=st.sampled_from(MID_SYNC), data=st.data())
    def step_out_of_order_is_rejected(self, who: str, pause: Step, data: st.DataObject) -> None:
        """A step the session's phase does not allow gets 400 and ends the session."""
        replica = self.replicas[who]
        mine = copy.deepcopy(replica.state)
        run = replica.begin_sync(self.server, self.user)
        if run.advance(until=pause) is not None:
            return
        before = self.snapshot()
        wrong = data.draw(st.sampled_from(sorted(CALLS.keys() - ALLOWED_AFTER[pause])))
        with pytest.raises(SyncRejected):
            CALLS[wrong](self.server, Credentials(self.user), run.skey)
        after = self.snapshot()
        assert after.collection() == before.collection()
        assert after.session is None and not any(after.staged.values())
        run.fail()
        assert replica.state == mine

    @rule(note=notes, **RACE)
    def two_devices_change_a_note(self, note: int, **race: Any) -> None:
        self.race("note", note, DEFAULT_DECK_ID, **race)

    @rule(note=notes, **RACE)
    def two_devices_change_a_card(self, note: int, **race: Any) -> None:
        self.race("card", note, DEFAULT_DECK_ID, **race)

    @rule(deck=decks, **RACE)
    def two_devices_change_a_deck(self, deck: int, **race: Any) -> None:
        self.race("deck", 0, deck, **race)

    def race(
        self,
        what: str,
        note: int,
        deck: int,
        writers: list[str],
        actions: tuple[str, str],
        gap: int,
        second_syncs_first: bool,
        fresh: bool,
    ) -> None:
        """Both devices change the object `gap` ms apart, then both sync.

        With `fresh`, the object is a new one both devices have. The first device
        syncs right before its change, so the usn the next sync stamps equals its
        `minUsn`, and no other sync comes between the two devices' syncs.
        """
        first, second = writers[:2]
        if fresh:
            deck = self.add_deck(first, {})
            # In the new deck (the newest id sorts last) when racing on the deck.
            note = self.add_note(first, "race", "", [], -1 if what == "deck" else 0)
            self.sync_ok(first)
            self.sync_ok(second)
        self.sync_ok(first)
        self.change(first, actions[0], what, note, deck)
        self.clock.tick(gap)
        self.change(second, actions[1], what, note, deck)
        for who in (second, first) if second_syncs_first else (first, second):
            self.sync_ok(who)

    def change(self, who: str, action: str, what: str, note: int, deck: int) -> None:
        self.races += 1
        if action == "delete":
            if what == "deck":
                self.delete_deck(who, deck)
            else:
                self.delete_note(who, note)
        elif what == "note":
            self.edit_note(who, note, f"race {self.races}")
        elif what == "card":
            self.review_card(who, note, self.races % 4 + 1)
        else:
            self.edit_deck(who, deck, f"race {self.races}")

    # -- full downloads from a kept file -------------------------------------------------

    @rule()
    def keep_a_full_download(self) -> None:
        """A full download made now, kept as the server keeps it."""
        self.kept = Path(self.files.name) / f"kept{next(self.kept_numbers)}.anki2"
        with self.uow(write=False) as uow:
            write_collection(uow.collections.export(self.user), self.kept)

    @rule()
    def kept_download_brought_up_to_date_is_a_fresh_one(self) -> None:
        """Whatever happened since, the kept file plus the changes since its usn is
        exactly the download built from every row."""
        assert self.kept is not None
        folder = Path(self.files.name)
        updated, fresh = folder / "updated.anki2", folder / "fresh.anki2"
        with self.uow(write=False) as uow:
            contents = uow.collections.export(self.user)
            with self.kept.open("rb") as base:
                update_copy(base, SCHEMA_LEGACY, contents, updated, folder / "scratch")
            write_collection(contents, fresh)
        assert file_content(updated) == file_content(fresh)
        for path in (updated, fresh, folder / "scratch"):
            path.unlink(missing_ok=True)

    # -- invariants ---------------------------------------------------------------------

    @invariant()
    def server_is_consistent(self) -> None:
        snap = self.snapshot()
        assert snap.meta.usn >= self.last_usn, f"usn dropped to {snap.meta.usn}"
        self.last_usn = snap.meta.usn
        assert snap.counts == snap.actual_counts(), "stored counts differ from the rows"
        wrong = [(what, usn) for what, usn in snap.usns() if not 0 <= usn < snap.meta.usn]
        assert not wrong, f"usns outside [0, {snap.meta.usn}): {wrong[:5]}"
        assert snap.session is None and not any(snap.staged.values()), "a session was left"
        for note in snap.notes.values():
            expected = sort_field_and_checksum(note.flds.split(FIELD_SEPARATOR), 0)
            assert (note.sfld, note.csum) == expected, f"note {note.id}: stale sfld/csum"

    @invariant()
    def replicas_are_well_formed(self) -> None:
        for who, replica in self.replicas.items():
            state: ReplicaState = replica.state
            notetype_fields = {mid: len(nt["flds"]) for mid, nt in state.notetypes.items()}
            for note in state.notes.values():
                assert notetype_fields[note.mid] == len(note.flds.split(FIELD_SEPARATOR)), who


TestConvergence = ConvergenceMachine.TestCase
TestConvergence.settings = settings(deadline=None)


def test_convergence_on_sql(engine: Engine) -> None:
    """The same machine on each SQL backend; each example is a new user of one database.

    It runs an eighth of the profile's examples (6 with `dev`): the in-memory run
    explores, this one checks that the SQL stores behave the same.
    """

    class OnSql(ConvergenceMachine):
        def make_uow(self) -> UnitOfWorkFactory:
            return SqlUnitOfWorkFactory(engine)

        def new_user(self) -> UserId:
            return UserId(uuid.uuid4().int >> 66)

    run_state_machine_as_test(
        OnSql,
        settings=settings(
            max_examples=max(5, settings.default.max_examples // 8),
            stateful_step_count=15,
            deadline=None,
        ),
    )
