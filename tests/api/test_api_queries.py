"""Finding notes and cards: filters, text search and keyset pagination."""

from __future__ import annotations

import warnings

import pytest
from sqlalchemy import create_engine

from adapters.sql.queries import SqlCollectionQueries
from domain.model import UserId
from ports.queries import NoteFilter
from tests.api.conftest import User


def test_pages_follow_next_after_until_the_end(alice: User) -> None:
    ids = [alice.add_basic(f"page {i}") for i in range(7)]
    seen: list[int] = []
    after = None
    pages = 0
    while True:
        page = alice.ok("GET", "/notes", limit=3, after=after)
        seen += [n["id"] for n in page["notes"]]
        pages += 1
        if page["next_after"] is None:
            break
        assert page["next_after"] == page["notes"][-1]["id"]
        after = page["next_after"]
    assert seen == ids
    assert pages == 3


def test_a_full_last_page_points_to_an_empty_one(alice: User) -> None:
    ids = [alice.add_basic(f"n{i}") for i in range(2)]
    page = alice.ok("GET", "/notes", limit=2)
    assert page["next_after"] == ids[-1]
    assert alice.ok("GET", "/notes", limit=2, after=ids[-1]) == {"notes": [], "next_after": None}


def test_card_and_revlog_lists_page_the_same_way(alice: User) -> None:
    nids = [alice.add_basic(f"c{i}") for i in range(3)]
    first = alice.ok("GET", "/cards", limit=2)
    rest = alice.ok("GET", "/cards", limit=2, after=first["next_after"])
    cards = first["cards"] + rest["cards"]
    assert [c["note_id"] for c in cards] == nids
    assert rest["next_after"] is None
    assert alice.ok("GET", "/revlog", limit=1) == {"revlog": [], "next_after": None}


@pytest.mark.parametrize("path", ["/notes", "/cards", "/revlog"])
def test_page_size_must_be_1_to_1000(alice: User, path: str) -> None:
    for limit in ("0", "1001", "-1", "x", "1.5"):
        result = alice.get(path, limit=limit)
        assert result.status_code == 400, (limit, result.text)
        assert set(result.json) == {"title", "description"}
    for limit in ("1", "1000"):
        assert alice.get(path, limit=limit).status_code == 200


def test_bad_query_parameters_are_400(alice: User) -> None:
    for params in ({"ids": "x"}, {"ids": "1,,2"}, {"ids": "1,"}, {"ids": ""},
                   {"ids": "1;2"}, {"deck_id": "x"}, {"after": "x"}, {"tag": ""}, {"q": ""},
                   {"notetype_id": "a"}, {"unknown": "1"}, {"q": "x" * 501}):
        result = alice.get("/notes", **params)
        assert result.status_code == 400, (params, result.text)
    for params in ({"note_id": "x"}, {"deck_id": "1.5"}, {"nope": "1"}):
        assert alice.get("/cards", **params).status_code == 400, params
    assert alice.get("/revlog", card_id="x").status_code == 400
    for days in ("0", "3651", "x"):
        assert alice.get("/stats", days=days).status_code == 400


def test_ids_filter_returns_only_those_notes(alice: User) -> None:
    a, b, c = (alice.add_basic(f"n{i}") for i in range(3))
    assert alice.note_ids(ids=f"{c},{a},999") == [a, c]
    assert alice.note_ids(ids=str(b)) == [b]


def test_text_search_is_case_insensitive_over_all_fields(alice: User) -> None:
    front = alice.add_basic("The Capital of France", "Paris")
    back = alice.add_basic("question", "it is in FRANCE")
    alice.add_basic("Germany", "Berlin")
    assert alice.note_ids(q="france") == [front, back]
    assert alice.note_ids(q="PARIS") == [front]
    assert alice.note_ids(q="capital OF") == [front]
    assert alice.note_ids(q="nowhere") == []


def test_like_wildcards_in_the_search_text_are_literal(alice: User) -> None:
    percent = alice.add_basic("100% sure")
    under = alice.add_basic("snake_case")
    slash = alice.add_basic("back\\slash")
    alice.add_basic("1000 sure", "snakeXcase")
    assert alice.note_ids(q="%") == [percent]
    assert alice.note_ids(q="0% s") == [percent]
    assert alice.note_ids(q="_") == [under]
    assert alice.note_ids(q="e_c") == [under]
    assert alice.note_ids(q="\\") == [slash]
    assert alice.note_ids(q="k\\s") == [slash]


def test_text_search_matches_non_ascii_case_insensitively(alice: User) -> None:
    nid = alice.add_basic("Über Straße", "ÉCOLE")
    assert alice.note_ids(q="über") == [nid]
    assert alice.note_ids(q="école") == [nid]


def test_tag_filter_matches_whole_tags_and_their_children(alice: User) -> None:
    exact = alice.add_basic("a", tags=("lang",))
    child = alice.add_basic("b", tags=("other", "Lang::German"))
    grandchild = alice.add_basic("c", tags=("lang::german::verbs",))
    alice.add_basic("d", tags=("language",))
    alice.add_basic("e", tags=("mylang", "x::lang"))
    alice.add_basic("f")
    assert alice.note_ids(tag="lang") == [exact, child, grandchild]
    assert alice.note_ids(tag="LANG") == [exact, child, grandchild]
    assert alice.note_ids(tag="lang::german") == [child, grandchild]
    assert alice.note_ids(tag="german") == []


def test_tag_filter_matches_non_ascii_case_insensitively(alice: User) -> None:
    nid = alice.add_basic("a", tags=("Ökonomie::Geld",))
    alice.add_basic("b", tags=("okonomie",))
    assert alice.note_ids(tag="ökonomie") == [nid]
    assert alice.note_ids(tag="ÖKONOMIE::GELD") == [nid]


def test_tag_filter_treats_wildcards_literally(alice: User) -> None:
    odd = alice.add_basic("a", tags=("50%_off",))
    alice.add_basic("b", tags=("50xyoff",))
    assert alice.note_ids(tag="50%_off") == [odd]
    assert alice.note_ids(tag="%") == []
    assert alice.note_ids(tag="_") == []


def test_deck_queries_compile_without_sqlalchemy_warnings(db_url: str) -> None:
    engine = create_engine(db_url)  # a new statement cache, so the queries compile here
    try:
        with engine.connect() as conn, warnings.catch_warnings():
            warnings.simplefilter("error")
            queries = SqlCollectionQueries(conn)
            queries.notes(UserId(0), NoteFilter(deck_ids=(1,)), None, 1)
            queries.notes_without_cards(UserId(0), [1])
    finally:
        engine.dispose()


def test_deck_filter_includes_subdecks(alice: User) -> None:
    top = alice.add_deck("Lang")
    sub = alice.add_deck("Lang::German::Verbs")
    other = alice.add_deck("Language")
    in_top = alice.add_basic("t", deck_id=top)
    in_sub = alice.add_basic("s", deck_id=sub)
    in_other = alice.add_basic("o", deck_id=other)
    in_default = alice.add_basic("d")
    assert alice.note_ids(deck_id=top) == [in_top, in_sub]
    assert alice.note_ids(deck_id=sub) == [in_sub]
    assert alice.note_ids(deck_id=other) == [in_other]
    assert alice.note_ids(deck_id=1) == [in_default]
    assert alice.note_ids(deck_id=987654) == []


def test_filters_combine(stocked: User) -> None:
    reversed_type = stocked.notetype_id("Basic (and reversed card)")
    deck = stocked.add_deck("D")
    # Fronts only, so one card each (see test_api_notes' multi-card batch bug).
    match = stocked.add_notes({"notetype_id": reversed_type, "fields": {"Front": "Hello"},
                               "tags": ["greet"], "deck_id": deck})[0]
    stocked.add_notes({"notetype_id": reversed_type, "fields": {"Front": "Hello"},
                       "tags": ["greet"]})
    stocked.add_basic("Hello", tags=("greet",), deck_id=deck)
    found = stocked.note_ids(q="hello", tag="greet", deck_id=deck, notetype_id=reversed_type)
    assert found == [match]


def test_cards_by_note_and_by_deck(stocked: User) -> None:
    deck = stocked.add_deck("Cards")
    (nid,) = stocked.add_notes({"notetype_id": stocked.notetype_id("Basic (and reversed card)"),
                                "fields": {"Front": "f", "Back": "b"}, "deck_id": deck})
    other = stocked.add_basic("elsewhere")
    by_note = stocked.ok("GET", "/cards", note_id=nid)["cards"]
    assert [c["ord"] for c in by_note] == [0, 1]
    by_deck = stocked.ok("GET", "/cards", deck_id=deck)["cards"]
    assert [c["id"] for c in by_deck] == [c["id"] for c in by_note]
    assert [c["note_id"] for c in stocked.ok("GET", "/cards", deck_id=1)["cards"]] == [other]
    card = stocked.ok("GET", f"/cards/{by_note[1]['id']}")
    assert card == by_note[1]
    assert stocked.get("/cards/123").status_code == 404


HUGE = "99999999999999999999"


def test_ids_beyond_64_bits_are_refused_not_crashing(
    alice: User, backend: str, request: pytest.FixtureRequest
) -> None:
    """Such ids cannot exist; whatever the database driver thinks of them, no 500."""
    for params in ({"ids": HUGE}, {"after": HUGE}, {"deck_id": "-" + HUGE},
                   {"notetype_id": HUGE}):
        assert alice.get("/notes", **params).status_code in (200, 400), params
    for params in ({"note_id": HUGE}, {"deck_id": HUGE}, {"after": HUGE}):
        assert alice.get("/cards", **params).status_code in (200, 400), params
    for path in (f"/notes/{HUGE}", f"/cards/{HUGE}", f"/decks/{HUGE}", f"/notetypes/{HUGE}"):
        assert alice.get(path).status_code in (400, 404), path
    huge = int(HUGE)
    for path, body in (("/notes/delete", {"ids": [huge]}), ("/cards/suspend", {"ids": [huge]}),
                       ("/cards/move", {"ids": [huge], "deck_id": 1}),
                       ("/notes", {"notes": [{"notetype_id": huge, "fields": {}}]})):
        assert alice.post(path, body).status_code in (200, 400, 404), path
