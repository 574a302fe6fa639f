"""The JSON API and real devices share one collection: a real ankiserv (gunicorn) on
each backend, and `anki` 26.9.3 profiles that only ever need a NORMAL sync to see
what the API did, and whose reviews the API reports after they sync.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import zstandard
from anki.decks import DeckId

from tests.support.anki_client import Profile, add_basic_note, content
from tests.support.server import RunningServer, add_user_in_process, start_server

pytestmark = pytest.mark.e2e

NO_CHANGES, FULL_DOWNLOAD, FULL_UPLOAD = 0, 3, 4
CLIENT = "26.09.3,29bb700b,linux"


@pytest.fixture(scope="module")
def server(db_url: str, backend: str, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp(f"api-server-{backend}"), db_url)
    yield running
    running.stop()


@dataclass
class Rest:
    """A JSON API client over real HTTP."""

    url: str
    token: str = ""

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.url}/api/v1{path}", data=data, method=method,
            headers={"Authorization": f"Bearer {self.token}",
                     "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as resp:
                raw, status = resp.read(), resp.status
        except urllib.error.HTTPError as error:
            raw, status = error.read(), error.code
        return status, json.loads(raw) if raw else None

    def ok(self, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        got, answer = self.call(method, path, body)
        assert got == status, (method, path, got, answer)
        return answer

    def notetype(self, name: str) -> int:
        return next(nt["id"] for nt in self.ok("GET", "/notetypes")["items"]
                    if nt["name"] == name)


@dataclass
class Linked:
    """An account whose collection device A uploaded, and an API token for it."""

    device: Profile
    rest: Rest
    name: str
    password: str


@pytest.fixture
def linked(server: RunningServer, tmp_path: Path) -> Iterator[Linked]:
    name, password = f"api-{uuid.uuid4().hex[:8]}", f"pw-{uuid.uuid4().hex[:8]}"
    add_user_in_process(server, name, password)
    device = Profile.create(tmp_path / "device-a")
    add_basic_note(device.col, "from the device", "back", tags=["device"])
    device.login(name, password, server.endpoint)
    assert device.sync() == FULL_UPLOAD
    rest = Rest(server.url)
    rest.token = rest.ok("POST", "/token", {"username": name, "password": password},
                         status=201)["token"]
    yield Linked(device, rest, name, password)
    device.close()


def fronts(profile: Profile) -> dict[str, int]:
    col = profile.col
    return {col.get_note(n).fields[0]: int(n) for n in col.find_notes("")}


def comparable(profile: Profile) -> dict[str, Any]:
    """`content`, with card `data` parsed: the API writes `{"pos": 1}` where a device
    re-serialises to `{"pos":1}` (see test_api_notes.test_card_data_is_compact_json)."""
    seen = content(profile.col)
    seen["cards"] = [[*row[:-1], json.loads(row[-1]) if row[-1] else ""]
                     for row in seen["cards"]]
    return seen


def assert_same_as_a_fresh_download(linked: Linked, directory: Path) -> None:
    """Device B downloads the server's collection; it must equal A's after its normal sync."""
    other = Profile.create(directory)
    try:
        other.login(linked.name, linked.password, linked.rest.url + "/")
        assert other.sync(upload=False) == FULL_DOWNLOAD
        assert comparable(other) == comparable(linked.device)
    finally:
        other.close()


def test_api_changes_reach_a_device_by_normal_sync(linked: Linked, tmp_path: Path) -> None:
    rest, device = linked.rest, linked.device
    deck = rest.ok("POST", "/decks", {"name": "From API::Child"}, status=201)["id"]
    # One request per note, a few ms apart: a multi-card note whose card ids start where
    # earlier cards are hits a known bug (see test_api_notes'
    # test_a_batch_with_a_multi_card_note_after_another_note_is_added).
    added = []
    for new in (
        {"notetype_id": rest.notetype("Basic"), "fields": {"Front": "api basic", "Back": "ü"},
         "tags": ["api", "lvl::one"], "deck_id": deck},
        {"notetype_id": rest.notetype("Basic (and reversed card)"),
         "fields": {"Front": "api two-way", "Back": "both"}},
        {"notetype_id": rest.notetype("Cloze"),
         "fields": {"Text": "{{c1::a}} {{c2::b}} {{c3::c}}"}},
    ):
        time.sleep(0.01)
        added += rest.ok("POST", "/notes", {"notes": [new]}, status=201)["ids"]
    device_nid = fronts(device)["from the device"]
    device_cid = int(device.col.card_ids_of_note(device_nid)[0])
    rest.ok("POST", "/cards/move", {"ids": [device_cid], "deck_id": deck})
    rest.ok("POST", "/cards/suspend", {"ids": [device_cid]})

    assert device.sync() == NO_CHANGES
    col = device.col
    assert col.decks.by_name("From API::Child")["id"] == deck
    assert col.decks.by_name("From API") is not None
    assert sorted(fronts(device)) == ["api basic", "api two-way", "from the device",
                                      "{{c1::a}} {{c2::b}} {{c3::c}}"]
    basic, two_way, cloze = (col.get_note(n) for n in added)
    assert (basic["Back"], sorted(basic.tags)) == ("ü", ["api", "lvl::one"])
    assert [c.did for c in basic.cards()] == [deck]
    assert sorted(c.ord for c in two_way.cards()) == [0, 1]
    assert sorted(c.ord for c in cloze.cards()) == [0, 1, 2]
    moved = col.get_card(device_cid)
    assert (moved.did, moved.queue) == (deck, -1)
    assert col.sched.get_queued_cards().cards, "the API's new cards are studyable"

    rest.ok("PATCH", f"/notes/{added[0]}", {"fields": {"Back": "edited"}, "tags": ["edited"]})
    rest.ok("DELETE", f"/notes/{added[1]}", status=204)
    rest.ok("POST", "/cards/unsuspend", {"ids": [device_cid]})
    parent = col.decks.id_for_name("From API")
    rest.ok("PATCH", f"/decks/{parent}", {"name": "Renamed"})

    assert device.sync() == NO_CHANGES
    edited = col.get_note(added[0])
    assert (edited["Back"], edited.tags) == ("edited", ["edited"])
    assert added[1] not in {int(n) for n in col.find_notes("")}
    assert col.db.scalar("select count() from cards where nid = ?", added[1]) == 0
    assert col.get_card(device_cid).queue == 0
    assert (col.decks.name(parent), col.decks.name(deck)) == ("Renamed", "Renamed::Child")
    assert device.sync() == NO_CHANGES
    assert_same_as_a_fresh_download(linked, tmp_path / "device-b")

    rest.ok("DELETE", f"/decks/{parent}", status=204)
    assert device.sync() == NO_CHANGES
    assert col.decks.by_name("Renamed") is None and col.decks.by_name("Renamed::Child") is None
    assert sorted(fronts(device)) == ["{{c1::a}} {{c2::b}} {{c3::c}}"]
    assert col.card_count() == 3
    assert device.sync() == NO_CHANGES
    assert_same_as_a_fresh_download(linked, tmp_path / "device-c")
    problems, ok = col.fix_integrity()
    assert ok, problems


def test_reviews_on_a_device_show_in_the_api_after_it_syncs(linked: Linked) -> None:
    rest, device = linked.rest, linked.device
    col = device.col
    for i in range(3):
        add_basic_note(col, f"review me {i}")
    assert device.sync() == NO_CHANGES
    answered = []
    for _ in range(3):
        card = col.sched.getCard()
        assert card is not None
        col.sched.answerCard(card, 3)
        answered.append(int(card.id))
    assert rest.ok("GET", "/revlog")["revlog"] == []
    assert device.sync() == NO_CHANGES
    revlog = rest.ok("GET", "/revlog")["revlog"]
    local = col.db.all("select id, cid, ease, ivl, lastIvl, factor, time, type from revlog"
                       " order by id")
    assert [[e["id"], e["card_id"], e["ease"], e["interval"], e["last_interval"],
             e["factor"], e["time_ms"], e["type"]] for e in revlog] == local
    assert sorted({e["card_id"] for e in revlog}) == sorted(set(answered))
    for cid in answered:
        card = rest.ok("GET", f"/cards/{cid}")
        assert card["reps"] >= 1 and card["state"] != "new"
    stats = rest.ok("GET", "/stats")
    assert sum(n for _, n in stats["reviews_by_day"]) == len(local)


def test_filtered_decks_tags_and_new_cards_reach_a_device_as_anki_leaves_them(
    linked: Linked,
) -> None:
    """The device builds a filtered deck; the API moves one of its cards, deletes the deck,
    renames a tag and adds a cloze card by an edit. After a normal sync the device holds
    what Anki itself would, and its Check Database finds nothing to repair."""
    rest, device = linked.rest, linked.device
    col = device.col
    borrowed = [add_basic_note(col, f"borrow {i}", deck="Home", tags=["old::kid"])
                for i in range(3)]
    cards = [int(col.card_ids_of_note(n)[0]) for n in borrowed]
    positions = [col.get_card(c).due for c in cards]
    filtered = col.sched.get_or_create_filtered_deck(DeckId(0))
    filtered.name = "Cram"
    filtered.config.search_terms[0].search = "deck:Home"
    cram = col.sched.add_or_update_filtered_deck(filtered).id
    assert {col.get_card(c).did for c in cards} == {cram}
    assert device.sync() == NO_CHANGES

    target = rest.ok("POST", "/decks", {"name": "Target"}, status=201)["id"]
    rest.ok("POST", "/cards/move", {"ids": [cards[0]], "deck_id": target})
    rest.ok("DELETE", f"/decks/{cram}", status=204)
    assert rest.ok("POST", "/tags/rename", {"old": "old", "new": "new"}) == {"count": 3}
    new_cloze = {"notetype_id": rest.notetype("Cloze"), "fields": {"Text": "{{c1::a}}"}}
    (cloze,) = rest.ok("POST", "/notes", {"notes": [new_cloze]}, status=201)["ids"]
    rest.ok("PATCH", f"/notes/{cloze}", {"fields": {"Text": "{{c1::a}} {{c2::b}}"}})

    assert device.sync() == NO_CHANGES
    home = col.decks.id_for_name("Home")
    got = [col.get_card(c) for c in cards]
    assert [(c.did, c.odid, c.odue, c.due, c.queue) for c in got] == [
        (did, 0, 0, due, 0) for did, due in zip([target, home, home], positions, strict=True)]
    assert col.decks.id_for_name("Cram") is None
    assert [col.get_note(n).tags for n in borrowed] == [["new::kid"]] * 3
    assert "new::kid" in col.tags.all()
    assert sorted(c.ord for c in col.get_note(cloze).cards()) == [0, 1]
    problems, ok = col.fix_integrity()
    assert ok, problems


# -- a sync in progress --------------------------------------------------------------------


def frame(payload: Any) -> bytes:
    compressor = zstandard.ZstdCompressor().compressobj()
    return compressor.compress(json.dumps(payload).encode()) + compressor.flush()


def sync_call(url: str, method: str, payload: Any, key: str = "", skey: str = "s1") -> Any:
    """One raw protocol-v11 request, as anki 26.9.3 sends it."""
    header = json.dumps({"v": 11, "k": key, "c": CLIENT, "s": skey})
    request = urllib.request.Request(f"{url}/sync/{method}", data=frame(payload), method="POST",
                                     headers={"anki-sync": header})
    with urllib.request.urlopen(request, timeout=30) as resp:
        body = zstandard.ZstdDecompressor().decompressobj().decompress(resp.read())
    return json.loads(body) if body else None


def test_api_refuses_writes_while_a_device_is_mid_sync(linked: Linked) -> None:
    rest, url = linked.rest, linked.rest.url
    key = sync_call(url, "hostKey", {"u": linked.name, "p": linked.password})["key"]
    meta = sync_call(url, "meta", {"v": 11, "cv": "anki,26.09.3 (29bb700b),linux"}, key)
    sync_call(url, "start", {"minUsn": meta["usn"], "lnewer": False}, key)
    before = rest.ok("GET", "/notes")["notes"]
    note = {"notetype_id": rest.notetype("Basic"), "fields": {"Front": "while syncing"}}
    for method, path, body in (("POST", "/notes", {"notes": [note]}),
                               ("POST", "/decks", {"name": "Mid Sync"}),
                               ("POST", "/tags/rename", {"old": "device", "new": "x"})):
        status, answer = rest.call(method, path, body)
        assert status == 409, (path, answer)
    assert rest.ok("GET", "/notes")["notes"] == before
    sync_call(url, "abort", {}, key)
    rest.ok("POST", "/notes", {"notes": [note]}, status=201)
    assert linked.device.sync() == NO_CHANGES
    assert "while syncing" in fronts(linked.device)
