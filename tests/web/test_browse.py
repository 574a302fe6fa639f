"""Searching notes in the browser finds exactly what Anki's own browser finds for the
same search on a real client's collection; bad searches say what is wrong."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

from tests.e2e.devices import sync
from tests.support.anki_client import Profile, add_basic_note
from tests.support.server import RunningServer, add_user_in_process, start_server
from tests.web.conftest import screenshot

pytestmark = pytest.mark.e2e

QUERIES = ["", "dog", "DOG", "deck:French", "deck:french::*", "tag:verbs", "-tag:verbs",
           "front:*ch*", "is:due", "is:new", "is:suspended", "added:1", "note:Basic",
           "dog or cat", "(dog or cat) -deck:French", "deck:French is:new", "back:_at",
           r'"deck:Bones\_\* x"', "tag:animal::*", "card:2", "prop:ivl>=1", "rated:1",
           "<b>", "nid:1", "w:cat"]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    data = tmp_path_factory.mktemp("web-browse")
    server = start_server(data / "server", f"sqlite:///{data / 'ankiserv.db'}", workers=1,
                          ANKISERV_BASE_PATH="/anki/")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def account(served: RunningServer, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[tuple[str, str, Profile]]:
    name = f"zoë-{uuid.uuid4().hex[:6]}"
    add_user_in_process(served, name, "pw")
    device = Profile.create(tmp_path_factory.mktemp("browse-device"))
    device.login(name, "pw", served.url + "/anki/")
    col = device.col
    for i in range(60):
        add_basic_note(col, f"word {i}", f"back {i}", deck="Vocabulary", tags=["bulk"])
    add_basic_note(col, "dog", "a <b>dog</b> barks", deck="French", tags=["animal::dog"])
    add_basic_note(col, "chat", "cat", deck="French::Words", tags=["animal::cat", "verbs"])
    add_basic_note(col, "catch", "hat", tags=["verbs"])
    add_basic_note(col, "bone", "skeleton", deck="Bones_* x")
    reversed_type = col.models.by_name("Basic (and reversed card)")
    note = col.new_note(reversed_type)
    note["Front"], note["Back"] = "both ways", "dog cat"
    col.add_note(note, col.decks.id("French"))
    col.sched.suspend_cards(list(col.find_cards("catch")))
    col.sched.set_due_date(list(col.find_cards("chat")), "0")
    sync(device, upload=True)
    yield name, "pw", device
    device.close()


def _log_in(page: Any, served: RunningServer, name: str, password: str) -> None:
    page.goto(served.url + "/anki/login")
    page.fill("#username", name)
    page.fill("#password", password)
    page.click("button[type=submit]")


def _found(page: Any) -> list[int]:
    """Note ids on every page of the current search's results."""
    ids: list[int] = []
    while True:
        ids += [int(h.rsplit("/", 1)[1]) for h in page.eval_on_selector_all(
            "#results a", "links => links.map(a => a.getAttribute('href'))")]
        if page.locator("a[rel=next]").count() == 0:
            return ids
        page.click("a[rel=next]")


def test_searches_find_what_anki_finds(served: RunningServer,
                                       account: tuple[str, str, Profile], page: Any) -> None:
    name, password, device = account
    _log_in(page, served, name, password)
    for query in QUERIES:
        page.goto(served.url + "/anki/browse?q=" + quote(query))
        expected = sorted(device.col.find_notes(query))
        found = _found(page)
        assert sorted(found) == expected, query
        assert found == sorted(found, reverse=True), query  # newest first
        assert page.inner_text("#count").startswith(f"{len(expected)} note"), query


@pytest.mark.console_allows("status of 400")
def test_bad_searches_say_what_is_wrong(served: RunningServer,
                                       account: tuple[str, str, Profile], page: Any) -> None:
    name, password, _ = account
    _log_in(page, served, name, password)
    for query in ("(dog", '"dog', "is:nonsense", "prop:ivl>x", "deck:current", "dupe:1,x"):
        answer = page.goto(served.url + "/anki/browse?q=" + quote(query))
        assert answer.status == 400, query
        assert page.inner_text("#search-error"), query
        assert page.input_value("#q") == query  # kept, to fix
    screenshot(page, "browse-error")
    for bad in ("page=0", "page=x", "q=" + "x" * 1001):
        assert page.goto(served.url + "/anki/browse?" + bad).status == 400


def test_search_with_the_keyboard_and_open_a_result(
        served: RunningServer, account: tuple[str, str, Profile], page: Any) -> None:
    name, password, device = account
    _log_in(page, served, name, password)
    page.click("nav.main >> text=Browse")
    page.focus("#q")
    page.keyboard.type("dog -tag:bulk")
    page.keyboard.press("Enter")
    page.wait_for_url("**/browse?q=*")
    assert sorted(_found(page)) == sorted(device.col.find_notes("dog -tag:bulk"))
    screenshot(page, "browse")
    page.click("#results a:text-is('dog')")
    assert page.input_value("#field-0") == "dog"


def test_a_deck_in_the_deck_list_opens_its_notes(
        served: RunningServer, account: tuple[str, str, Profile], page: Any) -> None:
    name, password, device = account
    _log_in(page, served, name, password)
    page.goto(served.url + "/anki/decks")
    page.click("a.deck-browse[aria-label$='Bones_* x']")
    assert sorted(_found(page)) == sorted(device.col.find_notes('"deck:Bones\\_\\* x"'))
    assert len(_found(page)) == 1


def test_paging_through_many_results(served: RunningServer,
                                     account: tuple[str, str, Profile], page: Any) -> None:
    name, password, _ = account
    _log_in(page, served, name, password)
    page.goto(served.url + "/anki/browse?q=tag:bulk")
    assert page.inner_text("#count") == "60 notes, page 1 of 2"
    assert page.locator("#results tbody tr").count() == 50
    page.click("a[rel=next]")
    assert page.locator("#results tbody tr").count() == 10
    page.click("a[rel=prev]")
    assert page.locator("#results tbody tr").count() == 50
