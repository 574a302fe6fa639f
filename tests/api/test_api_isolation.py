"""One user's token never reaches another user's rows: 404 for ids, nothing in lists."""

from __future__ import annotations

from tests.api.conftest import User


def test_another_users_ids_are_404_and_never_change(alice: User, bob: User) -> None:
    deck = alice.add_deck("Private")
    nid = alice.add_basic("secret front", "secret back", tags=("secret",), deck_id=deck)
    (card,) = alice.cards_of(nid)
    cid = card["id"]
    bob.add_basic("bob's own", tags=("bobs",))
    before = {"note": alice.ok("GET", f"/notes/{nid}"), "card": alice.ok("GET", f"/cards/{cid}"),
              "deck": alice.ok("GET", f"/decks/{deck}"), "meta": alice.meta()}

    for method, path, body in (
        ("GET", f"/notes/{nid}", None), ("PATCH", f"/notes/{nid}", {"tags": ["stolen"]}),
        ("DELETE", f"/notes/{nid}", None), ("GET", f"/cards/{cid}", None),
        ("GET", f"/decks/{deck}", None), ("PATCH", f"/decks/{deck}", {"name": "Mine"}),
        ("DELETE", f"/decks/{deck}", None),
        ("POST", "/cards/move", {"ids": [cid], "deck_id": 1}),
        ("POST", "/cards/suspend", {"ids": [cid]}),
        ("POST", "/cards/unsuspend", {"ids": [cid]}),
    ):
        result = bob.http.simulate_request(method, f"/api/v1{path}", headers=bob.auth, json=body)
        assert result.status_code == 404, (method, path, result.text)
        assert "secret" not in result.text

    notetype = alice.notetype_id("Basic")
    bob_notetype = bob.notetype_id("Basic")
    assert notetype != bob_notetype
    assert bob.get(f"/notetypes/{notetype}").status_code == 404
    assert bob.post("/notes", {"notes": [{"notetype_id": notetype,
                                          "fields": {"Front": "x"}}]}).status_code == 404
    assert bob.post("/notes", {"notes": [{"notetype_id": bob_notetype, "fields": {"Front": "x"},
                                          "deck_id": deck}]}).status_code == 404
    assert bob.ok("POST", "/notes/delete", {"ids": [nid]}) == {"count": 0}

    after = {"note": alice.ok("GET", f"/notes/{nid}"), "card": alice.ok("GET", f"/cards/{cid}"),
             "deck": alice.ok("GET", f"/decks/{deck}"), "meta": alice.meta()}
    assert after["note"] == before["note"]
    assert after["card"] == before["card"]
    assert after["deck"] == before["deck"]


def test_lists_show_only_the_callers_rows(alice: User, bob: User) -> None:
    deck = alice.add_deck("Alice Only")
    nid = alice.add_basic("alice note", tags=("alice-tag",), deck_id=deck)
    (card,) = alice.cards_of(nid)
    alice.ok("POST", "/tags/rename", {"old": "alice-tag", "new": "alice-renamed"})
    bob_nid = bob.add_basic("bob note", tags=("bob-tag",))

    assert bob.note_ids() == [bob_nid]
    assert bob.note_ids(ids=f"{nid},{bob_nid}") == [bob_nid]
    assert bob.note_ids(q="alice") == []
    assert bob.note_ids(tag="alice-renamed") == []
    assert bob.note_ids(deck_id=deck) == []
    assert bob.note_ids(notetype_id=alice.notetype_id("Basic")) == []
    assert [c["note_id"] for c in bob.ok("GET", "/cards")["cards"]] == [bob_nid]
    assert bob.ok("GET", "/cards", note_id=nid)["cards"] == []
    assert bob.ok("GET", "/cards", deck_id=deck)["cards"] == []
    assert bob.ok("GET", "/tags")["tags"] == ["bob-tag"]
    assert bob.deck_names() == {1: "Default"}
    assert [nt["name"] for nt in bob.ok("GET", "/notetypes")["items"]] == ["Basic"]
    assert len(bob.ok("GET", "/deck-configs")["items"]) == 1
    assert bob.ok("GET", "/revlog", card_id=card["id"])["revlog"] == []
    assert list(bob.ok("GET", "/stats")["decks"]) == ["1"]
    assert bob.ok("POST", "/tags/rename", {"old": "alice-renamed", "new": "x"}) == {"count": 0}
    assert alice.ok("GET", f"/notes/{nid}")["tags"] == ["alice-renamed"]


def test_same_deck_name_in_two_collections_is_fine(alice: User, bob: User) -> None:
    a, b = alice.add_deck("Shared Name"), bob.add_deck("Shared Name")
    assert alice.deck_names()[a] == bob.deck_names()[b] == "Shared Name"
    alice.ok("PATCH", f"/decks/{a}", {"name": "Renamed"})
    assert bob.deck_names()[b] == "Shared Name"
