"""What the web pages read, on every backend: note searches in Anki's syntax over one
snapshot, scoped to one user, and the deck tree's counts."""

from __future__ import annotations

import pytest

from domain.api.note_search import PAGE, NoteSearch
from domain.model import UserId
from domain.search import SearchError
from tests.api.conftest import User


def _search(user: User, query: str, offset: int = 0, limit: int = 1000) -> list[int]:
    services = user.api.services
    found = NoteSearch(services.uow, services.accounts.clock).search(
        UserId(user.id), query, offset, limit)
    return [f.note.id for f in found.notes]


def test_searches_find_one_users_notes_newest_first(alice: User, bob: User) -> None:
    french = alice.add_deck("French::Words")
    dog = alice.add_basic("dog", "chien", tags=("animal",))
    cat = alice.add_basic("cat", "chat", tags=("animal", "verbs"), deck_id=french)
    other = alice.add_basic("house", "maison")
    bob.add_basic("dog", "hund", tags=("animal",))
    assert _search(alice, "") == [other, cat, dog]
    assert _search(alice, "dog") == [dog]
    assert _search(alice, "tag:animal") == [cat, dog]
    assert _search(alice, "deck:French") == [cat]
    assert _search(alice, "-tag:animal") == [other]
    assert _search(alice, "back:ch*") == [cat, dog]
    assert _search(alice, "", offset=1, limit=1) == [cat]
    assert len(_search(bob, "tag:animal")) == 1  # never another user's
    with pytest.raises(SearchError):
        _search(alice, "(dog")


def test_a_search_reads_every_page_of_a_large_collection(alice: User) -> None:
    ids: list[int] = []
    for start in range(0, PAGE + 5, 1000):
        ids += alice.add_notes(*({"notetype_id": alice.notetype_id("Basic"),
                                  "fields": {"Front": f"n{i}", "Back": "x" if i % 2 else "y"}}
                                 for i in range(start, min(start + 1000, PAGE + 5))))
    assert _search(alice, "back:x", limit=10**6) == sorted(ids[1::2], reverse=True)


def test_the_deck_tree_counts_new_cards_within_the_limit(alice: User) -> None:
    deck = alice.add_deck("Big")
    alice.add_notes(*({"notetype_id": alice.notetype_id("Basic"), "deck_id": deck,
                       "fields": {"Front": f"n{i}", "Back": ""}} for i in range(30)))
    root = alice.api.services.api.deck_tree(UserId(alice.id))
    big = next(node for node in root.children if node.name == ("Big",))
    assert (big.new, big.learn, big.review) == (20, 0, 0)  # the default preset's 20 a day
