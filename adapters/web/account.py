"""The login page, logging out, and the account page a logged-in user lands on."""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True)
class _WebResource:
    pages: Pages
    sessions: Sessions


class LoginPage(_WebResource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        if self.sessions.visitor(req) is not None:
            raise falcon.HTTPSeeOther(f"{self.pages.base}account")
        self._show(req, resp)

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        form = _form(req)
        self.sessions.check_csrf(req, req.cookies.get(LOGIN_COOKIE, ""))
        name, password = str(form.get("username", "")), str(form.get("password", ""))
        if not name.strip() or not password or len(name) > MAX_FIELD \
                or len(password) > MAX_FIELD:
            self._show(req, resp, name, "Enter your user name and password.", 400)
            return
        try:
            self.sessions.log_in(req, resp, name, password)
        except LoginThrottled as e:
            resp.set_header("Retry-After", str(e.retry_after_s))
            self._show(req, resp, name, f"Too many failed logins: try again in "
                       f"{e.retry_after_s} seconds.", 429)
            return
        except AuthFailed:
            # The form again, with the reason: a page to read, not an HTTP challenge.
            self._show(req, resp, name, "Wrong user name or password.")
            return
        raise falcon.HTTPSeeOther(f"{self.pages.base}account")

    def _show(self, req: falcon.Request, resp: falcon.Response, name: str = "",
              error: str = "", status: int = 200) -> None:
        token = self.sessions.login_token(req, resp)
        self.pages.render(resp, "login.html", status, name=name, error=error,
                           csrf=token, csrf_field=CSRF_FIELD, visitor=None)


class LogoutAction(_WebResource):
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        visitor = self.sessions.require(req)
        self.sessions.check_csrf(req, visitor.csrf)
        self.sessions.log_out(resp, visitor)
        raise falcon.HTTPSeeOther(self.pages.base)


class AccountPage(_WebResource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        visitor = self.sessions.require(req)
        self.pages.render(resp, "account.html", visitor=visitor, csrf_field=CSRF_FIELD)
