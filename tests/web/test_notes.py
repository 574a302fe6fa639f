"""Notes in the browser: an edit and a new note reach a real client at its next normal
sync, a delete too; hostile field content runs nothing; nothing is written while a device
is mid-sync, and an edit never overwrites a change made on a device since."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.devices import NO_CHANGES, sync
from tests.e2e.wire_client import WireDevice
from tests.support.anki_client import Profile, add_basic_note
from tests.support.server import RunningServer, add_user_in_process, start_server
from tests.web.conftest import screenshot

pytestmark = pytest.mark.e2e

# Each tries to leave a mark: a changed title, a cookie read, a request to the API.
HOSTILE = [
    '<script>document.title="pwned-script"</script>',
    '<img src="nothing.png" onerror="document.title=\'pwned-onerror\'">',
    '<svg onload="document.title=\'pwned-svg\'"></svg>',
    '<a href="javascript:document.title=\'pwned-link\'" id="evil-link">click</a>',
    '<iframe src="javascript:parent.document.title=\'pwned-frame\'"></iframe>',
    '<style>body{display:none}</style><div style="position:fixed;inset:0">cover</div>',
    '"><script>fetch("/anki/api/v1/decks").then(()=>document.title="pwned-fetch")</script>',
    '<form action="https://evil.example/"><button id="evil-button">go</button></form>',
]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    data = tmp_path_factory.mktemp("web-notes")
    server = start_server(data / "server", f"sqlite:///{data / 'ankiserv.db'}", workers=1,
                          ANKISERV_BASE_PATH="/anki/")
    yield server
    server.stop()


@pytest.fixture
def account(served: RunningServer) -> tuple[str, str]:
    name, password = f"zoë-{uuid.uuid4().hex[:6]}", "pw " + uuid.uuid4().hex[:6]
    add_user_in_process(served, name, password)
    return name, password


@pytest.fixture
def device(served: RunningServer, account: tuple[str, str], tmp_path: Path) -> Profile:
    device = Profile.create(tmp_path / "device")
    device.login(*account, served.url + "/anki/")
    add_basic_note(device.col, "capital of France", "Paris", tags=["geo"])
    add_basic_note(device.col, "capital of Peru", "Lima", tags=["geo"])
    sync(device, upload=True)
    return device


def _log_in(page: Any, served: RunningServer, account: tuple[str, str]) -> None:
    page.goto(served.url + "/anki/login")
    page.fill("#username", account[0])
    page.fill("#password", account[1])
    page.click("button[type=submit]")
    assert page.url == served.url + "/anki/account"


def _nid(device: Profile, front: str) -> int:
    found = device.col.find_notes(f'"front:{front}"')
    assert len(found) == 1
    return int(found[0])


def test_an_edit_in_the_browser_reaches_the_device_at_its_next_sync(
        served: RunningServer, account: tuple[str, str], device: Profile, page: Any) -> None:
    nid = _nid(device, "capital of France")
    _log_in(page, served, account)
    page.goto(served.url + f"/anki/notes/{nid}")
    assert page.input_value("#field-0") == "capital of France"
    page.fill("#field-1", "<b>Paris</b> (since 508)")
    page.fill("#tags", "geo europe")
    page.click("#edit button[type=submit]")
    assert page.inner_text("#message") == "Saved."
    assert page.inner_html("#shown dd:nth-of-type(2)") == "<b>Paris</b> (since 508)"
    screenshot(page, "note")
    assert sync(device) == NO_CHANGES
    note = device.col.get_note(nid)
    assert note["Back"] == "<b>Paris</b> (since 508)"
    assert sorted(note.tags) == ["europe", "geo"]
    assert device.col.find_notes("tag:europe") == [nid]


@pytest.mark.console_allows("status of 404")
def test_added_and_deleted_notes_reach_the_device(
        served: RunningServer, account: tuple[str, str], device: Profile, page: Any) -> None:
    _log_in(page, served, account)
    page.click("nav.main >> text=Add")
    assert page.url == served.url + "/anki/notes/new"
    page.select_option("#notetype-choice", label="Basic (and reversed card)")
    page.click("text=Use this type")
    page.fill("#field-0", "hund")
    page.fill("#field-1", "dog")
    page.fill("#tags", "german")
    page.click("#add button[type=submit]")
    assert "The note was added" in page.inner_text("#message")
    assert page.input_value("#field-0") == ""  # ready for the next one
    screenshot(page, "note-new")
    doomed = _nid(device, "capital of Peru")
    page.goto(served.url + f"/anki/notes/{doomed}")
    page.click("#delete")
    assert "1 card" in page.inner_text("main")
    screenshot(page, "note-delete")
    page.click("button.danger")
    assert sync(device) == NO_CHANGES
    added = device.col.find_notes("tag:german")
    assert len(added) == 1
    note = device.col.get_note(added[0])
    assert (note["Front"], note["Back"]) == ("hund", "dog") and len(note.cards()) == 2
    assert device.col.find_notes(f"nid:{doomed}") == []
    answer = page.goto(served.url + f"/anki/notes/{doomed}")
    assert answer.status == 404


@pytest.mark.console_allows("status of 404")  # the hostile <img> names no real file
def test_hostile_field_content_runs_nothing(
        served: RunningServer, account: tuple[str, str], device: Profile, page: Any) -> None:
    add_basic_note(device.col, "hostile", "".join(HOSTILE))
    assert sync(device) == NO_CHANGES
    nid = _nid(device, "hostile")
    _log_in(page, served, account)
    page.goto(served.url + f"/anki/notes/{nid}")
    page.wait_for_timeout(300)
    assert page.title() == "Note — ankiserv"
    assert page.locator("#shown script, #shown svg, #shown iframe, #shown style, "
                        "#shown form, #shown [onerror], #shown [style]").count() == 0
    assert page.get_attribute("#shown a:text-is('click')", "href") is None
    assert page.is_visible("#edit")  # nothing covers or hides the page
    # The raw HTML is still there to edit, as text.
    assert page.input_value("#field-1") == "".join(HOSTILE)
    # Saved back unchanged, it stays exactly what the device wrote.
    page.click("#edit button[type=submit]")
    assert sync(device) == NO_CHANGES
    assert device.col.get_note(nid)["Back"] == "".join(HOSTILE)
    # Also on the delete page and when added in the browser.
    page.goto(served.url + f"/anki/notes/{nid}/delete")
    page.wait_for_timeout(200)
    assert "pwned" not in page.title()
    page.goto(served.url + "/anki/notes/new")
    page.fill("#field-0", HOSTILE[1])
    page.fill("#field-1", HOSTILE[0])
    page.click("#add button[type=submit]")
    page.click("#message a")
    page.wait_for_timeout(200)
    assert "pwned" not in page.title()


@pytest.mark.console_allows("status of 409")
def test_no_write_while_a_device_is_mid_sync(
        served: RunningServer, account: tuple[str, str], device: Profile, page: Any) -> None:
    nid = _nid(device, "capital of France")
    _log_in(page, served, account)
    page.goto(served.url + f"/anki/notes/{nid}")
    wire = WireDevice.login(served.url + "/anki", *account)
    wire.meta()
    assert wire.start(0).status == 200  # a sync in progress
    page.fill("#field-1", "typed while syncing")
    with page.expect_response(served.url + f"/anki/notes/{nid}") as answer:
        page.click("#edit button[type=submit]")
    assert answer.value.status == 409
    assert "syncing right now" in page.inner_text("#note-error")
    assert page.input_value("#field-1") == "typed while syncing"  # not lost
    screenshot(page, "note-busy")
    wire.abort()
    page.click("#edit button[type=submit]")
    assert page.inner_text("#message") == "Saved."
    assert sync(device) == NO_CHANGES
    assert device.col.get_note(nid)["Back"] == "typed while syncing"


@pytest.mark.console_allows("status of 409")
def test_an_edit_never_overwrites_a_change_made_on_a_device_since(
        served: RunningServer, account: tuple[str, str], device: Profile, page: Any) -> None:
    nid = _nid(device, "capital of France")
    _log_in(page, served, account)
    page.goto(served.url + f"/anki/notes/{nid}")
    note = device.col.get_note(nid)
    note["Back"] = "changed on the phone"
    device.col.update_note(note)
    assert sync(device) == NO_CHANGES
    page.fill("#field-1", "changed in the browser")
    with page.expect_response(served.url + f"/anki/notes/{nid}") as answer:
        page.click("#edit button[type=submit]")
    assert answer.value.status == 409
    assert "changed on one of your devices" in page.inner_text("#note-error")
    assert page.input_value("#field-1") == "changed on the phone"
    assert sync(device) == NO_CHANGES
    assert device.col.get_note(nid)["Back"] == "changed on the phone"


@pytest.mark.console_allows("status of 404")
def test_notes_and_media_of_others_are_out_of_reach(
        served: RunningServer, account: tuple[str, str], device: Profile, page: Any,
        tmp_path: Path) -> None:
    nid = _nid(device, "capital of France")
    other = (f"other-{uuid.uuid4().hex[:6]}", "pw")
    add_user_in_process(served, *other)
    _log_in(page, served, other)
    for path in (f"/anki/notes/{nid}", f"/anki/notes/{nid}/delete", "/anki/notes/abc",
                 "/anki/notes/99999999999999999999999", "/anki/media/pic.png"):
        answer = page.goto(served.url + path)
        assert answer.status == 404, path
    page.goto(served.url + "/anki/account")
    csrf = page.get_attribute("input[name=csrf]", "value")
    for path in (f"/anki/notes/{nid}", f"/anki/notes/{nid}/delete"):
        answer = page.request.post(served.url + path, form={
            "csrf": csrf, "field-0": "x", "field-1": "y", "tags": "", "version": ""},
            max_redirects=0)
        assert answer.status == 404, path
    assert sync(device) == NO_CHANGES
    assert device.col.get_note(nid)["Back"] == "Paris"
    page.context.clear_cookies()
    answer = page.goto(served.url + f"/anki/notes/{nid}")
    assert page.url == served.url + "/anki/login"


@pytest.mark.console_allows("Blocked script execution")  # the proof the sandbox holds
def test_media_in_fields_is_shown_from_the_users_files(
        served: RunningServer, account: tuple[str, str], device: Profile, page: Any) -> None:
    png = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                        "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")
    device.col.media.write_data("dot ü.png", png)
    device.col.media.write_data("evil.svg", b'<svg xmlns="http://www.w3.org/2000/svg" '
                                b'onload="alert(1)"><script>alert(2)</script></svg>')
    add_basic_note(device.col, "with a picture", '<img src="dot ü.png">')
    sync(device)
    device.col.sync_media(device.auth)
    import time
    deadline = time.monotonic() + 30
    while device.col.media_sync_status().active and time.monotonic() < deadline:
        time.sleep(0.2)
    nid = _nid(device, "with a picture")
    _log_in(page, served, account)
    page.goto(served.url + f"/anki/notes/{nid}")
    image = page.locator("#shown img")
    assert image.evaluate("img => img.complete && img.naturalWidth") == 1
    answer = page.request.get(served.url + "/anki/media/evil.svg")
    assert answer.status == 200
    assert answer.headers["content-type"] == "image/svg+xml"
    assert "sandbox" in answer.headers["content-security-policy"]
    page.goto(served.url + "/anki/media/evil.svg")  # opened directly: its scripts stay off
    assert page.evaluate("() => { try { return document.cookie; } catch (e) { return 'x'; } }"
                         ) in ("", "x")
