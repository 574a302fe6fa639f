"""The login page and logging out."""

from __future__ import annotations

import falcon

from adapters.web.forms import MAX_FIELD, WebResource, posted_form
from adapters.web.session import CSRF_FIELD, LOGIN_COOKIE
from domain.errors import AuthFailed, LoginThrottled


class LoginPage(WebResource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        if self.sessions.visitor(req) is not None:
            raise falcon.HTTPSeeOther(f"{self.pages.base}account")
        self._show(req, resp)

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        form = posted_form(req)
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


class LogoutAction(WebResource):
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        visitor = self.sessions.require(req)
        self.sessions.check_csrf(req, visitor.csrf)
        self.sessions.log_out(resp, visitor)
        raise falcon.HTTPSeeOther(self.pages.base)
