"""The deck list in the browser shows what Anki's own deck list shows for the same
collection: every deck, nested, with today's new, learning and review counts."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.devices import sync
from tests.support.anki_client import Profile, add_basic_note
from tests.support.server import RunningServer, add_user_in_process, start_server
from tests.web.conftest import screenshot

pytestmark = pytest.mark.e2e

DECKS = {"Languages::German::Vocabulary": 30, "Languages::French": 12, "Geography": 6,
         'Medicine::Anatomy::Bones_* "x" & <b>': 4, "Zoë's deck": 2}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    data = tmp_path_factory.mktemp("web-decks")
    server = start_server(data / "server", f"sqlite:///{data / 'ankiserv.db'}", workers=1,
                          ANKISERV_BASE_PATH="/anki/")
    yield server
    server.stop()


def _log_in(page: Any, served: RunningServer, name: str, password: str) -> None:
    page.goto(served.url + "/anki/login")
    page.fill("#username", name)
    page.fill("#password", password)
    page.click("button[type=submit]")


def _anki_counts(device: Profile) -> dict[str, tuple[int, int, int]]:
    counts: dict[str, tuple[int, int, int]] = {}

    def walk(node: Any, prefix: str) -> None:
        for child in node.children:
            name = f"{prefix}::{child.name}" if prefix else child.name
            counts[name] = (child.new_count, child.learn_count, child.review_count)
            walk(child, name)

    walk(device.col.sched.deck_due_tree(), "")
    return counts


def _page_counts(page: Any) -> dict[str, tuple[int, int, int]]:
    page.eval_on_selector_all("details", "all => all.forEach(d => d.open = true)")
    rows = page.eval_on_selector_all("#deck-tree .deck-row", """rows => rows.map(r => [
        r.querySelector('a.deck-name').getAttribute('aria-label').replace(/^Study /, ''),
        ...[...r.querySelectorAll('.count')].map(c => Number(c.textContent))])""")
    return {name: (new, learn, review) for name, new, learn, review in rows}


def test_the_deck_list_counts_as_anki_does(served: RunningServer, page: Any,
                                           tmp_path: Path) -> None:
    name, password = f"zoë-{uuid.uuid4().hex[:6]}", "pw"
    add_user_in_process(served, name, password)
    device = Profile.create(tmp_path / "device")
    device.login(name, password, served.url + "/anki/")
    col = device.col
    for deck, count in DECKS.items():
        for i in range(count):
            add_basic_note(col, f"{deck} {i}", "back", deck=deck)
    col.sched.set_due_date(list(col.find_cards("deck:Geography"))[:4], "0")
    german = col.decks.by_name("Languages::German")
    assert german is not None
    preset = col.decks.add_config_returning_id("small")
    german["conf"] = preset
    col.decks.save(german)
    config = col.decks.get_config(preset)
    assert config is not None
    config["new"]["perDay"] = 7
    col.decks.update_config(config)
    learning = col.sched.get_queued_cards(fetch_limit=3).cards  # answer a few: learning
    for queued in learning:
        card = col.get_card(queued.card.id)
        card.start_timer()
        col.sched.answerCard(card, 1)
    sync(device, upload=True)
    expected = _anki_counts(device)
    assert expected["Geography"][2] == 4 and expected["Languages::German"][0] == 7

    _log_in(page, served, name, password)
    page.click("nav.main >> text=Decks")
    screenshot(page, "decks")
    assert _page_counts(page) == expected
    totals = page.inner_text("#totals")
    root = device.col.sched.deck_due_tree()
    assert f"{root.new_count} new" in totals and f"{root.review_count} to review" in totals


def test_a_new_account_shows_anki_s_empty_default_deck(served: RunningServer,
                                                       page: Any) -> None:
    name = f"new-{uuid.uuid4().hex[:6]}"
    add_user_in_process(served, name, "pw")
    _log_in(page, served, name, "pw")
    page.goto(served.url + "/anki/decks")
    assert _page_counts(page) == {"Default": (0, 0, 0)}


def test_the_deck_list_needs_a_login(served: RunningServer, page: Any) -> None:
    page.goto(served.url + "/anki/decks")
    assert page.url == served.url + "/anki/login"
