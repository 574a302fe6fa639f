"""The account page in a real browser, against the real server under a base path and real
Anki clients: the devices list and logging one out, changing the password, API tokens,
downloading the collection, forged and malformed posts, and the keyboard alone."""

from __future__ import annotations

import base64
import json
import re
import sqlite3
import urllib.error
import urllib.parse
import urllib.request
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from anki.errors import SyncError, SyncErrorKind
from anki.sync import SyncAuth

from tests.e2e.devices import sync
from tests.e2e.wire_client import post as wire_post
from tests.media.devices import sync_all, write_files
from tests.support.anki_client import Profile, add_basic_note
from tests.support.server import RunningServer, add_user_in_process, start_server
from tests.web.conftest import screenshot

pytestmark = pytest.mark.e2e

PASSWORD = "a long passphrase ü"
NEW_PASSWORD = "another passphrase ß"
BASE = "/anki/"
DEVICE = r"^Anki \d+\.\d+(\.\d+)? on Linux$"  # the official library, as desktop Anki


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    data = tmp_path_factory.mktemp("web-account")
    server = start_server(data / "server", f"sqlite:///{data / 'ankiserv.db'}", workers=1,
                          ANKISERV_BASE_PATH=BASE)
    yield server
    server.stop()


@pytest.fixture
def user(served: RunningServer) -> str:
    name = f"zoë-{uuid.uuid4().hex[:6]}"
    add_user_in_process(served, name, PASSWORD)
    return name


# -- helpers ---------------------------------------------------------------------------


def _url(served: RunningServer, path: str = "") -> str:
    return served.url + BASE + path


def _log_in(page: Any, served: RunningServer, name: str, password: str = PASSWORD) -> None:
    page.goto(_url(served, "login"))
    page.fill("#username", name)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_url(_url(served, "account"))


def _device(directory: Path, served: RunningServer, name: str,
            password: str = PASSWORD) -> Profile:
    """A real Anki client, logged in (it has not synced yet)."""
    device = Profile.create(directory)
    device.login(name, password, _url(served))
    return device


def _sync_refused_for_login(device: Profile) -> None:
    """The device's next sync fails as Anki shows a logged-out device: asked to log in."""
    with pytest.raises(SyncError) as raised:
        sync(device)
    assert raised.value.kind == SyncErrorKind.AUTH, str(raised.value)


def _password_works(served: RunningServer, name: str, password: str) -> bool:
    """Whether the server takes the password, checked without issuing a key (the API's
    HTTP Basic auth): unlike a login, the check leaves no device behind."""
    basic = base64.b64encode(f"{name}:{password}".encode()).decode()
    status = _api_status(served, f"Basic {basic}")
    assert status in (200, 401), status
    return status == 200


def _anki_login_refused(device: Profile, served: RunningServer, name: str,
                        password: str) -> None:
    """Anki's login dialog says the name or password is wrong."""
    with pytest.raises(SyncError) as raised:
        device.col.sync_login(name, password, _url(served))
    assert raised.value.kind == SyncErrorKind.AUTH, str(raised.value)


def _rows(page: Any, table: str) -> list[list[str]]:
    """The cells of each row of a table on the page (without the action column)."""
    cells = page.eval_on_selector_all(
        f"{table} tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.innerText.trim()))")
    return [row[:-1] for row in cells]


def _digests(page: Any, table: str) -> list[str]:
    return [str(d) for d in page.eval_on_selector_all(
        f"{table} input[name=key]", "inputs => inputs.map(i => i.value)")]


def _csrf(page: Any) -> str:
    return str(page.get_attribute("input[name=csrf]", "value"))


def _api_status(served: RunningServer, authorization: str) -> int:
    """The status of the API's deck list with this `Authorization` header."""
    request = urllib.request.Request(_url(served, "api/v1/decks"),
                                     headers={"Authorization": authorization})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        with error:  # its connection, closed now rather than by the garbage collector
            return int(error.code)


def _submit(page: Any, button: str) -> Any:
    """Click a form's button; return the response to the navigation it makes."""
    with page.expect_navigation() as navigation:
        page.click(button)
    return navigation.value


def _post(page: Any, served: RunningServer, path: str, body: str) -> Any:
    """A form post with this browser's cookies, as another site's form could send it;
    `body` is urlencoded here, but for its `&` and `=` (as a browser encodes a form)."""
    encoded = "&".join("=".join(urllib.parse.quote_plus(part) for part in pair.split("=", 1))
                       for pair in body.split("&") if pair)
    return page.request.post(_url(served, path), data=encoded, max_redirects=0, headers={
        "Content-Type": "application/x-www-form-urlencoded"})


def _assert_error_page(answer: Any, status: int) -> None:
    assert answer.status == status, answer.text()
    assert answer.headers["content-type"].startswith("text/html")
    assert 'id="error-description"' in answer.text()


# -- 1. devices ------------------------------------------------------------------------


def test_devices_are_listed_and_each_can_be_logged_out(
        served: RunningServer, user: str, page: Any, tmp_path: Path) -> None:
    syncing = _device(tmp_path / "syncing", served, user)
    idle = _device(tmp_path / "idle", served, user)
    try:
        sync(syncing, upload=True)
        _log_in(page, served, user)

        rows = _rows(page, "#devices")
        assert len(rows) == 3, rows
        assert rows[0][0] == "Chrome on Linux (this browser)"
        assert page.locator("#devices tr.this").count() == 1
        (synced,) = [r for r in rows[1:] if r[2] != "never"]
        (never,) = [r for r in rows[1:] if r[2] == "never"]
        for row in (synced, never):
            assert re.fullmatch(DEVICE, row[0]), row
        assert synced[2] == "just now"

        idle_row = page.locator("#devices tbody tr", has_text="never")
        _submit(page, "#devices tbody tr:has-text('never') button")
        assert page.url == _url(served, "account?done=revoked")
        assert page.inner_text("#message").startswith("That device was logged out")
        assert idle_row.count() == 0
        assert _rows(page, "#devices") == [rows[0], synced]

        _sync_refused_for_login(idle)
        sync(syncing)
        idle.login(user, PASSWORD, _url(served))
        sync(idle)
        sync(syncing)
        page.reload()
        rows = _rows(page, "#devices")
        assert len(rows) == 3 and all(r[2] == "just now" for r in rows), rows

        _submit(page, "#devices tr.this button")  # this browser, from the list
        assert page.url == _url(served)
        assert page.inner_text("nav.session") == "Log in"
        page.goto(_url(served, "account"))
        assert page.url == _url(served, "login")
        sync(syncing)
    finally:
        syncing.close()
        idle.close()


# -- 2. password -----------------------------------------------------------------------


@pytest.mark.console_allows("status of 400")
def test_changing_the_password_logs_out_everything_but_this_browser(
        served: RunningServer, user: str, page: Any, browser: Any, tmp_path: Path) -> None:
    device = _device(tmp_path / "device", served, user)
    other = browser.new_context()
    try:
        sync(device, upload=True)
        other_page = other.new_page()
        _log_in(other_page, served, user)
        _log_in(page, served, user)
        warning = page.locator("#password-warning")
        assert warning.is_visible()
        assert "logs out every device" in " ".join(warning.inner_text().split())

        page.fill("#current", "not the password")
        page.fill("#new", NEW_PASSWORD)
        page.fill("#repeat", NEW_PASSWORD)
        assert _submit(page, "text=Change password and log out all devices").status == 400
        assert page.inner_text("#password-error") == "That is not your current password."
        screenshot(page, "account-password-error")
        sync(device)
        assert _password_works(served, user, PASSWORD)

        page.fill("#current", PASSWORD)
        page.fill("#new", NEW_PASSWORD)
        page.fill("#repeat", NEW_PASSWORD + "!")
        assert _submit(page, "text=Change password and log out all devices").status == 400
        assert page.inner_text("#password-error") == \
            "The new password and its repetition differ."

        # Empty fields: the browser does not send the form, and the server refuses it too.
        page.click("text=Change password and log out all devices")
        assert page.evaluate("document.querySelector('#current').validity.valueMissing")
        assert page.url.endswith("/account/password")  # still the page of the last answer
        for body, problem in (("current=&new=x&repeat=x", "Enter your current password."),
                              (f"current={PASSWORD}&new=&repeat=", "Enter a new password.")):
            answer = _post(page, served, "account/password", f"csrf={_csrf(page)}&{body}")
            assert answer.status == 400
            assert problem in answer.text()
        sync(device)
        assert _password_works(served, user, PASSWORD)
        other_page.goto(_url(served, "account"))
        assert other_page.url == _url(served, "account")

        page.goto(_url(served, "account"))
        page.fill("#current", PASSWORD)
        page.fill("#new", NEW_PASSWORD)
        page.fill("#repeat", NEW_PASSWORD)
        page.click("text=Change password and log out all devices")
        page.wait_for_url(_url(served, "account?done=password"))
        assert page.inner_text("#message").startswith("Your password was changed.")
        page.goto(_url(served, "account"))
        assert page.inner_text("#user-name") == user  # this browser stays logged in
        assert [r[0] for r in _rows(page, "#devices")] == ["Chrome on Linux (this browser)"]
        other_page.goto(_url(served, "account"))
        assert other_page.url == _url(served, "login")

        _sync_refused_for_login(device)
        assert not _password_works(served, user, PASSWORD)
        _anki_login_refused(device, served, user, PASSWORD)
        assert _password_works(served, user, NEW_PASSWORD)
        device.login(user, NEW_PASSWORD, _url(served))
        sync(device)
    finally:
        other.close()
        device.close()


# -- 3. API tokens ---------------------------------------------------------------------


def test_api_tokens_are_shown_once_listed_and_revoked(
        served: RunningServer, user: str, page: Any, tmp_path: Path) -> None:
    device = _device(tmp_path / "device", served, user)
    try:
        sync(device, upload=True)
    finally:
        device.close()
    _log_in(page, served, user)
    assert page.is_visible("#no-tokens")

    page.fill("#token-label", "dictionary pop-up")
    assert _submit(page, "text=Create token").status == 200
    token = page.inner_text("#new-token")
    assert token.count(".") == 1 and len(token) > 20
    assert _rows(page, "#tokens") == [["dictionary pop-up", "just now", "never"]]
    screenshot(page, "account-token-created")

    assert _api_status(served, f"Bearer {token}") == 200
    page.goto(_url(served, "account"))
    assert _rows(page, "#tokens") == [["dictionary pop-up", "just now", "just now"]]
    assert page.locator("#new-token").count() == 0
    assert token not in page.content()  # shown once: only its digest is kept

    scripted = _token_through_api(served, user, "backup script")
    assert _api_status(served, f"Bearer {scripted}") == 200
    page.fill("#token-label", "  phone   widget ")
    assert _submit(page, "text=Create token").status == 200
    names = [r[0] for r in _rows(page, "#tokens")]
    assert sorted(names) == ["backup script", "dictionary pop-up", "phone widget"]
    screenshot(page, "account")

    page.goto(_url(served, "account"))
    _submit(page, "#tokens tr:has-text('dictionary pop-up') button")
    assert page.url == _url(served, "account?done=token-revoked")
    assert page.inner_text("#message").startswith("The token was revoked")
    assert sorted(r[0] for r in _rows(page, "#tokens")) == ["backup script", "phone widget"]
    assert _api_status(served, f"Bearer {token}") == 401
    assert _api_status(served, f"Bearer {scripted}") == 200


def test_reloading_the_page_that_shows_a_new_token_creates_no_other(
        served: RunningServer, user: str, page: Any) -> None:
    _log_in(page, served, user)
    page.fill("#token-label", "made once")
    assert _submit(page, "text=Create token").status == 200
    page.reload()
    page.goto(_url(served, "account"))
    assert [r[0] for r in _rows(page, "#tokens")] == ["made once"]


def _token_through_api(served: RunningServer, name: str, label: str) -> str:
    body = json.dumps({"username": name, "password": PASSWORD, "label": label}).encode()
    request = urllib.request.Request(_url(served, "api/v1/token"), data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 201
        return str(json.load(answer)["token"])


@pytest.mark.console_allows("status of 400")
@pytest.mark.parametrize("label", ["   ", "x" * 101], ids=["blank", "101-characters"])
def test_a_token_needs_a_name_of_1_to_100_characters(
        served: RunningServer, user: str, page: Any, label: str) -> None:
    _log_in(page, served, user)
    # what the browser's own checks (required, maxlength) would not let through
    page.eval_on_selector("#token-label", "input => input.removeAttribute('maxlength')")
    page.fill("#token-label", label)
    assert _submit(page, "text=Create token").status == 400
    assert page.inner_text("#token-error").startswith("Give the token a name of 1 to 100")
    assert page.get_attribute("#token-label", "aria-invalid") == "true"
    assert page.locator("#new-token").count() == 0
    page.goto(_url(served, "account"))
    assert page.is_visible("#no-tokens")
    page.fill("#token-label", "x" * 100)  # the longest name
    assert _submit(page, "text=Create token").status == 200
    assert _rows(page, "#tokens")[0][0] == "x" * 100


# -- 4. download -----------------------------------------------------------------------

PICTURE = bytes(range(256)) * 8


def test_the_collection_downloads_as_a_package_anki_reads(
        served: RunningServer, user: str, page: Any, tmp_path: Path) -> None:
    device = _device(tmp_path / "device", served, user)
    try:
        add_basic_note(device.col, "front <img src='pic.png'>", "back")
        add_basic_note(device.col, "zweite Notiz ü", "rückseite")
        write_files(device, {"pic.png": PICTURE})
        sync_all(device, upload=True)
        expected = sorted(device.col.get_note(n).joined_fields() for n in device.col.find_notes(""))
    finally:
        device.close()
    _log_in(page, served, user)
    with page.expect_download() as download:
        page.click("text=Download collection (.colpkg)")
    assert download.value.suggested_filename.endswith(".colpkg")
    package = tmp_path / "downloaded.colpkg"
    download.value.save_as(package)

    with zipfile.ZipFile(package) as archive:
        assert "collection.anki21" in archive.namelist()
        (tmp_path / "collection.anki21").write_bytes(archive.read("collection.anki21"))
        media = json.loads(archive.read("media"))
        assert list(media.values()) == ["pic.png"]
        assert archive.read(next(iter(media))) == PICTURE
    db = sqlite3.connect(tmp_path / "collection.anki21")
    try:
        assert sorted(r[0] for r in db.execute("select flds from notes")) == expected
    finally:
        db.close()

    page.context.clear_cookies()
    answer = page.request.get(_url(served, "account/collection.colpkg"), max_redirects=0)
    assert answer.status == 303
    assert answer.headers["location"].endswith(BASE + "login")


# -- 5. hostile input ------------------------------------------------------------------


def test_forged_posts_are_refused_and_change_nothing(
        served: RunningServer, user: str, page: Any, tmp_path: Path) -> None:
    device = _device(tmp_path / "device", served, user)
    try:
        sync(device, upload=True)
        _log_in(page, served, user)
        digest = next(d for d, r in zip(_digests(page, "#devices"), _rows(page, "#devices"),
                                        strict=True) if "this browser" not in r[0])
        forms = {"account/password": f"current={PASSWORD}&new=x&repeat=x",
                 "account/tokens": "label=forged",
                 "account/keys/revoke": f"key={digest}"}
        for path, body in forms.items():
            for csrf in ("", "&csrf=", "&csrf=0123abcd", f"&csrf={_csrf(page)}x"):
                _assert_error_page(_post(page, served, path, body + csrf), 403)

        sync(device)
        assert _password_works(served, user, PASSWORD)
        page.goto(_url(served, "account"))
        assert len(_rows(page, "#devices")) == 2
        assert page.is_visible("#no-tokens")
    finally:
        device.close()


def test_unknown_keys_and_repeated_fields_are_refused(
        served: RunningServer, user: str, page: Any) -> None:
    _log_in(page, served, user)
    csrf = _csrf(page)
    _assert_error_page(_post(page, served, "account/keys/revoke",
                             f"csrf={csrf}&key={'0' * 64}"), 404)
    _assert_error_page(_post(page, served, "account/keys/revoke", f"csrf={csrf}"), 404)
    this = _digests(page, "#devices")[0]
    for path, body in (("account/keys/revoke", f"key={this}&key={this}"),
                       ("account/tokens", "label=a&label=b"),
                       ("account/password", f"current={PASSWORD}&new=x&repeat=x&repeat=x")):
        _assert_error_page(_post(page, served, path, f"csrf={csrf}&{body}"), 400)
    page.goto(_url(served, "account"))
    assert page.inner_text("#user-name") == user
    assert page.is_visible("#no-tokens")


def test_posts_without_a_session_lead_to_the_login_page(
        served: RunningServer, user: str, page: Any, browser: Any, tmp_path: Path) -> None:
    device = _device(tmp_path / "device", served, user)
    stranger = browser.new_context()
    try:
        sync(device, upload=True)
        _log_in(page, served, user)
        csrf, digest = _csrf(page), _digests(page, "#devices")[-1]
        forms = {"account/password": f"current={PASSWORD}&new=x&repeat=x",
                 "account/tokens": "label=forged", "account/keys/revoke": f"key={digest}"}
        stranger_page = stranger.new_page()
        for path, body in forms.items():
            answer = _post(stranger_page, served, path, f"csrf={csrf}&{body}")
            assert answer.status == 303
            assert answer.headers["location"].endswith(BASE + "login")
        sync(device)
        assert _password_works(served, user, PASSWORD)
        page.goto(_url(served, "account"))
        assert len(_rows(page, "#devices")) == 2
        assert page.is_visible("#no-tokens")
    finally:
        stranger.close()
        device.close()


def test_another_users_device_cannot_be_logged_out(
        served: RunningServer, user: str, page: Any, browser: Any, tmp_path: Path) -> None:
    victim = f"victim-{uuid.uuid4().hex[:6]}"
    add_user_in_process(served, victim, PASSWORD)
    device = _device(tmp_path / "victim", served, victim)
    theirs = browser.new_context()
    try:
        sync(device, upload=True)
        their_page = theirs.new_page()
        _log_in(their_page, served, victim)
        their_digests = _digests(their_page, "#devices")
        assert len(their_digests) == 2

        _log_in(page, served, user)
        for digest in their_digests:
            _assert_error_page(_post(page, served, "account/keys/revoke",
                                     f"csrf={_csrf(page)}&key={digest}"), 404)
        sync(device)
        their_page.goto(_url(served, "account"))
        assert _digests(their_page, "#devices") == their_digests
    finally:
        theirs.close()
        device.close()


def test_key_digests_on_the_page_are_not_credentials(
        served: RunningServer, user: str, page: Any, tmp_path: Path) -> None:
    device = _device(tmp_path / "device", served, user)
    try:
        _log_in(page, served, user)
        for digest in _digests(page, "#devices"):
            assert _api_status(served, f"Bearer {digest}") == 401
            with pytest.raises(SyncError) as raised:
                Profile(device.col, device.path, SyncAuth(hkey=digest,
                                                          endpoint=_url(served))).sync()
            assert raised.value.kind == SyncErrorKind.AUTH, str(raised.value)
    finally:
        device.close()


MARKUP = '<img src=x onerror="document.title=1">'


def test_names_from_clients_and_forms_are_shown_as_text(
        served: RunningServer, user: str, page: Any) -> None:
    header = {"v": 11, "k": "", "c": f"{MARKUP},1,linux", "s": ""}
    answer = wire_post(_url(served).rstrip("/"), "hostKey", header,
                       {"u": user, "p": PASSWORD})
    assert answer.status == 200
    _log_in(page, served, user)
    page.fill("#token-label", f"{MARKUP} & <b>")
    assert _submit(page, "text=Create token").status == 200
    assert _rows(page, "#devices")[1][0] == f"{MARKUP[:30]} 1"
    assert _rows(page, "#tokens")[0][0] == f"{MARKUP} & <b>"
    assert page.locator("main img, main b").count() == 0
    assert page.title() == "Your account — ankiserv"


# -- 6. keyboard -----------------------------------------------------------------------


def _tab_to(page: Any, element_id: str, most: int = 40) -> None:
    """Press Tab until the element has the focus, as someone without a mouse would."""
    for _ in range(most):
        if page.evaluate("document.activeElement.id") == element_id:
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached #{element_id}")


def test_the_keyboard_alone_creates_a_token_and_changes_the_password(
        served: RunningServer, user: str, page: Any) -> None:
    _log_in(page, served, user)
    _tab_to(page, "token-label")
    page.keyboard.type("keyboard tool")
    with page.expect_navigation() as created:
        page.keyboard.press("Enter")
    assert created.value.status == 200
    assert page.locator("#new-token").count() == 1
    assert [r[0] for r in _rows(page, "#tokens")] == ["keyboard tool"]

    _tab_to(page, "current")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Tab")
    page.keyboard.type(NEW_PASSWORD)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "repeat"
    page.keyboard.type(NEW_PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(_url(served, "account?done=password"))
    assert page.inner_text("#message").startswith("Your password was changed.")
    assert page.is_visible("#no-tokens")  # the token went with the old password
