"""Cards (move, suspend, unsuspend), tags, the review log and statistics."""

from __future__ import annotations

import time

from domain.model import RevlogEntry
from tests.api.conftest import User

DAY_MS = 86_400_000


def card_of(user: User, nid: int) -> dict[str, object]:
    (card,) = user.cards_of(nid)
    return card


# -- moving ------------------------------------------------------------------------------


def test_move_cards_to_another_deck(stocked: User) -> None:
    target = stocked.add_deck("Target")
    (nid,) = stocked.add_notes({"notetype_id": stocked.notetype_id("Basic (and reversed card)"),
                                "fields": {"Front": "f", "Back": "b"}})
    ids = [c["id"] for c in stocked.cards_of(nid)]
    assert stocked.ok("POST", "/cards/move", {"ids": ids[:1], "deck_id": target}) == {"count": 1}
    assert [c["deck_id"] for c in stocked.cards_of(nid)] == [target, 1]
    assert stocked.ok("POST", "/cards/move", {"ids": ids, "deck_id": target}) == {"count": 1}
    assert stocked.ok("POST", "/cards/move", {"ids": ids, "deck_id": target}) == {"count": 0}


def test_moves_that_move_nothing_change_nothing(alice: User) -> None:
    cid = card_of(alice, alice.add_basic("x"))["id"]
    before = alice.meta()
    assert alice.ok("POST", "/cards/move", {"ids": [cid, cid], "deck_id": 1}) == {"count": 0}
    assert alice.meta() == before


def test_move_refusals_change_nothing(alice: User) -> None:
    nid = alice.add_basic("x")
    cid = card_of(alice, nid)["id"]
    for body, status in (({"ids": [cid], "deck_id": 9999}, 404),
                         ({"ids": [cid, 123], "deck_id": 1}, 404),
                         ({"ids": [], "deck_id": 1}, 400),
                         ({"ids": [cid]}, 400),
                         ({"ids": [cid], "deck_id": "1"}, 400),
                         ({"ids": [str(cid)], "deck_id": 1}, 400)):
        assert alice.post("/cards/move", body).status_code == status, body
    assert card_of(alice, nid)["deck_id"] == 1


# -- suspending --------------------------------------------------------------------------


STATES = {  # a card as a device's scheduler leaves it -> its queue after unsuspending
    "new": ({"type": 0, "queue": 0, "due": 5}, 0),
    "review": ({"type": 2, "queue": 2, "due": 400, "ivl": 10, "factor": 2500}, 2),
    "learning": ({"type": 1, "queue": 1, "due": 1_800_000_000, "left": 2}, 1),
    "day learning": ({"type": 1, "queue": 3, "due": 400, "left": 1}, 3),
    "relearning": ({"type": 3, "queue": 1, "due": 1_800_000_000, "left": 1, "ivl": 1}, 1),
    "day relearning": ({"type": 3, "queue": 3, "due": 401, "left": 1, "ivl": 1}, 3),
}


def test_suspend_then_unsuspend_restores_the_queue(alice: User) -> None:
    for name, (state, expected_queue) in STATES.items():
        cid = card_of(alice, alice.add_basic(name))["id"]
        alice.update_card(cid, **state)
        assert alice.ok("POST", "/cards/suspend", {"ids": [cid]}) == {"count": 1}
        suspended = alice.ok("GET", f"/cards/{cid}")
        assert (suspended["queue"], suspended["suspended"]) == (-1, True), name
        assert (suspended["type"], suspended["due"]) == (state["type"], state["due"]), name
        assert alice.ok("POST", "/cards/unsuspend", {"ids": [cid]}) == {"count": 1}
        back = alice.ok("GET", f"/cards/{cid}")
        assert (back["queue"], back["suspended"], back["due"]) == (
            expected_queue, False, state["due"]), name


def test_suspend_counts_only_cards_that_changed(alice: User) -> None:
    a, b = (card_of(alice, alice.add_basic(f"n{i}"))["id"] for i in range(2))
    assert alice.ok("POST", "/cards/suspend", {"ids": [a]}) == {"count": 1}
    assert alice.ok("POST", "/cards/suspend", {"ids": [a, b, b]}) == {"count": 1}
    assert alice.ok("POST", "/cards/unsuspend", {"ids": [a, b]}) == {"count": 2}
    assert alice.ok("POST", "/cards/unsuspend", {"ids": [a, b]}) == {"count": 0}


def test_suspending_what_is_suspended_changes_nothing(alice: User) -> None:
    a, b = (card_of(alice, alice.add_basic(f"n{i}"))["id"] for i in range(2))
    alice.ok("POST", "/cards/suspend", {"ids": [a]})
    before = alice.meta()
    assert alice.ok("POST", "/cards/suspend", {"ids": [a]}) == {"count": 0}
    assert alice.ok("POST", "/cards/unsuspend", {"ids": [b]}) == {"count": 0}
    assert alice.meta() == before


def test_unsuspend_leaves_buried_cards_alone(alice: User) -> None:
    cid = card_of(alice, alice.add_basic("x"))["id"]
    alice.update_card(cid, queue=-2)
    assert alice.ok("POST", "/cards/unsuspend", {"ids": [cid]}) == {"count": 0}
    assert alice.ok("GET", f"/cards/{cid}")["queue"] == -2


def test_suspend_refusals(alice: User) -> None:
    cid = card_of(alice, alice.add_basic("x"))["id"]
    for path in ("/cards/suspend", "/cards/unsuspend"):
        assert alice.post(path, {"ids": [cid, 5]}).status_code == 404
        assert alice.post(path, {"ids": []}).status_code == 400
        assert alice.post(path, {"ids": [cid], "x": 1}).status_code == 400
        assert alice.post(path, {}).status_code == 400
    assert alice.ok("GET", f"/cards/{cid}")["queue"] == 0


# -- tags --------------------------------------------------------------------------------


def test_rename_tag_renames_it_and_its_children_on_every_note(alice: User) -> None:
    a = alice.add_basic("a", tags=("Verb", "keep"))
    b = alice.add_basic("b", tags=("verb::irregular",))
    c = alice.add_basic("c", tags=("verbs", "x::verb"))
    assert alice.ok("POST", "/tags/rename", {"old": "verb", "new": "grammar::verb"}) == {
        "count": 2}
    tags = {n: alice.ok("GET", f"/notes/{n}")["tags"] for n in (a, b, c)}
    # Added sorted ignoring case (keep, Verb); a rename keeps the order, as in Anki.
    assert tags == {a: ["keep", "grammar::verb"], b: ["grammar::verb::irregular"],
                    c: ["verbs", "x::verb"]}
    listed = alice.ok("GET", "/tags")["tags"]
    assert {"grammar::verb", "grammar::verb::irregular", "keep", "verbs"} <= set(listed)
    assert alice.note_ids(tag="grammar") == [a, b]


def test_rename_tag_of_no_note_changes_nothing(alice: User) -> None:
    nid = alice.add_basic("a", tags=("one",))
    assert alice.ok("POST", "/tags/rename", {"old": "none", "new": "two"}) == {"count": 0}
    assert alice.ok("GET", f"/notes/{nid}")["tags"] == ["one"]


def test_rename_tag_refusals(alice: User) -> None:
    alice.add_basic("a", tags=("one",))
    for body in ({"old": "one", "new": "has space"}, {"old": "one", "new": ""},
                 {"old": "", "new": "x"}, {"old": "one"}, {"old": "one", "new": "x", "y": 1},
                 {"old": "one", "new": "tab\there"}):
        assert alice.post("/tags/rename", body).status_code == 400, body
    assert alice.ok("GET", "/tags")["tags"] == ["one"]


def test_renamed_tag_is_no_longer_listed(alice: User) -> None:
    alice.add_basic("a", tags=("old",))
    alice.ok("POST", "/tags/rename", {"old": "old", "new": "new"})
    assert alice.ok("GET", "/tags")["tags"] == ["new"]


def test_renaming_a_tag_drops_it_and_its_children_from_the_tag_list(alice: User) -> None:
    alice.add_basic("a", tags=("old", "older", "x::old"))
    alice.add_basic("b", tags=("Old::child::deep",))
    alice.ok("POST", "/tags/rename", {"old": "old", "new": "new"})
    assert alice.ok("GET", "/tags")["tags"] == ["new", "new::child::deep", "older", "x::old"]


def test_renamed_tags_are_registered_with_the_collection_usn(alice: User) -> None:
    """So the next normal sync sends them to devices (sync cannot remove a tag, so
    devices keep the old names until Anki's Check Database clears unused tags)."""
    alice.add_basic("a", tags=("old", "old::kid", "keep"))
    keep_usn = alice.stored_tags()["keep"]
    alice.set_usn(9)
    alice.ok("POST", "/tags/rename", {"old": "old", "new": "new"})
    assert alice.stored_tags() == {"keep": keep_usn, "new": 9, "new::kid": 9}


def test_renaming_onto_a_listed_tag_keeps_its_spelling(alice: User) -> None:
    alice.add_basic("a", tags=("Target",))
    renamed = alice.add_basic("b", tags=("old",))
    alice.ok("POST", "/tags/rename", {"old": "old", "new": "target"})
    assert alice.ok("GET", "/tags")["tags"] == ["Target"]
    assert alice.ok("GET", f"/notes/{renamed}")["tags"] == ["target"]


def test_renaming_under_a_listed_parent_takes_its_spelling(alice: User) -> None:
    alice.add_basic("a", tags=("Lang",))
    nid = alice.add_basic("b", tags=("verb::x",))
    alice.ok("POST", "/tags/rename", {"old": "verb", "new": "lang::verb"})
    assert alice.ok("GET", f"/notes/{nid}")["tags"] == ["Lang::verb::x"]
    assert alice.ok("GET", "/tags")["tags"] == ["Lang", "Lang::verb::x"]


def test_renaming_only_the_case_of_a_tag(alice: User) -> None:
    nid = alice.add_basic("a", tags=("verb",))
    assert alice.ok("POST", "/tags/rename", {"old": "verb", "new": "Verb"}) == {"count": 1}
    assert alice.ok("GET", "/tags")["tags"] == ["Verb"]
    assert alice.ok("GET", f"/notes/{nid}")["tags"] == ["Verb"]


def test_a_listed_tag_no_note_has_is_left_alone(alice: User) -> None:
    """As in Anki: with no note to rename, the tag list is not touched either."""
    nid = alice.add_basic("a", tags=("one",))
    alice.ok("PATCH", f"/notes/{nid}", {"tags": []})
    before = alice.meta()
    assert alice.ok("POST", "/tags/rename", {"old": "one", "new": "two"}) == {"count": 0}
    assert (alice.ok("GET", "/tags")["tags"], alice.meta()) == (["one"], before)


def test_renaming_a_non_ascii_tag_ignores_its_case(alice: User) -> None:
    nid = alice.add_basic("a", tags=("Ökonomie::Geld",))
    assert alice.ok("POST", "/tags/rename", {"old": "ökonomie", "new": "econ"}) == {"count": 1}
    assert alice.ok("GET", f"/notes/{nid}")["tags"] == ["econ::Geld"]
    assert alice.ok("GET", "/tags")["tags"] == ["econ::Geld"]


def test_rename_tag_used_in_two_cases(alice: User) -> None:
    upper, lower = alice.add_basic("a", tags=("Verb",)), alice.add_basic("b", tags=("verb",))
    assert alice.ok("POST", "/tags/rename", {"old": "verb", "new": "grammar"}) == {"count": 2}
    assert alice.note_ids(tag="grammar") == [upper, lower]


# -- review log and statistics -----------------------------------------------------------


def reviews(cid: int, *days_ago: int) -> list[RevlogEntry]:
    now = int(time.time() * 1000)
    return [RevlogEntry(id=now - d * DAY_MS - i, cid=cid, usn=0, ease=3, ivl=1, last_ivl=0,
                        factor=2500, time=4000, type=0) for i, d in enumerate(days_ago)]


def test_revlog_lists_reviews_by_card(alice: User) -> None:
    a, b = (card_of(alice, alice.add_basic(f"n{i}"))["id"] for i in range(2))
    alice.add_revlog(*reviews(a, 2, 1), *reviews(b, 0))
    everything = alice.ok("GET", "/revlog")["revlog"]
    assert [e["card_id"] for e in everything] == [a, a, b]
    assert everything[0] == {"id": everything[0]["id"], "card_id": a, "usn": 0, "ease": 3,
                             "interval": 1, "last_interval": 0, "factor": 2500,
                             "time_ms": 4000, "type": 0}
    only_b = alice.ok("GET", "/revlog", card_id=b)["revlog"]
    assert [e["card_id"] for e in only_b] == [b]
    page = alice.ok("GET", "/revlog", limit=2)
    assert alice.ok("GET", "/revlog", after=page["next_after"])["revlog"] == everything[2:]


def test_stats_count_cards_by_state_per_deck_and_reviews_per_day(alice: User) -> None:
    other = alice.add_deck("Other")
    new, review, learning = (card_of(alice, alice.add_basic(f"n{i}"))["id"] for i in range(3))
    suspended = card_of(alice, alice.add_basic("s", deck_id=other))["id"]
    buried = card_of(alice, alice.add_basic("b", deck_id=other))["id"]
    alice.update_card(review, type=2, queue=2, ivl=5)
    alice.update_card(learning, type=1, queue=1, due=1_800_000_000)
    alice.ok("POST", "/cards/suspend", {"ids": [suspended]})
    alice.update_card(buried, queue=-3)
    alice.add_revlog(*reviews(new, 0, 0, 1), *reviews(review, 40))
    stats = alice.ok("GET", "/stats")
    assert stats["decks"] == {
        "1": {"new": 1, "learning": 1, "review": 1, "suspended": 0, "buried": 0},
        str(other): {"new": 0, "learning": 0, "review": 0, "suspended": 1, "buried": 1},
    }
    today = int(time.time() * 1000) // DAY_MS
    counts = dict(map(tuple, stats["reviews_by_day"]))
    assert sum(counts.values()) == 3
    assert set(counts) <= {today, today - 1, today - 2}
    longer = dict(map(tuple, alice.ok("GET", "/stats", days=60)["reviews_by_day"]))
    assert sum(longer.values()) == 4
