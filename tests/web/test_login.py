"""Logging in and out in a real browser, on the real server under a base path: the same
accounts and throttling as sync, a session that ends on logout and on a password change,
and forms that refuse posts without their CSRF token."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.server import RunningServer, add_user_in_process, start_server
from tests.web.conftest import screenshot

pytestmark = pytest.mark.e2e

PASSWORD = "a long passphrase ü"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    data = tmp_path_factory.mktemp("web-login")
    server = start_server(data / "server", f"sqlite:///{data / 'ankiserv.db'}", workers=1,
                          ANKISERV_BASE_PATH="/anki/", ANKISERV_LOGIN_THROTTLE="1")
    yield server
    server.stop()


@pytest.fixture
def user(served: RunningServer) -> str:
    name = f"zoë-{uuid.uuid4().hex[:6]}"
    add_user_in_process(served, name, PASSWORD)
    return name


def _log_in(page: Any, served: RunningServer, name: str, password: str) -> None:
    page.goto(served.url + "/anki/login")
    page.fill("#username", name)
    page.fill("#password", password)
    page.click("button[type=submit]")


def test_log_in_from_the_landing_page_and_out_again(
        served: RunningServer, user: str, page: Any) -> None:
    page.goto(served.url + "/anki/")
    page.click("text=Log in")
    assert page.url == served.url + "/anki/login"
    screenshot(page, "login")
    page.fill("#username", user)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    assert page.url == served.url + "/anki/account"
    assert page.inner_text("#user-name") == user
    assert page.inner_text("nav.session") == user
    screenshot(page, "account-after-login")
    session = _session_cookie(page)
    assert session["httpOnly"] and session["sameSite"] == "Lax" and session["path"] == "/anki/"

    page.click("text=Log out")
    assert page.url == served.url + "/anki/"
    assert page.inner_text("nav.session") == "Log in"
    # the old cookie is dead, not just forgotten by this browser
    page.context.add_cookies([{"name": session["name"], "value": session["value"],
                               "url": served.url + "/anki/"}])
    page.goto(served.url + "/anki/account")
    assert page.url == served.url + "/anki/login"


def test_a_wrong_password_says_so_and_logs_nobody_in(
        served: RunningServer, user: str, page: Any) -> None:
    _log_in(page, served, user, "not the password")
    assert page.inner_text("#login-error") == "Wrong user name or password."
    assert page.input_value("#username") == user
    assert page.evaluate("document.activeElement.id") == "password"
    screenshot(page, "login-failed")
    page.goto(served.url + "/anki/account")
    assert page.url == served.url + "/anki/login"


@pytest.mark.console_allows("status of 429")
def test_logins_are_throttled_like_sync_logins(
        served: RunningServer, user: str, page: Any) -> None:
    for _ in range(5):
        _log_in(page, served, user, "wrong")
        assert page.inner_text("#login-error") == "Wrong user name or password."
    _log_in(page, served, user, PASSWORD)  # right, but too soon after five failures
    assert page.inner_text("#login-error").startswith("Too many failed logins: try again in")
    page.goto(served.url + "/anki/account")
    assert page.url == served.url + "/anki/login"


def test_changing_the_password_ends_the_session(
        served: RunningServer, user: str, page: Any) -> None:
    _log_in(page, served, user, PASSWORD)
    assert page.url == served.url + "/anki/account"
    result = served.cli("user", "passwd", user, stdin="another passphrase\n")
    assert result.returncode == 0, result.stderr
    page.goto(served.url + "/anki/account")
    assert page.url == served.url + "/anki/login"


def test_the_keyboard_alone_logs_in(served: RunningServer, user: str, page: Any) -> None:
    page.goto(served.url + "/anki/login")
    assert page.evaluate("document.activeElement.id") == "username"  # autofocus
    page.keyboard.type(user)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(served.url + "/anki/account")
    assert page.inner_text("#user-name") == user


def test_posts_without_the_forms_token_are_refused(
        served: RunningServer, user: str, page: Any) -> None:
    _log_in(page, served, user, PASSWORD)
    # what another site's form could send with the browser's cookies: no valid token
    forged = page.request.post(served.url + "/anki/logout", form={"csrf": "guess"})
    assert forged.status == 403
    page.goto(served.url + "/anki/account")
    assert page.inner_text("#user-name") == user  # still logged in
    login = page.request.post(served.url + "/anki/login",
                              form={"username": user, "password": PASSWORD})
    assert login.status == 403


def _session_cookie(page: Any) -> dict[str, Any]:
    cookies = {c["name"]: c for c in page.context.cookies()}
    return dict(cookies["ankiserv_session"])



@pytest.mark.parametrize(("body", "content_type", "status"), [
    ("username=" + "x" * 5000 + "&password=p", "application/x-www-form-urlencoded", 400),
    ("username=a%00b&password=p", "application/x-www-form-urlencoded", 200),  # refused
    ("username=a%ff&password=p", "application/x-www-form-urlencoded", 200),  # refused
    ("username=&password=", "application/x-www-form-urlencoded", 400),
    ("hello", "text/plain", 415),
])
def test_bad_login_forms_are_refused_cleanly(
        served: RunningServer, page: Any, body: str, content_type: str, status: int) -> None:
    page.goto(served.url + "/anki/login")
    token = page.get_attribute("input[name=csrf]", "value")
    answer = page.request.post(served.url + "/anki/login", data=f"csrf={token}&{body}",
                               headers={"Content-Type": content_type})
    assert answer.status == status
    page.goto(served.url + "/anki/account")
    assert page.url == served.url + "/anki/login"  # nobody logged in


def test_a_devices_key_or_an_api_token_is_no_browser_session(
        served: RunningServer, user: str, page: Any, tmp_path: Any) -> None:
    # A device keeps its key in plain files; were it taken as a browser session, whoever
    # copied it could manage the account (or, for an administrator, the server).
    import json
    import urllib.request

    from tests.support.anki_client import Profile

    device = Profile.create(tmp_path / "device")
    device_key = device.login(user, PASSWORD, served.url + "/anki/").hkey
    request = urllib.request.Request(
        served.url + "/anki/api/v1/token",
        data=json.dumps({"username": user, "password": PASSWORD}).encode(),
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        token = json.loads(answer.read())["token"]
    for key in (device_key, token):
        page.context.clear_cookies()
        page.context.add_cookies([{"name": "ankiserv_session", "value": key,
                                   "url": served.url + "/anki/"}])
        page.goto(served.url + "/anki/account")
        assert page.url == served.url + "/anki/login", key
    _log_in(page, served, user, PASSWORD)
    assert page.url == served.url + "/anki/account"
