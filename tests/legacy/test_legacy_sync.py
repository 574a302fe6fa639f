"""anki 2.1.54 (sync v10: multipart + gzip, `GET msync/begin`, `sk`) syncing with ankiserv.

Each test uses a new account on a real ankiserv (gunicorn) per backend. Legacy devices
run in their own venv through `driver.py`; the mixed-account test also drives a current
client (anki 26.9.3) in this process.
"""

from __future__ import annotations

import base64
import json
import math
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import anki.collection  # noqa: F401  (first: anki.cards alone hits a circular import)
import pytest
from anki.cards import CardId
from anki.errors import SyncError
from anki.notes import NoteId

from tests.legacy.clients import (
    FULL_DOWNLOAD,
    FULL_UPLOAD,
    NO_CHANGES,
    DriverError,
    LegacyProfile,
)
from tests.legacy.driver import snapshot
from tests.support.anki_client import Profile, add_basic_note
from tests.support.server import RunningServer

pytestmark = pytest.mark.e2e

NewProfile = Callable[[str], LegacyProfile]
SEED: list[dict[str, Any]] = [
    {"op": "add_note", "front": "seed 0", "back": "ünïcödé 漢字 🙂", "tags": ["seed"]},
    {"op": "add_note", "front": "seed 1", "back": "b1", "tags": ["seed", "level::one"]},
    {"op": "add_note", "front": "seed 2", "back": "b2"},
    {"op": "add_note", "front": "extra 0", "back": "e0", "deck": "Extra"},
]


def front(dump: dict[str, Any], note_id: int) -> str | None:
    """The Front field of a note in a `snapshot`, or None if the note is gone."""
    for row in dump["notes"]:
        if row[0] == note_id:
            return str(row[5].split("\x1f")[0])
    return None


def deck_names(dump: dict[str, Any]) -> set[str]:
    return {name for _, name in dump["decks"]}


def differences(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    diff = {}
    for key in a:
        if a[key] != b[key]:
            only_a = [x for x in a[key] if x not in b[key]]
            only_b = [x for x in b[key] if x not in a[key]]
            diff[key] = {"only a": only_a, "only b": only_b}
    return diff


def assert_same(a: dict[str, Any], b: dict[str, Any]) -> None:
    diff = differences(a, b)
    assert not diff, f"devices differ in {sorted(diff)}: {diff}"


def next_second() -> None:
    """Note and card mtimes are in seconds: make the next edit strictly newer."""
    now = time.time()
    time.sleep(math.floor(now) + 1 - now + 0.01)


def linked_pair(new_profile: NewProfile, account: tuple[str, str]
                ) -> tuple[LegacyProfile, LegacyProfile, list[dict[str, Any]]]:
    """A uploads a seeded collection, B (a second 2.1.54 profile) downloads it."""
    user, password = account
    a, b = new_profile("a"), new_profile("b")
    results = a.run(*SEED, {"op": "login", "user": user, "password": password},
                    {"op": "sync"})
    results_of_seed = results[: len(SEED)]
    assert results[-1]["required"] == FULL_UPLOAD
    a.run({"op": "full_upload"})
    results = b.run({"op": "login", "user": user, "password": password}, {"op": "sync"})
    assert results[-1]["required"] == FULL_DOWNLOAD
    b.run({"op": "full_download"})
    return a, b, seeded(results_of_seed)


def seeded(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The seed notes as `{"id", "cards", "front"}`, from the results of `SEED`."""
    return [{**result, "front": command["front"]} for command, result in zip(SEED, results,
                                                                            strict=True)]


def test_login_with_a_wrong_password_or_unknown_user_is_an_auth_error(
    new_profile: NewProfile, account: tuple[str, str]
) -> None:
    user, password = account
    device = new_profile("a")
    for name, secret in ((user, password + "x"), ("nobody-" + user, password)):
        with pytest.raises(DriverError) as raised:
            device.login(name, secret)
        assert raised.value.kind == "AUTH", raised.value.error["message"]
    assert device.login(user, password)


def test_full_upload_then_full_download_to_a_second_profile(
    new_profile: NewProfile, account: tuple[str, str]
) -> None:
    a, b, seeded = linked_pair(new_profile, account)
    content = a.dump()
    assert sorted(n["front"] for n in seeded) == ["extra 0", "seed 0", "seed 1", "seed 2"]
    assert {"Default", "Extra"} <= deck_names(content)
    assert_same(b.dump(), content)
    assert a.sync() == NO_CHANGES
    assert b.sync() == NO_CHANGES


def test_incremental_sync_carries_adds_edits_deletions_and_reviews_both_ways(
    new_profile: NewProfile, account: tuple[str, str]
) -> None:
    a, b, seeded = linked_pair(new_profile, account)
    n0, n1, n2, extra = seeded
    added_on_a, *_ = a.run(
        {"op": "add_note", "front": "from a", "back": "new", "deck": "Lang::Japanese"},
        {"op": "edit_note", "id": n0["id"], "front": "seed 0 edited on a", "tags": ["x"]},
        {"op": "delete_note", "id": n1["id"]},
        {"op": "review", "card_id": n2["cards"][0], "ease": 3},
        {"op": "sync"},
    )
    assert b.sync() == NO_CHANGES
    after_a = b.dump()
    assert front(after_a, added_on_a["id"]) == "from a"
    assert front(after_a, n0["id"]) == "seed 0 edited on a"
    assert front(after_a, n1["id"]) is None
    assert {"Lang", "Lang::Japanese"} <= deck_names(after_a)
    assert [r[1] for r in after_a["revlog"]] == [n2["cards"][0]]
    assert_same(after_a, a.dump())

    extra_deck = next(i for i, name in after_a["decks"] if name == "Extra")
    lang = next(i for i, name in after_a["decks"] if name == "Lang::Japanese")
    added_on_b, *_ = b.run(
        {"op": "add_note", "front": "from b", "deck": "Lang::Japanese"},
        {"op": "edit_note", "id": added_on_a["id"], "back": "edited on b"},
        {"op": "rename_deck", "id": lang, "name": "Lang::日本語"},
        {"op": "delete_deck", "id": extra_deck},  # and its note "extra 0"
        {"op": "review", "card_id": n0["cards"][0], "ease": 4},
        {"op": "sync"},
    )
    assert a.sync() == NO_CHANGES
    after_b = a.dump()
    assert front(after_b, added_on_b["id"]) == "from b"
    assert front(after_b, extra["id"]) is None
    assert "Extra" not in deck_names(after_b)
    assert "Lang::日本語" in deck_names(after_b)
    assert "Lang::Japanese" not in deck_names(after_b)
    assert len(after_b["revlog"]) == 2
    assert_same(after_b, b.dump())
    assert a.sync() == b.sync() == NO_CHANGES


def test_conflicting_edits_of_one_note_keep_the_newer_edit(
    new_profile: NewProfile, account: tuple[str, str]
) -> None:
    a, b, seeded = linked_pair(new_profile, account)
    first, second = seeded[0]["id"], seeded[1]["id"]
    a.one("edit_note", id=first, front="older, on a")
    b.one("edit_note", id=second, front="older, on b")
    next_second()
    a.one("edit_note", id=second, front="newer, on a")
    b.one("edit_note", id=first, front="newer, on b")
    # B syncs first, then A: which side sends first must not matter, only mtimes.
    for device in (b, a, b):
        assert device.sync() == NO_CHANGES
    for device in (a, b):
        dump = device.dump()
        assert front(dump, first) == "newer, on b"
        assert front(dump, second) == "newer, on a"
    assert_same(a.dump(), b.dump())


def test_media_added_and_deleted_on_either_profile_reaches_the_other(
    new_profile: NewProfile, account: tuple[str, str]
) -> None:
    a, b, _ = linked_pair(new_profile, account)
    picture = bytes(range(256)) * 40
    a.run({"op": "add_media", "name": "from-a.txt", "text": "written on a"},
          {"op": "add_media", "name": "ünï 漢字.bin", "b64": _b64(picture)},
          {"op": "sync_media"})
    b.one("sync_media")
    assert set(b.dump()["media"]) == {"from-a.txt", "ünï 漢字.bin"}
    assert_same(b.dump(), a.dump())

    b.run({"op": "delete_media", "name": "from-a.txt"},
          {"op": "add_media", "name": "from-b.txt", "text": "written on b"},
          {"op": "sync_media"})
    a.one("sync_media")
    assert set(a.dump()["media"]) == {"ünï 漢字.bin", "from-b.txt"}

    a.run({"op": "delete_media", "name": "ünï 漢字.bin"}, {"op": "sync_media"})
    b.one("sync_media")
    assert set(b.dump()["media"]) == {"from-b.txt"}
    assert_same(a.dump(), b.dump())


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# NOTE: anki 2.1.54 parses card `data` into the keys it knows ("pos", the original
# position) and drops the rest, such as "lrt" (last review time) that 25.07.3+ writes.
# The server keeps what it receives, so only the keys 2.1.54 knows can be compared.
LEGACY_CARD_DATA_KEYS = ("pos",)


def comparable(dump: dict[str, Any]) -> dict[str, Any]:
    """A `snapshot` without the representation differences between 2.1.54 and 26.x."""
    cards = []
    for row in dump["cards"]:
        data = json.loads(row[-1] or "{}")
        known = {k: v for k, v in data.items() if k in LEGACY_CARD_DATA_KEYS}
        cards.append([*row[:-1], known])
    return {**dump, "cards": cards}


def sync_current(device: Profile) -> int:
    """Collection then media sync of the 26.9.3 device, like desktop."""
    assert device.auth is not None
    required = device.sync()
    # NOTE: anki 26.9.3 caches note types in Python; a sync does not clear the cache.
    device.col.models._clear_cache()
    device.col.sync_media(device.auth)
    deadline = time.monotonic() + 60
    while device.col.media_sync_status().active:
        assert time.monotonic() < deadline, "media sync did not finish"
        time.sleep(0.02)
    return required


def answer(device: Profile, card_id: int, ease: Literal[1, 2, 3, 4]) -> None:
    card = device.col.get_card(CardId(card_id))
    card.start_timer()
    device.col.sched.answerCard(card, ease)


def test_legacy_and_current_clients_on_one_account_converge(
    new_profile: NewProfile, account: tuple[str, str], legacy_server: RunningServer,
    tmp_path: Path,
) -> None:
    user, password = account
    legacy = new_profile("legacy")
    results = legacy.run(*SEED, {"op": "add_media", "name": "seed.txt", "text": "seed"},
                         {"op": "login", "user": user, "password": password}, {"op": "sync"})
    assert results[-1]["required"] == FULL_UPLOAD
    legacy.run({"op": "full_upload"}, {"op": "sync_media"})
    n0, n1, n2, extra = seeded(results[: len(SEED)])

    current = Profile.create(tmp_path / "current")
    try:
        current.login(user, password, legacy_server.endpoint)
        assert sync_current(current) == FULL_DOWNLOAD
        assert_same(comparable(snapshot(current.col)), comparable(legacy.dump()))
        # NOTE: 26.x schedules only with v3 and switches a v2 collection over, as desktop
        # does when it opens one; the config change then syncs to 2.1.54.
        current.col.set_v3_scheduler(True)

        # Changes on the current client: they reach 2.1.54 through the v11 server side.
        added = add_basic_note(current.col, "from 26.9.3", "new", deck="Current::Deck")
        note = current.col.get_note(NoteId(n0["id"]))
        note["Front"] = "seed 0 edited on 26.9.3"
        current.col.update_note(note)
        current.col.remove_notes([NoteId(n1["id"])])
        answer(current, n2["cards"][0], 3)
        current.col.media.write_data("from-current.txt", b"written by 26.9.3")
        assert sync_current(current) == NO_CHANGES
        assert legacy.run({"op": "sync"}, {"op": "sync_media"})[0]["required"] == NO_CHANGES
        seen_by_legacy = legacy.dump()
        assert front(seen_by_legacy, added) == "from 26.9.3"
        assert front(seen_by_legacy, n0["id"]) == "seed 0 edited on 26.9.3"
        assert front(seen_by_legacy, n1["id"]) is None
        assert "Current::Deck" in deck_names(seen_by_legacy)
        assert set(seen_by_legacy["media"]) == {"seed.txt", "from-current.txt"}
        assert_same(comparable(seen_by_legacy), comparable(snapshot(current.col)))

        # Changes on the legacy client: they reach 26.9.3.
        extra_deck = next(i for i, name in seen_by_legacy["decks"] if name == "Extra")
        new_card = next(c[0] for c in seen_by_legacy["cards"] if c[1] == added)
        from_legacy, *_ = legacy.run(
            {"op": "add_note", "front": "from 2.1.54", "deck": "Current::Deck"},
            {"op": "edit_note", "id": added, "back": "edited on 2.1.54"},
            {"op": "delete_deck", "id": extra_deck},  # and its note "extra 0"
            {"op": "review", "card_id": new_card, "ease": 3},
            {"op": "delete_media", "name": "from-current.txt"},
            {"op": "add_media", "name": "from-legacy.txt", "text": "written by 2.1.54"},
            {"op": "sync"}, {"op": "sync_media"},
        )
        assert sync_current(current) == NO_CHANGES
        seen_by_current = comparable(snapshot(current.col))
        assert front(seen_by_current, from_legacy["id"]) == "from 2.1.54"
        assert current.col.get_note(NoteId(added))["Back"] == "edited on 2.1.54"
        assert front(seen_by_current, extra["id"]) is None
        assert "Extra" not in deck_names(seen_by_current)
        assert sorted(r[1] for r in seen_by_current["revlog"]) == sorted(
            [n2["cards"][0], new_card])
        assert set(seen_by_current["media"]) == {"seed.txt", "from-legacy.txt"}

        for _ in range(2):  # nothing left to exchange in either direction
            assert legacy.run({"op": "sync"}, {"op": "sync_media"})[0]["required"] == 0
            assert sync_current(current) == NO_CHANGES
        assert_same(comparable(legacy.dump()), comparable(snapshot(current.col)))
    finally:
        current.close()


def test_collection_uploaded_by_a_current_client_downloads_to_legacy_and_syncs(
    new_profile: NewProfile, account: tuple[str, str], legacy_server: RunningServer,
    tmp_path: Path,
) -> None:
    user, password = account
    current = Profile.create(tmp_path / "current")
    try:
        col = current.col
        for i in range(3):
            add_basic_note(col, f"current {i}", "ünïcödé 漢字 🙂", deck="Nested::Deck::Leaf",
                           tags=["t"] if i else [])
        first = add_basic_note(col, "to review")
        answer(current, int(col.card_ids_of_note(NoteId(first))[0]), 3)
        conf_id = col.decks.add_config_returning_id("Intensive")
        conf = col.decks.get_config(conf_id)
        assert conf is not None
        conf["new"]["perDay"] = 55
        col.decks.update_config(conf)
        col.media.write_data("current.txt", b"uploaded by 26.9.3")
        current.login(user, password, legacy_server.endpoint)
        # Schema 18 upload; the server must hand 2.1.54 a download it can open.
        assert sync_current(current) == FULL_UPLOAD

        legacy = new_profile("legacy")
        results = legacy.run({"op": "login", "user": user, "password": password},
                             {"op": "sync"})
        assert results[-1]["required"] == FULL_DOWNLOAD
        legacy.run({"op": "full_download"}, {"op": "sync_media"})
        assert_same(comparable(legacy.dump()), comparable(snapshot(current.col)))

        added, *_ = legacy.run({"op": "add_note", "front": "from 2.1.54",
                                "deck": "Nested::Deck::Leaf"},
                               {"op": "edit_note", "id": first, "front": "edited on 2.1.54"},
                               {"op": "add_media", "name": "legacy.txt", "text": "2.1.54"},
                               {"op": "sync"}, {"op": "sync_media"})
        assert sync_current(current) == NO_CHANGES
        assert current.col.get_note(NoteId(added["id"]))["Front"] == "from 2.1.54"
        assert current.col.get_note(NoteId(first))["Front"] == "edited on 2.1.54"
        assert_same(comparable(legacy.dump()), comparable(snapshot(current.col)))
    finally:
        current.close()


def test_legacy_and_current_clients_syncing_at_once_get_conflicts_never_errors(
    new_profile: NewProfile, account: tuple[str, str], legacy_server: RunningServer,
    tmp_path: Path,
) -> None:
    """2.1.54 and 26.9.3 sync the same account at the same moment, round after round: each
    sync completes or is told another device syncs (never an error, a failed sanity check
    or a forced full sync), and afterwards both hold every note either added."""
    user, password = account
    legacy = new_profile("legacy")
    results = legacy.run(*SEED, {"op": "login", "user": user, "password": password},
                         {"op": "sync"})
    assert results[-1]["required"] == FULL_UPLOAD
    legacy.run({"op": "full_upload"})
    current = Profile.create(tmp_path / "current")
    try:
        current.login(user, password, legacy_server.endpoint)
        assert current.sync() == FULL_DOWNLOAD
        outcomes: list[str] = []

        def attempt(name: str, sync: Callable[[], int]) -> None:
            try:
                outcomes.append(f"{name} ok:{sync()}")
            except (DriverError, SyncError) as error:
                conflict = "Only one copy of Anki can sync" in str(error)
                outcomes.append("conflict" if conflict else f"{name} error:{error}")

        fronts = set()
        for round_ in range(6):
            legacy.run(*({"op": "add_note", "front": f"legacy {round_} {i}"} for i in range(3)))
            # Ids are millisecond timestamps: keep the two devices' apart, or they would
            # make the same card twice (as two Anki devices would).
            time.sleep(0.05)
            for i in range(3):
                add_basic_note(current.col, f"current {round_} {i}")
            time.sleep(0.05)
            fronts |= {f"{who} {round_} {i}" for who in ("legacy", "current") for i in range(3)}
            threads = [threading.Thread(target=attempt, args=("legacy", legacy.sync)),
                       threading.Thread(target=attempt, args=("current", current.sync))]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        assert len(outcomes) == 12 and set(outcomes) <= {
            "legacy ok:0", "current ok:0", "conflict"}, outcomes

        for _ in range(2):  # one at a time now: everything travels
            assert legacy.sync() == NO_CHANGES
            assert current.sync() == NO_CHANGES
        current.col.models._clear_cache()
        seen = {row[5].split("\x1f")[0] for row in legacy.dump()["notes"]}
        assert fronts <= seen
        assert_same(comparable(legacy.dump()), comparable(snapshot(current.col)))
    finally:
        current.close()
