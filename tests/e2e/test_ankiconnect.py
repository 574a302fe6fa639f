"""AnkiConnect through the real server: what a dictionary pop-up sends (a note with a
picture, through a browser extension's origin) reaches a real Anki client at its next
sync, and a duplicate is refused with AnkiConnect's words."""

from __future__ import annotations

import base64
import json
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.devices import sync
from tests.media.devices import folder_files, sync_media
from tests.support.anki_client import Profile, add_basic_note
from tests.support.server import RunningServer, add_user_in_process, start_server

pytestmark = pytest.mark.e2e

PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")
EXTENSION = "chrome-extension://likgccmbimhjbgkjambclfkhldnlhbnn"  # Yomitan's id


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    data = tmp_path_factory.mktemp("ankiconnect")
    server = start_server(data / "server", f"sqlite:///{data / 'ankiserv.db'}", workers=2,
                          ANKISERV_BASE_PATH="/anki/")
    yield server
    server.stop()


def _post(url: str, body: Any, origin: str | None = None) -> tuple[Any, dict[str, str]]:
    headers = {"Content-Type": "application/json"}
    if origin:
        headers["Origin"] = origin
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers)
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read()), {k.lower(): v for k, v in answer.headers.items()}


def _token(served: RunningServer, name: str, password: str) -> str:
    answer, _ = _post(served.url + "/anki/api/v1/token",
                      {"username": name, "password": password, "label": "Yomitan"})
    return str(answer["token"])


def _account(served: RunningServer, directory: Path) -> tuple[str, str, Profile]:
    """A new user (name, password) and a device of theirs, logged in."""
    name, password = f"zoë-{uuid.uuid4().hex[:6]}", "pw"
    add_user_in_process(served, name, password)
    device = Profile.create(directory / "device")
    device.login(name, password, served.url + "/anki/")
    return name, password, device


def test_a_note_with_a_picture_from_an_extension_reaches_a_real_client(
        served: RunningServer, tmp_path: Path) -> None:
    name, password, device = _account(served, tmp_path)
    add_basic_note(device.col, "already there", "x", deck="Japanese")
    sync(device, upload=True)
    key = _token(served, name, password)
    endpoint = served.url + "/anki/ankiconnect"

    permission, headers = _post(endpoint, {"action": "requestPermission", "version": 6},
                                origin=EXTENSION)
    assert permission == {"result": {"permission": "granted", "requireApikey": True,
                                     "version": 6}, "error": None}
    assert headers["access-control-allow-origin"] == EXTENSION
    note = {"deckName": "Japanese", "modelName": "Basic", "tags": ["yomitan"],
            "fields": {"Front": "猫", "Back": "cat"},
            "picture": [{"data": base64.b64encode(PNG).decode(), "filename": "neko.png",
                         "fields": ["Back"]}]}
    added, _ = _post(endpoint, {"action": "addNote", "version": 6, "key": key,
                                "params": {"note": note}}, origin=EXTENSION)
    assert added["error"] is None and isinstance(added["result"], int)
    again, _ = _post(endpoint, {"action": "addNote", "version": 6, "key": key,
                                "params": {"note": note}})
    assert again == {"result": None,
                     "error": "cannot create note because it is a duplicate"}
    refused, _ = _post(endpoint, {"action": "deckNames", "version": 6, "key": "wrong"})
    assert refused == {"result": None, "error": "valid api key must be provided"}
    found, _ = _post(endpoint, {"action": "findNotes", "version": 6, "key": key,
                                "params": {"query": "tag:yomitan"}})
    assert found == {"result": [added["result"]], "error": None}

    sync(device)
    sync_media(device)
    nid = added["result"]
    on_device = device.col.get_note(nid)
    assert on_device["Front"] == "猫"
    assert on_device["Back"] == 'cat<img src="neko.png">'
    assert on_device.tags == ["yomitan"]
    assert device.col.decks.name(device.col.get_card(on_device.card_ids()[0]).did) == "Japanese"
    assert "neko.png" in folder_files(device)
    assert (Path(device.col.media.dir()) / "neko.png").read_bytes() == PNG


def test_an_origin_not_allowed_gets_no_answer(served: RunningServer) -> None:
    request = urllib.request.Request(
        served.url + "/anki/ankiconnect", data=b'{"action": "version", "version": 6}',
        headers={"Content-Type": "application/json", "Origin": "https://evil.example"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    with refused.value:
        assert refused.value.code == 403


def _cloze_note(device: Profile) -> int:
    col = device.col
    note = col.new_note(col.models.by_name("Cloze"))
    note["Text"] = "{{c1::Paris}} is the capital of {{c2::France}} [sound:paris.mp3]"
    note["Back Extra"] = "<b>Île-de-France</b>"
    note.tags = ["geo"]
    col.add_note(note, col.decks.id("Geography::Europe"))
    return int(note.id)


def test_cards_info_shows_each_side_as_anki_renders_it(
        served: RunningServer, tmp_path: Path) -> None:
    name, password, device = _account(served, tmp_path)
    cloze = _cloze_note(device)
    sync(device, upload=True)
    key = _token(served, name, password)
    endpoint = served.url + "/anki/ankiconnect"

    def cards_info(cids: list[int]) -> list[dict[str, Any]]:
        answer, _ = _post(endpoint, {"action": "cardsInfo", "version": 6, "key": key,
                                     "params": {"cards": cids}})
        assert answer["error"] is None, answer
        return list(answer["result"])

    cids = [int(c) for c in device.col.get_note(cloze).card_ids()]  # type: ignore[arg-type]
    info = cards_info([*cids, 1])
    assert len(info) == 3 and info[2] == {}
    for cid, got in zip(cids, info, strict=False):
        card = device.col.get_card(cid)  # type: ignore[arg-type]
        assert (got["question"], got["answer"]) == (card.question(), card.answer())
        assert got["deckName"] == "Geography::Europe" and got["modelName"] == "Cloze"
        assert got["ord"] == card.ord and got["note"] == cloze
        assert got["css"] == card.note_type()["css"]
        assert got["nextReviews"] == [device.col.sched.nextIvlStr(card, ease, True)
                                      for ease in (1, 2, 3, 4)]
    assert "[...]" in info[0]["question"] and "[anki:play:q:0]" in info[0]["question"]

    # A note just added here, and an edit just synced from the device, are rendered as
    # they are now: the study copy syncs before it renders.
    added, _ = _post(endpoint, {"action": "addNote", "version": 6, "key": key, "params": {
        "note": {"deckName": "Default", "modelName": "Basic",
                 "fields": {"Front": "chat", "Back": "cat"}}}})
    note = device.col.get_note(cloze)  # type: ignore[arg-type]
    note["Text"] = "{{c1::Berlin}} is the capital of {{c2::Germany}}"
    device.col.update_note(note)
    sync(device)
    fresh, _ = _post(endpoint, {"action": "findCards", "version": 6, "key": key,
                                "params": {"query": f"nid:{added['result']}"}})
    (new_card,) = fresh["result"]
    first, basic = cards_info([cids[0], new_card])
    assert first["answer"] == device.col.get_card(cids[0]).answer()  # type: ignore[arg-type]
    assert "Berlin" in first["answer"]
    assert "chat" in basic["question"] and "cat" in basic["answer"]
