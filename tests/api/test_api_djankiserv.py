"""djankiserv 0.0.9 compatible endpoints under /djs/dapi/ (module adapters/http/djankiserv.py).

Same shapes as djankiserv: JWT-style token pair, objects as id -> object dicts, notes
with a model name and a list of fields. Deliberate differences: deleteNotes also deletes
the notes' cards, and an empty id list deletes nothing (djankiserv deleted everything).
"""

from __future__ import annotations

from typing import Any

from falcon import testing

from domain.model import GraveKind
from tests.api.conftest import User

DJS = "/djs/dapi"


def djs(user: User, method: str, path: str, body: Any = None, token: str | None = None
        ) -> testing.Result:
    headers = {"Authorization": f"Bearer {token or user.token}"}
    return user.http.simulate_request(method, f"{DJS}/{path}", headers=headers, json=body)


def ok(user: User, method: str, path: str, body: Any = None) -> Any:
    result = djs(user, method, path, body)
    assert result.status_code == 200, (path, result.status_code, result.text)
    return result.json


def add(user: User, deck: str, *notes: dict[str, Any]) -> list[int]:
    return list(ok(user, "POST", "addNotes", {"deck": deck, "notes": list(notes)})["note_ids"])


def test_token_and_refresh_shapes(alice: User) -> None:
    result = alice.http.simulate_post(f"{DJS}/token", json={"username": alice.name,
                                                            "password": alice.password})
    assert result.status_code == 200
    assert set(result.json) == {"access", "refresh"}
    access, refresh = result.json["access"], result.json["refresh"]
    assert djs(alice, "GET", "decks", token=access).status_code == 200
    refreshed = alice.http.simulate_post(f"{DJS}/token/refresh", json={"refresh": refresh})
    assert refreshed.status_code == 200
    assert set(refreshed.json) == {"access"}
    assert djs(alice, "GET", "models", token=refreshed.json["access"]).status_code == 200


def test_token_refusals(alice: User) -> None:
    post = alice.http.simulate_post
    assert post(f"{DJS}/token", json={"username": alice.name,
                                      "password": "wrong"}).status_code == 401
    assert post(f"{DJS}/token", json={"username": alice.name}).status_code == 400
    assert post(f"{DJS}/token", json=["x"]).status_code == 400
    assert post(f"{DJS}/token", body=b"{",
                headers={"Content-Type": "application/json"}).status_code == 400
    assert post(f"{DJS}/token/refresh", json={"refresh": "1.forged"}).status_code == 401
    assert post(f"{DJS}/token/refresh", json={"refresh": "garbage"}).status_code == 401
    assert post(f"{DJS}/token/refresh", json={}).status_code == 400
    revoked = post(f"{DJS}/token", json={"username": alice.name,
                                         "password": alice.password}).json["refresh"]
    alice.http.simulate_delete("/api/v1/token", headers={"Authorization": f"Bearer {revoked}"})
    assert post(f"{DJS}/token/refresh", json={"refresh": revoked}).status_code == 401
    assert djs(alice, "GET", "decks", token=revoked).status_code == 401


def test_every_endpoint_needs_credentials(alice: User) -> None:
    for path in ("decks", "decksConf", "models", "tags", "notes", "addNotes", "deleteNotes"):
        for method in ("GET", "POST") if path not in ("addNotes", "deleteNotes") else ("POST",):
            result = alice.http.simulate_request(method, f"{DJS}/{path}", json={"ids": []})
            assert result.status_code == 401, (method, path)
            assert set(result.json) == {"title", "description"}


def test_collection_objects_are_id_to_object_dicts(alice: User) -> None:
    did = alice.add_deck("Djs::Deck")
    for method in ("GET", "POST"):
        decks = ok(alice, method, "decks")["decks"]
        assert decks[str(did)]["name"] == "Djs::Deck"
        assert decks["1"]["name"] == "Default"
        assert all(str(d["id"]) == key for key, d in decks.items())
        confs = ok(alice, method, "decksConf")["decks_conf"]
        assert list(confs) == ["1"] and confs["1"]["name"] == "Default"
        models = ok(alice, method, "models")["models"]
        (model,) = models.values()
        assert model["name"] == "Basic" and str(model["id"]) in models


def test_add_notes_by_deck_name_and_model_name(stocked: User) -> None:
    ids = add(stocked, "Created::By Name",
              {"model": "Basic", "fields": ["front", "back"], "tags": ["djs", " spaced "]},
              {"model": "Basic (and reversed card)", "fields": ["two", "way"]})
    decks = {d["name"]: int(d["id"]) for d in ok(stocked, "GET", "decks")["decks"].values()}
    assert {"Created", "Created::By Name"} <= set(decks)
    assert [sorted(c["ord"] for c in stocked.cards_of(n)) for n in ids] == [[0], [0, 1]]
    assert {c["deck_id"] for n in ids for c in stocked.cards_of(n)} == {decks["Created::By Name"]}
    first = stocked.ok("GET", f"/notes/{ids[0]}")
    assert (first["fields"], first["tags"]) == (["front", "back"], ["djs", "spaced"])
    again = add(stocked, "created::by name", {"model": "Basic", "fields": ["more", ""]})
    assert [c["deck_id"] for c in stocked.cards_of(again[0])] == [decks["Created::By Name"]]
    assert "djs" in ok(stocked, "GET", "tags")["tags"]


def test_add_cloze_note_by_model_name(stocked: User) -> None:
    (nid,) = add(stocked, "Default", {"model": "Cloze", "fields": ["{{c1::x}} {{c2::y}}", ""]})
    assert sorted(c["ord"] for c in stocked.cards_of(nid)) == [0, 1]


def test_notes_by_ids_and_all_notes(alice: User) -> None:
    a, b = add(alice, "Default", {"model": "Basic", "fields": ["a", "1"], "tags": ["t"]},
               {"model": "Basic", "fields": ["b", "2"]})
    everything = ok(alice, "GET", "notes")["notes"]
    assert everything == [
        {"id": a, "model": "Basic", "fields": ["a", "1"], "tags": ["t"]},
        {"id": b, "model": "Basic", "fields": ["b", "2"], "tags": []},
    ]
    assert ok(alice, "POST", "notes", {"ids": [b]})["notes"] == everything[1:]
    assert ok(alice, "GET", "notes", {"ids": [b, 424242]})["notes"] == everything[1:]
    assert ok(alice, "POST", "notes", {"ids": []})["notes"] == everything
    assert djs(alice, "POST", "notes", {"ids": ["x"]}).status_code == 400
    assert djs(alice, "POST", "notes", {"ids": [True]}).status_code == 400


def test_delete_notes_deletes_their_cards_and_writes_graves(stocked: User) -> None:
    stocked.set_usn(5)
    doomed, kept = add(stocked, "Default",
                       {"model": "Basic (and reversed card)", "fields": ["x", "y"]},
                       {"model": "Basic", "fields": ["keep", ""]})
    cards = [c["id"] for c in stocked.cards_of(doomed)]
    assert ok(stocked, "POST", "deleteNotes", {"ids": [doomed, 999]}) == {"status": "ok"}
    assert [n["id"] for n in ok(stocked, "GET", "notes")["notes"]] == [kept]
    assert stocked.cards_of(doomed) == []
    assert not set(cards) & set(stocked.stored_cards())
    graves = {(g.oid, g.kind, g.usn) for g in stocked.graves_since(5)}
    assert graves == {(doomed, GraveKind.NOTE, 5)} | {(c, GraveKind.CARD, 5) for c in cards}


def test_delete_notes_with_no_ids_deletes_nothing(alice: User) -> None:
    nid = alice.add_basic("survivor")
    before = alice.meta()
    for body in ({"ids": []}, {}, {"ids": None}):
        assert ok(alice, "POST", "deleteNotes", body) == {"status": "ok"}
    assert alice.note_ids() == [nid]
    assert alice.meta() == before
    assert djs(alice, "POST", "deleteNotes", {"ids": "all"}).status_code == 400


def test_add_notes_refusals(alice: User) -> None:
    basic = {"model": "Basic", "fields": ["f", "b"]}
    for body, status in (
        ({"deck": "D", "notes": [{"model": "Basic", "fields": ["only one"]}]}, 400),
        ({"deck": "D", "notes": [{"model": "Basic", "fields": ["a", "b", "c"]}]}, 400),
        ({"deck": "D", "notes": [{"model": "Basic", "fields": ["a", 1]}]}, 400),
        ({"deck": "D", "notes": [{"model": "Basic", "fields": "a"}]}, 400),
        ({"deck": "D", "notes": [{"model": "Basic", "fields": ["", "back"]}]}, 400),
        ({"deck": "D", "notes": [{**basic, "tags": "t"}]}, 400),
        ({"deck": "D", "notes": []}, 400),
        ({"deck": "D"}, 400),
        ({"notes": [basic]}, 400),
        ({"deck": 1, "notes": [basic]}, 400),
        ({"deck": "D", "notes": ["x"]}, 400),
        ({"deck": "D", "notes": [{"model": "No Such Model", "fields": ["a", "b"]}]}, 404),
    ):
        result = djs(alice, "POST", "addNotes", body)
        assert result.status_code == status, (body, result.text)
        assert set(result.json) == {"title", "description"}
    assert alice.note_ids() == []


def test_refused_add_notes_does_not_create_the_deck(alice: User) -> None:
    good = {"model": "Basic", "fields": ["good", ""]}
    for notes, status in (([{"model": "No Such Model", "fields": ["a", "b"]}], 404),
                          ([{"model": "Basic", "fields": ["a"]}], 400),
                          ([{"model": "Basic", "fields": ["", "no front"]}], 400),
                          ([good, {"model": "Basic", "fields": ["<br>", "no front"]}], 400)):
        for deck in ("Should Not Exist", "New::Parent::Child"):
            result = djs(alice, "POST", "addNotes", {"deck": deck, "notes": notes})
            assert result.status_code == status, (notes, result.text)
    assert alice.deck_names() == {1: "Default"}
    assert alice.note_ids() == []


def test_add_notes_finds_the_deck_as_deck_names_are_written(alice: User) -> None:
    did = alice.add_deck("Top::Sub")
    (nid,) = add(alice, " top :: SUB ", {"model": "Basic", "fields": ["x", ""]})
    assert [c["deck_id"] for c in alice.cards_of(nid)] == [did]
    assert djs(alice, "POST", "addNotes", {"deck": "A::", "notes": [
        {"model": "Basic", "fields": ["x", ""]}]}).status_code == 400


def test_add_notes_with_a_spaced_tag_registers_real_tags(alice: User) -> None:
    """A tag cannot hold a space: "a b" is the two tags a and b, on the note (as
    djankiserv stored it, and as Anki reads it) and in the tag list alike."""
    (nid,) = add(alice, "Default", {"model": "Basic", "fields": ["x", ""],
                                    "tags": ["a b", " c\td ", "A"]})
    assert ok(alice, "GET", "notes", {"ids": [nid]})["notes"][0]["tags"] == ["a", "b", "c", "d"]
    assert sorted(ok(alice, "GET", "tags")["tags"]) == ["a", "b", "c", "d"]
