"""The login page, logging out, and the account page a logged-in user lands on."""

from __future__ import annotations

from typing import Any

import falcon

from adapters.web.rendering import Pages
from adapters.web.session import CSRF_FIELD, LOGIN_COOKIE, Sessions
from domain.errors import AuthFailed, LoginThrottled

MAX_FIELD = 1000  # longer "user names" and "passwords" are not worth hashing


def _form(req: falcon.Request) -> dict[str, Any]:
    media = req.get_media(default_when_empty={})
    if not isinstance(media, dict):
        raise falcon.HTTPBadRequest(description="expected a form")
    return media


class LoginPage:
    def __init__(self, pages: Pages, sessions: Sessions) -> None:
        self._pages = pages
        self._sessions = sessions

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        if self._sessions.visitor(req) is not None:
            raise falcon.HTTPSeeOther(f"{self._pages.base}account")
        self._show(req, resp)

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        form = _form(req)
        self._sessions.check_csrf(req, req.cookies.get(LOGIN_COOKIE, ""))
        name, password = str(form.get("username", "")), str(form.get("password", ""))
        if not name.strip() or not password or len(name) > MAX_FIELD \
                or len(password) > MAX_FIELD:
            self._show(req, resp, name, "Enter your user name and password.", 400)
            return
        try:
            self._sessions.log_in(req, resp, name, password)
        except LoginThrottled as e:
            resp.set_header("Retry-After", str(e.retry_after_s))
            self._show(req, resp, name, f"Too many failed logins: try again in "
                       f"{e.retry_after_s} seconds.", 429)
            return
        except AuthFailed:
            # The form again, with the reason: a page to read, not an HTTP challenge.
            self._show(req, resp, name, "Wrong user name or password.")
            return
        raise falcon.HTTPSeeOther(f"{self._pages.base}account")

    def _show(self, req: falcon.Request, resp: falcon.Response, name: str = "",
              error: str = "", status: int = 200) -> None:
        token = self._sessions.login_token(req, resp)
        self._pages.render(resp, "login.html", status, name=name, error=error,
                           csrf=token, csrf_field=CSRF_FIELD, visitor=None)


class LogoutAction:
    def __init__(self, pages: Pages, sessions: Sessions) -> None:
        self._pages = pages
        self._sessions = sessions

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        visitor = self._sessions.require(req)
        self._sessions.check_csrf(req, visitor.csrf)
        self._sessions.log_out(resp, visitor)
        raise falcon.HTTPSeeOther(self._pages.base)


class AccountPage:
    def __init__(self, pages: Pages, sessions: Sessions) -> None:
        self._pages = pages
        self._sessions = sessions

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        visitor = self._sessions.require(req)
        self._pages.render(resp, "account.html", visitor=visitor, csrf_field=CSRF_FIELD)
