"""Studying through ankiserv schedules exactly as Anki does: the same answers given
through the study service (the server's study collection, synced through the real sync
endpoints) and through the `anki` library on a copy of the same collection leave the same
card states and review-log rows, ids and times aside. Also: what the study service does
around syncing, against the real server."""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from anki.collection import Collection
from anki.scheduler.v3 import CardAnswer

from adapters.study import STUDY_DEVICE
from adapters.study.anki_collection import AnkiStudyCollections
from adapters.system import SystemClock
from domain.model import KeyKind, UserId
from domain.study import Study
from entrypoints.config import Settings
from entrypoints.services import Services, build_services
from ports.study import CardChanged, SyncResult
from tests.e2e.devices import sync
from tests.support.anki_client import Profile, add_basic_note
from tests.support.server import RunningServer, add_user_in_process, start_server

pytestmark = pytest.mark.e2e

# Answers in order (1 Again .. 4 Easy): enough to take cards through learning steps,
# lapses and graduation in one day.
ANSWERS = [3, 1, 3, 4, 2, 3, 1, 1, 3, 3, 4, 2, 3, 3, 3, 1, 4, 3, 2, 3, 3, 3, 4, 3, 1, 3]
CARD_COLUMNS = "type, queue, ivl, factor, reps, lapses, left, odue, odid, flags"
REVLOG_COLUMNS = "r.ease, r.ivl, r.lastIvl, r.factor, r.type"


class FixedEndpoint:
    """The study adapter's loopback, pointed at the running server instead."""

    def __init__(self, url: str) -> None:
        self.url = url

    def endpoint(self) -> str:
        return self.url


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    data = tmp_path_factory.mktemp("study")
    server = start_server(data / "server", f"sqlite:///{data / 'ankiserv.db'}", workers=2,
                          ANKISERV_BASE_PATH="/anki/")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def services(served: RunningServer) -> Iterator[Services]:
    built = build_services(Settings.from_env(served.env))
    yield built
    built.close()


def _study(served: RunningServer, services: Services, root: Path,
           may_sync: Any = lambda _user: True, zone: int | None = None
           ) -> tuple[Study, AnkiStudyCollections]:
    collections = AnkiStudyCollections(
        root, FixedEndpoint(served.url + "/anki/"),  # type: ignore[arg-type]
        lambda user: services.accounts.issue_key(user, KeyKind.SYNC, STUDY_DEVICE,
                                                 yields=True), may_sync,
        lambda _user: zone)
    return Study(collections, SystemClock()), collections


def _account(served: RunningServer, services: Services, directory: Path
             ) -> tuple[UserId, Profile]:
    name = f"zoë-{uuid.uuid4().hex[:6]}"
    add_user_in_process(served, name, "pw")
    user = next(u.id for u in services.accounts.users() if u.name == name)
    device = Profile.create(directory / "device")
    device.login(name, "pw", served.url + "/anki/")
    for i in range(12):
        add_basic_note(device.col, f"front {i}", f"back {i}", deck="French")
    reversed_type = device.col.models.by_name("Basic (and reversed card)")
    for i in range(4):
        note = device.col.new_note(reversed_type)
        note["Front"], note["Back"] = f"two-way {i}", f"both {i}"
        device.col.add_note(note, device.col.decks.id("French"))
    # Some review cards due, overdue by different days with different intervals, in a
    # deterministic order: Anki orders reviews due the same day at random.
    col = device.col
    due = list(col.find_cards("front:front*"))[:5]
    col.sched.set_due_date(due, "0")
    for i, cid in enumerate(due):
        col.db.execute("UPDATE cards SET due = due - ?, ivl = ? WHERE id = ?", i, i + 2, cid)
    preset = col.decks.config_dict_for_deck_id(col.decks.id("French"))
    preset["reviewOrder"] = 3  # intervals ascending
    preset["newMix"] = 1  # new cards after reviews: no interleaving that depends on how
    # long a queue was kept (a queue kept open is updated, one opened anew is rebuilt)
    col.decks.update_config(preset)
    sync(device, upload=True)
    return user, device


def _wait_until_ready(study: Study, user: UserId, deck: int) -> None:
    deadline = time.monotonic() + 60
    while study.open_deck(user, deck).preparing:
        assert time.monotonic() < deadline, "the study collection never became ready"
        time.sleep(0.2)


def _rows(path: Path) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    with closing(sqlite3.connect(path)) as db:
        cards = db.execute(f"SELECT nid, ord, {CARD_COLUMNS} FROM cards ORDER BY nid, ord"
                           ).fetchall()
        revlog = db.execute(f"SELECT c.nid, c.ord, {REVLOG_COLUMNS} FROM revlog r"
                            " JOIN cards c ON c.id = r.cid ORDER BY r.id").fetchall()
    return cards, revlog


def test_answers_schedule_exactly_as_anki_does(served: RunningServer, services: Services,
                                              tmp_path: Path) -> None:
    user, device = _account(served, services, tmp_path)
    deck = device.col.decks.id("French")
    assert deck is not None
    # The copy answers through the anki library directly, as a desktop would.
    device.col.close()
    shutil.copy(device.path, tmp_path / "copy.anki2")
    copy = Collection(str(tmp_path / "copy.anki2"))
    device.col.reopen()

    study, _ = _study(served, services, tmp_path / "study")
    _wait_until_ready(study, user, deck)
    copy.decks.select(deck)
    for rating in ANSWERS:
        screen = study.open_deck(user, deck, sync=False)
        assert screen.card is not None
        # The same card as the study screen shows (Anki orders reviews due the same day
        # at random, so the two may not pick the same one unprompted).
        # The study device opens its collection anew for each request, so its queue is
        # built anew each time; the copy does the same, or the two could interleave new
        # and review cards differently (a queue kept open is updated, not rebuilt).
        copy.close()
        copy = Collection(str(tmp_path / "copy.anki2"))
        queued = copy.sched.get_queued_cards(fetch_limit=1).cards[0]
        assert queued.card.id == screen.card.card_id  # the same card comes next
        states = queued.states
        assert screen.card.intervals == tuple(copy.sched.describe_next_states(states))
        card = copy.get_card(queued.card.id)
        study.answer(user, deck, screen.card.card_id, rating, int(time.time() * 1000) - 3000)
        card.start_timer()
        copy.sched.answer_card(copy.sched.build_answer(
            card=card, states=states,
            rating=[CardAnswer.AGAIN, CardAnswer.HARD, CardAnswer.GOOD, CardAnswer.EASY][
                rating - 1]))
    study.finish(user)
    time.sleep(3)  # the study device's sync, a moment after the last answer
    sync(device)
    device.col.close()
    copy.close()
    studied, by_library = _rows(device.path), _rows(tmp_path / "copy.anki2")
    device.col.reopen()
    # Notes keep their ids on both sides (the copy is of the same file); card states and
    # review rows must be the same, in the same order.
    assert studied == by_library
    answered = [row for row in studied[1] if row[2] > 0]  # set_due_date's rows aside
    assert [row[2] for row in answered] == ANSWERS


def _studying(served: RunningServer, services: Services, directory: Path,
              zone: int | None = None
              ) -> tuple[UserId, Profile, int, Study, AnkiStudyCollections]:
    """A new account's device, its deck, and its study collection downloaded (on the
    time zone `zone`, minutes west of UTC, if given)."""
    user, device = _account(served, services, directory)
    deck = device.col.decks.id("French")
    assert deck is not None
    study, collections = _study(served, services, directory / "study", zone=zone)
    _wait_until_ready(study, user, deck)
    return user, device, deck, study, collections


@pytest.mark.parametrize("zone", [None, -540], ids=["server zone", "user in Tokyo"])
def test_a_card_answered_twice_is_refused_and_undo_takes_an_answer_back(
        served: RunningServer, services: Services, tmp_path: Path, zone: int | None) -> None:
    user, device, deck, study, _ = _studying(served, services, tmp_path, zone)
    first = study.open_deck(user, deck).card
    assert first is not None
    before = device.col.get_card(first.card_id)  # type: ignore[arg-type]
    first_type, first_queue, first_reps = before.type, before.queue, before.reps
    study.answer(user, deck, first.card_id, 3, int(time.time() * 1000))
    with pytest.raises(CardChanged):
        study.answer(user, deck, first.card_id, 3, int(time.time() * 1000))
    second = study.open_deck(user, deck, sync=False).card
    assert second is not None and second.card_id != first.card_id
    assert study.undo(user)
    again = study.open_deck(user, deck, sync=False).card
    assert again is not None and again.card_id == first.card_id
    assert not study.undo(user)  # one answer given, one undone
    study.finish(user)
    time.sleep(3)
    sync(device)
    undone = device.col.get_card(first.card_id)  # type: ignore[arg-type]
    # Back as it was before the answer, wherever the answer had got to.
    assert (undone.type, undone.queue, undone.reps) == (first_type, first_queue, first_reps)


def test_an_answer_after_a_sync_that_moved_the_current_deck_is_taken(
        served: RunningServer, services: Services, tmp_path: Path) -> None:
    # Another device choosing another deck syncs its current deck to the study device;
    # the card shown in the browser before that sync must still take its answer.
    user, device, deck, study, collections = _studying(served, services, tmp_path)
    shown = study.open_deck(user, deck).card
    assert shown is not None
    time.sleep(1.1)  # config changes are merged by modification time, in seconds
    sync(device)  # gets the study device's choice of deck
    device.col.decks.select(device.col.decks.id("Default"))  # type: ignore[arg-type]
    sync(device)
    with collections.open(user) as col:
        assert col.sync() == SyncResult.SYNCED
    study_file = tmp_path / "study" / str(int(user)) / "collection.anki2"
    with closing(sqlite3.connect(study_file)) as db:
        current = db.execute("SELECT val FROM config WHERE KEY = 'curDeck'").fetchone()[0]
    assert int(current) != deck  # the sync moved it
    study.answer(user, deck, shown.card_id, 3, int(time.time() * 1000))


def test_a_user_in_another_time_zone_studies_on_their_own_clock(
        served: RunningServer, services: Services, tmp_path: Path) -> None:
    # This process runs on UTC; the user's devices recorded Tokyo (9 hours east).
    assert time.localtime().tm_gmtoff == 0
    user, _device, deck, study, _ = _studying(served, services, tmp_path, zone=-540)
    shown = study.open_deck(user, deck).card
    assert shown is not None
    study.answer(user, deck, shown.card_id, 3, int(time.time() * 1000))
    sides = study.card_sides(user, [shown.card_id])[shown.card_id]
    assert "front" in sides.question or "two-way" in sides.question
    study_file = tmp_path / "study" / str(int(user)) / "collection.anki2"
    with closing(sqlite3.connect(study_file)) as db:
        recorded = db.execute("SELECT val FROM config WHERE KEY = 'localOffset'").fetchone()
    # Anki recorded the zone of the process it scheduled in: Tokyo's.
    assert recorded is not None and json.loads(recorded[0]) == -540


def test_no_sync_while_another_device_syncs(served: RunningServer, services: Services,
                                           tmp_path: Path) -> None:
    user, device = _account(served, services, tmp_path)
    deck = device.col.decks.id("French")
    assert deck is not None
    busy = [False]
    study, collections = _study(served, services, tmp_path / "study",
                                may_sync=lambda _user: not busy[0])
    _wait_until_ready(study, user, deck)
    busy[0] = True
    assert study.open_deck(user, deck).stale
    with collections.open(user) as col:
        assert col.sync() == SyncResult.BUSY
    busy[0] = False
    assert not study.open_deck(user, deck).stale


def test_a_revoked_study_device_logs_in_again(served: RunningServer, services: Services,
                                             tmp_path: Path) -> None:
    user, device = _account(served, services, tmp_path)
    deck = device.col.decks.id("French")
    assert deck is not None
    study, _ = _study(served, services, tmp_path / "study")
    _wait_until_ready(study, user, deck)
    studying = [k for k in services.accounts.keys(user) if k.label == STUDY_DEVICE]
    assert len(studying) == 1
    services.accounts.revoke_digest(user, studying[0].digest)
    add_basic_note(device.col, "added later", "x", deck="French")
    sync(device)
    screen = study.open_deck(user, deck)  # syncs with a new key
    assert not screen.stale
    assert [k.label for k in services.accounts.keys(user)].count(STUDY_DEVICE) == 1


def test_removing_the_user_removes_their_study_collection(
        served: RunningServer, services: Services, tmp_path: Path) -> None:
    user, device = _account(served, services, tmp_path)
    deck = device.col.decks.id("French")
    assert deck is not None
    root = Settings.from_env(served.env).study_dir
    study, _ = _study(served, services, root)
    _wait_until_ready(study, user, deck)
    assert (root / str(user) / "collection.anki2").exists()
    name = next(u.name for u in services.accounts.users() if u.id == user)
    services.accounts.remove_user(name)
    assert not (root / str(user)).exists()
