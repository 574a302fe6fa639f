"""Removing tags from notes (AnkiConnect's `removeTags`, the JSON API) does what Anki
does: a tag goes with its `::` children, ignoring case, and `*` or `_` are plain
characters there (unlike in searches)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from anki.collection import Collection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.memory.store import InMemoryStore
from domain.api.service import CollectionApi, NewNote
from domain.model import UserId
from domain.new_collection import new_collection
from tests.support.fakes import CountingTokens, FakeClock

USER = UserId(5)
PART = st.sampled_from(["a", "A", "b", "é", "É", "*", "a*", "_", "x_y", "ab"])
TAG = st.lists(PART, min_size=1, max_size=3).map("::".join)


@pytest.fixture(scope="module")
def anki(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collection]:
    col = Collection(str(tmp_path_factory.mktemp("tags") / "collection.anki2"))
    yield col
    col.close()


def _distinct(tags: list[str]) -> list[str]:
    """One spelling per tag (Anki keeps the first spelling it registered of a tag)."""
    seen: dict[str, str] = {}
    for tag in tags:
        seen.setdefault(tag.casefold(), tag)
    return list(seen.values())


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tags=st.lists(TAG, min_size=1, max_size=6), remove=st.lists(TAG, min_size=1,
                                                                    max_size=3))
def test_the_tags_left_are_ankis(anki: Collection, tags: list[str], remove: list[str]
                                 ) -> None:
    tags = _distinct(tags)
    note = anki.new_note(anki.models.by_name("Basic"))
    note["Front"], note.tags = "x", list(tags)
    anki.add_note(note, anki.decks.id("Default"))
    anki.tags.bulk_remove([note.id], " ".join(remove))
    expected = sorted(t.casefold() for t in anki.get_note(note.id).tags)
    anki.remove_notes([note.id])

    store = InMemoryStore()
    with store() as uow:
        uow.collections.create(USER, new_collection(FakeClock().now_ms()))
        uow.commit()
    api = CollectionApi(uow=store, clock=FakeClock(), tokens=CountingTokens())
    mid = next(iter(store.state.collections[USER].notetypes))
    [nid] = api.add_notes(USER, [NewNote(mid, {"Front": "x"}, tuple(tags))])
    api.change_tags(USER, [nid], remove=remove)
    ours = api.note(USER, nid)[0]
    assert sorted(t.casefold() for t in ours.tags.split()) == expected
