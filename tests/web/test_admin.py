"""The administrators' pages in a real browser: refused to everyone else, and each
action (add, reset, quotas, admin flag, removal) done as `ankiserv user ...` does it, seen
by real Anki clients."""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from anki.errors import SyncError

from tests.support.anki_client import Profile, add_basic_note
from tests.support.server import RunningServer, add_user_in_process, start_server
from tests.web.conftest import screenshot

pytestmark = pytest.mark.e2e

PASSWORD = "admin pass ü"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    data = tmp_path_factory.mktemp("web-admin")
    server = start_server(data / "server", f"sqlite:///{data / 'ankiserv.db'}", workers=1,
                          ANKISERV_BASE_PATH="/anki/", ANKISERV_QUOTA_MEDIA_MB="100")
    yield server
    server.stop()


@pytest.fixture
def admin(served: RunningServer) -> str:
    name = f"boss-{uuid.uuid4().hex[:6]}"
    result = served.cli("user", "add", name, "--admin", stdin=PASSWORD + "\n")
    assert result.returncode == 0, result.stderr
    return name


def _user(served: RunningServer, password: str = "pw") -> str:
    name = f"zoë-{uuid.uuid4().hex[:6]}"
    add_user_in_process(served, name, password)
    return name


def _log_in(page: Any, served: RunningServer, name: str, password: str = PASSWORD) -> None:
    page.goto(served.url + "/anki/login")
    page.fill("#username", name)
    page.fill("#password", password)
    page.click("button[type=submit]")
    assert page.url == served.url + "/anki/account"


def _user_id(page: Any, served: RunningServer, name: str) -> str:
    page.goto(served.url + "/anki/admin")
    href = page.get_attribute(f"#users a:text-is('{name}')", "href")
    assert href is not None
    return str(href).rsplit("/", 1)[1]


def _device(tmp_path: Path, served: RunningServer, name: str, password: str = "pw") -> Profile:
    device = Profile.create(tmp_path / uuid.uuid4().hex)
    device.login(name, password, served.url + "/anki/")
    return device


@pytest.mark.console_allows("status of 403")
def test_admin_pages_are_refused_to_everyone_else(served: RunningServer, page: Any) -> None:
    someone = _user(served)
    victim = _user(served)
    page.goto(served.url + "/anki/admin")
    assert page.url == served.url + "/anki/login"  # not logged in: log in first
    _log_in(page, served, someone, "pw")
    assert page.locator("nav.session a", has_text="Admin").count() == 0
    for path in ("/anki/admin", "/anki/admin/users/1"):
        answer = page.goto(served.url + path)
        assert answer.status == 403
        assert "administrators" in page.inner_text("#error-description")
    screenshot(page, "admin-refused")
    csrf = page.goto(served.url + "/anki/account") and page.get_attribute(
        "input[name=csrf]", "value")
    for action, form in (("", {"name": "mallory", "password": "x", "repeat": "x"}),
                         ("/users/1/password", {"password": "x", "repeat": "x"}),
                         ("/users/1/admin", {"admin": "on"}),
                         ("/users/1/remove", {"confirm": victim})):
        answer = page.request.post(served.url + "/anki/admin" + action,
                                   form={"csrf": csrf, **form}, max_redirects=0)
        assert answer.status == 403, action
    assert served.cli("user", "list").stdout.count("mallory") == 0
    assert victim in served.cli("user", "list").stdout


@pytest.mark.console_allows("status of 40")
def test_list_add_and_refuse_bad_users(served: RunningServer, admin: str, page: Any,
                                       tmp_path: Path) -> None:
    synced = _user(served)
    device = _device(tmp_path, served, synced)
    for i in range(3):
        add_basic_note(device.col, f"note {i}", "back")
    device.sync(upload=True)
    _log_in(page, served, admin)
    page.click("nav.session >> text=Admin")
    assert page.url == served.url + "/anki/admin"
    row = page.locator("#users tr", has_text=synced)
    assert row.locator("td[data-label=Notes]").inner_text() == "3"
    assert row.locator("td[data-label=Devices]").inner_text() == "1"
    assert row.locator("td[data-label='Last sync']").inner_text() == "just now"
    assert page.locator("#users tr", has_text=admin).locator(".badge").inner_text() == "admin"

    newcomer = f"new {uuid.uuid4().hex[:6]}"
    for name, password, repeat, status in (("", "x", "x", 400), (newcomer, "", "", 400),
                                           (newcomer, "a", "b", 400), (synced, "a", "a", 409),
                                           ("x" * 256, "a", "a", 400)):
        page.eval_on_selector("#name", "e => e.removeAttribute('maxlength')")
        page.fill("#name", name)
        page.fill("#password", password)
        page.fill("#repeat", repeat)
        with page.expect_response(served.url + "/anki/admin") as answer:
            page.eval_on_selector("form.stacked", "f => { f.noValidate = true; }")
            page.eval_on_selector("#name", "e => e.removeAttribute('maxlength')")
            page.click("text=Add user")
        assert answer.value.status == status, name
        assert page.inner_text("#add-error")
    assert newcomer not in served.cli("user", "list").stdout
    page.fill("#name", newcomer)
    page.fill("#password", "fresh")
    page.fill("#repeat", "fresh")
    page.click("text=Add user")
    assert page.inner_text("#message") == "The user was added."
    screenshot(page, "admin")
    assert newcomer in served.cli("user", "list").stdout
    _device(tmp_path, served, newcomer, "fresh").sync()  # a real client can use it


@pytest.mark.console_allows("status of 400")
def test_reset_password_quotas_and_admin_flag(served: RunningServer, admin: str, page: Any,
                                             tmp_path: Path) -> None:
    name = _user(served)
    device = _device(tmp_path, served, name)
    device.sync()
    _log_in(page, served, admin)
    user_id = _user_id(page, served, name)
    page.goto(served.url + f"/anki/admin/users/{user_id}")
    assert page.inner_text("h1") == name
    assert "logs out all" in page.inner_text("#reset-warning")

    page.fill("#collection_mb", "-5")
    page.click("text=Save quotas")
    assert "whole number" in page.inner_text("#quota-error")
    page.fill("#collection_mb", "250")
    page.fill("#media_mb", "0")
    page.click("text=Save quotas")
    assert page.inner_text("#message") == "The quotas were saved."
    assert page.input_value("#collection_mb") == "250"
    shown = served.cli("user", "quota", name).stdout
    assert "250" in shown and "no limit" in shown

    page.fill("#password", "one")
    page.fill("#repeat", "two")
    page.click("text=Reset password")
    assert page.inner_text("#password-error")
    device.sync()  # nothing changed: still logged in
    page.fill("#password", "new pass")
    page.fill("#repeat", "new pass")
    page.click("text=Reset password")
    assert "reset" in page.inner_text("#message")
    with pytest.raises(SyncError):
        device.sync()
    device.login(name, "new pass", served.url + "/anki/")
    device.sync()

    page.click("text=Make administrator")
    assert page.inner_text("#message") == "The user is now an administrator."
    assert f"{name} (admin)" in served.cli("user", "list").stdout
    page.click("text=No longer an administrator")
    assert f"{name} (admin)" not in served.cli("user", "list").stdout
    screenshot(page, "admin-user")


@pytest.mark.console_allows("status of 40")
def test_removal_needs_the_name_typed_and_never_ones_own(
        served: RunningServer, admin: str, page: Any, tmp_path: Path) -> None:
    name = _user(served)
    device = _device(tmp_path, served, name)
    device.sync()
    _log_in(page, served, admin)
    user_id = _user_id(page, served, name)
    page.goto(served.url + f"/anki/admin/users/{user_id}")
    page.fill("#confirm", name.upper())
    page.click("button.danger")
    assert "exactly" in page.inner_text("#remove-error")
    device.sync()
    page.fill("#confirm", name)
    page.click("button.danger")
    assert page.url == served.url + "/anki/admin?done=removed"
    assert name not in served.cli("user", "list").stdout
    with pytest.raises(SyncError):
        device.sync()
    answer = page.goto(served.url + f"/anki/admin/users/{user_id}")
    assert answer.status == 404

    own = _user_id(page, served, admin)
    page.goto(served.url + f"/anki/admin/users/{own}")
    assert page.locator("#confirm").count() == 0  # no removal form for oneself
    csrf = page.get_attribute("input[name=csrf]", "value")
    for action, form in (("remove", {"confirm": admin}), ("admin", {"admin": "off"})):
        answer = page.request.post(served.url + f"/anki/admin/users/{own}/{action}",
                                   form={"csrf": csrf, **form}, max_redirects=0)
        assert answer.status == 400, action
    assert f"{admin} (admin)" in served.cli("user", "list").stdout


def test_forged_admin_posts_change_nothing(served: RunningServer, admin: str,
                                           page: Any) -> None:
    name = _user(served)
    _log_in(page, served, admin)
    user_id = _user_id(page, served, name)
    for csrf in ("", "guess"):
        answer = page.request.post(served.url + f"/anki/admin/users/{user_id}/remove",
                                   form={"csrf": csrf, "confirm": name}, max_redirects=0)
        assert answer.status == 403
    assert name in served.cli("user", "list").stdout
    answer = page.request.post(served.url + "/anki/admin/users/99999999/remove",
                               form={"csrf": page.get_attribute("input[name=csrf]", "value"),
                                     "confirm": "x"}, max_redirects=0)
    assert answer.status == 404
    # Outside a browser, with the session cookie alone (no CSRF token): refused too.
    cookie = next(c for c in page.context.cookies() if c["name"] == "ankiserv_session")
    request = urllib.request.Request(
        served.url + f"/anki/admin/users/{user_id}/remove",
        data=urllib.parse.urlencode({"confirm": name}).encode(),
        headers={"Cookie": f"ankiserv_session={cookie['value']}",
                 "Content-Type": "application/x-www-form-urlencoded"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request)
    with refused.value:
        assert refused.value.code == 403
    assert name in served.cli("user", "list").stdout
