"""Studying in the browser against a real server and real Anki clients: answers by keys and
by mouse reach the device with the right eases and card states, the counts agree with
Anki's; undo, the finished screen, hostile cards, a device studying at the same time, a
device mid-sync, and hostile requests."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from anki.dbproxy import DBProxy

from entrypoints.config import Settings
from entrypoints.services import build_services
from tests.e2e.devices import downloaded_content, next_second, sync_outcome
from tests.e2e.wire_client import WireDevice
from tests.media.devices import sync_media
from tests.support.anki_client import Profile, add_basic_note, content
from tests.support.server import RunningServer, add_user_in_process, start_server
from tests.web.conftest import DESKTOP, PHONE, screenshot

pytestmark = pytest.mark.e2e

DECK = "Vocabulary"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    data = tmp_path_factory.mktemp("web-study")
    server = start_server(data / "server", f"sqlite:///{data / 'ankiserv.db'}", workers=2,
                          ANKISERV_BASE_PATH="/anki/")
    yield server
    server.stop()


@pytest.fixture
def account(served: RunningServer) -> tuple[str, str]:
    name, password = f"zoë-{uuid.uuid4().hex[:6]}", "pw " + uuid.uuid4().hex[:6]
    add_user_in_process(served, name, password)
    return name, password


def _new_device(served: RunningServer, account: tuple[str, str], directory: Path) -> Profile:
    """A logged-in device whose day starts 12 hours from now: a learning step never
    crosses into the next day (it would become a card due tomorrow) during a test."""
    device = Profile.create(directory)
    device.login(*account, served.url + "/anki/")
    device.col.set_config("rollover", (time.localtime().tm_hour + 12) % 24)
    return device


def _device(served: RunningServer, account: tuple[str, str], directory: Path,
            notes: int) -> Profile:
    """A device that uploads a deck of `notes` basic notes."""
    device = _new_device(served, account, directory)
    for i in range(notes):
        add_basic_note(device.col, f"word {i}", f"meaning {i}", deck=DECK)
    assert _sync(device, upload=True) in (0, 4)
    return device


def _sync(device: Profile, upload: bool | None = None, timeout: float = 20) -> int:
    """Sync the device, waiting while the study device (or another) is syncing."""
    deadline = time.monotonic() + timeout
    while True:
        outcome = sync_outcome(device) if upload is None else _full(device, upload)
        if outcome.startswith("ok:"):
            return int(outcome[3:])
        assert outcome == "conflict" and time.monotonic() < deadline, outcome
        time.sleep(0.3)


def _full(device: Profile, upload: bool) -> str:
    return f"ok:{device.sync(upload=upload)}"


def _deck_id(device: Profile, name: str = DECK) -> int:
    deck = device.col.decks.id_for_name(name)
    assert deck is not None
    return int(deck)


def _log_in(page: Any, served: RunningServer, account: tuple[str, str]) -> None:
    page.goto(served.url + "/anki/login")
    page.fill("#username", account[0])
    page.fill("#password", account[1])
    page.click("button[type=submit]")
    assert page.url == served.url + "/anki/account"


def _open(page: Any, served: RunningServer, deck_id: int) -> None:
    """Enter the deck's study page, waiting while it is being prepared."""
    page.goto(served.url + f"/anki/study/{deck_id}")
    page.wait_for_selector("#show-answer, #finished", timeout=30_000)


def _studying(page: Any, served: RunningServer, account: tuple[str, str], directory: Path,
              notes: int) -> Profile:
    """A device with a deck of `notes` notes, and the browser logged in on its study page."""
    device = _device(served, account, directory / "device", notes)
    _log_in(page, served, account)
    _open(page, served, _deck_id(device))
    return device


def _shown_card(page: Any) -> int:
    return int(page.get_attribute("form.show input[name=answer]", "value"))


def _counts(page: Any) -> tuple[int, int, int]:
    new, learn, review = page.eval_on_selector_all(
        "#counts .count", "all => all.map(c => Number(c.textContent))")
    return new, learn, review


def _study_by_keys(page: Any, ratings: list[int]) -> list[tuple[int, int]]:
    answered = []
    for rating in ratings:
        card = _shown_card(page)
        page.keyboard.press("Space")
        page.wait_for_selector("#answers")
        assert page.get_attribute("#answers input[name=card]", "value") == str(card)
        page.keyboard.press(str(rating))
        page.wait_for_selector("#show-answer, #finished")
        answered.append((card, rating))
    return answered


def _study_by_mouse(page: Any, ratings: list[int]) -> list[tuple[int, int]]:
    answered = []
    for rating in ratings:
        card = _shown_card(page)
        page.click("#show-answer")
        page.wait_for_selector("#answers")
        page.click(f"button[data-rating='{rating}']")
        page.wait_for_selector("#show-answer, #finished")
        answered.append((card, rating))
    return answered


def _db(device: Profile) -> DBProxy:
    assert device.col.db is not None
    return device.col.db


def _revlog(device: Profile) -> list[tuple[int, int]]:
    return [(int(cid), int(ease)) for cid, ease in
            _db(device).all("select cid, ease from revlog order by id")]


def _synced_revlog(device: Profile, rows: int, timeout: float = 15) -> list[tuple[int, int]]:
    """Sync until the device has `rows` review-log rows (the study device syncs a second
    after answers, off the request's path)."""
    time.sleep(2.5)
    deadline = time.monotonic() + timeout
    while True:
        _sync(device)
        got = _revlog(device)
        if len(got) >= rows or time.monotonic() > deadline:
            return got
        time.sleep(0.5)


def _device_counts(device: Profile, name: str = DECK) -> tuple[int, int, int]:
    for child in device.col.sched.deck_due_tree().children:
        if child.name == name:
            return child.new_count, child.learn_count, child.review_count
    raise AssertionError(f"no deck {name}")


@pytest.fixture(params=["phone", "desktop"])
def any_page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A page on a phone-sized and on a desktop viewport; console errors fail the test."""
    context = browser.new_context(viewport=PHONE if request.param == "phone" else DESKTOP)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    opened.on("pageerror", lambda e: errors.append(str(e)))
    yield opened
    context.close()
    assert not errors, errors


RATINGS = [3, 1, 4, 3, 2, 4, 3, 1, 3, 4, 3, 3, 2, 4, 1, 3, 3, 4, 3, 3]


def _check_device_got(device: Profile, answered: list[tuple[int, int]]) -> None:
    assert _synced_revlog(device, len(answered)) == answered
    for cid, ease in answered:
        card = device.col.get_card(cid)  # type: ignore[arg-type]
        if ease == 4:
            assert (card.type, card.queue) == (2, 2), (cid, ease)
            assert card.ivl >= 1
        else:
            assert (card.type, card.queue) == (1, 1), (cid, ease)


def test_studying_by_keys_reaches_the_device(
        served: RunningServer, account: tuple[str, str], any_page: Any,
        tmp_path: Path) -> None:
    page = any_page
    device = _device(served, account, tmp_path / "device", 30)
    _log_in(page, served, account)
    page.goto(served.url + "/anki/decks")
    page.click(f"a.deck-name[aria-label='Study {DECK}']")
    page.wait_for_selector("#show-answer", timeout=30_000)
    assert page.url == served.url + f"/anki/study/{_deck_id(device)}"
    assert _counts(page) == (20, 0, 0)  # Anki's default: 20 new cards a day
    answered = _study_by_keys(page, RATINGS)
    assert len({cid for cid, _ in answered}) == 20  # twenty new cards
    shown = _counts(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]
    _check_device_got(device, answered)
    assert _device_counts(device) == shown


def test_studying_by_mouse_reaches_the_device(
        served: RunningServer, account: tuple[str, str], page: Any, tmp_path: Path) -> None:
    device = _studying(page, served, account, tmp_path, 30)
    screenshot(page, "study-question")
    page.click("#show-answer")
    page.wait_for_selector("#answers")
    screenshot(page, "study-answer")
    page.go_back()
    page.wait_for_selector("#show-answer")
    answered = _study_by_mouse(page, RATINGS)
    shown = _counts(page)
    _check_device_got(device, answered)
    assert _device_counts(device) == shown


def test_undo_takes_the_last_answer_back(
        served: RunningServer, account: tuple[str, str], page: Any, tmp_path: Path) -> None:
    device = _studying(page, served, account, tmp_path, 5)
    first = _shown_card(page)
    assert page.locator("#undo").count() == 0  # nothing answered: nothing to undo
    # Answered and undone within the study device's one-second sync delay.
    _study_by_keys(page, [4])
    assert _shown_card(page) != first and _counts(page) == (4, 0, 0)
    assert page.locator("#undo").count() == 1
    with page.expect_navigation():
        page.keyboard.press("u")
    assert _shown_card(page) == first and _counts(page) == (5, 0, 0)
    assert page.locator("#undo").count() == 0
    answered = _study_by_keys(page, [3])
    assert answered == [(first, 3)]
    assert _synced_revlog(device, 1) == answered
    card = device.col.get_card(first)  # type: ignore[arg-type]
    assert (card.type, card.queue) == (1, 1)  # Good, not Easy: the undone answer is gone


def test_undo_after_the_answer_was_synced_keeps_the_study_device_syncing(
        served: RunningServer, account: tuple[str, str], page: Any, tmp_path: Path) -> None:
    device = _studying(page, served, account, tmp_path, 5)
    answered = _study_by_keys(page, [4])
    assert _synced_revlog(device, 1) == answered  # the answer reached the account
    with page.expect_navigation():
        page.keyboard.press("u")
    first = answered[0][0]
    assert _shown_card(page) == first and _counts(page) == (5, 0, 0)
    again = _study_by_keys(page, [3])
    assert again == [(first, 3)]
    # As with Anki's own undo after a sync, the review row already sent stays.
    got = _synced_revlog(device, 2, timeout=6)
    assert got == answered + again
    card = device.col.get_card(first)  # type: ignore[arg-type]
    assert (card.type, card.queue) == (1, 1)


def test_a_finished_deck_says_so_and_when_more_is_due(
        served: RunningServer, account: tuple[str, str], page: Any, tmp_path: Path) -> None:
    device = _new_device(served, account, tmp_path / "device")
    device.col.set_config("collapseTime", 0)  # no learning ahead: a card due in 1 min waits
    for i in range(3):
        add_basic_note(device.col, f"easy {i}", "x", deck=DECK)
    add_basic_note(device.col, "hard one", "y", deck="Soon")
    _sync(device, upload=True)
    _log_in(page, served, account)
    _open(page, served, _deck_id(device))
    _study_by_keys(page, [4, 4, 4])
    finished = page.inner_text("#finished")
    assert "Congratulations! You have finished this deck for now." in finished
    assert "learning card" not in finished and page.locator("#card").count() == 0
    screenshot(page, "study-finished")
    _open(page, served, _deck_id(device, "Soon"))
    _study_by_keys(page, [1])
    finished = page.inner_text("#finished")
    assert re.search(r"1 learning card will be due in (less than a minute|1 minute)\.",
                     finished), finished
    assert [ease for _, ease in _synced_revlog(device, 4)] == [4, 4, 4, 1]
    assert _device_counts(device, "Soon") == (0, 0, 0)  # not yet due, nothing learnt ahead
    assert _device_counts(device) == (0, 0, 0)


PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")
# Each attempt is written into the card, so the test sees what the browser let through.
HOSTILE_FRONT = """{{Front}}<div id="harmless"></div><ul id="tried"></ul>
<script>
const tried = (what) => { const li = document.createElement("li");
  li.textContent = what; document.getElementById("tried").appendChild(li); };
document.getElementById("harmless").textContent = "a card script ran";
try { tried("cookie:" + document.cookie); } catch (e) { tried("cookie blocked"); }
try { fetch("/anki/api/v1/decks").then(() => tried("fetched"), () => tried("fetch failed")); }
catch (e) { tried("fetch threw"); }
try { parent.document.title = "pwned"; tried("parent title set"); }
catch (e) { tried("parent blocked"); }
try { const w = window.open("https://example.com/"); tried(w ? "opened" : "open blocked"); }
catch (e) { tried("open threw"); }
try { const f = document.createElement("form"); f.method = "post";
  f.action = "/anki/logout"; document.body.appendChild(f); f.submit(); tried("submitted"); }
catch (e) { tried("submit threw"); }
try { top.location = "https://example.com/"; tried("top navigated"); }
catch (e) { tried("top blocked"); }
</script>"""
HOSTILE_FIELD = ('<b id="bold">bold</b><script>fetch("/anki/api/v1/decks?from=field")</script>'
                 '<img src="missing.png" onerror="top.location=\'https://example.com/\'">'
                 '<img id="pic" src="pic.png">[sound:x.mp3]')


def _hostile_notetype(device: Profile) -> Any:
    models = device.col.models
    notetype = models.new("Hostile")
    for name in ("Front", "Back"):
        models.add_field(notetype, models.new_field(name))
    template = models.new_template("Card 1")
    template["qfmt"] = HOSTILE_FRONT
    template["afmt"] = "{{FrontSide}}<hr id=answer>{{Back}}"
    models.add_template(notetype, template)
    models.add(notetype)
    return models.by_name("Hostile")


def _frame_height(page: Any, at_least: int = 0, below: int = 100_000) -> float:
    """The card frame's height once the card has told the page its height."""
    page.wait_for_function(
        f"() => {{ const h = document.getElementById('card').getBoundingClientRect().height;"
        f" return h >= {at_least} && h < {below}; }}", timeout=10_000)
    return float(page.eval_on_selector("#card", "f => f.getBoundingClientRect().height"))


def test_the_card_frame_is_as_tall_as_the_card(
        served: RunningServer, account: tuple[str, str], page: Any, tmp_path: Path) -> None:
    device = _new_device(served, account, tmp_path / "device")
    add_basic_note(device.col, "short", "answer", deck=DECK)
    add_basic_note(device.col, "<br>".join(f"line {i}" for i in range(80)), "x", deck=DECK)
    _sync(device, upload=True)
    _log_in(page, served, account)
    _open(page, served, _deck_id(device))
    assert _frame_height(page, below=200) < 200  # one line: no empty box below it
    _study_by_keys(page, [4])
    tall = _frame_height(page, at_least=1000)
    # The whole card shows without a scroll bar of its own: the page scrolls instead.
    inner = page.frame_locator("#card").locator("#qa").evaluate(
        "qa => qa.getBoundingClientRect().bottom")
    assert inner <= tall
    assert page.evaluate("document.documentElement.scrollHeight") > tall



# What the browser says as it refuses each attempt: the card's policy (fetch), the
# frame's sandbox (a window, a form, navigating the page).
@pytest.mark.console_allows("violates the following Content Security Policy directive")
@pytest.mark.console_allows("Refused to connect because it violates")
@pytest.mark.console_allows("Blocked opening 'https://example.com/' in a new window")
@pytest.mark.console_allows("Blocked form submission")
@pytest.mark.console_allows("Unsafe attempt to initiate navigation")
@pytest.mark.console_allows("does not have permission to navigate the target frame")
@pytest.mark.console_allows("Failed to fetch")  # the field's fetch, which nothing catches
def test_a_hostile_card_runs_its_scripts_but_reaches_nothing(
        served: RunningServer, account: tuple[str, str], page: Any, tmp_path: Path) -> None:
    device = _new_device(served, account, tmp_path / "device")
    note = device.col.new_note(_hostile_notetype(device))
    note["Front"], note["Back"] = HOSTILE_FIELD, "<i>back</i>"
    deck = device.col.decks.id(DECK)
    assert deck is not None
    device.col.add_note(note, deck)
    assert device.col.media.write_data("pic.png", PNG) == "pic.png"
    assert device.col.media.write_data("x.mp3", b"ID3\x03\x00" + bytes(64)) == "x.mp3"
    _sync(device, upload=True)
    sync_media(device)
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    mark = len(served.log())
    _log_in(page, served, account)
    _open(page, served, _deck_id(device))
    title, url = page.title(), page.url
    card = page.frame_locator("#card")
    assert card.locator("#harmless").inner_text() == "a card script ran"
    assert card.locator("#bold").inner_text() == "bold"
    page.wait_for_timeout(500)
    # Every attempt was refused (a blocked form submission throws nothing: see the end).
    assert sorted(card.locator("#tried li").all_inner_texts()) == sorted([
        "cookie blocked", "fetch failed", "parent blocked", "open blocked", "submitted",
        "top blocked"])
    assert (page.title(), page.url) == (title, url)
    assert page.get_attribute("#card", "sandbox") == "allow-scripts"
    assert not [r for r in requests if "/api/" in r or "example.com" in r], requests
    # The picture comes from the user's media through the frame's own address.
    assert card.locator("#pic").evaluate("img => img.complete && img.naturalWidth") == 1
    source = card.locator("audio").get_attribute("src")
    assert re.fullmatch(r"/anki/study/frame/[0-9a-f-]+/media/x\.mp3", source), source
    sound = page.request.get(served.url + source)
    assert sound.status == 200 and sound.headers["content-type"] == "audio/mpeg"
    assert sound.body() == b"ID3\x03\x00" + bytes(64)
    # The answer side is as harmless, and answering works.
    page.keyboard.press("Space")
    page.wait_for_selector("#answers")
    assert card.locator("#answer").count() == 1
    assert card.locator("#harmless").inner_text() == "a card script ran"
    assert (page.title(), page.url.split("?")[0]) == (title, url)
    page.keyboard.press("3")
    page.wait_for_selector("#show-answer, #finished")
    assert "/api/" not in served.log()[mark:]
    assert page.goto(served.url + "/anki/account").url == served.url + "/anki/account"


def _answer_on(device: Profile, card_id: int, ease: int) -> tuple[int, int]:
    card = device.col.get_card(card_id)  # type: ignore[arg-type]
    card.start_timer()
    device.col.sched.answerCard(card, ease)  # type: ignore[arg-type]
    return card_id, ease


def test_a_device_and_the_browser_studying_together_lose_nothing(
        served: RunningServer, account: tuple[str, str], page: Any, tmp_path: Path) -> None:
    device = _device(served, account, tmp_path / "device", 12)
    deck = _deck_id(device)
    _log_in(page, served, account)
    _open(page, served, deck)
    by_position = _db(device).list(f"select id from cards where did = {deck} order by due")
    browser = _study_by_keys(page, [4, 3, 4])
    # Meanwhile the device studies the last cards of the deck and syncs.
    own = [_answer_on(device, cid, 4) for cid in by_position[-3:]]
    _sync(device)
    browser += _study_by_keys(page, [4, 1])
    assert not {cid for cid, _ in browser} & {cid for cid, _ in own}
    got = _synced_revlog(device, 8)
    assert sorted(got) == sorted(browser + own)
    assert len(got) == 8
    # Entering the deck again syncs: the device's answers count there too.
    _open(page, served, deck)
    assert _counts(page)[0] == 12 - 8
    assert _counts(page) == _device_counts(device)

    # The same card answered on both: both answers are kept, the card is one of the two.
    both = _shown_card(page)
    _answer_on(device, both, 1)
    on_device = _db(device).first(
        "select type, queue, due, ivl from cards where id = ?", both)
    _sync(device)
    # Card times are in seconds, and with equal times each side keeps its own (Anki's
    # rule): the browser answers a second later, so its answer is the newer one.
    next_second()
    assert _study_by_keys(page, [4]) == [(both, 4)]
    got = _synced_revlog(device, 10)
    assert sorted(ease for cid, ease in got if cid == both) == [1, 4]
    assert len(got) == 10
    final = _db(device).first("select type, queue, due, ivl from cards where id = ?", both)
    assert final is not None and final != on_device
    assert final[:2] == [2, 2], final  # the browser's Easy: a review card
    _open(page, served, deck)  # and the browser carries on, agreeing with the device
    assert _sync(device) == 0
    assert _counts(page) == _device_counts(device)


def test_a_device_mid_sync_leaves_the_study_page_stale_and_nothing_corrupt(
        served: RunningServer, account: tuple[str, str], page: Any, tmp_path: Path) -> None:
    device = _device(served, account, tmp_path / "device", 5)
    deck = _deck_id(device)
    _log_in(page, served, account)
    _open(page, served, deck)
    assert page.locator("#stale").count() == 0
    wire = WireDevice.login(served.url + "/anki", *account)
    wire.meta()
    assert wire.start(0).status == 200  # a sync in progress, held open
    _open(page, served, deck)
    assert "One of your devices is syncing" in page.inner_text("#stale")
    answered = _study_by_keys(page, [4, 3])  # studying goes on meanwhile
    time.sleep(1.5)  # the study device's sync comes and finds the account busy
    assert wire.apply_changes().status == 200  # the held sync was left alone
    wire.abort()
    assert _synced_revlog(device, 2, timeout=20) == answered
    assert content(device.col) == downloaded_content(served.url + "/anki/", account, tmp_path)
    _open(page, served, deck)
    assert page.locator("#stale").count() == 0 and _counts(page) == _device_counts(device)


def _post(page: Any, url: str, form: dict[str, str]) -> Any:
    answer = page.request.post(url, form=form, max_redirects=0)
    answer.dispose()
    return answer


def _add_user(served: RunningServer, name: str, password: str) -> int:
    """`add_user_in_process`, returning the new user's id."""
    services = build_services(Settings.from_env(served.env))
    try:
        return int(services.accounts.add_user(name, password))
    finally:
        services.close()


def _frame_pass(served: RunningServer, user: int, expires: int) -> str:
    """A pass signed as the server signs them, with the study device's key."""
    key = (served.data_dir / "study" / str(user) / "key").read_text().strip()
    signature = hmac.new(key.encode(), f"{user}-{expires}".encode(), hashlib.sha256)
    return f"{user}-{expires}-{signature.hexdigest()[:32]}"


@pytest.mark.console_allows("status of 409")
@pytest.mark.console_allows("status of 404")
def test_hostile_answers_and_addresses_are_refused(
        served: RunningServer, account: tuple[str, str], page: Any, tmp_path: Path) -> None:
    device = _device(served, account, tmp_path / "device", 3)
    deck = _deck_id(device)
    _log_in(page, served, account)
    _open(page, served, deck)
    page.keyboard.press("Space")
    page.wait_for_selector("#answers")
    form = {name: page.get_attribute(f"#answers input[name={name}]", "value")
            for name in ("csrf", "card", "shown")}
    url = served.url + f"/anki/study/{deck}/answer"
    assert _post(page, url, {**form, "csrf": "", "rating": "3"}).status == 403
    del form["csrf"]
    assert _post(page, url, {**form, "rating": "3"}).status == 403
    form["csrf"] = page.get_attribute("#answers input[name=csrf]", "value")
    assert _post(page, url, {**form, "csrf": "x" + form["csrf"][1:], "rating": "3"}
                 ).status == 403
    for rating in ("0", "5", "x", "", "-1", "3.0", "99999999999999999999"):
        assert _post(page, url, {**form, "rating": rating}).status == 400, rating
    assert _post(page, url, {**{k: v for k, v in form.items() if k != "card"},
                             "rating": "3"}).status == 400
    assert _post(page, url, {**form, "card": "abc", "rating": "3"}).status == 400
    assert _post(page, served.url + "/anki/study/abc/answer",
                 {**form, "rating": "3"}).status == 400
    # The same answer form in a second tab: answered in one, the other's answer is a 409.
    answered = form["card"]
    second = page.context.new_page()
    second.goto(page.url)
    assert second.get_attribute("#answers input[name=card]", "value") == answered
    page.click("button[data-rating='3']")
    page.wait_for_selector("#show-answer")
    with second.expect_response(url) as posted:
        second.click("button[data-rating='4']")
    assert posted.value.status == 409
    assert "answered already" in second.inner_text("#study-note")
    assert _shown_card(second) == _shown_card(page) != int(answered)  # the card to study now
    second.close()
    assert _post(page, url, {**form, "rating": "2"}).status == 409
    assert _synced_revlog(device, 1) == [(int(answered), 3)]

    # The card frame's address: its pass must be genuine and current.
    frame = page.get_attribute("#card", "src")
    match = re.fullmatch(r"/anki/study/frame/((\d+)-(\d+)-([0-9a-f]+))/card/(\d+)/q", frame)
    assert match is not None, frame
    good, user, expires, signature, card = match.groups()
    assert page.request.get(served.url + frame).status == 200
    forged = _frame_pass(served, int(user), int(expires) + 1000)
    assert page.request.get(served.url + frame.replace(good, forged)).status == 200
    bad_passes = [
        f"{user}-{expires}-{signature[::-1]}", f"{int(user) + 1}-{expires}-{signature}",
        f"{user}-{int(expires) + 1}-{signature}", f"{user}-{expires}", "x",
        _frame_pass(served, int(user), int(time.time() * 1000) - 1000)]  # expired
    for bad in bad_passes:
        for path in (f"card/{card}/q", f"card/{card}/a", "media/pic.png"):
            answer = page.request.get(served.url + f"/anki/study/frame/{bad}/{path}")
            assert answer.status == 404, (bad, path)
    assert page.request.get(served.url + frame[:-1] + "x").status == 404

    # Another user sees none of these cards.
    other = (f"other-{uuid.uuid4().hex[:6]}", "pw")
    theirs = _add_user(served, *other)
    page.context.clear_cookies()
    _log_in(page, served, other)
    _open(page, served, 1)  # their own Default deck: empty
    assert page.locator("#finished").count() == 1 and page.locator("#card").count() == 0
    assert page.goto(served.url + f"/anki/study/{deck}").status == 404
    page.goto(served.url + "/anki/account")
    csrf = page.get_attribute("input[name=csrf]", "value")
    assert _post(page, url, {"csrf": csrf, "card": answered, "rating": "3",
                             "shown": form["shown"]}).status in (404, 409)
    mine = _frame_pass(served, theirs, int(time.time() * 1000) + 60_000)
    leaked = page.request.get(served.url + frame.replace(good, mine))
    assert leaked.status != 200 and "word" not in leaked.text()  # 404: see the next test

    # Logged out: to the login page, and nothing is answered.
    page.context.clear_cookies()
    assert page.goto(served.url + f"/anki/study/{deck}").url == served.url + "/anki/login"
    assert _post(page, url, {**form, "rating": "3"}).status == 303
    time.sleep(1.5)
    assert _sync(device) == 0 and _revlog(device) == [(int(answered), 3)]



def test_a_frame_address_of_a_card_the_user_does_not_have_is_a_404(
        served: RunningServer, account: tuple[str, str], page: Any, tmp_path: Path) -> None:
    _studying(page, served, account, tmp_path, 1)
    frame = page.get_attribute("#card", "src")
    for side in ("q", "a"):
        missing = re.sub(r"/card/\d+/q$", f"/card/1234567890123/{side}", frame)
        assert page.request.get(served.url + missing).status == 404, missing


@pytest.fixture(scope="module")
def served_in_tokyo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    data = tmp_path_factory.mktemp("web-study-tokyo")
    server = start_server(data / "server", f"sqlite:///{data / 'ankiserv.db'}", workers=1,
                          ANKISERV_BASE_PATH="/anki/", TZ="JST-9")
    yield server
    server.stop()


def _recorded_offset(server: RunningServer, name: str) -> Any:
    path = server.database_url.removeprefix("sqlite:///")
    with closing(sqlite3.connect(path)) as db:
        found = db.execute("SELECT c.val FROM config c JOIN users u ON u.user_id = c.user_id"
                           " WHERE u.name = ? AND c.key = 'localOffset'", (name,)).fetchone()
    return None if found is None else json.loads(found[0])


def test_studying_on_a_server_in_another_time_zone_keeps_the_users_zone(
        served_in_tokyo: RunningServer, page: Any, tmp_path: Path) -> None:
    # The server runs 9 hours east of the user's device: the study collection is scheduled
    # on the user's clock, and the zone the account keeps is the one their device recorded.
    name = f"zoë-{uuid.uuid4().hex[:6]}"
    add_user_in_process(served_in_tokyo, name, "pw")
    account = (name, "pw")
    device = _device(served_in_tokyo, account, tmp_path / "device", 3)
    device.col.set_config("localOffset", 0)  # as Anki records this machine's zone (UTC)
    _sync(device)
    mine = _recorded_offset(served_in_tokyo, name)
    assert mine == 0
    _log_in(page, served_in_tokyo, account)
    _open(page, served_in_tokyo, _deck_id(device))
    answered = _study_by_keys(page, [3])
    assert _synced_revlog(device, 1) == answered  # the study device has synced since
    assert _recorded_offset(served_in_tokyo, name) == mine
    # And the study collection was scheduled on the user's clock, not the server's.
    studied = next((served_in_tokyo.data_dir / "study").glob("*/collection.anki2"))
    with closing(sqlite3.connect(studied)) as db:
        (zone,) = db.execute("SELECT val FROM config WHERE KEY = 'localOffset'").fetchone()
    assert json.loads(zone) == 0
