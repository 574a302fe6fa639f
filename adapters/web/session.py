"""Browser sessions: a login form, a session cookie, CSRF tokens for every form.

A browser session is a host key like a device's (`Accounts.login`): the same throttling,
revoked by logging out, and ended with every device's when the password changes. The cookie
holds the key (HttpOnly, SameSite=Lax, Secure when the browser used HTTPS, scoped to the
base path). Each form carries a CSRF token: for a logged-in page an HMAC of the session key,
which another site can neither read nor compute; for the login form a random value also set
in a cookie of its own (double submit)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

import falcon

from adapters.http import metrics
from adapters.http.client_address import ClientAddress
from adapters.http.origin import OwnOrigin
from domain.accounts import Accounts
from domain.errors import AuthFailed
from domain.model import KeyKind, UserId

SESSION_COOKIE = "ankiserv_session"
LOGIN_COOKIE = "ankiserv_login"
NEW_TOKEN_COOKIE = "ankiserv_new_token"  # a new API token, on its way to being shown once
CSRF_FIELD = "csrf"


@dataclass(frozen=True)
class Visitor:
    """Who is looking at a page: a user with their session key, or nobody."""

    user_id: UserId
    name: str
    key: str
    admin: bool = False

    @property
    def csrf(self) -> str:
        return csrf_for(self.key)


def csrf_for(session_key: str) -> str:
    return hmac.new(session_key.encode(), b"ankiserv csrf", hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Sessions:
    accounts: Accounts
    own_origin: OwnOrigin
    client: ClientAddress
    base_path: str

    def visitor(self, req: falcon.Request) -> Visitor | None:
        key = req.cookies.get(SESSION_COOKIE)
        if not key:
            return None
        try:
            user_id = self.accounts.authenticate(key, req.user_agent or "", {KeyKind.WEB})
        except AuthFailed:
            return None
        user = self.accounts.user(user_id)
        return None if user is None else Visitor(user_id, user.name, key, user.admin)

    def require(self, req: falcon.Request) -> Visitor:
        """The logged-in visitor, or a redirect to the login page."""
        visitor = self.visitor(req)
        if visitor is None:
            raise falcon.HTTPSeeOther(f"{self.base_path}login")
        return visitor

    def check_csrf(self, req: falcon.Request, expected: str) -> None:
        given = str(req.get_media(default_when_empty={}).get(CSRF_FIELD, ""))
        if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
            raise falcon.HTTPForbidden(description="the form has expired or comes from"
                                       " another site; reload the page and try again")

    def log_in(self, req: falcon.Request, resp: falcon.Response, name: str,
               password: str) -> None:
        """Raises AuthFailed or LoginThrottled; on success sets the session cookie."""
        client = self.client(req)
        key = metrics.counted_login(lambda: self.accounts.login(
            name, password, client, KeyKind.WEB, software=req.user_agent or ""), name, client)
        self._cookie(req, resp, SESSION_COOKIE, key)
        resp.unset_cookie(LOGIN_COOKIE, path=self.base_path)

    def renew(self, req: falcon.Request, resp: falcon.Response, key: str) -> None:
        """Carry on with a new session key (after a password change ended the old one)."""
        self._cookie(req, resp, SESSION_COOKIE, key)

    def hand_new_token(self, req: falcon.Request, resp: falcon.Response, token: str) -> None:
        """Keep a new API token for the next page to show (once, within two minutes)."""
        self._cookie(req, resp, NEW_TOKEN_COOKIE, token, max_age=120)

    def take_new_token(self, req: falcon.Request, resp: falcon.Response,
                       visitor: Visitor) -> str:
        """The new API token handed to this page, if any: the visitor's own, live one."""
        token = req.cookies.get(NEW_TOKEN_COOKIE)
        if not token:
            return ""
        resp.unset_cookie(NEW_TOKEN_COOKIE, path=self.base_path)
        return token if self.accounts.holds(visitor.user_id, token) else ""

    def log_out(self, resp: falcon.Response, visitor: Visitor) -> None:
        self.accounts.revoke(visitor.key)
        self.forget(resp)

    def forget(self, resp: falcon.Response) -> None:
        """Drop the session cookie (its key is revoked already)."""
        resp.unset_cookie(SESSION_COOKIE, path=self.base_path)

    def login_token(self, req: falcon.Request, resp: falcon.Response) -> str:
        """The login form's CSRF token, also set as a cookie of its own."""
        token = req.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(32)
        self._cookie(req, resp, LOGIN_COOKIE, token)
        return token

    def _cookie(self, req: falcon.Request, resp: falcon.Response, name: str,
                value: str, max_age: int | None = None) -> None:
        own = self.own_origin(req) or ""
        resp.set_cookie(name, value, path=self.base_path, http_only=True, max_age=max_age,
                        secure=own.startswith("https://"), same_site="Lax")

