"""Pages for the server's administrators: every user with what they store, and adding,
resetting, limiting and removing users (what `ankiserv user ...` does from a shell)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import falcon

from adapters.web import describe
from adapters.web.forms import WebResource, field, posted_form
from adapters.web.session import CSRF_FIELD, Visitor
from domain.accounts import Accounts, normalise_name
from domain.errors import UserExists
from domain.model import UserId, UserUsage
from domain.quotas import MB, Quotas

MAX_QUOTA_MB = 10**9

DONE = {
    "added": "The user was added.",
    "password": "The password was reset: the user's devices must log in again with it.",
    "quotas": "The quotas were saved.",
    "admin-on": "The user is now an administrator.",
    "admin-off": "The user is no longer an administrator.",
    "removed": "The user and all their data were removed.",
}


@dataclass(frozen=True)
class UserRow:
    id: int
    name: str
    admin: bool
    notes: int
    cards: int
    reviews: int
    collection_mb: str
    media_mb: str
    devices: int
    last_sync: str
    last_sync_ago: str


def _mb(size: int) -> str:
    return f"{size / MB:.1f}"


def _row(u: UserUsage, now: int) -> UserRow:
    synced = u.last_sync_ms
    return UserRow(u.user_id, u.name, u.admin, u.notes, u.cards, u.reviews,
                   _mb(u.note_text_bytes), _mb(u.media_bytes), u.devices,
                   datetime.fromtimestamp(synced / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")
                   if synced else "", describe.ago(synced, now) if synced else "never")


@dataclass(frozen=True)
class AdminResource(WebResource):
    def admin(self, req: falcon.Request) -> Visitor:
        visitor = self.sessions.require(req)
        if not visitor.admin:
            raise falcon.HTTPForbidden(description="this page is for the server's"
                                       " administrators")
        return visitor

    def admin_form(self, req: falcon.Request) -> tuple[Visitor, dict[str, object]]:
        visitor = self.admin(req)
        form = posted_form(req)
        self.sessions.check_csrf(req, visitor.csrf)
        return visitor, form

    @property
    def accounts(self) -> Accounts:
        return self.sessions.accounts

    def usage(self, user_id: int) -> UserUsage:
        found = self.accounts.usage_of(UserId(user_id))
        if found is None:
            raise falcon.HTTPNotFound(description="there is no such user (any more)")
        return found

    def done(self, where: str, what: str) -> None:
        raise falcon.HTTPSeeOther(f"{self.pages.base}{where}?done={what}")


class UsersPage(AdminResource):
    """`/admin`: every user, and a form to add one."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.show(req, resp, self.admin(req), message=DONE.get(req.get_param("done") or "", ""))

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        visitor, form = self.admin_form(req)
        name, password, again = (field(form, n) for n in ("name", "password", "repeat"))
        make_admin = field(form, "admin") == "on"
        try:
            name = normalise_name(name)
            problem = ("Enter a password." if not password else
                       "The password and its repetition differ." if password != again else "")
        except ValueError:
            problem = "A user name must be 1 to 255 characters."
        if problem:
            self.show(req, resp, visitor, 400, error=problem, name=name)
            return
        try:
            self.accounts.add_user(name, password, admin=make_admin)
        except UserExists:
            self.show(req, resp, visitor, 409, error=f"There is already a user named {name}.",
                      name=name)
            return
        self.done("admin", "added")

    def show(self, req: falcon.Request, resp: falcon.Response, visitor: Visitor,
             status: int = 200, message: str = "", error: str = "", name: str = "") -> None:
        now = self.accounts.clock.now_ms()
        rows = [_row(u, now) for u in self.accounts.usage()]
        self.pages.render(resp, "admin.html", status, visitor=visitor, csrf_field=CSRF_FIELD,
                          users=rows, message=message, error=error, name=name)


class UserPage(AdminResource):
    """`/admin/users/{id}`: one user, with what may be changed about them."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, user_id: int) -> None:
        visitor = self.admin(req)
        self.show(req, resp, visitor, user_id, message=DONE.get(req.get_param("done") or "", ""))

    def show(self, req: falcon.Request, resp: falcon.Response, visitor: Visitor, user_id: int,
             status: int = 200, message: str = "", **errors: str) -> None:
        usage = self.usage(user_id)
        quotas = self.accounts.quotas(usage.name)
        self.pages.render(
            resp, "admin_user.html", status, visitor=visitor, csrf_field=CSRF_FIELD,
            user=_row(usage, self.accounts.clock.now_ms()), quotas=quotas,
            defaults=self.accounts.quota_defaults, message=message,
            itself=usage.user_id == visitor.user_id,
            password_error=errors.get("password", ""), quota_error=errors.get("quota", ""),
            remove_error=errors.get("remove", ""), admin_error=errors.get("admin", ""))


@dataclass(frozen=True)
class UserAction(AdminResource):
    page: UserPage

    def refuse(self, req: falcon.Request, resp: falcon.Response, visitor: Visitor,
               user_id: int, status: int, **errors: str) -> None:
        self.page.show(req, resp, visitor, user_id, status, **errors)


class PasswordReset(UserAction):
    def on_post(self, req: falcon.Request, resp: falcon.Response, user_id: int) -> None:
        visitor, form = self.admin_form(req)
        user = self.usage(user_id)
        password, again = field(form, "password"), field(form, "repeat")
        if not password or password != again:
            self.refuse(req, resp, visitor, user_id, 400, password=(
                "Enter the new password twice." if not password else
                "The password and its repetition differ."))
            return
        self.accounts.set_password(user.name, password)
        self.done(f"admin/users/{user_id}", "password")


def _quota(text: str) -> int | None:
    """A quota field: blank takes the server's default; otherwise whole MB."""
    text = text.strip()
    if not text:
        return None
    if not (text.isascii() and text.isdigit()) or int(text) > MAX_QUOTA_MB:
        raise ValueError(text)
    return int(text)


class QuotaChange(UserAction):
    def on_post(self, req: falcon.Request, resp: falcon.Response, user_id: int) -> None:
        visitor, form = self.admin_form(req)
        user = self.usage(user_id)
        try:
            quotas = Quotas(_quota(field(form, "collection_mb")), _quota(field(form, "media_mb")))
        except ValueError:
            self.refuse(req, resp, visitor, user_id, 400, quota=(
                "A quota is a whole number of MB (0: no limit), or blank for the server's"
                " default."))
            return
        self.accounts.set_quotas(user.name, quotas)
        self.done(f"admin/users/{user_id}", "quotas")


class AdminChange(UserAction):
    def on_post(self, req: falcon.Request, resp: falcon.Response, user_id: int) -> None:
        visitor, form = self.admin_form(req)
        user = self.usage(user_id)
        make_admin = field(form, "admin") == "on"
        if user.user_id == visitor.user_id and not make_admin:
            self.refuse(req, resp, visitor, user_id, 400, admin=(
                "You cannot take your own administrator rights away here (another"
                " administrator can, or `ankiserv user admin NAME --off`)."))
            return
        self.accounts.set_admin(user.name, make_admin)
        self.done(f"admin/users/{user_id}", "admin-on" if make_admin else "admin-off")


class UserRemoval(UserAction):
    def on_post(self, req: falcon.Request, resp: falcon.Response, user_id: int) -> None:
        visitor, form = self.admin_form(req)
        user = self.usage(user_id)
        if user.user_id == visitor.user_id:
            self.refuse(req, resp, visitor, user_id, 400, remove=(
                "You cannot remove your own account here."))
            return
        if field(form, "confirm") != user.name:
            self.refuse(req, resp, visitor, user_id, 400, remove=(
                "Type the user's name exactly to confirm the removal."))
            return
        self.accounts.remove_user(user.name)
        self.done("admin", "removed")
