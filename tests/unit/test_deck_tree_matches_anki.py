"""Oracle tests: `domain.deck_tree` counts what Anki's own deck list counts.

Collections are built with the official `anki` package: nested decks under presets with
small limits, per-deck and today-only limits, reviews made due, cards answered into
learning, suspended and buried cards, filtered decks, counters from other days. Their
decks, presets, config and cards are read back as the server stores them, and our tree
must equal the one Anki's backend builds for the same moment. (`col.sched.deck_due_tree()`
is that backend call at the current second; calling it with an explicit `now` lets both
sides see the same second and lets us look past the learn-ahead limit and the rollover.)
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.deck_tree import (
    SCHEDULING_CONFIG_KEYS,
    DeckNode,
    deck_tree,
    scheduling_day,
)

pytest.importorskip("anki")

import anki.collection  # this loads anki.cards, which cannot be imported first
from anki.collection import Collection
from anki.dbproxy import DBProxy
from anki.decks import DeckId
from anki.errors import FilteredDeckError
from anki.scheduler.v3 import CardAnswer
from anki.scheduler.v3 import Scheduler as V3Scheduler

ROOT = Path(__file__).resolve().parents[2]
COMPONENTS = ["alpha", "Beta", "gamma", "Émile", "delta 2", "Zed"]
# Collections live in memory where we can: SQLite's syncs to disk are most of the run time.
MEMORY_DISK = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
NOW_SHIFTS = [0, 59, 61, 600, 1199, 1201, 3 * 3600, 86_400, 2 * 86_400 + 7200]


class CardRow(NamedTuple):
    did: int
    queue: int
    type: int
    due: int
    mod: int


def _db(col: Collection) -> DBProxy:
    assert col.db is not None
    return col.db


# -- reading a collection as the server stores it --


def _stored(col: Collection) -> dict[str, Any]:
    """The inputs of `deck_tree`, through JSON text like the server's rows."""
    return {
        "decks": [json.loads(json.dumps(d)) for d in col.decks.all()],
        "deck_configs": [json.loads(json.dumps(c)) for c in col.decks.all_config()],
        "config": json.loads(json.dumps(col.all_config())),
        "crt": _db(col).scalar("select crt from col"),
        "cards": [CardRow(*row)
                  for row in _db(col).all("select did, queue, type, due, mod from cards")],
    }


def _ours(col: Collection, now_s: int) -> tuple[Any, ...]:
    return _shape(deck_tree(**_stored(col), now_ms=now_s * 1000))


def _anki(col: Collection, now_s: int) -> tuple[Any, ...]:
    return _anki_shape(col._backend.deck_tree(now=now_s))


def _shape(node: DeckNode) -> tuple[Any, ...]:
    name = node.name[-1] if node.name else ""
    return (node.deck_id, name, node.filtered, node.collapsed, node.new, node.learn,
            node.review, tuple(_shape(c) for c in node.children))


def _anki_shape(node: Any) -> tuple[Any, ...]:
    return (node.deck_id, node.name, node.filtered, node.collapsed, node.new_count,
            node.learn_count, node.review_count, tuple(_anki_shape(c) for c in node.children))


def _assert_same_tree(col: Collection, now_s: int) -> None:
    expected = _anki(col, now_s)  # first: Anki may unbury and record its UTC offset
    assert _ours(col, now_s) == expected


# -- building collections --


@contextmanager
def _collection() -> Iterator[Collection]:
    with tempfile.TemporaryDirectory(dir=MEMORY_DISK) as folder:
        col = Collection(os.path.join(folder, "collection.anki2"))
        try:
            yield col
        finally:
            col.close()


def _add_notes(col: Collection, did: int, count: int, reversed_too: bool) -> None:
    notetype = col.models.by_name("Basic (and reversed card)" if reversed_too else "Basic")
    assert notetype is not None
    for i in range(count):
        note = col.new_note(notetype)
        note["Front"], note["Back"] = f"q{did}-{i}", "a"
        col.add_note(note, DeckId(did))


def _study(col: Collection, did: int, ratings: list[CardAnswer.Rating.V]) -> None:
    """Answer the cards Anki's v3 queue offers in this deck, one rating each."""
    col.decks.select(DeckId(did))
    sched = col.sched
    assert isinstance(sched, V3Scheduler)
    for rating in ratings:
        queued = sched.get_queued_cards(fetch_limit=1)
        if not queued.cards:
            return
        top = queued.cards[0]
        card = col.get_card(anki.cards.CardId(top.card.id))
        card.start_timer()
        sched.answer_card(sched.build_answer(card=card, states=top.states, rating=rating))


def _preset(col: Collection, name: str, new: int, review: int, steps: list[float],
            bury: bool) -> int:
    conf_id = col.decks.add_config_returning_id(name)
    conf = col.decks.get_config(conf_id)
    assert conf is not None
    conf["new"]["perDay"], conf["rev"]["perDay"] = new, review
    conf["new"]["delays"], conf["lapse"]["delays"] = steps, steps
    conf["new"]["bury"] = conf["rev"]["bury"] = bury
    col.decks.update_config(conf)
    return int(conf_id)


def _filtered(col: Collection, name: str, search: str, reschedule: bool) -> None:
    deck = col.sched.get_or_create_filtered_deck(deck_id=DeckId(0))
    deck.name = name
    deck.config.search_terms[0].search = search
    deck.config.search_terms[0].limit = 100
    deck.config.reschedule = reschedule
    with contextlib.suppress(FilteredDeckError):  # nothing matched
        col.sched.add_or_update_filtered_deck(deck)


def _age(col: Collection, days: int) -> None:
    """Make scheduled cards `days` older, as if answered `days` before."""
    _db(col).execute("update cards set due = due - ? where queue in (2, 3)", days)
    _db(col).execute("update cards set due = due - ? where queue in (1, 4)", days * 86_400)


def _set_counter(col: Collection, did: int, key: str, day: int, amount: int) -> None:
    deck = col.decks.get(DeckId(did))
    assert deck is not None
    deck[key] = [day, amount]
    col.decks.save(deck)


def _override(col: Collection, did: int, key: str, value: Any) -> None:
    deck = col.decks.get(DeckId(did))
    assert deck is not None and not deck["dyn"]
    deck[key] = value
    col.decks.save(deck)


# -- hypothesis: varied collections --


@dataclass(frozen=True)
class PresetSpec:
    new: int
    review: int
    steps: list[float]
    bury: bool


@dataclass(frozen=True)
class DeckSpec:
    path: tuple[str, ...]
    preset: int
    notes: int
    reversed_too: bool
    overrides: dict[str, tuple[int, int | None]]  # key -> (limit, day offset or None)


@dataclass(frozen=True)
class CollectionSpec:
    rollover: int
    creation_offset: int | None
    learn_ahead: int
    parent_limits: bool
    new_ignores_review: bool
    presets: list[PresetSpec]
    decks: list[DeckSpec]
    actions: list[tuple[Any, ...]]
    now_shift: int


RATINGS = [CardAnswer.AGAIN, CardAnswer.HARD, CardAnswer.GOOD, CardAnswer.EASY]
OVERRIDE_KEYS = ["reviewLimit", "newLimit", "reviewLimitToday", "newLimitToday"]

presets = st.builds(
    PresetSpec, new=st.integers(0, 6), review=st.integers(0, 6),
    steps=st.sampled_from([[1.0, 10.0], [1440.0], [1.0, 1440.0], [2880.0]]),
    bury=st.booleans(),
)
decks = st.builds(
    DeckSpec,
    path=st.lists(st.sampled_from(COMPONENTS), min_size=1, max_size=4).map(tuple)
    | st.just(("Default",)) | st.just(("Default", "inner")),
    preset=st.integers(0, 3), notes=st.integers(0, 5), reversed_too=st.booleans(),
    overrides=st.dictionaries(
        st.sampled_from(OVERRIDE_KEYS),
        st.tuples(st.integers(0, 5), st.sampled_from([None, 0, -1, 1])), max_size=2),
)
study = st.tuples(st.just("study"), st.integers(0, 99),
                  st.lists(st.sampled_from(RATINGS), min_size=1, max_size=6))
actions = st.one_of(
    st.tuples(st.just("due"), st.integers(0, 9), st.integers(1, 4),
              st.sampled_from(["0", "1", "0-2"])),
    study, study, study,
    st.tuples(st.just("suspend"), st.integers(0, 99)),
    st.tuples(st.just("bury"), st.integers(0, 99), st.booleans()),
    st.tuples(st.just("filtered"), st.sampled_from(["", "is:due", "is:new", "deck:alpha*",
                                                    "is:learn"]),
              st.booleans(), st.sampled_from(["Filtered", "alpha::Filtered"])),
    st.tuples(st.just("age"), st.integers(1, 4)),
    st.tuples(st.just("counter"), st.integers(0, 9),
              st.sampled_from(["newToday", "revToday", "timeToday"]),
              st.sampled_from([0, -1, 1]), st.integers(-3, 5)),
)
collections = st.builds(
    CollectionSpec,
    rollover=st.integers(0, 23),
    creation_offset=st.sampled_from([None, -600, -60, 0, 300, 420, 720]),
    learn_ahead=st.sampled_from([0, 60, 1200, 3600]),
    parent_limits=st.booleans(), new_ignores_review=st.booleans(),
    presets=st.lists(presets, min_size=1, max_size=3),
    decks=st.lists(decks, min_size=1, max_size=6),
    actions=st.lists(actions, max_size=10),
    now_shift=st.sampled_from(NOW_SHIFTS),
)


def _build(col: Collection, spec: CollectionSpec) -> list[int]:
    col.set_config("rollover", spec.rollover)
    if spec.creation_offset is None:
        col.remove_config("creationOffset")  # a collection from before 2.1.24's day rules
    else:
        col.set_config("creationOffset", spec.creation_offset)
    col.set_config("collapseTime", spec.learn_ahead)
    col.set_config("applyAllParentLimits", spec.parent_limits)
    col.set_config("newCardsIgnoreReviewLimit", spec.new_ignores_review)
    col.close()
    col.reopen()  # Anki caches the day; start afresh with these settings
    conf_ids = [1] + [_preset(col, f"p{i}", p.new, p.review, p.steps, p.bury)
                      for i, p in enumerate(spec.presets)]
    dids = []
    for deck_spec in spec.decks:
        did = int(col.decks.id("::".join(deck_spec.path)) or 1)
        deck = col.decks.get(DeckId(did))
        assert deck is not None
        deck["conf"] = conf_ids[deck_spec.preset % len(conf_ids)]
        col.decks.save(deck)
        _add_notes(col, did, deck_spec.notes, deck_spec.reversed_too)
        for key, (limit, offset) in deck_spec.overrides.items():
            today_only = key.endswith("Today")
            if today_only and offset is None:
                continue
            value = {"limit": limit, "today": col.sched.today + (offset or 0)}
            _override(col, did, key, value if today_only else limit)
        dids.append(did)
    return dids


def _act(col: Collection, dids: list[int], action: tuple[Any, ...]) -> None:
    kind, *args = action
    cids = _db(col).list("select id from cards order by id")
    if kind == "due":
        deck_cids = _db(col).list("select id from cards where did = ? and queue = 0 limit ?",
                                dids[args[0] % len(dids)], args[1])
        if deck_cids:
            col.sched.set_due_date(deck_cids, args[2])
    elif kind == "study" and cids:  # the deck of some card, filtered ones too
        did = _db(col).scalar("select did from cards where id = ?", cids[args[0] % len(cids)])
        _study(col, did, args[1])
    elif kind == "suspend" and cids:
        col.sched.suspend_cards([cids[args[0] % len(cids)]])
    elif kind == "bury" and cids:
        col.sched.bury_cards([cids[args[0] % len(cids)]], manual=args[1])
    elif kind == "filtered":
        _filtered(col, args[2], args[0], args[1])
    elif kind == "age":
        _age(col, args[0])
    elif kind == "counter":
        did = dids[args[0] % len(dids)]
        deck = col.decks.get(DeckId(did), default=False)
        if deck is not None and not deck["dyn"]:
            _set_counter(col, did, args[1], col.sched.today + args[2], args[3])


def _now(col: Collection, shift: int) -> int:
    now = int(time.time())
    buried = _db(col).scalar("select count() from cards where queue in (-2, -3)")
    if buried and now + shift >= col.sched.day_cutoff:
        # NOTE: Anki unburies by the real day only, so a later day would differ from ours
        # by design (we unbury as a device will when that day comes).
        return now
    return now + shift


@settings(max_examples=1000, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(spec=collections)
def test_counts_match_anki_for_varied_collections(spec: CollectionSpec) -> None:
    with _collection() as col:
        dids = _build(col, spec)
        for action in spec.actions:
            _act(col, dids, action)
        _assert_same_tree(col, _now(col, spec.now_shift))


# -- chosen cases --


def test_child_counts_are_capped_by_parent_limits_only_when_asked() -> None:
    with _collection() as col:
        parent = int(col.decks.id("Top") or 0)
        child = int(col.decks.id("Top::child") or 0)
        top_preset = _preset(col, "top", 2, 3, [1.0], False)
        _override(col, parent, "conf", top_preset)
        _add_notes(col, child, 5, reversed_too=False)
        cids = _db(col).list("select id from cards where did = ? limit 4", child)
        col.sched.set_due_date(cids, "0")
        now = int(time.time())
        _assert_same_tree(col, now)
        col.set_config("applyAllParentLimits", True)
        _assert_same_tree(col, now)
        col.set_config("newCardsIgnoreReviewLimit", True)
        _assert_same_tree(col, now)
        tree = deck_tree(**_stored(col), now_ms=now * 1000)
        top = tree.children[0]
        assert (top.name, top.children[0].name) == (("Top",), ("Top", "child"))
        assert (top.new, top.review) == (1, 3)
        assert (top.children[0].new, top.children[0].review) == (1, 3)


def test_interday_learning_uses_the_review_limit_first() -> None:
    with _collection() as col:
        did = int(col.decks.id("Deck") or 0)
        _override(col, did, "conf", _preset(col, "p", 10, 3, [1440.0], False))
        _add_notes(col, did, 6, reversed_too=False)
        _study(col, did, [CardAnswer.AGAIN, CardAnswer.AGAIN])  # learning again tomorrow
        col.sched.set_due_date(_db(col).list("select id from cards where queue = 0 limit 3"), "0")
        _age(col, 1)
        assert sorted(_db(col).list("select queue from cards")) == [0, 2, 2, 2, 3, 3]
        now = int(time.time())
        _assert_same_tree(col, now)
        deck = deck_tree(**_stored(col), now_ms=now * 1000).children[0]
        # 3 reviews a day, less the 2 new cards studied: 1 left, for learning
        assert (deck.new, deck.learn, deck.review) == (0, 1, 0)
        col.set_config("newCardsIgnoreReviewLimit", True)
        _assert_same_tree(col, now)
        deck = deck_tree(**_stored(col), now_ms=now * 1000).children[0]
        assert (deck.new, deck.learn, deck.review) == (1, 2, 1)


def test_day_boundary_moves_counters_and_due_cards() -> None:
    with _collection() as col:
        did = int(col.decks.id("Deck") or 0)
        _add_notes(col, did, 30, reversed_too=False)
        _set_counter(col, did, "newToday", col.sched.today, 19)
        _override(col, did, "newLimitToday", {"limit": 30, "today": col.sched.today})
        _study(col, did, [CardAnswer.AGAIN])  # the 20th new card today; learning, due soon
        cids = _db(col).list("select id from cards where queue = 0 order by id")
        col.sched.set_due_date(cids[:2], "0")
        col.sched.set_due_date(cids[2:4], "1")
        cutoff = col.sched.day_cutoff
        for now in (cutoff - 1, cutoff, cutoff + 1, cutoff + 86_399, cutoff + 86_400):
            _assert_same_tree(col, now)
        before = deck_tree(**_stored(col), now_ms=(cutoff - 1) * 1000).children[0]
        after = deck_tree(**_stored(col), now_ms=cutoff * 1000).children[0]
        assert (before.new, before.review) == (10, 2)  # 30 - 20 studied, 2 due
        assert (after.new, after.review) == (20, 4)  # the preset's 20 again; 4 due


def test_cards_buried_on_an_earlier_day_count_again() -> None:
    with _collection() as col:
        did = int(col.decks.id("Deck") or 0)
        _add_notes(col, did, 3, reversed_too=False)
        cids = _db(col).list("select id from cards order by id")
        col.sched.bury_cards(cids[:2])
        now = int(time.time())
        _assert_same_tree(col, now)
        stored = _stored(col)
        assert deck_tree(**stored, now_ms=now * 1000).children[0].new == 1
        # A device unburies at its next day's first look without syncing the cards, but
        # it does sync `lastUnburied`: the server sees old burials with a newer day.
        start = scheduling_day(stored["crt"], stored["config"], now * 1000).starts_at
        stale = [c._replace(mod=start - 1) for c in stored["cards"]]
        assert deck_tree(**{**stored, "cards": stale}, now_ms=now * 1000).children[0].new == 3
        # A day later (the collection made a day older), Anki unburies them all, and we
        # count them before it has.
        _db(col).execute("update col set crt = crt - 86400")
        col.close()
        col.reopen()
        assert deck_tree(**_stored(col), now_ms=now * 1000).children[0].new == 3
        _assert_same_tree(col, now)


@pytest.mark.parametrize(("sched_ver", "creation_offset"), [(1, 0), (2, None), (2, 300)])
def test_day_number_matches_anki_hour_by_hour(sched_ver: int, creation_offset: int | None) -> None:
    """v1 counts days from `crt`; v2 without a creation offset from `crt`'s rollover hour;
    v2 with one by calendar dates in each offset."""
    with _collection() as col:
        did = int(col.decks.id("Deck") or 0)
        _add_notes(col, did, 10, reversed_too=False)
        col.set_config("schedVer", sched_ver)
        if creation_offset is None:
            col.remove_config("creationOffset")
        else:
            col.set_config("creationOffset", creation_offset)
        _db(col).execute("update col set crt = crt - ?", 3 * 86_400 + 5 * 3600)
        col.close()
        col.reopen()
        now = int(time.time())
        stored = _stored(col)
        today = scheduling_day(stored["crt"], stored["config"], now * 1000).today
        for offset, cid in enumerate(_db(col).list("select id from cards order by id")):
            _db(col).execute("update cards set type = 2, queue = 2, due = ? where id = ?",
                           today - 2 + offset % 5, cid)
        for hours in range(72):
            _assert_same_tree(col, now + hours * 3600)


def test_a_deck_whose_preset_is_missing_has_no_limits() -> None:
    with _collection() as col:
        did = int(col.decks.id("Deck::sub") or 0)
        _add_notes(col, did, 30, reversed_too=False)
        _override(col, did, "conf", 987_654)
        now = int(time.time())
        _assert_same_tree(col, now)
        assert deck_tree(**_stored(col), now_ms=now * 1000).children[0].children[0].new == 30


def test_empty_default_deck_is_hidden_unless_alone() -> None:
    with _collection() as col:
        now = int(time.time())
        _assert_same_tree(col, now)
        col.decks.id("Other")
        _assert_same_tree(col, now)
        tree = deck_tree(**_stored(col), now_ms=now * 1000)
        assert [c.name for c in tree.children] == [("Other",)]


def test_scheduling_config_keys_cover_what_the_counts_read() -> None:
    with _collection() as col:
        did = int(col.decks.id("Deck") or 0)
        _add_notes(col, did, 4, reversed_too=False)
        _study(col, did, [CardAnswer.AGAIN, CardAnswer.GOOD])
        now = int(time.time())
        stored = _stored(col)
        only = {k: v for k, v in stored["config"].items() if k in SCHEDULING_CONFIG_KEYS}
        assert deck_tree(**{**stored, "config": only}, now_ms=now * 1000) == deck_tree(
            **stored, now_ms=now * 1000)


# -- Anki's day number in another time zone, in a process of its own --


def compare_in_this_process() -> None:
    """Anki reads the time zone once per process, so other zones run in a subprocess."""
    with _collection() as col:
        did = int(col.decks.id("Deck::sub") or 0)
        _add_notes(col, did, 6, reversed_too=False)
        cids = _db(col).list("select id from cards order by id")
        col.sched.set_due_date(cids[:2], "0")
        col.sched.set_due_date(cids[2:4], "1")
        _set_counter(col, did, "newToday", col.sched.today, 1)
        now = int(time.time())
        cutoff = col.sched.day_cutoff
        for at in (now, cutoff - 1, cutoff):
            _assert_same_tree(col, at)
        assert col.get_config("localOffset", None) not in (None, 0)


@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "America/Denver"])
def test_counts_match_anki_in_another_time_zone(zone: str) -> None:
    code = "from tests.unit.test_deck_tree_matches_anki import compare_in_this_process as c; c()"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ, "TZ": zone}, check=False)
    assert done.returncode == 0, done.stderr


# -- the day number against cases worked out from Anki's timing rules --

MDT, MST = -6, -7  # UTC offsets in hours


def _stamp(hours_east: int, year: int, month: int, day: int, hour: int = 0, minute: int = 0,
           second: int = 0) -> int:
    zone = timezone(timedelta(hours=hours_east))
    return int(datetime(year, month, day, hour, minute, second, tzinfo=zone).timestamp())


def _today(crt: int, now: int, creation_west: int | None, current_west: int,
           rollover: int = 4) -> int:
    config: dict[str, Any] = {"schedVer": 2, "rollover": rollover, "localOffset": current_west}
    if creation_west is not None:
        config["creationOffset"] = creation_west
    return scheduling_day(crt, config, now * 1000).today


@pytest.mark.parametrize(("crt", "now", "creation_west", "current_west", "today"), [
    # a creation in summer time and a day in winter time, counted in either offset
    (_stamp(MDT, 2018, 8, 6), _stamp(MST, 2019, 12, 26, 20), 360, 420, 507),
    (_stamp(MDT, 2018, 8, 6), _stamp(MST, 2019, 12, 26, 20), 360, 360, 507),
    # up to the rollover hour in the current offset, then the next day
    (_stamp(MDT, 2018, 8, 6, 3), _stamp(MST, 2018, 8, 9, 1, 59, 59), 360, 420, 2),
    (_stamp(MDT, 2018, 8, 6, 3), _stamp(MST, 2018, 8, 9, 3, 59, 59), 360, 420, 2),
    (_stamp(MDT, 2018, 8, 6, 3), _stamp(MST, 2018, 8, 9, 4), 360, 420, 3),
    # before the first rollover it is still day 0
    (_stamp(MDT, 2018, 8, 6, 3), _stamp(MDT, 2018, 8, 6, 3), 360, 360, 0),
])
def test_day_number_follows_dates_in_each_offset(
    crt: int, now: int, creation_west: int, current_west: int, today: int
) -> None:
    assert _today(crt, now, creation_west, current_west) == today


def test_day_number_turns_at_the_rollover_hour() -> None:
    hours = (0, 1, 4, 12, 22, 23)
    for creation_hour, day, hour, rollover in itertools.product(hours, range(4), hours, hours):
        crt = _stamp(MDT, 2018, 8, 6, creation_hour)
        now = _stamp(MDT, 2018, 8, 6 + day, hour)
        expected = max(day - 1, 0) if hour < rollover else day
        assert _today(crt, now, 360, 360, rollover) == expected, (creation_hour, day, hour)


def test_legacy_and_v1_days_count_from_the_creation_stamp() -> None:
    now = 1584491078
    aest = -600
    assert _today(1533564000, now, None, aest, rollover=0) == 589
    assert _today(1524038400, now, None, aest, rollover=4) == 700
    legacy = scheduling_day(1524038400, {"schedVer": 2, "localOffset": aest}, now * 1000)
    assert legacy.ends_at == 1584554400
    v1 = scheduling_day(1575226800, {"schedVer": 1}, now * 1000)
    assert (v1.today, v1.ends_at) == (107, 1584558000)


def test_invalid_offsets_and_rollovers_fall_back_like_anki() -> None:
    crt = _stamp(0, 2020, 1, 1, 4)
    three, five = _stamp(0, 2020, 1, 3, 3) * 1000, _stamp(0, 2020, 1, 3, 5) * 1000
    base: dict[str, Any] = {"schedVer": 2, "creationOffset": 0}
    assert scheduling_day(crt, {**base, "rollover": 3}, three).today == 2
    # a rollover that is no u8 is 4, and 23 at most
    assert scheduling_day(crt, {**base, "rollover": 300}, three).today == 1
    assert scheduling_day(crt, {**base, "rollover": 300}, five).today == 2
    assert scheduling_day(crt, {**base, "rollover": 40}, five).today == 1
    # no valid current offset is UTC
    assert scheduling_day(crt, {**base, "rollover": 3, "localOffset": 1440}, three).today == 2
    assert scheduling_day(crt, {**base, "rollover": 3, "localOffset": 60}, three).today == 1
