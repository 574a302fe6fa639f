"""Adding, reading, editing and deleting notes through /api/v1/notes."""

from __future__ import annotations

import copy
import itertools
import json
from typing import Any

from domain.model import GraveKind, RowKind, UserId
from tests.api.conftest import BASE, User


def note(user: User, notetype: str, tags: tuple[str, ...] = (), **fields: str) -> dict[str, Any]:
    return {"notetype_id": user.notetype_id(notetype), "fields": fields, "tags": list(tags)}


_NOTETYPE_IDS = itertools.count(1)


def notetype_with_fronts(stock: dict[str, dict[str, Any]], *fronts: str) -> dict[str, Any]:
    """A copy of "Basic (and reversed card)" (fields Front, Back) with these card fronts."""
    base = copy.deepcopy(stock["Basic (and reversed card)"])
    template = base["tmpls"][0]
    base["tmpls"] = [{**template, "name": f"Card {i + 1}", "ord": i, "qfmt": front}
                     for i, front in enumerate(fronts)]
    base["id"] -= 1000 * next(_NOTETYPE_IDS)  # clear of the stock note types' ids
    base["name"] = f"Fronts {base['id']}"
    return base


def ords(user: User, nid: int) -> list[int]:
    return sorted(c["ord"] for c in user.cards_of(nid))


# -- adding: which cards a note gets ------------------------------------------------------


def test_basic_note_gets_one_new_card_in_the_default_deck(alice: User) -> None:
    nid = alice.add_basic("front", "back", tags=("t1", "t2"))
    (card,) = alice.cards_of(nid)
    assert (card["ord"], card["deck_id"], card["type"], card["queue"]) == (0, 1, 0, 0)
    assert (card["state"], card["suspended"], card["reps"], card["interval"]) == (
        "new", False, 0, 0)
    got = alice.ok("GET", f"/notes/{nid}")
    assert got["fields"] == ["front", "back"]
    assert got["by_name"] == {"Front": "front", "Back": "back"}
    assert got["tags"] == ["t1", "t2"]
    assert got["cards"] == [card["id"]]
    assert sorted(alice.ok("GET", "/tags")["tags"]) == ["t1", "t2"]


def test_card_data_is_compact_json(alice: User) -> None:
    card = alice.cards_of(alice.add_basic("x"))[0]
    assert card["data"] == json.dumps({"pos": card["due"]}, separators=(",", ":"))


def test_new_cards_get_increasing_positions(alice: User) -> None:
    first, second = alice.add_notes(note(alice, "Basic", Front="a"),
                                    note(alice, "Basic", Front="b"))
    third = alice.add_basic("c")
    dues = [alice.cards_of(n)[0]["due"] for n in (first, second, third)]
    assert dues == sorted(dues) and len(set(dues)) == 3


def test_reversed_note_type_gets_two_cards(stocked: User) -> None:
    (nid,) = stocked.add_notes(note(stocked, "Basic (and reversed card)", Front="f", Back="b"))
    assert ords(stocked, nid) == [0, 1]


def test_reversed_note_with_only_a_back_gets_only_the_reverse_card(stocked: User) -> None:
    (nid,) = stocked.add_notes(note(stocked, "Basic (and reversed card)", Back="only back"))
    assert ords(stocked, nid) == [1]


def test_optional_reverse_card_needs_its_condition_field(stocked: User) -> None:
    kind = "Basic (optional reversed card)"
    (plain,) = stocked.add_notes(note(stocked, kind, Front="f", Back="b"))
    (both,) = stocked.add_notes(note(stocked, kind, Front="f", Back="b", **{"Add Reverse": "y"}))
    assert ords(stocked, both) == [0, 1]
    assert ords(stocked, plain) == [0]


def test_a_field_of_only_line_breaks_and_empty_divs_counts_as_empty(stocked: User) -> None:
    """Anki's field_is_empty: whitespace and <br>/<div> tags; an entity is content."""
    kind = "Basic (optional reversed card)"
    for blank in ("<br>", "<BR/>", " <div><br /></div>\n", "</div>"):
        (nid,) = stocked.add_notes(note(stocked, kind, Front="f", Back="b",
                                        **{"Add Reverse": blank}))
        assert ords(stocked, nid) == [0], repr(blank)
    (nid,) = stocked.add_notes(note(stocked, kind, Front="f", Back="b",
                                    **{"Add Reverse": "&nbsp;"}))
    assert ords(stocked, nid) == [0, 1]
    result = stocked.post("/notes", {"notes": [note(stocked, "Basic", Front="<div><br></div>")]})
    assert result.status_code == 400, result.text


def test_a_front_whose_sections_do_not_nest_makes_no_card(stocked: User,
                                                          stock_notetypes: dict[str, Any]
                                                          ) -> None:
    """Anki cannot render such a front, so it generates no card from it."""
    custom = notetype_with_fronts(stock_notetypes, "{{Front}}", "{{#Back}}{{Front}}{{/Front}}",
                                  "{{#Back}}{{Front}}", "{{Front}}{{/Back}}",
                                  "{{#Back}}{{^Front}}{{/Back}}{{/Front}}")
    stocked.install_notetypes({custom["name"]: custom})
    (nid,) = stocked.add_notes(note(stocked, custom["name"], Front="f", Back="b"))
    assert ords(stocked, nid) == [0]


def test_a_batch_with_a_multi_card_note_after_another_note_is_added(stocked: User) -> None:
    ids = stocked.add_notes(note(stocked, "Basic", Front="first"),
                            note(stocked, "Basic (and reversed card)", Front="f", Back="b"))
    assert ords(stocked, ids[1]) == [0, 1]


def test_cloze_note_gets_one_card_per_cloze_number(stocked: User) -> None:
    text = "{{c3::Paris}} is in {{c1::France}}, {{c2::Europe}}; {{c1::again}}"
    (nid,) = stocked.add_notes(note(stocked, "Cloze", Text=text))
    assert ords(stocked, nid) == [0, 1, 2]


def test_cloze_numbers_are_read_as_anki_reads_them(stocked: User) -> None:
    """Checked against the `anki` package: only a closed, lower-case {{cN::..}} counts,
    {{c1,3::..}} counts twice, c0 never, and in any field of the note."""
    for fields, expected in (
            ({"Text": "{{c1::a}}", "Back Extra": "{{c2::in another field}}"}, [0, 1]),
            ({"Text": "{{c1::a}} {{C2::upper case}}"}, [0]),
            ({"Text": "{{c1,3::both}}"}, [0, 2]),
            ({"Text": "{{c1::a}} {{c2::never closed"}, [0]),
            ({"Text": "{{c4::outer {{c2::inner}} }}"}, [1, 3]),
            ({"Text": "{{c0::zero}} {{c2::b}}"}, [1]),
            ({"Text": "{{c600::far}}"}, [499])):
        (nid,) = stocked.add_notes(note(stocked, "Cloze", **fields))
        assert ords(stocked, nid) == expected, fields


def test_note_goes_to_the_given_deck(alice: User) -> None:
    did = alice.add_deck("Target")
    nid = alice.add_basic("x", deck_id=did)
    assert [c["deck_id"] for c in alice.cards_of(nid)] == [did]


def test_fields_left_out_are_empty(alice: User) -> None:
    nid = alice.add_notes({"notetype_id": alice.notetype_id("Basic"), "fields": {"Front": "f"}})[0]
    assert alice.ok("GET", f"/notes/{nid}")["fields"] == ["f", ""]


def test_a_batch_is_added_in_order(alice: User) -> None:
    fronts = [f"n{i}" for i in range(25)]
    ids = alice.add_notes(*(note(alice, "Basic", Front=f) for f in fronts))
    assert ids == sorted(ids)
    got = alice.ok("GET", "/notes", ids=",".join(map(str, ids)))["notes"]
    assert [n["fields"][0] for n in got] == fronts


# -- adding: refusals --------------------------------------------------------------------


def test_note_whose_front_fields_are_all_empty_is_400(stocked: User) -> None:
    for notetype, fields in (("Basic", {"Back": "only the back"}),
                             ("Basic", {"Front": "   ", "Back": "b"}),
                             ("Basic", {}),
                             ("Basic (and reversed card)", {"Front": "", "Back": ""})):
        result = stocked.post("/notes", {"notes": [{"notetype_id": stocked.notetype_id(notetype),
                                                    "fields": fields}]})
        assert result.status_code == 400, (notetype, fields, result.text)
        assert "no cards" in result.json["description"]
    assert stocked.note_ids() == []


def test_unknown_note_type_is_404(alice: User) -> None:
    result = alice.post("/notes", {"notes": [{"notetype_id": 12345, "fields": {"Front": "x"}}]})
    assert result.status_code == 404
    assert result.json["title"] == "Not Found"


def test_unknown_field_name_is_400(alice: User) -> None:
    result = alice.post("/notes", {"notes": [note(alice, "Basic", Front="x", Nope="y")]})
    assert result.status_code == 400
    assert "Nope" in result.json["description"]


def test_unknown_deck_is_404(alice: User) -> None:
    result = alice.post("/notes", {"notes": [{**note(alice, "Basic", Front="x"),
                                              "deck_id": 424242}]})
    assert result.status_code == 404


def test_one_bad_note_rejects_the_whole_batch(alice: User) -> None:
    good = note(alice, "Basic", Front="good")
    for bad, status in ((note(alice, "Basic", Back="no front"), 400),
                        ({"notetype_id": 1, "fields": {"Front": "x"}}, 404)):
        result = alice.post("/notes", {"notes": [good, good, bad]})
        assert result.status_code == status, result.text
    assert alice.note_ids() == []
    assert alice.ok("GET", "/cards")["cards"] == []


INVALID_ADDS: list[Any] = [
    {},
    {"notes": []},
    {"notes": "x"},
    {"notes": [{"fields": {"Front": "x"}}]},
    {"notes": [{"notetype_id": "1", "fields": {"Front": "x"}}]},
    {"notes": [{"notetype_id": 1, "fields": ["x"]}]},
    {"notes": [{"notetype_id": 1, "fields": {"Front": 3}}]},
    {"notes": [{"notetype_id": 1, "fields": {"Front": "x"}, "tags": ["has space"]}]},
    {"notes": [{"notetype_id": 1, "fields": {"Front": "x"}, "tags": [""]}]},
    {"notes": [{"notetype_id": 1, "fields": {"Front": "x"}, "tags": "t"}]},
    {"notes": [{"notetype_id": 1, "fields": {"Front": "x"}, "extra": 1}]},
    {"notes": [{"notetype_id": 1, "fields": {"Front": "x"}}], "extra": 1},
    [{"notetype_id": 1, "fields": {"Front": "x"}}],
    "notes",
]


def test_invalid_add_requests_are_400(alice: User) -> None:
    for body in INVALID_ADDS:
        result = alice.post("/notes", body)
        assert result.status_code == 400, (body, result.text)
        assert set(result.json) == {"title", "description"}
    assert alice.note_ids() == []


def test_more_than_1000_notes_in_one_batch_is_400(alice: User) -> None:
    one = {"notetype_id": 1, "fields": {"Front": "x"}}
    assert alice.post("/notes", {"notes": [one] * 1001}).status_code == 400


def test_malformed_json_is_400(alice: User) -> None:
    for body in (b'{"notes": [', b"\xff\xfe", b"[" * 100_000):
        result = alice.http.simulate_post(f"{BASE}/notes", body=body, headers={
            **alice.auth, "Content-Type": "application/json"})
        assert result.status_code == 400, body[:10]
        assert result.json["description"] == "request body is not valid JSON"


def test_oversized_payload_is_413(alice: User) -> None:
    big = json.dumps({"notes": [{"notetype_id": alice.notetype_id("Basic"),
                                 "fields": {"Front": "x" * (17 * 1024 * 1024)}}]})
    result = alice.http.simulate_post(f"{BASE}/notes", body=big, headers={
        **alice.auth, "Content-Type": "application/json"})
    assert result.status_code == 413
    assert set(result.json) == {"title", "description"}
    assert alice.note_ids() == []


def test_a_tag_given_twice_is_stored_once(alice: User) -> None:
    result = alice.post("/notes", {"notes": [note(alice, "Basic", ("dup", "dup"), Front="x")]})
    assert result.status_code == 201, result.status_code
    assert alice.ok("GET", "/tags")["tags"] == ["dup"]


def test_tags_are_one_per_name_ignoring_case_as_in_anki(alice: User) -> None:
    """Anki's canonify_tags: once each ignoring case, in the listed tag's spelling (or
    its listed parent's), sorted ignoring case; the tag list never has two spellings."""
    first = alice.add_basic("a", tags=("Dup", "dup", "DUP", "b", "Lang"))
    second, third = alice.add_notes(note(alice, "Basic", ("dUP", "lang::Verb"), Front="b"),
                                    note(alice, "Basic", ("LANG::verb::x",), Front="c"))
    tags = {n: alice.ok("GET", f"/notes/{n}")["tags"] for n in (first, second, third)}
    assert tags == {first: ["b", "Dup", "Lang"], second: ["Dup", "Lang::Verb"],
                    third: ["Lang::Verb::x"]}
    assert sorted(alice.ok("GET", "/tags")["tags"]) == [
        "Dup", "Lang", "Lang::Verb", "Lang::Verb::x", "b"]
    got = alice.ok("PATCH", f"/notes/{first}", {"tags": ["NEW", "new", "b", "B"]})
    assert got["tags"] == ["b", "NEW"]
    assert "new" not in alice.ok("GET", "/tags")["tags"]
    stored = alice.stored_note(first)
    assert stored is not None and stored.tags == " b NEW "


def test_a_tags_condition_on_the_front_follows_the_note_tags(stocked: User,
                                                             stock_notetypes: dict[str, Any]
                                                             ) -> None:
    """{{#Tags}} is shown when the note has tags (Anki's special fields are filled at
    render time), also when an edit only adds tags."""
    custom = notetype_with_fronts(stock_notetypes, "{{Front}}", "{{#Tags}}{{Back}}{{/Tags}}")
    stocked.install_notetypes({custom["name"]: custom})
    tagged, plain = stocked.add_notes(
        note(stocked, custom["name"], ("t",), Front="f", Back="b"),
        note(stocked, custom["name"], Front="f", Back="b"))
    assert (ords(stocked, tagged), ords(stocked, plain)) == ([0, 1], [0])
    stocked.ok("PATCH", f"/notes/{plain}", {"tags": ["now"]})
    assert ords(stocked, plain) == [0, 1]


def test_large_batches_of_mixed_note_types_get_all_their_cards(stocked: User) -> None:
    """Notes with one, two and three cards, mixed in one batch and then in a second one
    right after it: every note gets its cards, every card its own id."""
    kinds = [("Basic", {"Front": "f"}, [0]),
             ("Basic (and reversed card)", {"Front": "f", "Back": "b"}, [0, 1]),
             ("Cloze", {"Text": "{{c1::a}} {{c2::b}} {{c3::c}}"}, [0, 1, 2]),
             ("Basic (optional reversed card)",
              {"Front": "f", "Back": "b", "Add Reverse": "y"}, [0, 1]),
             ("Basic (and reversed card)", {"Back": "only back"}, [1])]
    order = [kinds[(i * 7) % len(kinds)] for i in range(400)]
    batch = [note(stocked, name, **fields) for name, fields, _ in order]
    ids = stocked.add_notes(*batch[:300]) + stocked.add_notes(*batch[300:])
    cards = stocked.stored_cards()
    by_note: dict[int, list[int]] = {}
    for card in cards.values():
        by_note.setdefault(card.nid, []).append(card.ord)
    assert [sorted(by_note[n]) for n in ids] == [expected for _, _, expected in order]
    assert len(cards) == sum(len(expected) for _, _, expected in order)


# -- reading one note --------------------------------------------------------------------


def test_unknown_note_is_404(alice: User) -> None:
    for nid in (1, 0, -5, 2**62):
        result = alice.get(f"/notes/{nid}")
        assert result.status_code == 404
        assert set(result.json) == {"title", "description"}
    assert alice.get("/notes/abc").status_code == 404


# -- editing -----------------------------------------------------------------------------


def test_update_changes_only_the_given_fields(alice: User) -> None:
    nid = alice.add_basic("front", "back", tags=("keep",))
    got = alice.ok("PATCH", f"/notes/{nid}", {"fields": {"Back": "new back"}})
    assert got["fields"] == ["front", "new back"]
    assert got["tags"] == ["keep"]
    got = alice.ok("PATCH", f"/notes/{nid}", {"tags": ["a", "b::c"]})
    assert (got["fields"], got["tags"]) == (["front", "new back"], ["a", "b::c"])
    assert alice.ok("GET", f"/notes/{nid}") == got
    assert {"a", "b::c", "keep"} <= set(alice.ok("GET", "/tags")["tags"])


def test_update_of_the_sort_field_changes_search_results(alice: User) -> None:
    nid = alice.add_basic("before")
    alice.ok("PATCH", f"/notes/{nid}", {"fields": {"Front": "after"}, "tags": []})
    assert alice.note_ids(q="after") == [nid]
    assert alice.note_ids(q="before") == []
    stored = alice.stored_note(nid)
    assert stored is not None and stored.sfld == "after" and stored.tags == ""


def test_update_keeps_the_cards(alice: User) -> None:
    nid = alice.add_basic("front")
    cards = alice.cards_of(nid)
    alice.ok("PATCH", f"/notes/{nid}", {"fields": {"Front": "changed"}})
    assert [c["id"] for c in alice.cards_of(nid)] == [c["id"] for c in cards]


def test_update_adding_a_cloze_number_adds_its_card(stocked: User) -> None:
    (nid,) = stocked.add_notes(note(stocked, "Cloze", Text="{{c1::one}}"))
    stocked.ok("PATCH", f"/notes/{nid}", {"fields": {"Text": "{{c1::one}} {{c2::two}}"}})
    assert ords(stocked, nid) == [0, 1]


def test_update_filling_the_optional_reverse_field_adds_the_reverse_card(stocked: User) -> None:
    kind = "Basic (optional reversed card)"
    (nid,) = stocked.add_notes(note(stocked, kind, Front="f", Back="b"))
    stocked.ok("PATCH", f"/notes/{nid}", {"fields": {"Add Reverse": "y"}})
    assert ords(stocked, nid) == [0, 1]


def test_an_edit_that_needs_no_new_card_adds_none(stocked: User) -> None:
    basic = stocked.add_basic("front")
    (cloze,) = stocked.add_notes(note(stocked, "Cloze", Text="{{c1::a}} {{c2::b}}"))
    (second,) = stocked.add_notes(note(stocked, "Cloze", Text="{{c2::only}}"))
    cards = {n: stocked.cards_of(n) for n in (basic, cloze, second)}
    for nid, fields in ((basic, {"Front": "", "Back": "now only a back"}),
                        (cloze, {"Text": "{{c2::b}} and {{c1::again}}"}),
                        (cloze, {"Text": "no clozes left"}),
                        # Card 0 is only for a note that has no card at all.
                        (second, {"Text": "no clozes either"})):
        stocked.ok("PATCH", f"/notes/{nid}", {"fields": fields})
        assert stocked.cards_of(nid) == cards[nid], fields


def test_cards_added_by_an_edit_join_the_note_in_its_deck_and_position(stocked: User) -> None:
    deck = stocked.add_deck("Cloze deck")
    (nid,) = stocked.add_notes({**note(stocked, "Cloze", Text="{{c1::one}}"), "deck_id": deck})
    (first,) = stocked.cards_of(nid)
    stocked.set_usn(6)
    stocked.ok("PATCH", f"/notes/{nid}", {"fields": {"Text": "{{c1::one}} {{c3::three}}"}})
    added = stocked.cards_of(nid)[1]
    assert (added["ord"], added["deck_id"], added["due"]) == (2, deck, first["due"])
    assert (added["type"], added["queue"], added["usn"]) == (0, 0, 6)
    assert added["data"] == json.dumps({"pos": first["due"]}, separators=(",", ":"))


def test_cards_added_by_an_edit_of_a_borrowed_note_go_to_its_home_deck(stocked: User) -> None:
    home = stocked.add_deck("Home")
    (nid,) = stocked.add_notes({**note(stocked, "Cloze", Text="{{c1::one}}"), "deck_id": home})
    (card,) = stocked.cards_of(nid)
    stocked.add_deck_object({"id": 1_700_000_000_999, "name": "Cram", "mod": 1, "dyn": 1})
    stocked.update_card(card["id"], did=1_700_000_000_999, odid=home, odue=card["due"],
                        due=-100_000)
    stocked.ok("PATCH", f"/notes/{nid}", {"fields": {"Text": "{{c1::one}} {{c2::two}}"}})
    added = stocked.cards_of(nid)[1]
    assert (added["deck_id"], added["original_deck_id"], added["due"]) == (home, 0, card["due"])


def test_cards_added_by_an_edit_of_a_studied_note_get_the_next_position(stocked: User) -> None:
    (nid,) = stocked.add_notes(note(stocked, "Cloze", Text="{{c1::one}}"))
    (card,) = stocked.cards_of(nid)
    stocked.update_card(card["id"], type=2, queue=2, due=30, ivl=5)
    stocked.ok("PATCH", f"/notes/{nid}", {"fields": {"Text": "{{c1::one}} {{c2::two}}"}})
    added = stocked.cards_of(nid)[1]
    later = stocked.cards_of(stocked.add_basic("later"))[0]
    assert card["due"] < added["due"] < later["due"]


def test_cards_added_by_an_edit_of_a_note_in_several_decks(stocked: User) -> None:
    """Then Anki uses the note type's deck: the stock ones have none, so the default deck."""
    (a, b) = (stocked.add_deck(n) for n in ("A", "B"))
    (nid,) = stocked.add_notes({**note(stocked, "Cloze", Text="{{c1::1}} {{c2::2}}"),
                                "deck_id": a})
    stocked.ok("POST", "/cards/move", {"ids": [stocked.cards_of(nid)[1]["id"]], "deck_id": b})
    stocked.ok("PATCH", f"/notes/{nid}", {"fields": {"Text": "{{c1::1}} {{c2::2}} {{c3::3}}"}})
    assert [c["deck_id"] for c in stocked.cards_of(nid)] == [a, b, 1]


def test_an_edit_gives_a_note_without_cards_its_first_card(alice: User) -> None:
    """As Anki does, even when its front would be empty (Check Database does the same)."""
    nid = alice.add_basic("front")
    with alice.api.services.api.uow() as uow:
        uow.collections.delete(UserId(alice.id), RowKind.CARD, [alice.cards_of(nid)[0]["id"]])
        uow.commit()
    alice.ok("PATCH", f"/notes/{nid}", {"fields": {"Front": ""}})
    assert ords(alice, nid) == [0]


def test_an_edit_that_changes_nothing_writes_nothing(alice: User) -> None:
    nid = alice.add_basic("front", "back", tags=("t",))
    stored, before = alice.stored_note(nid), alice.meta()
    for body in ({"fields": {"Front": "front"}}, {"tags": ["t"]},
                 {"fields": {"Front": "front", "Back": "back"}, "tags": ["t"]}):
        got = alice.ok("PATCH", f"/notes/{nid}", body)
        assert (got["fields"], got["tags"]) == (["front", "back"], ["t"])
    assert (alice.stored_note(nid), alice.meta()) == (stored, before)


def test_update_refusals(alice: User) -> None:
    nid = alice.add_basic("front")
    for body, status in (({}, 400), ({"fields": {"Nope": "x"}}, 400),
                         ({"tags": ["with space"]}, 400), ({"fields": ["x"]}, 400),
                         ({"tags": ["ok"], "other": 1}, 400), ([], 400)):
        result = alice.patch(f"/notes/{nid}", body)
        assert result.status_code == status, (body, result.text)
    assert alice.patch("/notes/777", {"tags": ["x"]}).status_code == 404
    got = alice.ok("GET", f"/notes/{nid}")
    assert (got["fields"], got["tags"]) == (["front", ""], [])


# -- deleting ----------------------------------------------------------------------------


def test_delete_removes_the_note_and_its_cards_and_writes_graves(stocked: User) -> None:
    stocked.set_usn(7)
    (nid,) = stocked.add_notes(note(stocked, "Basic (and reversed card)", Front="f", Back="b"))
    keep = stocked.add_basic("keep")
    card_ids = {c["id"] for c in stocked.cards_of(nid)}
    assert stocked.delete(f"/notes/{nid}").status_code == 204
    assert stocked.get(f"/notes/{nid}").status_code == 404
    assert stocked.cards_of(nid) == []
    assert not card_ids & set(stocked.stored_cards())
    assert stocked.note_ids() == [keep]
    graves = {(g.oid, g.kind, g.usn) for g in stocked.graves_since(7)}
    assert graves == {(nid, GraveKind.NOTE, 7)} | {(c, GraveKind.CARD, 7) for c in card_ids}
    assert stocked.delete(f"/notes/{nid}").status_code == 404


def test_batch_delete_counts_the_notes_that_existed(alice: User) -> None:
    a, b, c = (alice.add_basic(f"n{i}") for i in range(3))
    assert alice.ok("POST", "/notes/delete", {"ids": [a, b, 999, a]}) == {"count": 2}
    assert alice.note_ids() == [c]
    assert alice.ok("POST", "/notes/delete", {"ids": [a, b]}) == {"count": 0}
    assert {g.oid for g in alice.graves_since(0) if g.kind == GraveKind.NOTE} == {a, b}


def test_batch_delete_refusals(alice: User) -> None:
    nid = alice.add_basic("x")
    for body in ({}, {"ids": []}, {"ids": ["1"]}, {"ids": 1}, {"ids": [1.5]}, [nid],
                 {"ids": [nid], "all": True}, {"ids": [0] * 1001}):
        assert alice.post("/notes/delete", body).status_code == 400, body
    assert alice.note_ids() == [nid]


def test_deleting_an_unknown_note_changes_nothing(alice: User) -> None:
    before = alice.meta()
    assert alice.delete("/notes/12345").status_code == 404
    assert alice.meta() == before


def test_batch_delete_of_unknown_ids_changes_nothing(alice: User) -> None:
    nid = alice.add_basic("stays")
    before = alice.meta()
    assert alice.ok("POST", "/notes/delete", {"ids": [12345, 67890, 12345]}) == {"count": 0}
    assert (alice.meta(), alice.graves_since(-1), alice.note_ids()) == (before, [], [nid])
    alice.ok("POST", "/notes/delete", {"ids": [nid, 12345]})
    assert alice.meta().mod > before.mod
