"""Each user's study collection: an Anki collection file on the server, scheduled by the
`anki` library (Anki's own scheduler) and synced with the user's account through the
server's real sync endpoints (see `loopback`), under a host key of its own ("Study in the
browser" on the account page). One worker at a time holds a user's collection (a file
lock); it is opened per request, which costs a few milliseconds."""

from __future__ import annotations

import fcntl
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

from anki.collection import Collection
from anki.errors import BackendError, NotFoundError, SyncError, SyncErrorKind
from anki.scheduler.v3 import CardAnswer
from anki.scheduler.v3 import Scheduler as V3Scheduler
from anki.sound import SoundOrVideoTag, TTSTag
from anki.sync import SyncAuth, SyncOutput

from adapters.study.answer_undo import AnswerUndo
from adapters.study.loopback import Loopback
from adapters.study.zone_host import ZoneHosts
from domain.model import UserId
from ports.study import (
    CardChanged,
    CardSides,
    Finished,
    NoSuchCard,
    RenderedCard,
    StudyCard,
    SyncResult,
)

if TYPE_CHECKING:  # imported on its own, anki.cards runs into an import cycle
    from anki.cards import Card

log = logging.getLogger("ankiserv.study")

LOCK_TIMEOUT_S = 30.0
SYNC_DELAY_S = 1.0  # answers in a burst share one sync
BUSY_RETRY_S = 5.0
RATINGS = {1: CardAnswer.AGAIN, 2: CardAnswer.HARD, 3: CardAnswer.GOOD, 4: CardAnswer.EASY}
_TYPE_ANSWER = re.compile(r"\[\[type:(.+?)\]\]")
_CLOZE = r"\{\{c%d::(.*?)(?:::.*?)?\}\}"
_TAG = re.compile(r"<[^>]*>")


class StudyUnavailable(Exception):
    """The user's study collection is held by another request for too long."""


class OldScheduler(Exception):
    """The collection still uses Anki's v1 scheduler, which current Anki cannot run."""


class AnkiStudyCollection:
    """What the study device does with its open collection, through the `anki` library
    (in the worker, or in a process on the user's time zone: see `zone_host`)."""

    def __init__(self, col: Collection, folder: Path) -> None:
        self.col, self._folder = col, folder

    @property
    def _sched(self) -> V3Scheduler:
        sched = self.col.sched
        if not isinstance(sched, V3Scheduler):
            raise OldScheduler("this collection uses Anki's v1 scheduler: open it in Anki"
                               " on a computer once, which upgrades it, and sync")
        return sched

    # -- syncing -----------------------------------------------------------------------

    def sync_with(self, key: str, endpoint: str) -> SyncResult | None:
        """Sync under `key`; None if the server refused the key (revoked: logged out, or
        a new password), so that a new one can be issued."""
        try:
            return self._sync(SyncAuth(hkey=key, endpoint=endpoint))
        except SyncError as e:
            if e.kind == SyncErrorKind.AUTH:
                return None
            if "Only one copy" in str(e) or "409" in str(e):  # another device syncs
                return SyncResult.BUSY
            raise

    def _sync(self, auth: SyncAuth) -> SyncResult:
        out = self.col.sync_collection(auth, sync_media=False)
        if out.required in (SyncOutput.NO_CHANGES, SyncOutput.NORMAL_SYNC):
            (self._folder / "ready").touch()
            return SyncResult.SYNCED
        # A full sync: always from the account. This device never uploads a collection.
        AnswerUndo(self._folder).forget()
        self.col.close_for_full_sync()
        try:
            self.col.full_upload_or_download(auth=auth, server_usn=None, upload=False)
        finally:
            self.col.reopen(after_full_sync=True)
        (self._folder / "ready").touch()
        return SyncResult.DOWNLOADED

    # -- studying ----------------------------------------------------------------------

    def _select(self, deck_id: int) -> None:
        # Only a change of deck is a change: it syncs, as choosing a deck on a device does.
        if self.col.decks.get_current_id() != deck_id:
            self.col.decks.select(deck_id)  # type: ignore[arg-type]

    def next_card(self, deck_id: int) -> StudyCard | None:
        if self.col.decks.name_if_exists(deck_id) is None:  # type: ignore[arg-type]
            return None
        self._select(deck_id)
        queued = self._sched.get_queued_cards(fetch_limit=1)
        if not queued.cards:
            return None
        top = queued.cards[0]
        described = [*self._sched.describe_next_states(top.states), "", "", "", ""]
        intervals = (described[0], described[1], described[2], described[3])
        return StudyCard(top.card.id, top.card.deck_id, intervals,
                         queued.new_count, queued.learning_count, queued.review_count,
                         int(top.queue))

    def render(self, card_id: int, answer: bool) -> RenderedCard:
        try:
            card = self.col.get_card(card_id)  # type: ignore[arg-type]
        except NotFoundError:
            raise NoSuchCard(card_id) from None
        html = card.answer() if answer else card.question()
        tags = card.answer_av_tags() if answer else card.question_av_tags()
        html = _TYPE_ANSWER.sub(lambda m: self._type_answer(card, m.group(1), answer), html)
        return RenderedCard(html, tuple(t.filename for t in tags
                                        if isinstance(t, SoundOrVideoTag)),
                            tuple(t.field_text for t in tags if isinstance(t, TTSTag)))

    def sides(self, card_id: int) -> CardSides:
        try:
            card = self.col.get_card(card_id)  # type: ignore[arg-type]
        except NotFoundError:
            raise NoSuchCard(card_id) from None
        # As Anki's own reviewer asks for them (there is no public call for any card).
        try:
            states = self.col._backend.get_scheduling_states(card.id)
            next_reviews = tuple(self.col._backend.describe_next_states(states))
        except BackendError:  # a card the scheduler cannot place: its sides all the same
            next_reviews = ()
        return CardSides(card.question(), card.answer(), next_reviews)

    def _type_answer(self, card: Card, spec: str, answer: bool) -> str:
        """What Anki shows for a type-in field when nothing was typed: a box on the
        question side; the expected answer, compared with nothing, on the answer side."""
        if not answer:
            return '<input type="text" id="typeans" disabled placeholder="type the answer">'
        field = spec.split(":")[-1]
        note = card.note()
        try:
            text = note[field]
        except KeyError:  # a template naming a field the note type no longer has
            text = ""
        if spec.startswith("cloze:"):
            found = re.findall(_CLOZE % (card.ord + 1), text)
            text = ", ".join(found)
        return str(self.col.compare_answer(_TAG.sub("", text), ""))

    def answer(self, deck_id: int, card_id: int, rating: int, shown_ms: int,
               now_ms: int) -> None:
        # A sync may have brought another device's current deck since the card was shown.
        self._select(deck_id)
        queued = self._sched.get_queued_cards(fetch_limit=1)
        if not queued.cards or queued.cards[0].card.id != card_id or rating not in RATINGS:
            raise CardChanged(card_id)
        top = queued.cards[0]
        card = self.col.get_card(top.card.id)  # type: ignore[arg-type]
        # Anki times an answer from when the question was shown (capped by the preset).
        card.timer_started = min(max(shown_ms, now_ms - 86_400_000), now_ms) / 1000
        undo = AnswerUndo(self._folder)
        step = undo.before(self.col, card_id)
        self._sched.answer_card(self._sched.build_answer(
            card=card, states=top.states, rating=RATINGS[rating]))
        undo.answered(self.col, step)

    def undo(self) -> bool:
        return AnswerUndo(self._folder).undo(self.col)

    def can_undo(self) -> bool:
        return AnswerUndo(self._folder).pending()

    def finished(self, deck_id: int) -> Finished:
        self._select(deck_id)
        info = self._sched.congratulations_info()
        return Finished(info.learn_remaining, info.secs_until_next_learn,
                        info.review_remaining, info.new_remaining,
                        info.have_sched_buried or info.have_user_buried)

    def deck_name(self, deck_id: int) -> str | None:
        return self.col.decks.name_if_exists(deck_id)  # type: ignore[arg-type]


class Backend(Protocol):
    def call(self, name: str, *args: Any) -> Any:
        """Run `AnkiStudyCollection.<name>(*args)` on the open collection."""
        ...


class LocalBackend:
    def __init__(self, study: AnkiStudyCollection) -> None:
        self._study = study

    def call(self, name: str, *args: Any) -> Any:
        return getattr(self._study, name)(*args)


class StudySession:
    """One user's study collection while it is open, as `ports.study` sees it."""

    def __init__(self, backend: Backend, folder: Path, user: UserId,
                 owner: AnkiStudyCollections) -> None:
        self._backend, self._folder, self._user, self._owner = backend, folder, user, owner

    @property
    def ready(self) -> bool:
        return (self._folder / "ready").exists()

    def sync(self) -> SyncResult:
        if not self._owner.may_sync(self._user):
            return SyncResult.BUSY
        endpoint = self._owner.loopback.endpoint()
        for renew in (False, True):
            done = self._backend.call("sync_with", self._owner.key(self._user, renew), endpoint)
            if done is not None:
                return cast(SyncResult, done)
        raise SyncRefused(self._user)

    def next_card(self, deck_id: int) -> StudyCard | None:
        return cast(StudyCard | None, self._backend.call("next_card", deck_id))

    def render(self, card_id: int, answer: bool) -> RenderedCard:
        return cast(RenderedCard, self._backend.call("render", card_id, answer))

    def sides(self, card_id: int) -> CardSides:
        return cast(CardSides, self._backend.call("sides", card_id))

    def answer(self, deck_id: int, card_id: int, rating: int, shown_ms: int,
               now_ms: int) -> None:
        self._backend.call("answer", deck_id, card_id, rating, shown_ms, now_ms)

    def undo(self) -> bool:
        return bool(self._backend.call("undo"))

    def can_undo(self) -> bool:
        return bool(self._backend.call("can_undo"))

    def finished(self, deck_id: int) -> Finished:
        return cast(Finished, self._backend.call("finished", deck_id))

    def deck_name(self, deck_id: int) -> str | None:
        return cast(str | None, self._backend.call("deck_name", deck_id))


class SyncRefused(Exception):
    """The server refused even a newly issued key of the study device."""


def server_minutes_west() -> int:
    """This process's time zone now, as Anki records one (minutes west of UTC)."""
    return -time.localtime().tm_gmtoff // 60


class AnkiStudyCollections:
    """Every user's study collection under `root/<user id>/`.

    Anki's scheduler starts each day at the rollover hour in the time zone of the process
    it runs in. `time_zone` gives the one the user's devices recorded (minutes west of UTC,
    None if none); a user whose zone is not the server's gets their collection opened in
    a process of that zone (`zone_host`), so their day turns when it does on their devices.
    """

    def __init__(self, root: Path, loopback: Loopback, issue_key: Callable[[UserId], str],
                 may_sync: Callable[[UserId], bool],
                 time_zone: Callable[[UserId], int | None] = lambda _user: None) -> None:
        self.root, self.loopback = root, loopback
        self._issue_key, self.may_sync, self._time_zone = issue_key, may_sync, time_zone
        self._hosts = ZoneHosts()
        self._pending: dict[UserId, float] = {}
        self._wake = threading.Condition()
        self._syncer: threading.Thread | None = None

    def key(self, user: UserId, renew: bool = False) -> str:
        """This device's host key for the user, kept beside its collection (0600)."""
        path = self._folder(user) / "key"
        if not renew and path.exists():
            return path.read_text().strip()
        key = self._issue_key(user)
        partial = path.with_suffix(".partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(key)
        partial.replace(path)
        return key

    def secret(self, user: UserId) -> bytes:
        return self.key(user).encode()

    def _folder(self, user: UserId) -> Path:
        folder = self.root / str(int(user))
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    @contextmanager
    def open(self, user: UserId) -> Iterator[StudySession]:
        folder = self._folder(user)
        with (folder / "lock").open("a") as lock:
            deadline = time.monotonic() + LOCK_TIMEOUT_S
            while True:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise StudyUnavailable(user) from None
                    time.sleep(0.02)
            try:
                zone = self._time_zone(user)
                if zone is None or zone == server_minutes_west():
                    with self._local(folder) as backend:
                        yield StudySession(backend, folder, user, self)
                else:
                    with self._hosts.opened(zone, folder) as backend:
                        yield StudySession(backend, folder, user, self)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    @staticmethod
    @contextmanager
    def _local(folder: Path) -> Iterator[Backend]:
        col = Collection(str(folder / "collection.anki2"))
        try:
            yield LocalBackend(AnkiStudyCollection(col, folder))
        finally:
            col.close()

    # -- syncing off the request's path -----------------------------------------------

    def sync_soon(self, user: UserId, delay: float = SYNC_DELAY_S) -> None:
        with self._wake:
            self._pending.setdefault(user, time.monotonic() + delay)
            if self._syncer is None:
                self._syncer = threading.Thread(target=self._run, name="study-syncer",
                                                daemon=True)
                self._syncer.start()
            self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._pending:
                    self._wake.wait()
                user, due = min(self._pending.items(), key=lambda item: item[1])
                wait = due - time.monotonic()
                if wait > 0:
                    self._wake.wait(wait)
                    continue
                del self._pending[user]
            try:
                with self.open(user) as study:
                    if study.sync() == SyncResult.BUSY:
                        self.sync_soon(user, BUSY_RETRY_S)
            except Exception:  # a failed background sync is retried by the next visit
                log.exception("study collection of user %d did not sync", user)
